use std::marker::PhantomData;

use serde::de::DeserializeSeed;
use serde::Deserialize;

use super::{json_error, DecodeContext, Decoded, EachElement, IngestError, RawAlert};
use crate::model::time::{deserialize_optional, Timestamp};
use crate::model::{PostedLabels, PostedPairs, Text};

/// Alertmanager's PostableAlert, its strings borrowed from the body where it can.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostableAlert<'a> {
    #[serde(borrow)]
    labels: PostedLabels<'a>,
    #[serde(default, borrow)]
    annotations: Option<PostedPairs<'a>>,
    #[serde(default, deserialize_with = "deserialize_optional")]
    starts_at: Option<Timestamp>,
    #[serde(default, deserialize_with = "deserialize_optional")]
    ends_at: Option<Timestamp>,
    #[serde(default, borrow, rename = "generatorURL")]
    generator_url: Option<Text<'a>>,
}

/// `POST /api/v2/alerts`: a JSON array of PostableAlert, as Prometheus and amtool send. Each
/// alert is normalized as soon as it is read; a body that is not valid JSON as a whole is
/// refused whole.
pub fn decode_postable_alerts(body: &[u8], cx: DecodeContext) -> Result<Decoded, IngestError> {
    // Room for the alerts a body of this size usually holds, so the list is not regrown.
    let mut decoded = Decoded {
        alerts: Vec::with_capacity(body.len() / 200 + 1),
        errors: Vec::new(),
    };
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    EachElement(
        |posted: PostableAlert| {
            let raw = RawAlert {
                labels: &posted.labels,
                annotations: posted.annotations.as_ref(),
                starts_at: posted.starts_at,
                ends_at: posted.ends_at,
                generator_url: posted.generator_url.as_ref().map_or("", |url| &url.0),
                values: Default::default(),
            };
            decoded.push(raw, cx.timeouts.resolve, &cx);
        },
        PhantomData,
    )
    .deserialize(&mut deserializer)
    .and_then(|()| deserializer.end())
    .map_err(json_error)?;
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{NoKnownAlerts, Timeouts};
    use crate::model::time::parse_rfc3339;
    use std::time::Duration;

    const T: Timeouts = Timeouts {
        resolve: Duration::from_secs(300),
        webhook: Duration::from_secs(3600),
    };

    fn cx(now: Timestamp) -> DecodeContext<'static> {
        DecodeContext {
            now,
            timeouts: T,
            known: &NoKnownAlerts,
        }
    }

    #[test]
    fn applies_alertmanager_defaults() {
        let now = parse_rfc3339("2024-01-01T00:00:00Z").unwrap();
        let body =
            br#"[{"labels":{"alertname":"A","empty":""},"endsAt":"0001-01-01T00:00:00.000Z"},
                        {"labels":{"alertname":"B"},"endsAt":"2024-01-01T01:00:00Z"}]"#;
        let d = decode_postable_alerts(body, cx(now)).unwrap();
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
        // UTF-8 names (`service.name`) are valid since 0.27; an empty name is not.
        let body = br#"[{"labels":{"":"x"}},{"labels":{}},{"labels":{"ok":"1","service.name":"api"}},
            {"labels":{"x":"y"},"startsAt":"2024-01-01T02:00:00Z","endsAt":"2024-01-01T01:00:00Z"}]"#;
        let d = decode_postable_alerts(body, cx(now)).unwrap();
        assert_eq!(d.alerts.len(), 1);
        assert_eq!(
            d.error_message().unwrap(),
            "invalid label set: invalid name \"\"; at least one label pair required; start time must be before end time"
        );
    }

    #[test]
    fn malformed_json_is_rejected_whole() {
        let now = parse_rfc3339("2024-01-01T00:00:00Z").unwrap();
        assert!(decode_postable_alerts(b"[{\"labels\":", cx(now)).is_err());
        assert!(decode_postable_alerts(br#"[{"annotations":{}}]"#, cx(now)).is_err());
        assert!(decode_postable_alerts(
            br#"[{"labels":{"a":"b"},"startsAt":"yesterday"}]"#,
            cx(now)
        )
        .is_err());
    }

    #[test]
    fn a_resent_alert_shares_what_is_stored_and_a_changed_one_does_not() {
        let now = parse_rfc3339("2024-01-01T00:00:00Z").unwrap();
        let body = br#"[{"labels":{"alertname":"A","job":"x"},"annotations":{"summary":"s"},"generatorURL":"http://p/g"}]"#;
        let store = crate::store::AlertStore::new();
        let stored = store.put(
            decode_postable_alerts(body, cx(now))
                .unwrap()
                .alerts
                .remove(0),
        );
        let known = DecodeContext {
            known: &store,
            ..cx(now)
        };
        let again = decode_postable_alerts(body, known)
            .unwrap()
            .alerts
            .remove(0);
        assert_eq!(again.labels, stored.labels);
        assert!(again.labels.ptr_eq(&stored.labels));
        assert!(again.annotations.ptr_eq(&stored.annotations));
        assert!(std::sync::Arc::ptr_eq(
            &again.generator_url,
            &stored.generator_url
        ));
        let changed = br#"[{"labels":{"job":"x","alertname":"A"},"annotations":{"summary":"t"},"generatorURL":"http://p/h"}]"#;
        let changed = decode_postable_alerts(changed, known)
            .unwrap()
            .alerts
            .remove(0);
        assert!(
            changed.labels.ptr_eq(&stored.labels),
            "same labels in another order"
        );
        assert_eq!(changed.annotations.get("summary"), Some("t"));
        assert_eq!(&*changed.generator_url, "http://p/h");
    }
}
