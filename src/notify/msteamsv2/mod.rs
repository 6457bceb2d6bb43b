//! Microsoft Teams through a Power Automate workflow: one message per notification carrying
//! an Adaptive Card (a bold heading coloured `Attention` or `Good` for a firing or resolved
//! group, then the text), POSTed as JSON to `webhook_url`.

mod config;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use serde_json::{json, Value as Json};

use super::http::HttpClient;
use super::registry::{Notify, SendFuture};
use super::render::Renderer;
use super::{FlushContext, IntegrationError, NotifyError};
use crate::config::{GlobalConfig, SecretSource};
use crate::model::{Alert, AlertStatus};
use crate::template::{data_value, Templates};

pub use config::Msteamsv2Config;

/// Adaptive Card colour names for the heading.
pub const COLOR_FIRING: &str = "Attention";
pub const COLOR_RESOLVED: &str = "Good";

pub struct Msteamsv2Notifier {
    webhook: SecretSource,
    client: HttpClient,
    config: Msteamsv2Config,
    renderer: Renderer,
    pub send_resolved: bool,
}

impl Msteamsv2Notifier {
    pub fn new(
        config: &Msteamsv2Config,
        global: &GlobalConfig,
        templates: Arc<Templates>,
    ) -> Result<Msteamsv2Notifier, IntegrationError> {
        Ok(Msteamsv2Notifier {
            webhook: config.webhook().map_err(IntegrationError::Invalid)?,
            client: HttpClient::build(config.http(global).as_ref())?,
            config: config.clone(),
            renderer: Renderer {
                templates,
                integration: "msteamsv2",
            },
            send_resolved: config.send_resolved.unwrap_or(true),
        })
    }

    /// The workflow message with its Adaptive Card.
    pub fn message(&self, ctx: &FlushContext, alerts: &[Alert]) -> Json {
        let data = ctx.data(alerts);
        let v = data_value(&data);
        let c = &self.config;
        let title = self.renderer.field(
            c.title.as_deref(),
            r#"{{ template "msteamsv2.default.title" . }}"#,
            &v,
        );
        let text = self.renderer.field(
            c.text.as_deref(),
            r#"{{ template "msteamsv2.default.text" . }}"#,
            &v,
        );
        let color = match data.status {
            AlertStatus::Firing => COLOR_FIRING,
            AlertStatus::Resolved => COLOR_RESOLVED,
        };
        json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.2",
                    "body": [
                        {
                            "type": "TextBlock",
                            "text": title,
                            "weight": "Bolder",
                            "size": "Medium",
                            "wrap": true,
                            "style": "heading",
                            "color": color,
                        },
                        { "type": "TextBlock", "text": text, "wrap": true },
                    ],
                    "msteams": { "width": "full" },
                },
            }],
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
        super::msteams::check(
            self.client.post_json(url.expose(), body).await?,
            "msteamsv2",
        )
    }
}

impl Notify for Msteamsv2Notifier {
    fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    fn send<'a>(&'a self, ctx: &'a FlushContext, alerts: &'a [Alert]) -> SendFuture<'a> {
        Box::pin(Msteamsv2Notifier::send(self, ctx, alerts))
    }
}
