//! incident.io: Alertmanager's template data as JSON (the webhook message, with `version` "1")
//! POSTed to an HTTP alert source, authenticated by the alert source token as a bearer
//! token. `max_alerts` cuts the list (counted in `truncatedAlerts`), and a message over
//! incident.io's 512 KiB limit keeps only its first alert.

mod config;

#[cfg(test)]
mod tests;

use std::time::Duration;

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use super::http::{self, Answer, HttpClient};
use super::registry::{Notify, SendFuture};
use super::{FlushContext, IntegrationError, NotifyError};
use crate::config::{GlobalConfig, SecretSource};
use crate::model::Alert;
use crate::notify::NotificationData;

pub use config::IncidentioConfig;

/// The largest JSON body incident.io accepts.
pub const MAX_PAYLOAD_BYTES: usize = 512 * 1024;

pub struct IncidentioNotifier {
    url: SecretSource,
    token: Option<SecretSource>,
    client: HttpClient,
    max_alerts: u64,
    timeout: Option<Duration>,
    pub send_resolved: bool,
}

/// The message: the template data plus the protocol version, group key and the count of
/// alerts `max_alerts` left out.
pub struct IncidentioMessage<'a> {
    pub data: &'a NotificationData,
    pub group_key: &'a str,
    pub truncated_alerts: u64,
}

impl Serialize for IncidentioMessage<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(10))?;
        self.data.serialize_fields(&mut map)?;
        map.serialize_entry("version", "1")?;
        map.serialize_entry("groupKey", self.group_key)?;
        map.serialize_entry("truncatedAlerts", &self.truncated_alerts)?;
        map.end()
    }
}

impl IncidentioNotifier {
    pub fn new(
        config: &IncidentioConfig,
        global: &GlobalConfig,
    ) -> Result<IncidentioNotifier, IntegrationError> {
        Ok(IncidentioNotifier {
            url: config.url().map_err(IntegrationError::Invalid)?,
            token: config.token().map_err(IntegrationError::Invalid)?,
            client: HttpClient::build(config.http(global))?,
            max_alerts: config.max_alerts,
            timeout: config.timeout.map(|t| t.0).filter(|t| !t.is_zero()),
            send_resolved: config.send_resolved.unwrap_or(true),
        })
    }

    /// The JSON body for these alerts.
    pub fn body(&self, ctx: &FlushContext, alerts: &[Alert]) -> Result<Vec<u8>, NotifyError> {
        let max = usize::try_from(self.max_alerts).unwrap_or(usize::MAX);
        let (kept, truncated) = if max != 0 && alerts.len() > max {
            (&alerts[..max], (alerts.len() - max) as u64)
        } else {
            (alerts, 0)
        };
        let mut data = ctx.data(kept);
        let encode = |data: &NotificationData| {
            serde_json::to_vec(&IncidentioMessage {
                data,
                group_key: &ctx.group_key,
                truncated_alerts: truncated,
            })
            .map_err(|e| NotifyError::Build(e.to_string()))
        };
        let body = encode(&data)?;
        if body.len() <= MAX_PAYLOAD_BYTES {
            return Ok(body);
        }
        // One alert is enough for incident.io to open the incident for the group; the
        // rest only add detail. The group fields stay those of all the alerts.
        let original = body.len();
        data.alerts.truncate(1);
        let body = encode(&data)?;
        if body.len() <= MAX_PAYLOAD_BYTES {
            tracing::warn!(
                original,
                size = body.len(),
                "incident.io message over its size limit: only the first alert sent"
            );
        } else {
            tracing::error!(
                original,
                size = body.len(),
                "incident.io message over its size limit even with one alert; sending it anyway"
            );
        }
        Ok(body)
    }

    pub async fn send(&self, ctx: &FlushContext, alerts: &[Alert]) -> Result<(), NotifyError> {
        let body = self.body(ctx, alerts)?;
        let url = self.url.read().map_err(NotifyError::secret)?;
        let url = url.expose();
        let request = match &self.token {
            // The token stands in for whatever credentials http_config has.
            Some(token) => {
                let token = token.read().map_err(NotifyError::secret)?;
                self.client
                    .unauthenticated(reqwest::Method::POST, url)
                    .bearer_auth(token.expose())
            }
            None => self.client.post(url)?,
        }
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
        let post = http::send(url, request);
        let answer = match self.timeout {
            Some(limit) => tokio::time::timeout(limit, post).await.map_err(|_| {
                NotifyError::Transport(format!(
                    "configured incident.io timeout reached ({limit:?})"
                ))
            })??,
            None => post.await?,
        };
        check(answer)
    }
}

impl Notify for IncidentioNotifier {
    fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    fn send<'a>(&'a self, ctx: &'a FlushContext, alerts: &'a [Alert]) -> SendFuture<'a> {
        Box::pin(IncidentioNotifier::send(self, ctx, alerts))
    }
}

/// 2xx is success; 429 and 5xx are retried; the error keeps what incident.io said.
fn check(mut answer: Answer) -> Result<(), NotifyError> {
    if !(200..300).contains(&answer.status) {
        if let Some(details) = error_details(&answer.body) {
            answer.body = details;
        }
    }
    answer.check("incidentio").map(|_| ())
}

/// `message: error: errors…` of incident.io's JSON error answer, if it is one.
pub fn error_details(body: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct ErrorAnswer {
        #[serde(default)]
        message: String,
        #[serde(default)]
        error: String,
        #[serde(default)]
        errors: Vec<String>,
    }
    let answer: ErrorAnswer = serde_json::from_str(body).ok()?;
    let mut parts = Vec::new();
    if !answer.message.is_empty() {
        parts.push(answer.message);
    }
    if !answer.error.is_empty() {
        parts.push(answer.error);
    }
    if !answer.errors.is_empty() {
        parts.push(answer.errors.join(", "));
    }
    Some(parts.join(": "))
}
