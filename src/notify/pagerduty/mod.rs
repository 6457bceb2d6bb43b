//! PagerDuty Events API v2 (`routing_key`) and the legacy v1 API (`service_key`).

mod config;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Value as Json};
use sha2::{Digest, Sha256};

use super::http::HttpClient;
use super::registry::{IncidentUpdate, Notify, SendFuture};
use super::render::Renderer;
use super::{FlushContext, IntegrationError, NotifyError};
use crate::config::SecretSource;
use crate::model::{Alert, AlertStatus};
use crate::template::{data_value, Templates};
pub use config::{PagerdutyConfig, PagerdutyImage, PagerdutyLink};
use std::time::Duration;

const V1_URL: &str = "https://events.pagerduty.com/generic/2010-04-15/create_event.json";
const MAX_SUMMARY: usize = 1024;
/// PagerDuty refuses events over 512 KB.
const MAX_EVENT_BYTES: usize = 512 * 1024;

enum Key {
    Routing(SecretSource),
    Service(SecretSource),
}

pub struct PagerdutyNotifier {
    key: Key,
    url: String,
    client: HttpClient,
    config: PagerdutyConfig,
    renderer: Renderer,
    pub send_resolved: bool,
    timeout: Option<Duration>,
}

/// Alertmanager's dedup key: the sha256 of the group key, in hex.
pub fn dedup_key(group_key: &str) -> String {
    hex::encode(Sha256::digest(group_key.as_bytes()))
}

impl PagerdutyNotifier {
    pub fn new(
        config: &PagerdutyConfig,
        global_url: Option<&str>,
        templates: Arc<Templates>,
    ) -> Result<PagerdutyNotifier, IntegrationError> {
        let routing = SecretSource::from_pair(
            config.routing_key.clone(),
            config.routing_key_file.clone(),
            "routing_key",
        )?;
        let service = SecretSource::from_pair(
            config.service_key.clone(),
            config.service_key_file.clone(),
            "service_key",
        )?;
        let (key, default_url) = match (routing, service) {
            (Some(r), _) => (
                Key::Routing(r),
                global_url
                    .unwrap_or(crate::config::DEFAULT_PAGERDUTY_URL)
                    .to_string(),
            ),
            (None, Some(s)) => (Key::Service(s), V1_URL.to_string()),
            (None, None) => {
                return Err(IntegrationError::Missing(
                    "missing service or routing key in PagerDuty config",
                ))
            }
        };
        Ok(PagerdutyNotifier {
            key,
            url: config.url.clone().unwrap_or(default_url),
            client: HttpClient::build(config.http_config.as_ref())?,
            config: config.clone(),
            renderer: Renderer {
                templates,
                integration: "pagerduty",
            },
            send_resolved: config.send_resolved.unwrap_or(true),
            timeout: config.timeout.map(|t| t.0).filter(|t| !t.is_zero()),
        })
    }

