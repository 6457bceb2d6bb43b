//! Rocket.Chat: one message per notification, with one attachment (title, link, text,
//! colour, fields, buttons), POSTed as JSON to `{api_url}/api/v1/chat.postMessage` with the
//! `X-Auth-Token` and `X-User-Id` headers. Rocket.Chat may refuse a message with a 200 and
//! `"success": false`, which fails the notification.

mod config;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use serde_json::{json, Map, Value as Json};

use super::http::{Answer, HttpClient};
use super::registry::{Notify, SendFuture};
use super::render::Renderer;
use super::{FlushContext, IntegrationError, NotifyError};
use crate::config::{GlobalConfig, Secret, SecretSource};
use crate::model::Alert;
use crate::template::{data_value, Templates, Value};

pub use config::{
    Credentials, RocketchatAction, RocketchatConfig, RocketchatField, DEFAULT_API_URL,
};

/// Rocket.Chat cuts longer attachment titles; Alertmanager truncates first, with `…`.
pub const MAX_TITLE_RUNES: usize = 1024;

/// A credential as read when the notifier was built, and where to read it again.
struct Credential {
    source: SecretSource,
    at_build: Secret,
}

impl Credential {
    /// Alertmanager reads the files once, when it loads the config, and fails the load when
    /// it cannot: so do we, and we read again per request so a rotated token applies.
    fn load(source: SecretSource, field: &str) -> Result<Credential, IntegrationError> {
        let at_build = source.read().map_err(|e| match &source {
            SecretSource::File(path) => {
                IntegrationError::Invalid(format!("could not read {path} ({field}): {e}"))
            }
            SecretSource::Inline(_) => IntegrationError::Invalid(e.to_string()),
        })?;
        Ok(Credential { source, at_build })
    }

    fn current(&self) -> Secret {
        self.source.read().unwrap_or_else(|e| {
            tracing::warn!(integration = "rocketchat", error = %e,
                "could not read the credential file again; using the one read at load");
            self.at_build.clone()
        })
    }
}

pub struct RocketchatNotifier {
    url: String,
    token: Credential,
    token_id: Credential,
    client: HttpClient,
    config: RocketchatConfig,
    renderer: Renderer,
    pub send_resolved: bool,
}

/// `api/v1/chat.postMessage` under the base URL's path (its query kept), as Go's `JoinPath`.
pub fn post_message_url(base: &str) -> Result<String, url::ParseError> {
    let mut url = url::Url::parse(base)?;
    let path = format!(
        "{}/api/v1/chat.postMessage",
        url.path().trim_end_matches('/')
    );
    url.set_path(&path);
    Ok(url.to_string())
}

impl RocketchatNotifier {
    pub fn new(
        config: &RocketchatConfig,
        global: &GlobalConfig,
        templates: Arc<Templates>,
    ) -> Result<RocketchatNotifier, IntegrationError> {
        let Credentials { token, token_id } = config
            .credentials(global)
            .map_err(IntegrationError::Invalid)?;
        let base = config.api_url(global);
        let url = post_message_url(&base)
            .map_err(|e| IntegrationError::Invalid(format!("rocketchat api_url: {e}")))?;
        Ok(RocketchatNotifier {
            url,
            token: Credential::load(token, "token")?,
            token_id: Credential::load(token_id, "token_id")?,
            client: HttpClient::build(config.http(global))?,
            config: config.clone(),
            renderer: Renderer {
                templates,
                integration: "rocketchat",
            },
            send_resolved: config.send_resolved.unwrap_or(false),
        })
    }

