//! Slack: one message with one attachment per notification, to an incoming webhook or, with a
//! bot token, to `chat.postMessage` (and `chat.update` for `update_message`).

mod config;

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{json, Map, Value as Json};

use super::http::HttpClient;
use super::registry::{IncidentUpdate, Notify, SendFuture};
use super::render::Renderer;
use super::{FlushContext, IntegrationError, NotifyError};
use crate::config::GlobalConfig;
use crate::model::Alert;
use crate::template::{data_value, Templates};

pub use config::{Endpoint, SlackAction, SlackConfig, SlackConfirm, SlackField, DEFAULT_APP_URL};

/// Slack cuts titles longer than this; Alertmanager truncates first, with `…`.
const MAX_TITLE_RUNES: usize = 1024;

/// The message each group's notification last posted (`ts` and channel id), for
/// `update_message`. Process-wide so a reload keeps it; a restart forgets it and the next
/// notification posts a new message.
static POSTED: LazyLock<Mutex<HashMap<String, (String, String)>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

pub struct SlackNotifier {
    endpoint: Endpoint,
    client: HttpClient,
    config: SlackConfig,
    renderer: Renderer,
    timeout: Option<Duration>,
    pub send_resolved: bool,
}

impl SlackNotifier {
    pub fn new(
        config: &SlackConfig,
        global: &GlobalConfig,
        templates: Arc<Templates>,
    ) -> Result<SlackNotifier, IntegrationError> {
        let endpoint = config.endpoint(global).map_err(IntegrationError::Invalid)?;
        Ok(SlackNotifier {
            endpoint,
            timeout: config.timeout.map(|t| t.0).filter(|t| !t.is_zero()),
            client: HttpClient::build(config.http_config.as_ref().or(global.http_config.as_ref()))?,
            config: config.clone(),
            renderer: Renderer {
                templates,
                integration: "slack",
            },
            send_resolved: config.send_resolved.unwrap_or(false),
        })
    }

