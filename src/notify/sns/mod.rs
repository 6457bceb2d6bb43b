//! AWS SNS: one `Publish` call per notification, in the AWS query protocol (a form body with
//! `Action=Publish&Version=2010-03-31`), to a topic, a phone number (SMS) or a platform
//! endpoint, with the rendered subject, message and message attributes, signed with SigV4.
//! FIFO topics get the group key's hash as message group and deduplication id.

mod config;
mod credentials;
pub mod sigv4;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::http::{self, Answer, HttpClient};
use super::registry::{Notify, SendFuture};
use super::render::Renderer;
use super::{FlushContext, IntegrationError, NotifyError};
use crate::config::GlobalConfig;
use crate::model::Alert;
use crate::template::{data_value, Templates};

pub use config::{Sigv4Config, SnsConfig};
pub use credentials::{CredentialSource, EnvLookup};
use sigv4::Credentials;

/// SNS refuses messages over 256 KiB, counted in bytes.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// An SMS publish is limited to 1600 (Alertmanager counts bytes).
pub const MAX_SMS_BYTES: usize = 1600;
/// SNS wants subjects "less than 100 characters long".
pub const MAX_SUBJECT_CHARS: usize = 99;
const API_VERSION: &str = "2010-03-31";
const CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";
/// Error codes the AWS SDK retries as throttling whatever the status says.
const THROTTLING_CODES: [&str; 6] = [
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
];

pub struct SnsNotifier {
    config: SnsConfig,
    client: HttpClient,
    renderer: Renderer,
    region: String,
    credentials: CredentialSource,
    pub send_resolved: bool,
}

/// One `Publish` call: where it goes and its parameters, in the order they are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    pub endpoint: String,
    pub params: Vec<(String, String)>,
}

