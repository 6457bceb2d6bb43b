//! Decoders for the three ways alerts arrive, all producing the same `Alert` so that the same
//! alert sent by Prometheus, relayed by an Alertmanager or by Grafana is one alert here.

mod alertmanager_webhook;
mod api_v2;
mod grafana;
pub mod signature;

use std::collections::BTreeMap;
use std::time::Duration;

use thiserror::Error;

use crate::model::time::Timestamp;
use crate::model::{Alert, AlertLabels, LabelSet};

pub use alertmanager_webhook::decode_alertmanager_webhook;
pub use api_v2::decode_postable_alerts;
pub use grafana::decode_grafana_webhook;

#[derive(Debug, Error)]
pub enum IngestError {
    /// The body is not the JSON we expect; nothing from it was applied.
    #[error("{0}")]
    Malformed(String),
    #[error("unsupported webhook version {0:?} (expected {1:?})")]
    Version(String, &'static str),
}

/// The alerts that passed validation, and the reasons the others did not.
#[derive(Debug, Default)]
pub struct Decoded {
    pub alerts: Vec<Alert>,
    pub errors: Vec<String>,
}

impl Decoded {
    /// Alertmanager joins per-alert errors with `; ` in its 400 answer.
    pub fn error_message(&self) -> Option<String> {
        (!self.errors.is_empty()).then(|| self.errors.join("; "))
    }
}

/// How long an alert with no end is believed to fire without being re-sent.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// `global.resolve_timeout`, for Prometheus-style senders that re-send every minute.
    pub resolve: Duration,
    /// For relayed webhooks, whose senders re-send only every repeat_interval (4h by default).
    pub webhook: Duration,
}

/// One alert as a sender described it, before Alertmanager's defaults are applied.
pub(crate) struct RawAlert {
    pub labels: AlertLabels,
    pub annotations: LabelSet,
    pub starts_at: Option<Timestamp>,
    pub ends_at: Option<Timestamp>,
    pub generator_url: String,
    pub values: BTreeMap<String, f64>,
}

impl RawAlert {
    /// Alertmanager's API defaults and validation: a missing start is now (or the end), a
    /// missing end is `now + timeout` and marked as such, empty label values are dropped.
    pub(crate) fn normalize(self, now: Timestamp, timeout: Duration) -> Result<Alert, String> {
        let starts_at = self.starts_at.or(self.ends_at).unwrap_or(now);
        let (ends_at, is_timeout) = match self.ends_at {
            Some(end) => (end, false),
            None => (
                now + chrono::Duration::from_std(timeout).unwrap_or(chrono::Duration::MAX),
                true,
            ),
        };
        let AlertLabels {
            set: labels,
            fingerprint,
        } = self.labels;
        if ends_at < starts_at {
            return Err("start time must be before end time".into());
        }
        labels
            .validate()
            .map_err(|e| format!("invalid label set: {e}"))?;
        if labels.is_empty() {
            return Err("at least one label pair required".into());
        }
        let annotations = self.annotations;
        annotations
            .validate()
            .map_err(|e| format!("invalid annotations: {e}"))?;
        Ok(Alert {
            fingerprint,
            labels,
            annotations,
            starts_at,
            ends_at,
            // Every alert of one alerting rule carries the same URL.
            generator_url: crate::model::intern::intern_up_to(&self.generator_url, 1024),
            updated_at: now,
            timeout: is_timeout,
            values: self.values,
        })
    }
}

pub(crate) fn normalize_all(raw: Vec<RawAlert>, now: Timestamp, timeout: Duration) -> Decoded {
    let mut decoded = Decoded::default();
    for r in raw {
        match r.normalize(now, timeout) {
            Ok(a) => decoded.alerts.push(a),
            Err(e) => decoded.errors.push(e),
        }
    }
    decoded
}

pub(crate) fn json_error(e: serde_json::Error) -> IngestError {
    IngestError::Malformed(format!("invalid JSON body: {e}"))
}
