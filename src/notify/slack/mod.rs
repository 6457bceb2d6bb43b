//! Slack incoming webhooks: one message with one attachment per notification.

use std::sync::Arc;

use serde_json::{json, Map, Value as Json};

use super::http::HttpClient;
use super::render::Renderer;
use super::{FlushContext, IntegrationError, NotifyError};
use crate::config::{Secret, SecretSource, SlackConfig};
use crate::model::Alert;
use crate::template::{data_value, Templates};

pub struct SlackNotifier {
    url: SecretSource,
    client: HttpClient,
    config: SlackConfig,
    renderer: Renderer,
    pub send_resolved: bool,
}

impl SlackNotifier {
    pub fn new(
        config: &SlackConfig,
        global_url: Option<&Secret>,
        global_url_file: Option<&String>,
        templates: Arc<Templates>,
    ) -> Result<SlackNotifier, IntegrationError> {
        let url = SecretSource::from_pair(
            config.api_url.clone(),
            config.api_url_file.clone(),
            "api_url",
        )?
        .or_else(|| {
            SecretSource::from_pair(
                global_url.cloned(),
                global_url_file.cloned(),
                "slack_api_url",
            )
            .ok()
            .flatten()
        })
        .ok_or(IntegrationError::Missing("no global Slack API URL set"))?;
        Ok(SlackNotifier {
            url,
            client: HttpClient::build(config.http_config.as_ref())?,
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
        attachment.insert(
            "title".into(),
            json!(r(&c.title, r#"{{ template "slack.default.title" . }}"#)),
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
        message.insert("attachments".into(), json!([Json::Object(attachment)]));
        Json::Object(message)
    }

    pub async fn send(&self, ctx: &FlushContext, alerts: &[Alert]) -> Result<(), NotifyError> {
        self.post(&self.message(ctx, alerts)).await
    }

    async fn post(&self, message: &Json) -> Result<(), NotifyError> {
        let body = serde_json::to_vec(message).map_err(|e| NotifyError::Build(e.to_string()))?;
        let url = self.url.read().map_err(NotifyError::secret)?;
        let answer = self
            .client
            .post_json(url.expose(), body)
            .await?
            .check("slack")?;
        // Slack says `ok` on success; anything else (e.g. `invalid_payload`) is a failure.
        if answer.body.trim() != "ok" {
            return Err(NotifyError::UnexpectedBody {
                integration: "slack",
                status: answer.status,
                body: answer.body,
            });
        }
        Ok(())
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
        self.post(&message).await
    }
}
