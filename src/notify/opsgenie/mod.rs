//! Opsgenie (Alert API v2): a firing group creates an alert whose alias is the sha256 of the
//! group key (`POST v2/alerts`), so Opsgenie deduplicates repeats; a resolved group closes it
//! (`POST v2/alerts/{alias}/close?identifierType=alias`). With `update_alerts`, every firing
//! notification also rewrites the open alert's message and description. Each request carries
//! `Authorization: GenieKey <api_key>`.

mod config;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use reqwest::Method;
use serde::Serialize;
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use super::http::HttpClient;
use super::registry::{Notify, SendFuture};
use super::render::Renderer;
use super::{FlushContext, IntegrationError, NotifyError};
use crate::config::{GlobalConfig, SecretSource};
use crate::model::{Alert, AlertStatus};
use crate::template::{data_value, Templates, Value};

pub use config::{OpsgenieConfig, OpsgenieResponder, DEFAULT_API_URL};

/// Opsgenie's limit on an alert's message, in characters (runes).
pub const MAX_MESSAGE_RUNES: usize = 130;

pub struct OpsgenieNotifier {
    key: SecretSource,
    base: url::Url,
    client: HttpClient,
    config: OpsgenieConfig,
    renderer: Renderer,
    pub send_resolved: bool,
}

/// One API call of a notification, before the key is added.
#[derive(Debug, Clone, PartialEq)]
pub struct OpsgenieRequest {
    pub method: Method,
    pub url: String,
    /// The JSON body, keys in Alertmanager's order.
    pub body: String,
}

#[derive(Serialize)]
struct CreateMessage {
    alias: String,
    message: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    description: String,
    details: std::collections::BTreeMap<String, String>,
    source: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    responders: Vec<Responder>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    note: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    priority: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    entity: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    actions: Vec<String>,
}

#[derive(Serialize, Default, PartialEq)]
struct Responder {
    #[serde(skip_serializing_if = "String::is_empty")]
    id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    username: String,
    #[serde(rename = "type")]
    kind: String,
}

/// The alias of a group's alert: the sha256 of its group key, in hex (Alertmanager's).
pub fn alias(group_key: &str) -> String {
    hex::encode(Sha256::digest(group_key.as_bytes()))
}

/// Cuts `s` to `max` runes, the last one replaced by `…` (Alertmanager's rule); whether it cut.
fn truncate_in_runes(s: &str, max: usize) -> (String, bool) {
    let cut = super::truncate_runes(s, max);
    let truncated = cut != s;
    (cut, truncated)
}

fn ensure_trailing_slash(url: &mut String) {
    // Only the path may get the slash: a query or fragment stays where it is.
    if let Ok(mut parsed) = url::Url::parse(url) {
        if !parsed.path().ends_with('/') {
            let path = format!("{}/", parsed.path());
            parsed.set_path(&path);
            *url = parsed.to_string();
        }
    } else if !url.ends_with('/') {
        url.push('/');
    }
}

