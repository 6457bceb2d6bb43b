use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use crate::notify::NotificationData;

/// Alertmanager's webhook message, version 4: the template data plus version, groupKey and the
/// count of alerts left out by `max_alerts`.
pub struct WebhookMessage<'a> {
    pub data: &'a NotificationData,
    pub group_key: &'a str,
    pub truncated_alerts: u64,
}

impl Serialize for WebhookMessage<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(10))?;
        self.data.serialize_fields(&mut map)?;
        map.serialize_entry("version", "4")?;
        map.serialize_entry("groupKey", self.group_key)?;
        map.serialize_entry("truncatedAlerts", &self.truncated_alerts)?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::time::parse_rfc3339;
    use crate::model::{Alert, LabelSet};

    #[test]
    fn v4_shape_with_zero_end_for_firing() {
        let labels: LabelSet = [
            ("alertname", "DiskFull"),
            ("cluster", "c1"),
            ("instance", "z"),
            ("severity", "page"),
        ]
        .into_iter()
        .collect();
        let now = parse_rfc3339("2024-05-01T12:00:00Z").unwrap();
        let firing = Alert {
            fingerprint: labels.fingerprint(),
            labels: labels.clone(),
            annotations: [("summary", "disk")].into_iter().collect(),
            starts_at: parse_rfc3339("2024-05-01T11:59:00.5Z").unwrap(),
            ends_at: parse_rfc3339("2024-05-01T12:05:00Z").unwrap(),
            generator_url: "http://prom/graph".into(),
            updated_at: now,
            timeout: true,
            values: Default::default(),
        };
        let group_labels = labels.select(["alertname", "cluster"]);
        let data = NotificationData::new("team", &group_labels, &[firing], now, "http://ar:9093");
        let msg = WebhookMessage {
            data: &data,
            group_key: r#"{}/{severity="page"}:{alertname="DiskFull", cluster="c1"}"#,
            truncated_alerts: 0,
        };
        let json = serde_json::to_string(&msg).unwrap();
        assert_eq!(
            json,
            r#"{"receiver":"team","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"DiskFull","cluster":"c1","instance":"z","severity":"page"},"annotations":{"summary":"disk"},"startsAt":"2024-05-01T11:59:00.5Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom/graph","fingerprint":"255a83fe727db673"}],"groupLabels":{"alertname":"DiskFull","cluster":"c1"},"commonLabels":{"alertname":"DiskFull","cluster":"c1","instance":"z","severity":"page"},"commonAnnotations":{"summary":"disk"},"externalURL":"http://ar:9093","version":"4","groupKey":"{}/{severity=\"page\"}:{alertname=\"DiskFull\", cluster=\"c1\"}","truncatedAlerts":0}"#
        );
    }
}
