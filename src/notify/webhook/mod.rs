//! The Alertmanager webhook integration: the v4 JSON message, POSTed to `url`.

mod message;

use crate::config::{SecretSource, WebhookConfig};
use crate::model::Alert;

use super::http::HttpClient;
use super::{FlushContext, IntegrationError, NotifyError};

pub use message::WebhookMessage;

pub struct WebhookNotifier {
    url: SecretSource,
    client: HttpClient,
    max_alerts: u64,
    pub send_resolved: bool,
}

impl WebhookNotifier {
    pub fn new(config: &WebhookConfig) -> Result<WebhookNotifier, IntegrationError> {
        let url = SecretSource::from_pair(config.url.clone(), config.url_file.clone(), "url")?
            .ok_or(IntegrationError::Missing(
                "one of url or url_file must be configured",
            ))?;
        Ok(WebhookNotifier {
            url,
            client: HttpClient::build(config.http_config.as_ref())?,
            max_alerts: config.max_alerts,
            send_resolved: config.send_resolved.unwrap_or(true),
        })
    }

    pub async fn send(&self, ctx: &FlushContext, alerts: &[Alert]) -> Result<(), NotifyError> {
        let (kept, truncated) = truncate(alerts, self.max_alerts);
        let data = ctx.data(kept);
        let message = WebhookMessage {
            data: &data,
            group_key: &ctx.group_key,
            truncated_alerts: truncated,
        };
        let body = serde_json::to_vec(&message).map_err(|e| NotifyError::Build(e.to_string()))?;
        let url = self.url.read().map_err(NotifyError::secret)?;
        self.client
            .post_json(url.expose(), body)
            .await?
            .check("webhook")
            .map(|_| ())
    }
}

fn truncate(alerts: &[Alert], max: u64) -> (&[Alert], u64) {
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    if max == 0 || alerts.len() <= max {
        (alerts, 0)
    } else {
        (&alerts[..max], (alerts.len() - max) as u64)
    }
}
