//! End to end: alerts classified by the runbooks in rules/ and delivered to the receiver their
//! priority routes to.

use std::time::Duration;

use crate::common::{alert, Router, Sink};
use alert_router::model::LabelSet;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn grafana_and_prometheus_alerts_are_classified_and_routed_by_priority() {
    let (p0, p2, other) = (
        Sink::start().await,
        Sink::start().await,
        Sink::start().await,
    );
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/rules");
    let config = format!(
        r#"rule_files: ['{rules}']
route:
  receiver: other
  group_by: [alertname]
  group_wait: 100ms
  routes:
    - matchers: [priority="P0"]
      receiver: p0
    - matchers: [priority="P2"]
      receiver: p2
receivers:
  - name: p0
    webhook_configs: [{{url: '{}'}}]
  - name: p2
    webhook_configs: [{{url: '{}'}}]
  - name: other
    webhook_configs: [{{url: '{}'}}]
"#,
        p0.url(),
        p2.url(),
        other.url()
    );
    let router = Router::start(&config);

    // Grafana: health score 42 (< 50 is the runbook's critical line), sent as "warning".
    let grafana = json!({
        "receiver": "alert-router", "status": "firing", "orgId": 1, "version": "1", "state": "alerting",
        "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://grafana:3000/",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "SystemHealthCritical", "service": "ai-code-review", "severity": "warning"},
            "annotations": {}, "startsAt": "2024-05-01T11:59:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "values": {"B": 42.0}
        }]
    });
    assert_eq!(
        router
            .post_json("/api/v2/webhook/grafana", &grafana)
            .await
            .0,
        200
    );
    // Prometheus: error rate 7.5% for the agentic platform (> 5% is its warning line).
    let mut prom = alert(&[
        ("alertname", "HighErrorRate"),
        ("service", "agentic-platform"),
    ]);
    prom["annotations"] = json!({"value": "7.5%"});
    // And one no runbook knows.
    let unknown = alert(&[("alertname", "Unrelated"), ("severity", "info")]);
    assert_eq!(
        router
            .post_json("/api/v2/alerts", &json!([prom, unknown]))
            .await
            .0,
        200
    );

    let page = &p0.wait_for(1, Duration::from_secs(5)).await[0].body["alerts"][0];
    assert_eq!(page["labels"]["priority"], "P0");
    assert_eq!(page["labels"]["severity"], "critical");
    assert_eq!(page["labels"]["original_severity"], "warning");
    assert_eq!(page["labels"]["runbook"], "ai-code-review");
    assert_eq!(page["labels"]["response_sla"], "2m");
    let sent: LabelSet = [
        ("alertname", "SystemHealthCritical"),
        ("service", "ai-code-review"),
        ("severity", "warning"),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        page["fingerprint"],
        sent.fingerprint().to_string(),
        "fingerprint of the alert as sent"
    );

    let warn = &p2.wait_for(1, Duration::from_secs(5)).await[0].body["alerts"][0];
    assert_eq!(warn["labels"]["priority"], "P2");
    assert_eq!(warn["labels"]["severity"], "warning");
    assert_eq!(warn["labels"]["runbook"], "agentic-platform");
    assert_eq!(warn["labels"]["response_sla"], "1h");

    let plain = &other.wait_for(1, Duration::from_secs(5)).await[0].body["alerts"][0];
    assert_eq!(
        plain["labels"],
        json!({"alertname": "Unrelated", "severity": "info"})
    );

    // Re-sending the Grafana alert is still the same alert.
    router.post_json("/api/v2/webhook/grafana", &grafana).await;
    assert_eq!(router.alert_count().await, 3);
    // The extension stays out of the config amtool reads back.
    let status = router.get_json("/api/v2/status").await;
    assert!(!status["config"]["original"]
        .as_str()
        .unwrap()
        .contains("rule_files"));
}

#[test]
fn rules_check_and_test_commands() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = std::process::Command::new(crate::common::BIN)
        .args(["rules", "check", &format!("{root}/rules")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .matches("SUCCESS")
            .count(),
        5
    );

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(&bad, "runbook: x\ntitle: t\nlevels: [{priority: P9, severity: critical, response_time: 1m, description: d}]\nescalation: []\nrules: []\n").unwrap();
    let out = std::process::Command::new(crate::common::BIN)
        .args(["rules", "check"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("P9"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let out = std::process::Command::new(crate::common::BIN)
        .args([
            "rules",
            "test",
            "--config.file",
            &format!("{root}/examples/runbooks.yml"),
        ])
        .args([
            "alertname=HighErrorRate",
            "service=agentic-platform",
            "value=12%",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("priority: P1") && text.contains("receivers: p1-slack-email"),
        "{text}"
    );
}

/// An alert whose value crosses a threshold is classified again and moves to the groups of its
/// new priority; the group it left keeps the version it had (it notifies that until it
/// resolves), while the new group shows the latest.
#[tokio::test(flavor = "multi_thread")]
async fn an_alert_reclassified_by_its_value_moves_and_its_old_group_keeps_what_it_had() {
    let (p1, p2) = (Sink::start().await, Sink::start().await);
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/rules");
    let config = format!(
        r#"rule_files: ['{rules}']
route:
  receiver: p2
  group_by: [alertname, priority]
  group_wait: 100ms
  routes:
    - matchers: [priority="P1"]
      receiver: p1
receivers:
  - name: p1
    webhook_configs: [{{url: '{}'}}]
  - name: p2
    webhook_configs: [{{url: '{}'}}]
"#,
        p1.url(),
        p2.url()
    );
    let router = Router::start(&config);
    let mut prom = alert(&[
        ("alertname", "HighErrorRate"),
        ("service", "agentic-platform"),
    ]);
    prom["annotations"] = json!({"value": "7.5%"});
    router.post_json("/api/v2/alerts", &json!([prom])).await;
    let first = &p2.wait_for(1, Duration::from_secs(5)).await[0].body["alerts"][0];
    assert_eq!(first["labels"]["priority"], "P2");

    prom["annotations"] = json!({"value": "12%"});
    router.post_json("/api/v2/alerts", &json!([prom])).await;
    let page = &p1.wait_for(1, Duration::from_secs(5)).await[0].body["alerts"][0];
    assert_eq!(page["labels"]["priority"], "P1");
    assert_eq!(page["annotations"]["value"], "12%");

    let groups = router.get_json("/api/v2/alerts/groups").await;
    let by_priority = |priority: &str| {
        groups
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["labels"]["priority"] == priority)
            .unwrap_or_else(|| panic!("no {priority} group in {groups}"))["alerts"]
            .clone()
    };
    let left = by_priority("P2");
    assert_eq!(left.as_array().unwrap().len(), 1, "{left}");
    assert_eq!(left[0]["labels"]["priority"], "P2");
    assert_eq!(left[0]["annotations"]["value"], "7.5%");
    let now = by_priority("P1");
    assert_eq!(now[0]["annotations"]["value"], "12%");
    assert_eq!(router.alert_count().await, 1, "still one alert");
}
