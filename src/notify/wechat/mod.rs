//! WeChat Work (WeCom): an access token fetched with `GET gettoken?corpid=…&corpsecret=…` and
//! kept for two hours, then one application message per notification,
//! `POST message/send?access_token=…`, as `text` or `markdown`. WeChat answers 200 with an
//! `errcode`: 0 is success, 42001 (token expired) drops the token and retries.

mod config;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;
use serde_json::Value as Json;

use super::http::HttpClient;
use super::registry::{Notify, SendFuture};
use super::render::Renderer;
use super::{FlushContext, IntegrationError, NotifyError};
use crate::config::{GlobalConfig, SecretSource};
use crate::model::Alert;
use crate::template::{data_value, Templates, Value};

pub use config::{WechatConfig, DEFAULT_API_URL};

/// How long a fetched access token is used before a new one is asked for.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(2 * 3600);
/// WeChat's "access token expired" error code.
const TOKEN_EXPIRED: i64 = 42001;

pub struct WechatNotifier {
    secret: SecretSource,
    corp_id: String,
    base: url::Url,
    client: HttpClient,
    config: WechatConfig,
    renderer: Renderer,
    token: Mutex<Option<(String, Instant)>>,
    pub send_resolved: bool,
}

/// The message as WeChat expects it; both content objects are always present, as
/// Alertmanager sends them.
#[derive(Serialize)]
struct Message {
    text: Content,
    #[serde(skip_serializing_if = "String::is_empty")]
    touser: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    toparty: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    totag: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    agentid: String,
    safe: &'static str,
    msgtype: String,
    markdown: Content,
}

#[derive(Serialize, Default)]
struct Content {
    content: String,
}

fn ensure_trailing_slash(url: &mut String) {
    // Only the path gets the slash: a query stays where it is.
    match url::Url::parse(url) {
        Ok(mut parsed) if !parsed.path().ends_with('/') => {
            let path = format!("{}/", parsed.path());
            parsed.set_path(&path);
            *url = parsed.to_string();
        }
        Ok(_) => {}
        Err(_) if !url.ends_with('/') => url.push('/'),
        Err(_) => {}
    }
}

impl WechatNotifier {
    pub fn new(
        config: &WechatConfig,
        global: &GlobalConfig,
        templates: Arc<Templates>,
    ) -> Result<WechatNotifier, IntegrationError> {
        let base = url::Url::parse(&config.base_url(global))
            .map_err(|e| IntegrationError::Invalid(format!("wechat api_url: {e}")))?;
        Ok(WechatNotifier {
            secret: config.secret(global).map_err(IntegrationError::Invalid)?,
            corp_id: config.corp_id(global).map_err(IntegrationError::Invalid)?,
            base,
            client: HttpClient::build(config.http(global))?,
            config: config.clone(),
            renderer: Renderer {
                templates,
                integration: "wechat",
            },
            token: Mutex::new(None),
            send_resolved: config.send_resolved.unwrap_or(false),
        })
    }