    /// The message, as the Slack API expects it.
    pub fn message(&self, ctx: &FlushContext, alerts: &[Alert]) -> Json {
        let data = ctx.data(alerts);
        let v = data_value(&data);
        let c = &self.config;
        let r = |configured: &Option<String>, default: &str| {
            self.renderer.field(configured.as_deref(), default, &v)
        };
        let mut attachment = Map::new();
        let title = r(&c.title, r#"{{ template "slack.default.title" . }}"#);
        attachment.insert(
            "title".into(),
            json!(super::truncate_runes(&title, MAX_TITLE_RUNES)),
        );
        attachment.insert(
            "title_link".into(),
            json!(r(
                &c.title_link,
                r#"{{ template "slack.default.titlelink" . }}"#
            )),
        );
        attachment.insert(
            "pretext".into(),
            json!(r(&c.pretext, r#"{{ template "slack.default.pretext" . }}"#)),
        );
        attachment.insert(
            "text".into(),
            json!(r(&c.text, r#"{{ template "slack.default.text" . }}"#)),
        );
        attachment.insert(
            "fallback".into(),
            json!(r(
                &c.fallback,
                r#"{{ template "slack.default.fallback" . }}"#
            )),
        );
        attachment.insert(
            "callback_id".into(),
            json!(r(
                &c.callback_id,
                r#"{{ template "slack.default.callbackid" . }}"#
            )),
        );
        attachment.insert(
            "color".into(),
            json!(r(
                &c.color,
                r#"{{ if eq .Status "firing" }}danger{{ else }}good{{ end }}"#
            )),
        );
        attachment.insert(
            "footer".into(),
            json!(r(&c.footer, r#"{{ template "slack.default.footer" . }}"#)),
        );
        attachment.insert(
            "mrkdwn_in".into(),
            json!(c.mrkdwn_in.clone().unwrap_or_else(|| vec![
                "fallback".into(),
                "pretext".into(),
                "text".into()
            ])),
        );
        if let Some(image) = &c.image_url {
            attachment.insert(
                "image_url".into(),
                json!(self.renderer.field(Some(image), "", &v)),
            );
        }
        if let Some(thumb) = &c.thumb_url {
            attachment.insert(
                "thumb_url".into(),
                json!(self.renderer.field(Some(thumb), "", &v)),
            );
        }
        if !c.fields.is_empty() {
            let short_default = c.short_fields.unwrap_or(false);
            let fields: Vec<Json> = c
                .fields
                .iter()
                .map(|f| {
                    json!({
                        "title": self.renderer.field(Some(&f.title), "", &v),
                        "value": self.renderer.field(Some(&f.value), "", &v),
                        "short": f.short.unwrap_or(short_default),
                    })
                })
                .collect();
            attachment.insert("fields".into(), Json::Array(fields));
        }
        if !c.actions.is_empty() {
            let actions: Vec<Json> = c
                .actions
                .iter()
                .map(|a| {
                    let mut action = json!({
                        "type": self.renderer.field(Some(&a.kind), "", &v),
                        "text": self.renderer.field(Some(&a.text), "", &v),
                    });
                    for (key, value) in [
                        ("url", &a.url),
                        ("style", &a.style),
                        ("name", &a.name),
                        ("value", &a.value),
                    ] {
                        if let Some(value) = value {
                            action[key] = json!(self.renderer.field(Some(value), "", &v));
                        }
                    }
                    action
                })
                .collect();
            attachment.insert("actions".into(), Json::Array(actions));
        }
        let mut message = Map::new();
        if let Some(channel) = &c.channel {
            message.insert(
                "channel".into(),
                json!(self.renderer.field(Some(channel), "", &v)),
            );
        }
        message.insert(
            "username".into(),
            json!(r(
                &c.username,
                r#"{{ template "slack.default.username" . }}"#
            )),
        );
        let icon_emoji = r(
            &c.icon_emoji,
            r#"{{ template "slack.default.iconemoji" . }}"#,
        );
        let icon_url = r(&c.icon_url, r#"{{ template "slack.default.iconurl" . }}"#);
        if !icon_emoji.is_empty() {
            message.insert("icon_emoji".into(), json!(icon_emoji));
        } else if !icon_url.is_empty() {
            message.insert("icon_url".into(), json!(icon_url));
        }
        if c.link_names.unwrap_or(false) {
            message.insert("link_names".into(), json!(true));
        }
        if let Some(text) = &c.message_text {
            let text = self.renderer.field(Some(text), "", &v);
            if !text.is_empty() {
                message.insert("text".into(), json!(text));
            }
        }
        message.insert("attachments".into(), json!([Json::Object(attachment)]));
        Json::Object(message)
    }

    pub async fn send(&self, ctx: &FlushContext, alerts: &[Alert]) -> Result<(), NotifyError> {
        let mut message = self.message(ctx, alerts);
        let mut url = None;
        let posted_key = format!(
            "{}\0{}\0{:?}",
            ctx.receiver, ctx.group_key, self.config.channel
        );
        if self.config.update_message {
            if let Some((ts, channel)) = POSTED.lock().get(&posted_key).cloned() {
                message["ts"] = json!(ts);
                message["channel"] = json!(channel);
                url = Some(update_url(&self.endpoint));
            }
        }
        let answer = self.post(&message, url.as_deref()).await?;
        if self.config.update_message {
            if let (Some(ts), Some(channel)) = (
                answer.get("ts").and_then(Json::as_str),
                answer.get("channel").and_then(Json::as_str),
            ) {
                POSTED
                    .lock()
                    .insert(posted_key, (ts.to_string(), channel.to_string()));
            }
        }
        Ok(())
    }

    /// Posts a message; the answer's JSON when Slack's API answered JSON (a bot token).
    async fn post(&self, message: &Json, url_override: Option<&str>) -> Result<Json, NotifyError> {
        let body = serde_json::to_vec(message).map_err(|e| NotifyError::Build(e.to_string()))?;
        let (url, token) = match &self.endpoint {
            Endpoint::Webhook(url) => (url.read().map_err(NotifyError::secret)?, None),
            Endpoint::App { token, url } => (
                crate::config::Secret::new(url.clone()),
                Some(token.read().map_err(NotifyError::secret)?),
            ),
        };
        let url = url_override.unwrap_or(url.expose());
        let mut request = self
            .client
            .post(url)?
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token.expose());
        }
        let sent = super::http::send(url, request);
        let answer = match self.timeout {
            Some(limit) => tokio::time::timeout(limit, sent).await.map_err(|_| {
                NotifyError::Transport(format!("configured slack timeout reached ({limit:?})"))
            })??,
            None => sent.await?,
        };
        let answer = answer.check("slack")?;
        // The API answers JSON with `ok`; an incoming webhook answers the text `ok`.
        if answer.content_type.starts_with("application/json") {
            let parsed: Json = serde_json::from_str(&answer.body).map_err(|_| {
                NotifyError::Transport(format!("could not read Slack's answer {:?}", answer.body))
            })?;
            if parsed.get("ok").and_then(Json::as_bool) != Some(true) {
                return Err(NotifyError::UnexpectedBody {
                    integration: "slack",
                    status: answer.status,
                    body: answer.body,
                });
            }
            return Ok(parsed);
        }
        if answer.body.trim() != "ok" {
            return Err(NotifyError::UnexpectedBody {
                integration: "slack",
                status: answer.status,
                body: answer.body,
            });
        }
        Ok(Json::Null)
    }

    /// Posts a plain notice (an incident acknowledged or resolved by someone) to the
    /// receiver's webhook and channel.
    pub async fn send_notice(&self, text: &str) -> Result<(), NotifyError> {
        let mut message = json!({ "text": text });
        // A templated channel has no alerts to render from here: the webhook's default
        // channel takes the notice.
        if let Some(channel) = self.config.channel.as_deref().filter(|c| !c.contains("{{")) {
            message["channel"] = json!(channel);
        }
        if let Some(username) = self
            .config
            .username
            .as_deref()
            .filter(|u| !u.contains("{{"))
        {
            message["username"] = json!(username);
        }
        self.post(&message, None).await.map(|_| ())
    }
}

/// `chat.update` beside the configured `chat.postMessage`.
fn update_url(endpoint: &Endpoint) -> String {
    let base = match endpoint {
        Endpoint::App { url, .. } => url.clone(),
        Endpoint::Webhook(_) => DEFAULT_APP_URL.to_string(),
    };
    match base.rsplit_once('/') {
        Some((head, _)) => format!("{head}/chat.update"),
        None => base,
    }
}

impl Notify for SlackNotifier {
    fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    fn send<'a>(&'a self, ctx: &'a FlushContext, alerts: &'a [Alert]) -> SendFuture<'a> {
        Box::pin(SlackNotifier::send(self, ctx, alerts))
    }

    fn tell<'a>(
        &'a self,
        _ctx: &'a FlushContext,
        update: &'a IncidentUpdate<'a>,
    ) -> Option<SendFuture<'a>> {
        let (_, text) = update.notice?;
        Some(Box::pin(self.send_notice(text)))
    }
}
