//! Telegram: one message per notification through a bot,
//! `POST {api_url}/bot{token}/sendMessage` with a JSON body of strings (`chat_id`, `text`,
//! `parse_mode`, `message_thread_id`, `disable_notification`, `disable_web_page_preview`), the
//! request Alertmanager's Telegram library makes. The text is HTML by default (label values
//! escaped); Telegram's limit is 4096 characters.

mod config;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value as Json;

use super::http::{Answer, HttpClient};
use super::registry::{Notify, SendFuture};
use super::render::Renderer;
use super::{FlushContext, IntegrationError, NotifyError};
use crate::config::{GlobalConfig, SecretSource};
use crate::model::Alert;
use crate::template::{data_value, Templates};

pub use config::{ChatId, TelegramConfig, DEFAULT_API_URL};

/// Telegram's limit on a message's text, in characters (runes).
pub const MAX_MESSAGE_RUNES: usize = 4096;

/// Sent instead of an HTML message that is too long: cutting HTML could leave a tag open,
/// which Telegram refuses.
pub const TOO_LONG_HTML: &str = "alert-router could not send this notification: the message is longer than Telegram allows. Check the template that produces it.";

const DEFAULT_MESSAGE: &str = r#"{{ template "telegram.default.message" . }}"#;

pub struct TelegramNotifier {
    token: SecretSource,
    chat_id: ChatId,
    api_url: String,
    client: HttpClient,
    config: TelegramConfig,
    renderer: Renderer,
    pub send_resolved: bool,
}

/// Cuts `s` to `max` runes, the last one replaced by `…` (Alertmanager's rule); whether it cut.
fn truncate_in_runes(s: &str, max: usize) -> (String, bool) {
    let cut = super::truncate_runes(s, max);
    let truncated = cut != s;
    (cut, truncated)
}

impl TelegramNotifier {
    pub fn new(
        config: &TelegramConfig,
        global: &GlobalConfig,
        templates: Arc<Templates>,
    ) -> Result<TelegramNotifier, IntegrationError> {
        Ok(TelegramNotifier {
            token: config
                .bot_token(global)
                .map_err(IntegrationError::Invalid)?,
            chat_id: config.chat_id().map_err(IntegrationError::Invalid)?,
            api_url: config.api_url(global),
            client: HttpClient::build(config.http(global))?,
            config: config.clone(),
            renderer: Renderer {
                templates,
                integration: "telegram",
            },
            send_resolved: config.send_resolved.unwrap_or(true),
        })
    }

    /// The message's text, in the configured parse mode.
    pub fn text(&self, ctx: &FlushContext, alerts: &[Alert]) -> String {
        let v = data_value(&ctx.data(alerts));
        let configured = self.config.message.as_deref();
        if self.config.parse_mode() == "HTML" {
            let text = self.renderer.html_field(configured, DEFAULT_MESSAGE, &v);
            if text.chars().count() > MAX_MESSAGE_RUNES {
                tracing::warn!(integration = "telegram", group_key = %ctx.group_key,
                    max_runes = MAX_MESSAGE_RUNES, "HTML message too long, sending a notice instead");
                return TOO_LONG_HTML.to_string();
            }
            return text;
        }
        let (text, truncated) = truncate_in_runes(
            &self.renderer.field(configured, DEFAULT_MESSAGE, &v),
            MAX_MESSAGE_RUNES,
        );
        if truncated {
            tracing::warn!(integration = "telegram", group_key = %ctx.group_key,
                max_runes = MAX_MESSAGE_RUNES, "truncated message");
        }
        text
    }

    /// The `sendMessage` body: every value a string, keys in order, as the Bot API client
    /// Alertmanager uses sends them.
    pub fn message(
        &self,
        ctx: &FlushContext,
        alerts: &[Alert],
        chat_id: i64,
    ) -> BTreeMap<&'static str, String> {
        let c = &self.config;
        let mut body = BTreeMap::from([
            ("chat_id", chat_id.to_string()),
            ("text", self.text(ctx, alerts)),
            ("disable_web_page_preview", "true".to_string()),
        ]);
        if c.disable_notifications {
            body.insert("disable_notification", "true".into());
        }
        if !c.parse_mode().is_empty() {
            body.insert("parse_mode", c.parse_mode().to_string());
        }
        if let Some(thread) = c.message_thread_id.filter(|t| *t != 0) {
            body.insert("message_thread_id", thread.to_string());
        }
        body
    }

    /// The method's URL: the API URL and the bot token, joined as strings (a trailing `/` on
    /// `api_url` stays, as in Alertmanager).
    pub fn url(&self, token: &str) -> String {
        format!("{}/bot{token}/sendMessage", self.api_url)
    }

    fn read_chat_id(&self) -> Result<i64, NotifyError> {
        match &self.chat_id {
            ChatId::Inline(id) => Ok(*id),
            ChatId::File(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| NotifyError::Secret(format!("could not read {path}: {e}")))?;
                text.trim().parse().map_err(|e| {
                    NotifyError::Secret(format!("could not parse chat_id from {path}: {e}"))
                })
            }
        }
    }

    pub async fn send(&self, ctx: &FlushContext, alerts: &[Alert]) -> Result<(), NotifyError> {
        // Unreadable files are retried, as Alertmanager does for Telegram.
        let token = self
            .token
            .read()
            .map_err(|e| NotifyError::Secret(format!("reading bot_token_file: {e}")))?;
        let chat_id = self.read_chat_id()?;
        let body = serde_json::to_vec(&self.message(ctx, alerts, chat_id))
            .map_err(|e| NotifyError::Build(e.to_string()))?;
        let url = self.url(token.expose());
        check(self.client.post_json(&url, body).await?)
    }
}

/// Telegram's answer is its JSON `ok`, whatever the status. Alertmanager retries every
/// failure here, a 400 too; a flood-control answer waits the `retry_after` it asks for.
fn check(answer: Answer) -> Result<(), NotifyError> {
    let Ok(parsed) = serde_json::from_str::<Json>(&answer.body) else {
        return Err(NotifyError::Transport(format!(
            "telegram answered {} with a body that is not JSON: {:?}",
            answer.status,
            answer.body.chars().take(2048).collect::<String>()
        )));
    };
    if parsed.get("ok").and_then(Json::as_bool) == Some(true) {
        return Ok(());
    }
    let code = parsed.get("error_code").and_then(Json::as_i64).unwrap_or(0);
    let description = parsed
        .get("description")
        .and_then(Json::as_str)
        .unwrap_or("");
    let retry_after = parsed
        .pointer("/parameters/retry_after")
        .and_then(Json::as_u64)
        .map(Duration::from_secs);
    if code == 429 && retry_after.is_some() {
        return Err(NotifyError::RateLimited {
            integration: "telegram",
            retry_after,
            body: description.to_string(),
        });
    }
    Err(NotifyError::Transport(format!(
        "telegram: {description} ({code})"
    )))
}

impl Notify for TelegramNotifier {
    fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    fn send<'a>(&'a self, ctx: &'a FlushContext, alerts: &'a [Alert]) -> SendFuture<'a> {
        Box::pin(TelegramNotifier::send(self, ctx, alerts))
    }
}