impl Publish {
    /// The form body, each key and value percent-encoded as the query protocol expects.
    pub fn body(&self) -> String {
        self.params
            .iter()
            .map(|(k, v)| format!("{}={}", sigv4::uri_encode(k), sigv4::uri_encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// A signed request, ready to send.
#[derive(Debug, Clone)]
pub struct SignedRequest {
    pub url: url::Url,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl SnsNotifier {
    pub fn new(
        config: &SnsConfig,
        global: &GlobalConfig,
        templates: Arc<Templates>,
        env: EnvLookup,
    ) -> Result<SnsNotifier, IntegrationError> {
        config.sigv4.check().map_err(IntegrationError::Invalid)?;
        let region = credentials::region(&config.sigv4, env).map_err(IntegrationError::Invalid)?;
        let credentials =
            CredentialSource::choose(&config.sigv4, env).map_err(IntegrationError::Invalid)?;
        Ok(SnsNotifier {
            client: HttpClient::build(config.http(global))?,
            config: config.clone(),
            renderer: Renderer {
                templates,
                integration: "sns",
            },
            region,
            credentials,
            send_resolved: config.send_resolved.unwrap_or(true),
        })
    }

    /// The `Publish` call for these alerts.
    pub fn message(&self, ctx: &FlushContext, alerts: &[Alert]) -> Publish {
        let v = data_value(&ctx.data(alerts));
        let c = &self.config;
        let r = |text: &str| self.renderer.field(Some(text), "", &v);
        let given = |f: &Option<String>| f.as_deref().filter(|s| !s.is_empty()).map(r);

        let endpoint = given(&c.api_url)
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| default_endpoint(&self.region));
        let mut fields: Vec<(String, String)> = Vec::new();
        let mut limit = MAX_MESSAGE_BYTES;
        if let Some(topic) = given(&c.topic_arn) {
            if topic.ends_with(".fifo") {
                let key = hex::encode(Sha256::digest(ctx.group_key.as_bytes()));
                fields.push(("MessageDeduplicationId".into(), key.clone()));
                fields.push(("MessageGroupId".into(), key));
            }
            fields.push(("TopicArn".into(), topic));
        }
        if let Some(phone) = given(&c.phone_number) {
            fields.push(("PhoneNumber".into(), phone));
            limit = MAX_SMS_BYTES;
        }
        if let Some(target) = given(&c.target_arn) {
            fields.push(("TargetArn".into(), target));
        }

        let message = self.renderer.field(
            c.message.as_deref(),
            r#"{{ template "sns.default.message" . }}"#,
            &v,
        );
        let (message, truncated) = truncate_bytes(&message, limit);
        if truncated {
            tracing::warn!(
                limit,
                "SNS message truncated to fit the size limit; attribute truncated=true added"
            );
        }
        fields.push(("Message".into(), message.to_string()));

        let mut attributes: std::collections::BTreeMap<String, String> =
            c.attributes.iter().map(|(k, val)| (r(k), r(val))).collect();
        if truncated {
            attributes.insert("truncated".into(), "true".into());
        }
        for (i, (name, value)) in attributes.into_iter().enumerate() {
            let prefix = format!("MessageAttributes.entry.{}", i + 1);
            fields.push((format!("{prefix}.Name"), name));
            fields.push((format!("{prefix}.Value.DataType"), "String".into()));
            fields.push((format!("{prefix}.Value.StringValue"), value));
        }

        let subject = match c.subject.as_deref() {
            Some("") => None,
            configured => Some(self.renderer.field(
                configured,
                r#"{{ template "sns.default.subject" . }}"#,
                &v,
            )),
        };
        if let Some(subject) = subject.map(|s| subject_for_sns(&s)) {
            if !subject.is_empty() {
                fields.push(("Subject".into(), subject));
            }
        }

        // The SDK writes members in name order, after the action and version.
        fields.sort_by(|a, b| member_of(&a.0).cmp(member_of(&b.0)));
        let mut params = vec![
            ("Action".to_string(), "Publish".to_string()),
            ("Version".to_string(), API_VERSION.to_string()),
        ];
        params.extend(fields);
        Publish { endpoint, params }
    }

    /// The request for a `Publish` call, signed at `at`.
    pub fn sign(
        &self,
        publish: &Publish,
        credentials: &Credentials,
        at: DateTime<Utc>,
    ) -> Result<SignedRequest, NotifyError> {
        let url = url::Url::parse(&publish.endpoint)
            .map_err(|e| NotifyError::Build(format!("sns api_url: {e}")))?;
        let body = publish.body();
        let headers = [("Content-Type", CONTENT_TYPE)];
        let mut all: Vec<(String, String)> = vec![
            ("Host".into(), sigv4::host_header(&url)),
            ("Content-Type".into(), CONTENT_TYPE.into()),
        ];
        all.extend(sigv4::sign(
            &sigv4::Request {
                method: "POST",
                url: &url,
                headers: &headers,
                payload: body.as_bytes(),
            },
            credentials,
            &sigv4::Scope {
                region: &self.region,
                service: "sns",
                at,
            },
        ));
        Ok(SignedRequest {
            url,
            headers: all,
            body,
        })
    }

    pub async fn send(&self, ctx: &FlushContext, alerts: &[Alert]) -> Result<(), NotifyError> {
        let publish = self.message(ctx, alerts);
        let credentials = self
            .credentials
            .resolve(&credentials::process_env)
            .map_err(NotifyError::Secret)?;
        let signed = self.sign(&publish, &credentials, Utc::now())?;
        let mut request = self
            .client
            .unauthenticated(reqwest::Method::POST, signed.url.as_str());
        for (name, value) in &signed.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let answer = http::send(signed.url.as_str(), request.body(signed.body)).await?;
        check(answer)
    }
}

impl Notify for SnsNotifier {
    fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    fn send<'a>(&'a self, ctx: &'a FlushContext, alerts: &'a [Alert]) -> SendFuture<'a> {
        Box::pin(SnsNotifier::send(self, ctx, alerts))
    }
}

/// The regional endpoint the SDK resolves when `api_url` is unset.
pub fn default_endpoint(region: &str) -> String {
    if region.starts_with("cn-") {
        format!("https://sns.{region}.amazonaws.com.cn")
    } else {
        format!("https://sns.{region}.amazonaws.com")
    }
}

/// The parameter's top-level member, so attribute entries stay together and in order.
fn member_of(key: &str) -> &str {
    key.split('.').next().unwrap_or(key)
}

/// `s` cut to at most `max` bytes at a character boundary, and whether it was cut.
pub fn truncate_bytes(s: &str, max: usize) -> (&str, bool) {
    if s.len() <= max {
        return (s, false);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    (&s[..end], true)
}

/// A subject SNS accepts: no line breaks or control characters, no leading or trailing
/// blanks, under 100 characters. SNS refuses anything else with a 400 and the notification
/// would never go out.
pub fn subject_for_sns(subject: &str) -> String {
    let flat: String = subject
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    super::truncate_runes(flat.trim(), MAX_SUBJECT_CHARS)
}

/// 2xx is success; throttling (429, or a throttling error code) is retried, as the SDK
/// retries it; other 4xx are refusals; 5xx are retried.
fn check(answer: Answer) -> Result<(), NotifyError> {
    if (200..300).contains(&answer.status) {
        return Ok(());
    }
    let (code, message) = aws_error(&answer.body);
    let body = match (&code, &message) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.clone(),
        _ => answer.body.chars().take(2048).collect(),
    };
    let throttled = code
        .as_deref()
        .is_some_and(|c| THROTTLING_CODES.contains(&c));
    if answer.status == 429 || throttled {
        return Err(NotifyError::RateLimited {
            integration: "sns",
            retry_after: answer.retry_after,
            body,
        });
    }
    Err(NotifyError::Status {
        integration: "sns",
        status: answer.status,
        body,
    })
}

/// The `Code` and `Message` of an AWS query-protocol `ErrorResponse`.
fn aws_error(body: &str) -> (Option<String>, Option<String>) {
    let element = |name: &str| {
        let open = format!("<{name}>");
        let close = format!("</{name}>");
        let start = body.find(&open)? + open.len();
        let len = body[start..].find(&close)?;
        Some(xml_unescape(body[start..start + len].trim()))
    };
    (element("Code"), element("Message"))
}

fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}