fn to_json(value: &impl Serialize) -> String {
    // Plain strings and maps of strings: serialising them cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

/// Go's `strings.Split(strings.TrimSpace(s), sep)` without the empty parts (parts are not
/// trimmed, as in Alertmanager).
fn safe_split(s: &str, sep: char) -> Vec<String> {
    s.trim()
        .split(sep)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

impl OpsgenieNotifier {
    pub fn new(
        config: &OpsgenieConfig,
        global: &GlobalConfig,
        templates: Arc<Templates>,
    ) -> Result<OpsgenieNotifier, IntegrationError> {
        let key = config.key(global).map_err(IntegrationError::Invalid)?;
        let base = url::Url::parse(&config.base_url(global))
            .map_err(|e| IntegrationError::Invalid(format!("opsgenie api_url: {e}")))?;
        Ok(OpsgenieNotifier {
            key,
            base,
            client: HttpClient::build(config.http(global))?,
            config: config.clone(),
            renderer: Renderer {
                templates,
                integration: "opsgenie",
            },
            send_resolved: config.send_resolved.unwrap_or(true),
        })
    }

    /// The base URL with `path` appended, and `identifierType=alias` when the path names the
    /// alert by its alias.
    fn endpoint(&self, path: &str, by_alias: bool) -> String {
        let mut url = self.base.clone();
        let joined = format!("{}{path}", url.path());
        url.set_path(&joined);
        if by_alias {
            // Go's Values.Encode: every pair, the one set replaced, sorted by key.
            let mut pairs: Vec<(String, String)> = url
                .query_pairs()
                .filter(|(k, _)| k != "identifierType")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            pairs.push(("identifierType".into(), "alias".into()));
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            url.query_pairs_mut().clear().extend_pairs(pairs);
        }
        url.to_string()
    }

    /// The API calls this notification makes, in order.
    pub fn message(&self, ctx: &FlushContext, alerts: &[Alert]) -> Vec<OpsgenieRequest> {
        let data = ctx.data(alerts);
        let v = data_value(&data);
        let c = &self.config;
        let text = |t: &Option<String>| match t {
            Some(t) => self.renderer.field(Some(t), "", &v),
            None => String::new(),
        };
        let alias = alias(&ctx.group_key);
        let source = self.renderer.field(
            c.source.as_deref(),
            r#"{{ template "opsgenie.default.source" . }}"#,
            &v,
        );
        if data.status == AlertStatus::Resolved {
            return vec![OpsgenieRequest {
                method: Method::POST,
                url: self.endpoint(&format!("v2/alerts/{alias}/close"), true),
                body: to_json(&serde_json::json!({ "source": source })),
            }];
        }
        let (message, truncated) = truncate_in_runes(
            &self.renderer.field(
                c.message.as_deref(),
                r#"{{ template "opsgenie.default.message" . }}"#,
                &v,
            ),
            MAX_MESSAGE_RUNES,
        );
        if truncated {
            tracing::warn!(integration = "opsgenie", group_key = %ctx.group_key,
                max_runes = MAX_MESSAGE_RUNES, "truncated message");
        }
        let description = self.renderer.field(
            c.description.as_deref(),
            r#"{{ template "opsgenie.default.description" . }}"#,
            &v,
        );
        let mut details: std::collections::BTreeMap<String, String> = data
            .common_labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for (k, t) in &c.details {
            details.insert(k.clone(), self.renderer.field(Some(t), "", &v));
        }
        let create = CreateMessage {
            alias: alias.clone(),
            message,
            description,
            details,
            source,
            responders: self.responders(&v),
            tags: safe_split(&text(&c.tags), ','),
            note: text(&c.note),
            priority: text(&c.priority),
            entity: text(&c.entity),
            actions: safe_split(&text(&c.actions), ','),
        };
        let mut requests = vec![OpsgenieRequest {
            method: Method::POST,
            url: self.endpoint("v2/alerts", false),
            body: to_json(&create),
        }];
        if c.update_alerts {
            let mut message = serde_json::Map::new();
            if !create.message.is_empty() {
                message.insert("message".into(), Json::String(create.message.clone()));
            }
            let mut description = serde_json::Map::new();
            if !create.description.is_empty() {
                description.insert(
                    "description".into(),
                    Json::String(create.description.clone()),
                );
            }
            requests.push(OpsgenieRequest {
                method: Method::PUT,
                url: self.endpoint(&format!("v2/alerts/{alias}/message"), true),
                body: to_json(&message),
            });
            requests.push(OpsgenieRequest {
                method: Method::PUT,
                url: self.endpoint(&format!("v2/alerts/{alias}/description"), true),
                body: to_json(&description),
            });
        }
        requests
    }

    /// The configured responders, rendered; empty ones left out (they may be filled from
    /// labels), and a `teams` responder split into one `team` per comma-separated name.
    fn responders(&self, v: &Value) -> Vec<Responder> {
        let r = |t: &Option<String>| match t {
            Some(t) => self.renderer.field(Some(t), "", v),
            None => String::new(),
        };
        let mut out = Vec::new();
        for c in &self.config.responders {
            let responder = Responder {
                id: r(&c.id),
                name: r(&c.name),
                username: r(&c.username),
                kind: r(&c.kind),
            };
            if responder == Responder::default() {
                continue;
            }
            if responder.kind == "teams" {
                out.extend(
                    safe_split(&responder.name, ',')
                        .into_iter()
                        .map(|team| Responder {
                            name: self.renderer.field(Some(&team), "", v),
                            kind: "team".into(),
                            ..Responder::default()
                        }),
                );
                continue;
            }
            out.push(responder);
        }
        out
    }

    /// The API key, read now (a rotated file applies at once) and rendered as a template.
    fn api_key(&self, ctx: &FlushContext, alerts: &[Alert]) -> Result<String, NotifyError> {
        // Alertmanager does not retry when the key file cannot be read.
        let key = self
            .key
            .read()
            .map_err(|e| NotifyError::Build(format!("reading api_key_file: {e}")))?;
        let key = key.expose();
        if !key.contains("{{") {
            return Ok(key.to_string());
        }
        let v = data_value(&ctx.data(alerts));
        Ok(self.renderer.field(Some(key), "", &v).trim().to_string())
    }

    pub async fn send(&self, ctx: &FlushContext, alerts: &[Alert]) -> Result<(), NotifyError> {
        let requests = self.message(ctx, alerts);
        let key = self.api_key(ctx, alerts)?;
        for r in requests {
            // The GenieKey is the credential: http_config's own authorization would be
            // overridden by it in Alertmanager too.
            let request = self
                .client
                .unauthenticated(r.method, &r.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(reqwest::header::AUTHORIZATION, format!("GenieKey {key}"))
                .body(r.body);
            // 5xx and 429 are retried, as Alertmanager's retrier for Opsgenie does.
            super::http::send(&r.url, request)
                .await?
                .check("opsgenie")?;
        }
        Ok(())
    }
}

impl Notify for OpsgenieNotifier {
    fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    fn send<'a>(&'a self, ctx: &'a FlushContext, alerts: &'a [Alert]) -> SendFuture<'a> {
        Box::pin(OpsgenieNotifier::send(self, ctx, alerts))
    }
}
