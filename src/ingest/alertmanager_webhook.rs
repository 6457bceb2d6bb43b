use std::collections::HashMap;

use serde::Deserialize;

use super::{json_error, DecodeContext, Decoded, IngestError, RawAlert};
use crate::model::time::{deserialize_optional, Timestamp};
use crate::model::{PostedLabels, PostedPairs, Text};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WebhookMessage<'a> {
    #[serde(default)]
    version: Option<String>,
    #[serde(borrow)]
    alerts: Vec<WebhookAlert<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WebhookAlert<'a> {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(borrow)]
    pub labels: PostedLabels<'a>,
    #[serde(default, borrow)]
    pub annotations: Option<PostedPairs<'a>>,
    #[serde(default, deserialize_with = "deserialize_optional")]
    pub starts_at: Option<Timestamp>,
    #[serde(default, deserialize_with = "deserialize_optional")]
    pub ends_at: Option<Timestamp>,
    #[serde(default, borrow, rename = "generatorURL")]
    pub generator_url: Option<Text<'a>>,
    #[serde(default)]
    pub values: Option<HashMap<String, Option<f64>>>,
}

impl<'a> WebhookAlert<'a> {
    /// A webhook says "firing" with Go's zero end; "resolved" carries the end it resolved at.
    /// A resolved alert without an end resolves now.
    fn raw(&mut self, now: Timestamp) -> RawAlert<'_, 'a> {
        let resolved = self.status.as_deref() == Some("resolved");
        let ends_at = match (self.ends_at, resolved) {
            (None, true) => Some(now),
            (end, _) => end,
        };
        let values = std::mem::take(&mut self.values)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
        RawAlert {
            labels: &self.labels,
            annotations: self.annotations.as_ref(),
            starts_at: self.starts_at,
            ends_at,
            generator_url: self.generator_url.as_ref().map_or("", |url| &url.0),
            values,
        }
    }
}

/// Decodes a webhook message (Alertmanager's v4 or Grafana's v1 have the same alert shape);
/// a `version` other than `expected` is refused.
pub(super) fn decode_webhook(
    body: &[u8],
    cx: DecodeContext,
    expected: &'static str,
) -> Result<Decoded, IngestError> {
    let message: WebhookMessage = serde_json::from_slice(body).map_err(json_error)?;
    match message.version.as_deref() {
        None => {}
        Some(v) if v == expected => {}
        Some(other) => return Err(IngestError::Version(other.to_string(), expected)),
    }
    let mut decoded = Decoded::default();
    for mut alert in message.alerts {
        decoded.push(alert.raw(cx.now), cx.timeouts.webhook, &cx);
    }
    Ok(decoded)
}

/// `POST /api/v2/webhook/alertmanager`: an upstream Alertmanager's webhook (version 4). Its
/// alerts keep their labels, so their fingerprints equal the upstream's and a re-sent group
/// merges into the alerts already here.
pub fn decode_alertmanager_webhook(body: &[u8], cx: DecodeContext) -> Result<Decoded, IngestError> {
    decode_webhook(body, cx, "4")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{NoKnownAlerts, Timeouts};
    use crate::model::time::parse_rfc3339;
    use std::time::Duration;

    #[test]
    fn firing_and_resolved_from_upstream() {
        let now = parse_rfc3339("2024-01-01T00:10:00Z").unwrap();
        let t = Timeouts {
            resolve: Duration::from_secs(300),
            webhook: Duration::from_secs(3600),
        };
        let body = br#"{"version":"4","status":"firing","receiver":"x","groupKey":"k","alerts":[
          {"status":"firing","labels":{"alertname":"A"},"startsAt":"2024-01-01T00:00:00Z","endsAt":"0001-01-01T00:00:00Z","fingerprint":"x"},
          {"status":"resolved","labels":{"alertname":"B"},"startsAt":"2024-01-01T00:00:00Z","endsAt":"2024-01-01T00:09:00Z"}]}"#;
        let cx = DecodeContext {
            now,
            timeouts: t,
            known: &NoKnownAlerts,
        };
        let d = decode_alertmanager_webhook(body, cx).unwrap();
        assert_eq!(d.alerts.len(), 2);
        assert!(d.alerts[0].timeout);
        assert_eq!(
            d.alerts[0].ends_at,
            parse_rfc3339("2024-01-01T01:10:00Z").unwrap()
        );
        assert!(d.alerts[1].resolved_at(now));
        assert!(decode_alertmanager_webhook(br#"{"version":"3","alerts":[]}"#, cx).is_err());
    }
}
