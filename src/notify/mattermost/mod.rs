//! Mattermost incoming webhooks: one message per notification, POSTed as JSON to
//! `webhook_url`. Without configured `attachments` the message is one Slack-style attachment
//! (title, link, text, colour, fields, ...); with them, those attachments and `text` as the
//! message itself. `props.card` and `priority` (`urgent`/`important`/`standard`, with
//! `requested_ack` and `persistent_notifications`) are passed on.

mod config;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use serde_json::{json, Map, Value as Json};

use super::http::{Answer, HttpClient};
use super::registry::{Notify, SendFuture};
use super::render::Renderer;
use super::{FlushContext, IntegrationError, NotifyError};
use crate::config::{GlobalConfig, SecretSource};
use crate::model::Alert;
use crate::template::{data_value, Templates, Value};

pub use config::{
    MattermostAttachment, MattermostConfig, MattermostField, MattermostPriority, MattermostProps,
};

/// Mattermost's limit on a message's text, in characters.
pub const MAX_TEXT_RUNES: usize = 16383;

const PRIORITIES: [&str; 3] = ["urgent", "important", "standard"];

pub struct MattermostNotifier {
    webhook: SecretSource,
    client: HttpClient,
    config: MattermostConfig,
    renderer: Renderer,
    pub send_resolved: bool,
}

/// An attachment's texts before rendering: the block's own or one of its `attachments`.
struct AttachmentTexts<'a> {
    text: Option<&'a str>,
    fallback: Option<&'a str>,
    color: Option<&'a str>,
    pretext: Option<&'a str>,
    author_name: Option<&'a str>,
    author_link: Option<&'a str>,
    author_icon: Option<&'a str>,
    title: Option<&'a str>,
    title_link: Option<&'a str>,
    thumb_url: Option<&'a str>,
    footer: Option<&'a str>,
    footer_icon: Option<&'a str>,
    image_url: Option<&'a str>,
    fields: &'a [MattermostField],
}

impl MattermostNotifier {
    pub fn new(
        config: &MattermostConfig,
        global: &GlobalConfig,
        templates: Arc<Templates>,
    ) -> Result<MattermostNotifier, IntegrationError> {
        Ok(MattermostNotifier {
            webhook: config.webhook(global).map_err(IntegrationError::Invalid)?,
            client: HttpClient::build(config.http(global))?,
            config: config.clone(),
            renderer: Renderer {
                templates,
                integration: "mattermost",
            },
            send_resolved: config.send_resolved.unwrap_or(true),
        })
    }

