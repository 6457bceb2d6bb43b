//! Discord: one webhook message per notification, with the configured `content` and one embed
//! (title, description, and a red or green colour for a firing or resolved group), POSTed as
//! JSON to the channel's `webhook_url`.

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
use crate::model::{Alert, AlertStatus};
use crate::template::{data_value, Templates};

pub use config::DiscordConfig;

/// Discord's embed limits, in characters (runes).
pub const MAX_TITLE_RUNES: usize = 256;
pub const MAX_DESCRIPTION_RUNES: usize = 4096;
/// Discord's limit on a message's own `content`.
pub const MAX_CONTENT_RUNES: usize = 2000;

/// Embed colours (Discord's dark red and green), as the integers Discord reads.
pub const COLOR_FIRING: u32 = 0x992D22;
pub const COLOR_RESOLVED: u32 = 0x2ECC71;

pub struct DiscordNotifier {
    webhook: SecretSource,
    client: HttpClient,
    config: DiscordConfig,
    renderer: Renderer,
    pub send_resolved: bool,
}

impl DiscordNotifier {
    pub fn new(
        config: &DiscordConfig,
        global: &GlobalConfig,
        templates: Arc<Templates>,
    ) -> Result<DiscordNotifier, IntegrationError> {
        Ok(DiscordNotifier {
            webhook: config.webhook().map_err(IntegrationError::Invalid)?,
            client: HttpClient::build(config.http(global))?,
            config: config.clone(),
            renderer: Renderer {
                templates,
                integration: "discord",
            },
            send_resolved: config.send_resolved.unwrap_or(true),
        })
    }

    /// The webhook message.
    pub fn message(&self, ctx: &FlushContext, alerts: &[Alert]) -> Json {
        let data = ctx.data(alerts);
        let v = data_value(&data);
        let c = &self.config;
        let limited = |field: &'static str, text: String, max: usize| {
            let cut = super::truncate_runes(&text, max);
            if cut != text {
                tracing::warn!(integration = "discord", group_key = %ctx.group_key, field,
                    max_runes = max, "truncated");
            }
            cut
        };
        let title = limited(
            "title",
            self.renderer.field(
                c.title.as_deref(),
                r#"{{ template "discord.default.title" . }}"#,
                &v,
            ),
            MAX_TITLE_RUNES,
        );
        let description = limited(
            "message",
            self.renderer.field(
                c.message.as_deref(),
                r#"{{ template "discord.default.message" . }}"#,
                &v,
            ),
            MAX_DESCRIPTION_RUNES,
        );
        // Alertmanager's default content is empty, not its `discord.default.content` define.
        let content = limited(
            "content",
            self.renderer.field(c.content.as_deref(), "", &v),
            MAX_CONTENT_RUNES,
        );
        let color = match data.status {
            AlertStatus::Firing => COLOR_FIRING,
            AlertStatus::Resolved => COLOR_RESOLVED,
        };
        let mut message = Map::new();
        message.insert("content".into(), json!(content));
        message.insert(
            "embeds".into(),
            json!([{ "title": title, "description": description, "color": color }]),
        );
        if let Some(username) = c.username.as_deref().filter(|u| !u.is_empty()) {
            message.insert("username".into(), json!(username));
        }
        if let Some(avatar) = c.avatar_url.as_deref().filter(|a| !a.is_empty()) {
            if go_url_parses(avatar) {
                message.insert("avatar_url".into(), json!(avatar));
            } else {
                tracing::warn!(integration = "discord", group_key = %ctx.group_key,
                    "avatar_url is not a URL; sending without it");
            }
        }
        Json::Object(message)
    }

    pub async fn send(&self, ctx: &FlushContext, alerts: &[Alert]) -> Result<(), NotifyError> {
        let body = serde_json::to_vec(&self.message(ctx, alerts))
            .map_err(|e| NotifyError::Build(e.to_string()))?;
        // Alertmanager does not retry when the URL file cannot be read.
        let url = self
            .webhook
            .read()
            .map_err(|e| NotifyError::Build(format!("read webhook_url_file: {e}")))?;
        check(self.client.post_json(url.expose(), body).await?)
    }
}

/// Alertmanager's default retrier: only a 5xx is tried again; any other failure status, 429
/// included, fails the notification.
fn check(answer: Answer) -> Result<(), NotifyError> {
    if answer.status == 429 {
        return Err(NotifyError::Refused {
            integration: "discord",
            reason: format!(
                "answered 429: {}",
                answer.body.chars().take(2048).collect::<String>()
            ),
        });
    }
    answer.check("discord").map(|_| ())
}

/// Whether Go's `url.Parse`, which Alertmanager checks `avatar_url` with, accepts `s`: it takes
/// relative references too, and refuses control characters, a `%` not followed by two hex
/// digits before the query, and a leading colon (a missing scheme).
fn go_url_parses(s: &str) -> bool {
    if s.bytes().any(|b| b < 0x20 || b == 0x7f) || s.starts_with(':') {
        return false;
    }
    let before_query = s.split(['?', '#']).next().unwrap_or(s).as_bytes();
    before_query.iter().enumerate().all(|(i, b)| {
        *b != b'%'
            || (before_query.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && before_query.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    })
}

impl Notify for DiscordNotifier {
    fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    fn send<'a>(&'a self, ctx: &'a FlushContext, alerts: &'a [Alert]) -> SendFuture<'a> {
        Box::pin(DiscordNotifier::send(self, ctx, alerts))
    }
}