    /// The event for this notification (the routing or service key is filled in by `send`).
    pub fn event(&self, ctx: &FlushContext, alerts: &[Alert]) -> Json {
        let data = ctx.data(alerts);
        let v = data_value(&data);
        let c = &self.config;
        let r = |configured: &Option<String>, default: &str| {
            self.renderer.field(configured.as_deref(), default, &v)
        };
        let resolved = data.status == AlertStatus::Resolved;
        let summary = super::truncate_runes(
            &r(
                &c.description,
                r#"{{ template "pagerduty.default.description" . }}"#,
            ),
            MAX_SUMMARY,
        );
        let details: BTreeMap<String, Json> = if c.details.is_empty() {
            [
                (
                    "firing",
                    r#"{{ template "pagerduty.default.instances" .Alerts.Firing }}"#,
                ),
                (
                    "resolved",
                    r#"{{ template "pagerduty.default.instances" .Alerts.Resolved }}"#,
                ),
                ("num_firing", "{{ .Alerts.Firing | len }}"),
                ("num_resolved", "{{ .Alerts.Resolved | len }}"),
            ]
            .into_iter()
            .map(|(k, t)| (k.to_string(), json!(self.renderer.field(Some(t), "", &v))))
            .collect()
        } else {
            // Since 0.34 a detail may be any YAML value; only strings are templates.
            c.details
                .iter()
                .map(|(k, value)| {
                    let rendered = match value {
                        serde_yaml_ng::Value::String(t) => {
                            json!(self.renderer.field(Some(t), "", &v))
                        }
                        other => serde_json::to_value(other).unwrap_or(Json::Null),
                    };
                    (k.clone(), rendered)
                })
                .collect()
        };
        let client = r(&c.client, r#"{{ template "pagerduty.default.client" . }}"#);
        let client_url = r(
            &c.client_url,
            r#"{{ template "pagerduty.default.clientURL" . }}"#,
        );
        match self.key {
            Key::Routing(_) => {
                let source = c
                    .source
                    .as_ref()
                    .map_or_else(|| client.clone(), |s| self.renderer.field(Some(s), "", &v));
                let mut payload = json!({
                    "summary": summary,
                    "source": source,
                    "severity": r(&c.severity, "error"),
                    "custom_details": details,
                });
                for (key, field) in [
                    ("class", &c.class),
                    ("component", &c.component),
                    ("group", &c.group),
                ] {
                    if let Some(text) = field {
                        payload[key] = json!(self.renderer.field(Some(text), "", &v));
                    }
                }
                let images: Vec<Json> = c
                    .images
                    .iter()
                    .map(|i| {
                        json!({
                            "src": self.renderer.field(i.src.as_deref(), "", &v),
                            "alt": self.renderer.field(i.alt.as_deref(), "", &v),
                            "href": self.renderer.field(i.href.as_deref(), "", &v),
                        })
                    })
                    .collect();
                let links: Vec<Json> = c
                    .links
                    .iter()
                    .map(|l| json!({"href": self.renderer.field(l.href.as_deref(), "", &v), "text": self.renderer.field(l.text.as_deref(), "", &v)}))
                    .collect();
                json!({
                    "event_action": if resolved { "resolve" } else { "trigger" },
                    "dedup_key": dedup_key(&ctx.group_key),
                    "payload": payload,
                    "images": images,
                    "links": links,
                    "client": client,
                    "client_url": client_url,
                })
            }
            Key::Service(_) => json!({
                "event_type": if resolved { "resolve" } else { "trigger" },
                "incident_key": dedup_key(&ctx.group_key),
                "description": summary,
                "details": details,
                "client": client,
                "client_url": client_url,
            }),
        }
    }

    pub async fn send(&self, ctx: &FlushContext, alerts: &[Alert]) -> Result<(), NotifyError> {
        let mut event = self.event(ctx, alerts);
        match &self.key {
            Key::Routing(k) => {
                event["routing_key"] = json!(k.read().map_err(NotifyError::secret)?.expose())
            }
            Key::Service(k) => {
                event["service_key"] = json!(k.read().map_err(NotifyError::secret)?.expose())
            }
        }
        let mut body = serde_json::to_vec(&event).map_err(|e| NotifyError::Build(e.to_string()))?;
        if body.len() > MAX_EVENT_BYTES {
            // As Alertmanager does: drop the details rather than the page.
            let note = json!({"error": "Custom details have been removed because the original event exceeds the maximum size of 512kB"});
            if event.get("payload").is_some() {
                event["payload"]["custom_details"] = note;
            } else {
                event["details"] = note;
            }
            body = serde_json::to_vec(&event).map_err(|e| NotifyError::Build(e.to_string()))?;
        }
        let answer = self.post(body).await?;
        if answer.status == 400 {
            tracing::error!(integration = "pagerduty", response = %answer.body, "PagerDuty refused the event");
        }
        answer.check("pagerduty").map(|_| ())
    }

    /// Sends `acknowledge` or `resolve` for a group's incident: only the key, the dedup key
    /// and the action, as PagerDuty needs for those.
    pub async fn send_action(&self, group_key: &str, action: &str) -> Result<(), NotifyError> {
        let event = match &self.key {
            Key::Routing(k) => json!({
                "routing_key": k.read().map_err(NotifyError::secret)?.expose(),
                "dedup_key": dedup_key(group_key),
                "event_action": action,
            }),
            Key::Service(k) => json!({
                "service_key": k.read().map_err(NotifyError::secret)?.expose(),
                "incident_key": dedup_key(group_key),
                "event_type": action,
            }),
        };
        let body = serde_json::to_vec(&event).map_err(|e| NotifyError::Build(e.to_string()))?;
        let answer = self.post(body).await?;
        answer.check("pagerduty").map(|_| ())
    }

    async fn post(&self, body: Vec<u8>) -> Result<super::http::Answer, NotifyError> {
        let sent = self.client.post_json(&self.url, body);
        match self.timeout {
            Some(limit) => tokio::time::timeout(limit, sent).await.map_err(|_| {
                NotifyError::Transport(format!("configured pagerduty timeout reached ({limit:?})"))
            })?,
            None => sent.await,
        }
    }
}

impl Notify for PagerdutyNotifier {
    fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    fn send<'a>(&'a self, ctx: &'a FlushContext, alerts: &'a [Alert]) -> SendFuture<'a> {
        Box::pin(PagerdutyNotifier::send(self, ctx, alerts))
    }

    /// An acknowledgement or resolve made here acknowledges or resolves PagerDuty's incident.
    fn tell<'a>(
        &'a self,
        _ctx: &'a FlushContext,
        update: &'a IncidentUpdate<'a>,
    ) -> Option<SendFuture<'a>> {
        (update.always || self.send_resolved).then(|| {
            Box::pin(self.send_action(update.group_key, update.event_action)) as SendFuture<'a>
        })
    }
}
