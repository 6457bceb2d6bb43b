//! Inhibit rules and time intervals end to end: what they mute is not notified, shows in the
//! alert's state, and is notified once the mute ends.

use std::time::Duration;

use crate::common::{alert, alertnames, Router, Sink};
use chrono::Utc;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn inhibited_alert_waits_for_its_source_to_resolve() {
    let sink = Sink::start().await;
    let config = format!(
        r#"route:
  receiver: hook
  group_by: [alertname, cluster]
  group_wait: 100ms
  group_interval: 1s
receivers:
  - name: hook
    webhook_configs: [{{url: '{}'}}]
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [cluster]
"#,
        sink.url()
    );
    let router = Router::start(&config);
    let source = alert(&[
        ("alertname", "NodeDown"),
        ("severity", "critical"),
        ("cluster", "c1"),
    ]);
    router
        .post_json(
            "/api/v2/alerts",
            &json!([
                source,
                alert(&[
                    ("alertname", "HighLoad"),
                    ("severity", "warning"),
                    ("cluster", "c1")
                ]),
                alert(&[
                    ("alertname", "HighLoad"),
                    ("severity", "warning"),
                    ("cluster", "c2")
                ]),
            ]),
        )
        .await;
    let got = sink.wait_for(2, Duration::from_secs(5)).await;
    sink.expect_no_more_than(2, Duration::from_millis(1500))
        .await;
    let mut sent: Vec<(String, String)> = got
        .iter()
        .map(|r| {
            (
                alertnames(&r.body)[0].clone(),
                r.body["alerts"][0]["labels"]["cluster"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    sent.sort();
    assert_eq!(
        sent,
        [
            ("HighLoad".to_string(), "c2".to_string()),
            ("NodeDown".to_string(), "c1".to_string())
        ]
    );

    let alerts = router.get_json("/api/v2/alerts").await;
    let source_fp = alerts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["alertname"] == "NodeDown")
        .unwrap()["fingerprint"]
        .clone();
    let target = alerts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["alertname"] == "HighLoad" && a["labels"]["cluster"] == "c1")
        .unwrap();
    assert_eq!(
        target["status"],
        json!({"state": "suppressed", "silencedBy": [], "inhibitedBy": [source_fp]})
    );
    assert_eq!(
        router
            .get_json("/api/v2/alerts?inhibited=false")
            .await
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // The source resolves: the target is notified at its group's next flush.
    let mut resolved = alert(&[
        ("alertname", "NodeDown"),
        ("severity", "critical"),
        ("cluster", "c1"),
    ]);
    resolved["endsAt"] = json!(Utc::now().to_rfc3339());
    router.post_json("/api/v2/alerts", &json!([resolved])).await;
    // Two more notifications: NodeDown's resolved one and the target's, in either order, as the
    // two groups flush on their own timers.
    let got = sink.wait_for(4, Duration::from_secs(5)).await;
    assert!(got[2..]
        .iter()
        .any(|r| alertnames(&r.body) == ["HighLoad"]
            && r.body["alerts"][0]["labels"]["cluster"] == "c1"));
}

#[tokio::test(flavor = "multi_thread")]
async fn time_intervals_mute_routes() {
    let sink = Sink::start().await;
    let config = format!(
        r#"route:
  receiver: hook
  group_by: [alertname]
  group_wait: 100ms
  group_interval: 1s
  routes:
    - matchers: [team=muted]
      mute_time_intervals: [always]
    - matchers: [team=inactive]
      active_time_intervals: [long-ago]
    - matchers: [team=active]
      active_time_intervals: [always]
receivers:
  - name: hook
    webhook_configs: [{{url: '{}'}}]
time_intervals:
  - name: always
    time_intervals:
      - times: [{{start_time: '00:00', end_time: '24:00'}}]
        location: Europe/Berlin
  - name: long-ago
    time_intervals:
      - years: ['1999']
"#,
        sink.url()
    );
    let router = Router::start(&config);
    router
        .post_json(
            "/api/v2/alerts",
            &json!([
                alert(&[("alertname", "A"), ("team", "muted")]),
                alert(&[("alertname", "B"), ("team", "inactive")]),
                alert(&[("alertname", "C"), ("team", "active")]),
            ]),
        )
        .await;
    let got = sink.wait_for(1, Duration::from_secs(5)).await;
    sink.expect_no_more_than(1, Duration::from_millis(1500))
        .await;
    assert_eq!(alertnames(&got[0].body), ["C"]);
}
