//! Decoders for the three ways alerts arrive, all producing the same `Alert` so that the same
//! alert sent by Prometheus, relayed by an Alertmanager or by Grafana is one alert here.

mod alertmanager_webhook;
mod api_v2;
mod grafana;
pub mod signature;

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use thiserror::Error;

use crate::model::time::Timestamp;
use crate::model::{
    validate_names, Alert, Fingerprint, InvalidLabelName, PostedLabels, PostedPairs,
};

pub use alertmanager_webhook::decode_alertmanager_webhook;
pub use api_v2::decode_postable_alerts;
pub use grafana::decode_grafana_webhook;

/// Why one alert of a batch was refused (the others are taken), in Alertmanager's words.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InvalidAlert {
    #[error("start time must be before end time")]
    EndsBeforeStart,
    #[error("invalid label set: {0}")]
    Labels(#[source] InvalidLabelName),
    #[error("at least one label pair required")]
    NoLabels,
    #[error("invalid annotations: {0}")]
    Annotations(#[source] InvalidLabelName),
}

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
    pub errors: Vec<InvalidAlert>,
}

impl Decoded {
    /// Alertmanager joins per-alert errors with `; ` in its 400 answer.
    pub fn error_message(&self) -> Option<String> {
        (!self.errors.is_empty()).then(|| {
            self.errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        })
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

/// Where decoding finds the alerts already held: a re-sent alert whose labels, annotations or
/// generator URL are unchanged shares the stored copies, so it allocates nothing for them.
pub trait KnownAlerts {
    fn known(&self, fingerprint: Fingerprint) -> Option<Arc<Alert>>;
}

/// For decoding without a store (tests, benchmarks, tools).
pub struct NoKnownAlerts;

impl KnownAlerts for NoKnownAlerts {
    fn known(&self, _: Fingerprint) -> Option<Arc<Alert>> {
        None
    }
}

/// What a decoder needs besides the body.
#[derive(Clone, Copy)]
pub struct DecodeContext<'a> {
    pub now: Timestamp,
    pub timeouts: Timeouts,
    pub known: &'a dyn KnownAlerts,
}

/// One alert as a sender described it, before Alertmanager's defaults are applied. It borrows
/// the decoded alert, whose strings still point into the request body: decoded pairs are
/// large, and are not moved about.
pub(crate) struct RawAlert<'r, 'a> {
    pub labels: &'r PostedLabels<'a>,
    pub annotations: Option<&'r PostedPairs<'a>>,
    pub starts_at: Option<Timestamp>,
    pub ends_at: Option<Timestamp>,
    pub generator_url: &'r str,
    pub values: BTreeMap<String, f64>,
}

impl RawAlert<'_, '_> {
    /// Alertmanager's API defaults and validation: a missing start is now (or the end), a
    /// missing end is `now + timeout` and marked as such, empty label values are dropped.
    pub(crate) fn normalize(
        self,
        now: Timestamp,
        timeout: Duration,
        known: &dyn KnownAlerts,
    ) -> Result<Alert, InvalidAlert> {
        let starts_at = self.starts_at.or(self.ends_at).unwrap_or(now);
        let (ends_at, is_timeout) = match self.ends_at {
            Some(end) => (end, false),
            None => (
                now + chrono::Duration::from_std(timeout).unwrap_or(chrono::Duration::MAX),
                true,
            ),
        };
        if ends_at < starts_at {
            return Err(InvalidAlert::EndsBeforeStart);
        }
        let labels = &self.labels.pairs;
        validate_names(labels.iter().map(|(name, _)| &**name)).map_err(InvalidAlert::Labels)?;
        if labels.is_empty() {
            return Err(InvalidAlert::NoLabels);
        }
        let no_annotations = PostedPairs::default();
        let annotations = self.annotations.unwrap_or(&no_annotations);
        validate_names(annotations.0.iter().map(|(name, _)| &**name))
            .map_err(InvalidAlert::Annotations)?;
        let stored = known.known(self.labels.fingerprint);
        let stored = stored.as_deref();
        let generator_url = match stored {
            Some(alert) if *alert.generator_url == *self.generator_url => {
                alert.generator_url.clone()
            }
            // Every alert of one alerting rule carries the same URL.
            _ => crate::model::intern::intern_up_to(self.generator_url, 1024),
        };
        Ok(Alert {
            fingerprint: self.labels.fingerprint,
            labels: self.labels.to_set(stored.map(|a| &a.labels)),
            annotations: annotations.to_set(stored.map(|a| &a.annotations)),
            starts_at,
            ends_at,
            generator_url,
            updated_at: now,
            timeout: is_timeout,
            values: self.values,
        })
    }
}

impl Decoded {
    /// Normalizes `raw` into this batch: kept if valid, its reason recorded if not.
    pub(crate) fn push(&mut self, raw: RawAlert, timeout: Duration, cx: &DecodeContext) {
        match raw.normalize(cx.now, timeout, cx.known) {
            Ok(alert) => self.alerts.push(alert),
            Err(e) => self.errors.push(e),
        }
    }
}

/// Decodes a JSON array one element at a time, handing each to a function, so no array of
/// decoded elements is built in between.
pub(crate) struct EachElement<T, F>(pub F, pub PhantomData<fn() -> T>);

impl<'de, T: Deserialize<'de>, F: FnMut(T)> DeserializeSeed<'de> for EachElement<T, F> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, T: Deserialize<'de>, F: FnMut(T)> Visitor<'de> for EachElement<T, F> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array")
    }
    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        while let Some(element) = seq.next_element::<T>()? {
            (self.0)(element);
        }
        Ok(())
    }
}

pub(crate) fn json_error(e: serde_json::Error) -> IngestError {
    IngestError::Malformed(format!("invalid JSON body: {e}"))
}
