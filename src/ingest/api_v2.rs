use serde::Deserialize;

use super::{json_error, normalize_all, Decoded, IngestError, RawAlert, Timeouts};
use crate::model::time::{deserialize_optional, Timestamp};
use crate::model::{AlertLabels, LabelSet};

/// Alertmanager's PostableAlert.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostableAlert {
    labels: AlertLabels,
    #[serde(default)]
    annotations: Option<LabelSet>,
    #[serde(default, deserialize_with = "deserialize_optional")]
    starts_at: Option<Timestamp>,
    #[serde(default, deserialize_with = "deserialize_optional")]
    ends_at: Option<Timestamp>,
    #[serde(default, rename = "generatorURL")]
    generator_url: Option<String>,
}

/// `POST /api/v2/alerts`: a JSON array of PostableAlert, as Prometheus and amtool send.
pub fn decode_postable_alerts(
    body: &[u8],
    now: Timestamp,
    timeouts: Timeouts,
) -> Result<Decoded, IngestError> {
    let posted: Vec<PostableAlert> = serde_json::from_slice(body).map_err(json_error)?;
    let raw = posted
        .into_iter()
        .map(|p| RawAlert {
            labels: p.labels,
            annotations: p.annotations.unwrap_or_default(),
            starts_at: p.starts_at,
            ends_at: p.ends_at,
            generator_url: p.generator_url.unwrap_or_default(),
            values: Default::default(),
        })
        .collect();
    Ok(normalize_all(raw, now, timeouts.resolve))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::time::parse_rfc3339;
    use std::time::Duration;

    const T: Timeouts = Timeouts {
        resolve: Duration::from_secs(300),
        webhook: Duration::from_secs(3600),
    };

    #[test]
    fn applies_alertmanager_defaults() {
        let now = parse_rfc3339("2024-01-01T00:00:00Z").unwrap();
        let body =
            br#"[{"labels":{"alertname":"A","empty":""},"endsAt":"0001-01-01T00:00:00.000Z"},
                        {"labels":{"alertname":"B"},"endsAt":"2024-01-01T01:00:00Z"}]"#;
        let d = decode_postable_alerts(body, now, T).unwrap();
        assert!(d.errors.is_empty());
        let a = &d.alerts[0];
        assert_eq!(a.starts_at, now);
        assert_eq!(a.ends_at, parse_rfc3339("2024-01-01T00:05:00Z").unwrap());
        assert!(a.timeout);
        assert!(!a.labels.contains("empty"));
        let b = &d.alerts[1];
        assert_eq!(
            b.starts_at, b.ends_at,
            "start defaults to the end when only the end is set"
        );
        assert!(!b.timeout);
    }

    #[test]
    fn keeps_valid_alerts_and_reports_the_rest() {
        let now = parse_rfc3339("2024-01-01T00:00:00Z").unwrap();
        let body = br#"[{"labels":{"a-b":"x"}},{"labels":{}},{"labels":{"ok":"1"}},
            {"labels":{"x":"y"},"startsAt":"2024-01-01T02:00:00Z","endsAt":"2024-01-01T01:00:00Z"}]"#;
        let d = decode_postable_alerts(body, now, T).unwrap();
        assert_eq!(d.alerts.len(), 1);
        assert_eq!(
            d.error_message().unwrap(),
            "invalid label set: invalid name \"a-b\"; at least one label pair required; start time must be before end time"
        );
    }

    #[test]
    fn malformed_json_is_rejected_whole() {
        let now = parse_rfc3339("2024-01-01T00:00:00Z").unwrap();
        assert!(decode_postable_alerts(b"[{\"labels\":", now, T).is_err());
        assert!(decode_postable_alerts(br#"[{"annotations":{}}]"#, now, T).is_err());
        assert!(decode_postable_alerts(
            br#"[{"labels":{"a":"b"},"startsAt":"yesterday"}]"#,
            now,
            T
        )
        .is_err());
    }
}