    /// The webhook message.
    pub fn message(&self, ctx: &FlushContext, alerts: &[Alert]) -> Json {
        let v = data_value(&ctx.data(alerts));
        let c = &self.config;
        let r =
            |configured: Option<&str>, default: &str| self.renderer.field(configured, default, &v);
        let text = r(
            c.text.as_deref(),
            r#"{{ template "mattermost.default.text" . }}"#,
        );
        let mut message = Map::new();
        put(&mut message, "channel", r(c.channel.as_deref(), ""));
        put(
            &mut message,
            "username",
            r(
                c.username.as_deref(),
                r#"{{ template "mattermost.default.username" . }}"#,
            ),
        );
        put(&mut message, "icon_url", r(c.icon_url.as_deref(), ""));
        put(&mut message, "icon_emoji", r(c.icon_emoji.as_deref(), ""));
        put(&mut message, "type", r(c.kind.as_deref(), ""));

        let attachments: Vec<Json> = if c.attachments.is_empty() {
            vec![self.attachment(
                &AttachmentTexts {
                    text: Some(&text),
                    fallback: Some(
                        c.fallback
                            .as_deref()
                            .unwrap_or(r#"{{ template "mattermost.default.fallback" . }}"#),
                    ),
                    color: Some(
                        c.color
                            .as_deref()
                            .unwrap_or(r#"{{ template "mattermost.default.color" . }}"#),
                    ),
                    pretext: c.pretext.as_deref(),
                    author_name: c.author_name.as_deref(),
                    author_link: c.author_link.as_deref(),
                    author_icon: c.author_icon.as_deref(),
                    title: Some(
                        c.title
                            .as_deref()
                            .unwrap_or(r#"{{ template "mattermost.default.title" . }}"#),
                    ),
                    title_link: Some(
                        c.title_link
                            .as_deref()
                            .unwrap_or(r#"{{ template "mattermost.default.titlelink" . }}"#),
                    ),
                    thumb_url: c.thumb_url.as_deref(),
                    footer: c.footer.as_deref(),
                    footer_icon: c.footer_icon.as_deref(),
                    image_url: c.image_url.as_deref(),
                    fields: &c.fields,
                },
                true,
                &v,
            )]
        } else {
            let (cut, truncated) = truncate_in_runes(&text, MAX_TEXT_RUNES);
            if truncated {
                tracing::warn!(integration = "mattermost", group_key = %ctx.group_key,
                    max_runes = MAX_TEXT_RUNES, "truncated text");
            }
            put(&mut message, "text", cut);
            c.attachments
                .iter()
                .map(|a| {
                    self.attachment(
                        &AttachmentTexts {
                            text: a.text.as_deref(),
                            fallback: a.fallback.as_deref(),
                            color: a.color.as_deref(),
                            pretext: a.pretext.as_deref(),
                            author_name: a.author_name.as_deref(),
                            author_link: a.author_link.as_deref(),
                            author_icon: a.author_icon.as_deref(),
                            title: a.title.as_deref(),
                            title_link: a.title_link.as_deref(),
                            thumb_url: a.thumb_url.as_deref(),
                            footer: a.footer.as_deref(),
                            footer_icon: a.footer_icon.as_deref(),
                            image_url: a.image_url.as_deref(),
                            fields: &a.fields,
                        },
                        false,
                        &v,
                    )
                })
                .collect()
        };
        message.insert("attachments".into(), Json::Array(attachments));

        if let Some(card) = c
            .props
            .as_ref()
            .and_then(|p| p.card.as_deref())
            .filter(|card| !card.is_empty())
        {
            let mut props = Map::new();
            put(&mut props, "card", r(Some(card), ""));
            message.insert("props".into(), Json::Object(props));
        }
        if let Some(p) = c
            .priority
            .as_ref()
            .filter(|p| p.priority.as_deref().is_some_and(|s| !s.is_empty()))
        {
            message.insert(
                "priority".into(),
                self.priority(p, r(p.priority.as_deref(), ""), ctx),
            );
        }
        Json::Object(message)
    }

    /// One attachment, its texts rendered. `text` is already rendered for the block's own
    /// attachment (it is shared with the message), and a template for a configured one.
    fn attachment(&self, a: &AttachmentTexts, text_rendered: bool, v: &Value) -> Json {
        let r = |t: Option<&str>| match t {
            Some(t) => self.renderer.field(Some(t), "", v),
            None => String::new(),
        };
        let mut out = Map::new();
        put(&mut out, "fallback", r(a.fallback));
        put(&mut out, "color", r(a.color));
        put(&mut out, "pretext", r(a.pretext));
        let text = if text_rendered {
            a.text.unwrap_or("").to_string()
        } else {
            r(a.text)
        };
        put(&mut out, "text", text);
        put(&mut out, "author_name", r(a.author_name));
        put(&mut out, "author_link", r(a.author_link));
        put(&mut out, "author_icon", r(a.author_icon));
        put(&mut out, "title", r(a.title));
        put(&mut out, "title_link", r(a.title_link));
        if !a.fields.is_empty() {
            let fields = a
                .fields
                .iter()
                .map(|f| {
                    let mut field = Map::new();
                    put(&mut field, "title", r(f.title.as_deref()));
                    put(&mut field, "value", r(f.value.as_deref()));
                    if let Some(short) = f.short {
                        field.insert("short".into(), json!(short));
                    }
                    Json::Object(field)
                })
                .collect();
            out.insert("fields".into(), Json::Array(fields));
        }
        put(&mut out, "thumb_url", r(a.thumb_url));
        put(&mut out, "footer", r(a.footer));
        put(&mut out, "footer_icon", r(a.footer_icon));
        put(&mut out, "image_url", r(a.image_url));
        Json::Object(out)
    }

    /// The priority as Mattermost accepts it: an unknown one becomes `standard`, an ack is
    /// requested only above `standard`, and persistent notifications only for `urgent`.
    fn priority(&self, p: &MattermostPriority, rendered: String, ctx: &FlushContext) -> Json {
        let lower = rendered.to_lowercase();
        let priority = if PRIORITIES.contains(&lower.as_str()) {
            lower
        } else {
            tracing::warn!(integration = "mattermost", group_key = %ctx.group_key,
                priority = %rendered, "unknown priority, sending standard");
            "standard".to_string()
        };
        let requested_ack = p.requested_ack && priority != "standard";
        let persistent = p.persistent_notifications && priority == "urgent";
        if p.requested_ack && !requested_ack {
            tracing::warn!(integration = "mattermost", group_key = %ctx.group_key,
                "requested_ack needs a priority above standard; not requesting an ack");
        }
        if p.persistent_notifications && !persistent {
            tracing::warn!(integration = "mattermost", group_key = %ctx.group_key,
                "persistent_notifications needs the urgent priority; not sending them");
        }
        let mut out = Map::new();
        out.insert("priority".into(), json!(priority));
        if requested_ack {
            out.insert("requested_ack".into(), json!(true));
        }
        if persistent {
            out.insert("persistent_notifications".into(), json!(true));
        }
        Json::Object(out)
    }

    pub async fn send(&self, ctx: &FlushContext, alerts: &[Alert]) -> Result<(), NotifyError> {
        // Alertmanager does not retry when the URL cannot be read, or is empty.
        let url = self
            .webhook
            .read()
            .map_err(|e| NotifyError::Build(format!("read webhook_url_file: {e}")))?;
        if url.is_empty() {
            return Err(NotifyError::Build("webhook url missing".into()));
        }
        let message = self.message(ctx, alerts);
        let channel = message
            .get("channel")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string();
        let body = serde_json::to_vec(&message).map_err(|e| NotifyError::Build(e.to_string()))?;
        check(self.client.post_json(url.expose(), body).await?, &channel)
    }
}

/// Cuts `s` to `max` runes, the last one replaced by `…`; whether it cut.
fn truncate_in_runes(s: &str, max: usize) -> (String, bool) {
    let cut = super::truncate_runes(s, max);
    let truncated = cut != s;
    (cut, truncated)
}

/// Inserts a string that Alertmanager sends only when it is not empty.
fn put(map: &mut Map<String, Json>, key: &str, value: String) {
    if !value.is_empty() {
        map.insert(key.into(), Json::String(value));
    }
}

/// Alertmanager's default retrier: only a 5xx is tried again; any other failure status, 429
/// included, fails the notification. Errors name the channel, as Alertmanager's do.
fn check(answer: Answer, channel: &str) -> Result<(), NotifyError> {
    let body = answer.body.chars().take(2048).collect::<String>();
    match answer.status {
        200..=299 => Ok(()),
        429 => Err(NotifyError::Refused {
            integration: "mattermost",
            reason: format!("channel {channel:?}: answered 429: {body}"),
        }),
        status => Err(NotifyError::Status {
            integration: "mattermost",
            status,
            body: format!("channel {channel:?}: {body}"),
        }),
    }
}

impl Notify for MattermostNotifier {
    fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    fn send<'a>(&'a self, ctx: &'a FlushContext, alerts: &'a [Alert]) -> SendFuture<'a> {
        Box::pin(MattermostNotifier::send(self, ctx, alerts))
    }
}