    /// The message body, keys in Alertmanager's order.
    pub fn message(&self, ctx: &FlushContext, alerts: &[Alert]) -> String {
        let v = data_value(&ctx.data(alerts));
        let c = &self.config;
        let r = |configured: &Option<String>, default: &str| {
            self.renderer.field(configured.as_deref(), default, &v)
        };
        let content = r(&c.message, r#"{{ template "wechat.default.message" . }}"#);
        let kind = c.message_type().to_string();
        let (text, markdown) = if kind == "markdown" {
            (Content::default(), Content { content })
        } else {
            (Content { content }, Content::default())
        };
        let message = Message {
            text,
            touser: r(&c.to_user, r#"{{ template "wechat.default.to_user" . }}"#),
            toparty: r(&c.to_party, r#"{{ template "wechat.default.to_party" . }}"#),
            totag: r(&c.to_tag, r#"{{ template "wechat.default.to_tag" . }}"#),
            agentid: r(&c.agent_id, r#"{{ template "wechat.default.agent_id" . }}"#),
            safe: "0",
            msgtype: kind,
            markdown,
        };
        // Strings only: serialising cannot fail.
        serde_json::to_string(&message).unwrap_or_default()
    }

    /// The `gettoken` URL for these credentials (the base URL's own query is replaced).
    pub fn token_url(&self, corp_id: &str, secret: &str) -> String {
        let mut url = self.base.clone();
        let path = format!("{}gettoken", url.path());
        url.set_path(&path);
        url.query_pairs_mut()
            .clear()
            .append_pair("corpid", corp_id)
            .append_pair("corpsecret", secret);
        url.to_string()
    }

    /// The `message/send` URL with the access token (beside any query of the base URL).
    pub fn send_url(&self, access_token: &str) -> String {
        let mut url = self.base.clone();
        let path = format!("{}message/send", url.path());
        url.set_path(&path);
        let mut pairs: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != "access_token")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        pairs.push(("access_token".into(), access_token.into()));
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        url.query_pairs_mut().clear().extend_pairs(pairs);
        url.to_string()
    }

    /// The cached access token, or a new one from `gettoken`.
    async fn access_token(&self, v: &Value) -> Result<String, NotifyError> {
        if let Some((token, at)) = self.token.lock().clone() {
            if !token.is_empty() && at.elapsed() <= TOKEN_LIFETIME {
                return Ok(token);
            }
        }
        // Alertmanager does not retry when the secret file cannot be read.
        let secret = self
            .secret
            .read()
            .map_err(|e| NotifyError::Build(format!("reading api_secret_file: {e}")))?;
        // Both are rendered as templates, as Alertmanager does.
        let secret = self.renderer.field(Some(secret.expose()), "", v);
        let corp_id = self.renderer.field(Some(&self.corp_id), "", v);
        let url = self.token_url(&corp_id, &secret);
        let request = self.client.request(reqwest::Method::GET, &url)?;
        let answer = super::http::send(&url, request).await?;
        // The status is not looked at: WeChat's answer is its JSON. An answer that is not
        // JSON, or has no token, is not retried (Alertmanager's rule).
        let parsed: Json =
            serde_json::from_str(&answer.body).map_err(|_| NotifyError::UnexpectedBody {
                integration: "wechat",
                status: answer.status,
                body: answer.body.chars().take(2048).collect(),
            })?;
        let token = parsed
            .get("access_token")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string();
        if token.is_empty() {
            return Err(NotifyError::Refused {
                integration: "wechat",
                reason: format!("invalid APISecret for CorpID: {}", self.corp_id),
            });
        }
        *self.token.lock() = Some((token.clone(), Instant::now()));
        Ok(token)
    }

    pub async fn send(&self, ctx: &FlushContext, alerts: &[Alert]) -> Result<(), NotifyError> {
        let v = data_value(&ctx.data(alerts));
        let token = self.access_token(&v).await?;
        let body = self.message(ctx, alerts).into_bytes();
        let url = self.send_url(&token);
        let answer = self.client.post_json(&url, body).await?;
        // Alertmanager retries every status but 200 here, a 4xx too.
        match answer.status {
            200 => {}
            500.. | 429 => return answer.check("wechat").map(|_| ()),
            status => {
                return Err(NotifyError::Transport(format!(
                    "wechat answered {status}: {}",
                    answer.body.chars().take(2048).collect::<String>()
                )))
            }
        }
        let parsed: Json = serde_json::from_str(&answer.body).map_err(|_| {
            NotifyError::Transport(format!(
                "could not read WeChat's answer {:?}",
                answer.body.chars().take(2048).collect::<String>()
            ))
        })?;
        let code = parsed.get("errcode").and_then(Json::as_i64).unwrap_or(0);
        let errmsg = parsed
            .get("errmsg")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string();
        match code {
            0 => Ok(()),
            TOKEN_EXPIRED => {
                *self.token.lock() = None;
                Err(NotifyError::Transport(format!(
                    "wechat access token expired: {errmsg}"
                )))
            }
            _ => Err(NotifyError::UnexpectedBody {
                integration: "wechat",
                status: answer.status,
                body: answer.body.chars().take(2048).collect(),
            }),
        }
    }
}

impl Notify for WechatNotifier {
    fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    fn send<'a>(&'a self, ctx: &'a FlushContext, alerts: &'a [Alert]) -> SendFuture<'a> {
        Box::pin(WechatNotifier::send(self, ctx, alerts))
    }
}