    /// The URL messages are POSTed to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The `chat.postMessage` body.
    pub fn message(&self, ctx: &FlushContext, alerts: &[Alert]) -> Json {
        let v = data_value(&ctx.data(alerts));
        let c = &self.config;
        let r = |configured: &Option<String>, default: &str| {
            self.renderer.field(configured.as_deref(), default, &v)
        };
        let title = r(&c.title, r#"{{ template "rocketchat.default.title" . }}"#);
        let cut = super::truncate_runes(&title, MAX_TITLE_RUNES);
        if cut != title {
            tracing::warn!(integration = "rocketchat", group_key = %ctx.group_key,
                max_runes = MAX_TITLE_RUNES, "truncated title");
        }
        let mut attachment = Map::new();
        put(&mut attachment, "title", cut);
        put(
            &mut attachment,
            "title_link",
            r(
                &c.title_link,
                r#"{{ template "rocketchat.default.titlelink" . }}"#,
            ),
        );
        put(
            &mut attachment,
            "text",
            r(&c.text, r#"{{ template "rocketchat.default.text" . }}"#),
        );
        put(&mut attachment, "image_url", r(&c.image_url, ""));
        put(&mut attachment, "thumb_url", r(&c.thumb_url, ""));
        put(
            &mut attachment,
            "color",
            r(
                &c.color,
                r#"{{ if eq .Status "firing" }}red{{ else }}green{{ end }}"#,
            ),
        );
        if !c.fields.is_empty() {
            let fields = c.fields.iter().map(|f| self.field(f, &v)).collect();
            attachment.insert("fields".into(), Json::Array(fields));
        }
        if !c.actions.is_empty() {
            let actions = c.actions.iter().map(|a| self.action(a, &v)).collect();
            attachment.insert("actions".into(), Json::Array(actions));
        }
        let mut message = Map::new();
        put(&mut message, "channel", r(&c.channel, ""));
        put(
            &mut message,
            "emoji",
            r(&c.emoji, r#"{{ template "rocketchat.default.emoji" . }}"#),
        );
        put(
            &mut message,
            "avatar",
            r(
                &c.icon_url,
                r#"{{ template "rocketchat.default.iconurl" . }}"#,
            ),
        );
        message.insert("attachments".into(), json!([Json::Object(attachment)]));
        Json::Object(message)
    }

    fn field(&self, f: &RocketchatField, v: &Value) -> Json {
        let mut out = Map::new();
        // `short` is always sent: the field's own, else the block's `short_fields`.
        out.insert(
            "short".into(),
            json!(f.short.unwrap_or(self.config.short_fields)),
        );
        put(
            &mut out,
            "title",
            self.renderer.field(f.title.as_deref(), "", v),
        );
        put(
            &mut out,
            "value",
            self.renderer.field(f.value.as_deref(), "", v),
        );
        Json::Object(out)
    }

    fn action(&self, a: &RocketchatAction, v: &Value) -> Json {
        let mut out = Map::new();
        out.insert("type".into(), json!("button"));
        put(
            &mut out,
            "text",
            self.renderer.field(a.text.as_deref(), "", v),
        );
        put(
            &mut out,
            "url",
            self.renderer.field(a.url.as_deref(), "", v),
        );
        out.insert("is_webview".into(), json!(false));
        put(
            &mut out,
            "msg",
            self.renderer.field(a.msg.as_deref(), "", v),
        );
        out.insert("msg_in_chat_window".into(), json!(false));
        Json::Object(out)
    }

    pub async fn send(&self, ctx: &FlushContext, alerts: &[Alert]) -> Result<(), NotifyError> {
        let message = self.message(ctx, alerts);
        let channel = message
            .get("channel")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string();
        let body = serde_json::to_vec(&message).map_err(|e| NotifyError::Build(e.to_string()))?;
        let request = self
            .client
            .post(&self.url)?
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Auth-Token", self.token.current().expose())
            .header("X-User-Id", self.token_id.current().expose())
            .body(body);
        check(super::http::send(&self.url, request).await?, &channel)
    }
}

/// Inserts a string that Alertmanager sends only when it is not empty.
fn put(map: &mut Map<String, Json>, key: &str, value: String) {
    if !value.is_empty() {
        map.insert(key.into(), Json::String(value));
    }
}

/// Alertmanager's rule for Rocket.Chat: a 5xx is tried again, any other failure status (429
/// included) is not; a 2xx must be JSON with `"success": true`, and one that is not JSON at
/// all is tried again.
fn check(answer: Answer, channel: &str) -> Result<(), NotifyError> {
    let about = |text: &str| format!("channel {channel:?}: {text}");
    match answer.status {
        200..=299 => {}
        429 => {
            return Err(NotifyError::Refused {
                integration: "rocketchat",
                reason: about(&format!(
                    "answered 429: {}",
                    answer.body.chars().take(2048).collect::<String>()
                )),
            })
        }
        status => {
            return Err(NotifyError::Status {
                integration: "rocketchat",
                status,
                body: about(&answer.body.chars().take(2048).collect::<String>()),
            })
        }
    }
    #[derive(serde::Deserialize)]
    struct Reply {
        #[serde(default)]
        success: bool,
        error: Option<String>,
    }
    match serde_json::from_str::<Reply>(&answer.body) {
        Err(e) => Err(NotifyError::Transport(about(&format!(
            "could not unmarshal JSON response {:?}: {e}",
            answer.body.chars().take(2048).collect::<String>()
        )))),
        Ok(reply) if !reply.success => Err(NotifyError::UnexpectedBody {
            integration: "rocketchat",
            status: answer.status,
            body: about(&format!(
                "error response from Rocketchat: {}",
                reply.error.unwrap_or_default()
            )),
        }),
        Ok(_) => Ok(()),
    }
}

impl Notify for RocketchatNotifier {
    fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    fn send<'a>(&'a self, ctx: &'a FlushContext, alerts: &'a [Alert]) -> SendFuture<'a> {
        Box::pin(RocketchatNotifier::send(self, ctx, alerts))
    }
}
