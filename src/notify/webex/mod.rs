//! Webex: one Markdown message per notification, `{"markdown", "roomId"}` POSTed as JSON to the
//! messages API with the `http_config.authorization` credentials (a bearer token).

mod config;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use serde_json::{json, Map, Value as Json};

use super::http::{Answer, HttpClient};
use super::registry::{Notify, SendFuture};
use super::render::Renderer;
use super::{FlushContext, IntegrationError, NotifyError};
use crate::config::GlobalConfig;
use crate::model::Alert;
use crate::template::{data_value, Templates};

pub use config::{WebexConfig, DEFAULT_API_URL};

/// The longest message Webex takes, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 7439;

pub struct WebexNotifier {
    url: String,
    client: HttpClient,
    config: WebexConfig,
    renderer: Renderer,
    pub send_resolved: bool,
}

/// Cuts `s` to at most `max` bytes without splitting a character, ending it with `…` when
/// it was longer (Alertmanager's `TruncateInBytes`: below 4 bytes there is no room for text
/// and the marker, so it gives the marker alone or dots).
pub fn truncate_in_bytes(s: &str, max: usize) -> (String, bool) {
    if s.len() <= max {
        return (s.to_string(), false);
    }
    match max {
        3 => return ("…".to_string(), true),
        0..=2 => return (".".repeat(max), true),
        _ => {}
    }
    let room = max - '…'.len_utf8();
    let end = s
        .char_indices()
        .map(|(i, c)| i + c.len_utf8())
        .take_while(|end| *end <= room)
        .last()
        .unwrap_or(0);
    (format!("{}…", &s[..end]), true)
}

impl WebexNotifier {
    pub fn new(
        config: &WebexConfig,
        global: &GlobalConfig,
        templates: Arc<Templates>,
    ) -> Result<WebexNotifier, IntegrationError> {
        Ok(WebexNotifier {
            url: config.api_url(global),
            client: HttpClient::build(config.http_config.as_ref().or(global.http_config.as_ref()))?,
            config: config.clone(),
            renderer: Renderer {
                templates,
                integration: "webex",
            },
            send_resolved: config.send_resolved.unwrap_or(true),
        })
    }

    /// The message.
    pub fn message(&self, ctx: &FlushContext, alerts: &[Alert]) -> Json {
        let v = data_value(&ctx.data(alerts));
        let text = self.renderer.field(
            self.config.message.as_deref(),
            r#"{{ template "webex.default.message" . }}"#,
            &v,
        );
        let (markdown, truncated) = truncate_in_bytes(&text, MAX_MESSAGE_BYTES);
        if truncated {
            tracing::warn!(integration = "webex", group_key = %ctx.group_key,
                max_bytes = MAX_MESSAGE_BYTES, "truncated message");
        }
        let mut message = Map::new();
        message.insert("markdown".into(), json!(markdown));
        let room = self.renderer.field(self.config.room_id.as_deref(), "", &v);
        if !room.is_empty() {
            message.insert("roomId".into(), json!(room));
        }
        Json::Object(message)
    }

    /// The URL messages are POSTed to.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn send(&self, ctx: &FlushContext, alerts: &[Alert]) -> Result<(), NotifyError> {
        let body = serde_json::to_vec(&self.message(ctx, alerts))
            .map_err(|e| NotifyError::Build(e.to_string()))?;
        check(self.client.post_json(&self.url, body).await?)
    }
}

/// Alertmanager's default retrier: only a 5xx is tried again; any other failure status, 429
/// included, fails the notification.
fn check(answer: Answer) -> Result<(), NotifyError> {
    if answer.status == 429 {
        return Err(NotifyError::Refused {
            integration: "webex",
            reason: format!(
                "answered 429: {}",
                answer.body.chars().take(2048).collect::<String>()
            ),
        });
    }
    answer.check("webex").map(|_| ())
}

impl Notify for WebexNotifier {
    fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    fn send<'a>(&'a self, ctx: &'a FlushContext, alerts: &'a [Alert]) -> SendFuture<'a> {
        Box::pin(WebexNotifier::send(self, ctx, alerts))
    }
}
