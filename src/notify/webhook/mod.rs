//! The Alertmanager webhook integration: the v4 JSON message (or the configured `payload`),
//! POSTed to `url`.

mod config;
mod message;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value as Json;

use crate::config::SecretSource;
use crate::model::Alert;
use crate::template::{data_value, Templates, Value};

use super::http::HttpClient;
use super::registry::{Notify, SendFuture};
use super::render::Renderer;
use super::{FlushContext, IntegrationError, NotifyError};

pub use config::WebhookConfig;
pub use message::WebhookMessage;

pub struct WebhookNotifier {
    url: SecretSource,
    client: HttpClient,
    max_alerts: u64,
    timeout: Option<Duration>,
    payload: Option<serde_yaml_ng::Value>,
    renderer: Renderer,
    pub send_resolved: bool,
}

impl WebhookNotifier {
    pub fn new(
        config: &WebhookConfig,
        templates: Arc<Templates>,
    ) -> Result<WebhookNotifier, IntegrationError> {
        let url = SecretSource::from_pair(config.url.clone(), config.url_file.clone(), "url")?
            .ok_or(IntegrationError::Missing(
                "one of url or url_file must be configured",
            ))?;
        Ok(WebhookNotifier {
            url,
            client: HttpClient::build(config.http_config.as_ref())?,
            max_alerts: config.max_alerts,
            timeout: config.timeout.map(|t| t.0).filter(|t| !t.is_zero()),
            payload: config.payload.clone(),
            renderer: Renderer {
                templates,
                integration: "webhook",
            },
            send_resolved: config.send_resolved.unwrap_or(true),
        })
    }

    /// The body: the v4 message, or the configured payload rendered against the same data.
    pub fn body(&self, ctx: &FlushContext, alerts: &[Alert]) -> Result<Vec<u8>, NotifyError> {
        let (kept, truncated) = truncate(alerts, self.max_alerts);
        let data = ctx.data(kept);
        let message = WebhookMessage {
            data: &data,
            group_key: &ctx.group_key,
            truncated_alerts: truncated,
        };
        let build = |e: serde_json::Error| NotifyError::Build(e.to_string());
        match &self.payload {
            None => serde_json::to_vec(&message).map_err(build),
            Some(payload) => {
                let v = data_value(&data);
                serde_json::to_vec(&self.render_payload(payload, &v)).map_err(build)
            }
        }
    }

    fn render_payload(&self, value: &serde_yaml_ng::Value, v: &Value) -> Json {
        use serde_yaml_ng::Value as Yaml;
        match value {
            Yaml::String(s) => {
                let rendered = self.renderer.field(Some(s), "", v);
                match serde_yaml_ng::from_str::<Yaml>(&rendered) {
                    Ok(parsed) if !matches!(parsed, Yaml::String(_) | Yaml::Null) => {
                        serde_json::to_value(parsed).unwrap_or(Json::String(rendered))
                    }
                    _ => Json::String(rendered),
                }
            }
            Yaml::Sequence(items) => {
                Json::Array(items.iter().map(|i| self.render_payload(i, v)).collect())
            }
            Yaml::Mapping(map) => Json::Object(
                map.iter()
                    .filter_map(|(k, val)| {
                        let key = k.as_str()?;
                        Some((
                            self.renderer.field(Some(key), "", v),
                            self.render_payload(val, v),
                        ))
                    })
                    .collect(),
            ),
            Yaml::Tagged(t) => self.render_payload(&t.value, v),
            other => serde_json::to_value(other).unwrap_or(Json::Null),
        }
    }

    pub async fn send(&self, ctx: &FlushContext, alerts: &[Alert]) -> Result<(), NotifyError> {
        let body = self.body(ctx, alerts)?;
        let url = self.url.read().map_err(NotifyError::secret)?;
        let url = url.expose();
        // Templated since 0.34; a plain URL renders to itself.
        let url = if url.contains("{{") {
            let v = data_value(&ctx.data(alerts));
            self.renderer.field(Some(url), "", &v)
        } else {
            url.to_string()
        };
        if url.is_empty() {
            return Err(NotifyError::Build(
                "webhook URL is empty after templating".into(),
            ));
        }
        let post = self.client.post_json(&url, body);
        let answer = match self.timeout {
            Some(limit) => tokio::time::timeout(limit, post).await.map_err(|_| {
                NotifyError::Transport(format!("configured webhook timeout reached ({limit:?})"))
            })??,
            None => post.await?,
        };
        answer.check("webhook").map(|_| ())
    }
}

impl Notify for WebhookNotifier {
    fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    fn send<'a>(&'a self, ctx: &'a FlushContext, alerts: &'a [Alert]) -> SendFuture<'a> {
        Box::pin(WebhookNotifier::send(self, ctx, alerts))
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
