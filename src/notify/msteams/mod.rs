//! Microsoft Teams (Office 365 connector webhooks): one MessageCard per notification, with
//! title, summary, Markdown text and a red or green `themeColor` for a firing or resolved
//! group, POSTed as JSON to `webhook_url`.

mod config;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use serde_json::{json, Value as Json};

use super::http::{Answer, HttpClient};
use super::registry::{Notify, SendFuture};
use super::render::Renderer;
use super::{FlushContext, IntegrationError, NotifyError};
use crate::config::{GlobalConfig, SecretSource};
use crate::model::{Alert, AlertStatus};
use crate::template::{data_value, Templates};

pub use config::MsteamsConfig;
pub(crate) use config::{check_webhook, webhook};

pub const COLOR_FIRING: &str = "8C1A1A";
pub const COLOR_RESOLVED: &str = "2DC72D";

pub struct MsteamsNotifier {
    webhook: SecretSource,
    client: HttpClient,
    config: MsteamsConfig,
    renderer: Renderer,
    pub send_resolved: bool,
}

impl MsteamsNotifier {
    pub fn new(
        config: &MsteamsConfig,
        global: &GlobalConfig,
        templates: Arc<Templates>,
    ) -> Result<MsteamsNotifier, IntegrationError> {
        Ok(MsteamsNotifier {
            webhook: config.webhook().map_err(IntegrationError::Invalid)?,
            client: HttpClient::build(config.http(global))?,
            config: config.clone(),
            renderer: Renderer {
                templates,
                integration: "msteams",
            },
            send_resolved: config.send_resolved.unwrap_or(true),
        })
    }

    /// The MessageCard.
    pub fn message(&self, ctx: &FlushContext, alerts: &[Alert]) -> Json {
        let data = ctx.data(alerts);
        let v = data_value(&data);
        let c = &self.config;
        let r = |configured: &Option<String>, default: &str| {
            self.renderer.field(configured.as_deref(), default, &v)
        };
        let color = match data.status {
            AlertStatus::Firing => COLOR_FIRING,
            AlertStatus::Resolved => COLOR_RESOLVED,
        };
        json!({
            "@context": "http://schema.org/extensions",
            "type": "MessageCard",
            "title": r(&c.title, r#"{{ template "msteams.default.title" . }}"#),
            "summary": r(&c.summary, r#"{{ template "msteams.default.summary" . }}"#),
            "text": r(&c.text, r#"{{ template "msteams.default.text" . }}"#),
            "themeColor": color,
        })
    }

    pub async fn send(&self, ctx: &FlushContext, alerts: &[Alert]) -> Result<(), NotifyError> {
        let body = serde_json::to_vec(&self.message(ctx, alerts))
            .map_err(|e| NotifyError::Build(e.to_string()))?;
        // Alertmanager does not retry when the URL file cannot be read.
        let url = self
            .webhook
            .read()
            .map_err(|e| NotifyError::Build(format!("read webhook_url_file: {e}")))?;
        check(self.client.post_json(url.expose(), body).await?, "msteams")
    }
}

/// Alertmanager's default retrier, which its Teams integrations use: only a 5xx is tried
/// again; any other failure status, 429 included, fails the notification.
pub(crate) fn check(answer: Answer, integration: &'static str) -> Result<(), NotifyError> {
    if answer.status == 429 {
        return Err(NotifyError::Refused {
            integration,
            reason: format!(
                "answered 429: {}",
                answer.body.chars().take(2048).collect::<String>()
            ),
        });
    }
    answer.check(integration).map(|_| ())
}

impl Notify for MsteamsNotifier {
    fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    fn send<'a>(&'a self, ctx: &'a FlushContext, alerts: &'a [Alert]) -> SendFuture<'a> {
        Box::pin(MsteamsNotifier::send(self, ctx, alerts))
    }
}
