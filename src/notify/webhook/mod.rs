//! The Alertmanager webhook integration: the v4 JSON message, POSTed to `url`.

mod message;

use crate::config::{SecretSource, WebhookConfig};
use crate::model::Alert;

use super::http::HttpClient;
use super::{FlushContext, NotificationData, NotifyError};

pub use message::WebhookMessage;

pub struct WebhookNotifier {
    url: SecretSource,
    client: HttpClient,
    max_alerts: u64,
    pub send_resolved: bool,
}

impl WebhookNotifier {
    pub fn new(config: &WebhookConfig) -> Result<WebhookNotifier, String> {
        let url = SecretSource::from_pair(config.url.clone(), config.url_file.clone(), "url")?
            .ok_or("one of url or url_file must be configured")?;
        Ok(WebhookNotifier {
            url,
            client: HttpClient::build(config.http_config.as_ref())?,
            max_alerts: config.max_alerts,
            send_resolved: config.send_resolved.unwrap_or(true),
        })
    }

    pub async fn send(&self, ctx: &FlushContext, alerts: &[Alert]) -> Result<(), NotifyError> {
        let (kept, truncated) = truncate(alerts, self.max_alerts);
        let data = NotificationData::new(
            &ctx.receiver,
            &ctx.group_labels,
            kept,
            ctx.now,
            &ctx.external_url,
        );
        let message = WebhookMessage {
            data: &data,
            group_key: &ctx.group_key,
            truncated_alerts: truncated,
        };
        let body = serde_json::to_vec(&message).map_err(|e| NotifyError::Build(e.to_string()))?;
        let url = self.url.read().map_err(NotifyError::secret)?;
        let response = self
            .client
            .post(url.expose())?
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            // reqwest errors include the URL, which may carry a token: keep only the kind.
            .map_err(|e| NotifyError::Transport(describe_transport_error(&e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        Err(NotifyError::Status {
            integration: "webhook",
            status: status.as_u16(),
            body: body.chars().take(512).collect(),
        })
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

fn describe_transport_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "bad response body"
    } else {
        "transport error"
    };
    let mut detail = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {detail}")
    }
}
