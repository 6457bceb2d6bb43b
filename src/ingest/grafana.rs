use super::alertmanager_webhook::decode_webhook;
use super::{DecodeContext, Decoded, IngestError};

/// `POST /api/v2/webhook/grafana`: Grafana's webhook contact point (version 1). The alerts
/// have Alertmanager's shape plus `values` (refId → number), which is kept for classification.
pub fn decode_grafana_webhook(body: &[u8], cx: DecodeContext) -> Result<Decoded, IngestError> {
    decode_webhook(body, cx, "1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{NoKnownAlerts, Timeouts};
    use crate::model::time::parse_rfc3339;
    use std::time::Duration;

    #[test]
    fn keeps_values() {
        let now = parse_rfc3339("2024-01-01T00:10:00Z").unwrap();
        let t = Timeouts {
            resolve: Duration::from_secs(300),
            webhook: Duration::from_secs(3600),
        };
        let body = br#"{"receiver":"x","status":"firing","orgId":1,"version":"1","state":"alerting","title":"t","message":"m",
          "alerts":[{"status":"firing","labels":{"alertname":"High","grafana_folder":"f"},"annotations":{},
          "startsAt":"2024-01-01T00:00:00Z","endsAt":"0001-01-01T00:00:00Z","values":{"B":44.2,"C":1},"valueString":"[ var='B' value=44.2 ]",
          "silenceURL":"u","dashboardURL":"","panelURL":"","fingerprint":"abc"}]}"#;
        let cx = DecodeContext {
            now,
            timeouts: t,
            known: &NoKnownAlerts,
        };
        let d = decode_grafana_webhook(body, cx).unwrap();
        assert_eq!(d.alerts[0].values.get("B"), Some(&44.2));
        assert!(!d.alerts[0].resolved_at(now));
    }
}
