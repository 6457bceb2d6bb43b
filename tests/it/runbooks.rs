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
        text.contains("priority: P1") && text.contains("receivers: ap-incident-slack"),
        "{text}"
    );
    // "Page immediately": Slack from the route, the phone call from the path's first step.
    assert!(text.contains("channels: phone, slack"), "{text}");
    assert!(
        text.contains("runbook channels: slack, phone (as routed)"),
        "{text}"
    );
}

/// Each runbook names the channels of its levels and escalation steps; the shipped example
/// reaches exactly those, and a config that sends them elsewhere is warned about.
#[test]
fn the_example_routes_each_runbook_to_the_channels_it_names() {
    let root = env!("CARGO_MANIFEST_DIR");
    let example = format!("{root}/examples/runbooks.yml");
    let out = std::process::Command::new(crate::common::BIN)
        .args(["check-config", &example])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("WARNING"), "{text}");

    // The same check as a library call, with what it covers counted: it must look at every
    // level and escalation step that names channels.
    let config = alert_router::app::load_config(std::path::Path::new(&example)).unwrap();
    let built = alert_router::app::Blueprint::build(config, None).unwrap();
    let named_levels: usize = built
        .classifier
        .files()
        .map(|f| f.levels.iter().filter(|l| !l.channels.is_empty()).count())
        .sum();
    let named_steps: usize = built
        .classifier
        .files()
        .map(|f| {
            f.escalation
                .iter()
                .filter(|s| !s.channels.is_empty())
                .count()
        })
        .sum();
    assert_eq!((named_levels, named_steps), (11, 11));
    assert_eq!(
        alert_router::app::channels::check(&built.config, &built.classifier, &built.policies),
        Vec::new()
    );
    // ai-code-review's escalation levels, each with its own notification.
    let acr = built.policies.get("runbook:ai-code-review").unwrap();
    let reached: Vec<String> = acr
        .steps
        .iter()
        .map(|s| {
            let set = alert_router::app::channels::channels_of(
                &built.config,
                s.receivers.iter().map(String::as_str),
            );
            set.into_iter().collect::<Vec<_>>().join("+")
        })
        .collect();
    assert_eq!(reached, ["slack", "email+slack", "pagerduty", "phone"]);

    // One route for every runbook, as the example used to have: warned, level by level.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("am.yml");
    std::fs::write(
        &file,
        format!(
            r#"rule_files: ['{root}/rules/*.yml']
route:
  receiver: email
  routes:
    - {{matchers: [priority="P0"], receiver: page}}
receivers:
  - name: page
    pagerduty_configs: [{{routing_key: k}}]
    slack_configs: [{{api_url: 'http://127.0.0.1:9/', channel: '#x'}}]
  - name: email
    email_configs: [{{to: a@example.org, from: b@example.org, smarthost: '127.0.0.1:25'}}]
"#
        ),
    )
    .unwrap();
    let out = std::process::Command::new(crate::common::BIN)
        .args(["check-config", file.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "a warning is not a failure: {text}");
    for expected in [
        "WARNING: runbook hitl-api, level P0: the runbook names slack; the config reaches pagerduty, slack",
        "WARNING: runbook counterfactual-lab, level P0: the runbook names email, phone; the config reaches pagerduty, slack",
        "WARNING: runbook agentic-platform, level P3: the runbook names log; the config reaches email",
    ] {
        assert!(text.contains(expected), "{expected}\n{text}");
    }
}

/// An alert inside its rule's `for` window is classified from the sender's severity; when the
/// window ends the threshold decides, without a re-send, and after a restart too.
#[tokio::test(flavor = "multi_thread")]
async fn an_alert_is_classified_again_when_its_for_window_ends() {
    let (page, other) = (Sink::start().await, Sink::start().await);
    let rules_dir = tempfile::tempdir().unwrap();
    let rules = rules_dir.path().join("rb.yml");
    std::fs::write(
        &rules,
        r#"runbook: rb
title: t
levels:
  - {priority: P1, severity: critical, response_time: 15m, description: d}
  - {priority: P3, severity: info, response_time: 1d, description: d}
severity_map: {info: P3}
escalation: []
rules:
  - name: cpu
    matchers: ['alertname="HighCPU"']
    unit: percent
    value_unit: percent
    for: 3s
    thresholds: [{op: '>', value: 80, severity: critical, priority: P1}]
"#,
    )
    .unwrap();
    let config = format!(
        r#"rule_files: ['{}']
route:
  receiver: other
  group_by: [alertname, instance]
  group_wait: 100ms
  group_interval: 1h
  repeat_interval: 1h
  routes:
    - matchers: [priority="P1"]
      receiver: page
receivers:
  - name: page
    webhook_configs: [{{url: '{}'}}]
  - name: other
    webhook_configs: [{{url: '{}'}}]
"#,
        rules.display(),
        page.url(),
        other.url()
    );
    let router = Router::start(&config);
    let post = |instance: &str| {
        let mut a = alert(&[
            ("alertname", "HighCPU"),
            ("instance", instance),
            ("severity", "info"),
        ]);
        a["annotations"] = json!({"value": "95"});
        a["startsAt"] = json!(chrono::Utc::now().to_rfc3339());
        json!([a])
    };
    let instance = |r: &crate::common::Received| {
        let labels = &r.body["alerts"][0]["labels"];
        (
            labels["instance"].as_str().unwrap_or("").to_string(),
            labels["priority"].as_str().unwrap_or("").to_string(),
        )
    };

    // Running throughout: P3 at first, P1 once the 3 s have passed, with no re-send.
    assert_eq!(router.post_json("/api/v2/alerts", &post("a")).await.0, 200);
    let early = other.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(
        instance(&early[0]),
        ("a".into(), "P3".into()),
        "inside the window"
    );
    assert_eq!(page.count(), 0, "no page inside the window");
    let pages = page.wait_for(1, Duration::from_secs(8)).await;
    assert_eq!(instance(&pages[0]), ("a".into(), "P1".into()));
    let labels = &pages[0].body["alerts"][0]["labels"];
    assert_eq!(labels["severity"], "critical");
    assert_eq!(labels["original_severity"], "info");

    // Down inside the window of instance b, up again after it ended.
    assert_eq!(router.post_json("/api/v2/alerts", &post("b")).await.0, 200);
    other.wait_for(2, Duration::from_secs(5)).await;
    let router = Router::start_in(router.kill9(), &[]);
    let pages = page.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(instance(&pages[1]), ("b".into(), "P1".into()));
    let listed = router.get_json("/api/v2/alerts").await;
    assert_eq!(listed.as_array().unwrap().len(), 2);
    for a in listed.as_array().unwrap() {
        assert_eq!(a["labels"]["priority"], "P1", "{a}");
    }
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

/// A reload that changes a rule's `for` applies to the alerts already waiting in their window:
/// shortened, the alert is classified when the new window ends, not the old one.
#[tokio::test]
async fn a_reload_that_shortens_a_for_window_reclassifies_the_waiting_alert() {
    let page = Sink::start().await;
    let rules_dir = tempfile::tempdir().unwrap();
    let rules = rules_dir.path().join("rb.yml");
    let rule_file = |window: &str| {
        format!(
            r#"runbook: rb
title: t
levels:
  - {{priority: P1, severity: critical, response_time: 15m, description: d}}
escalation: []
rules:
  - name: cpu
    matchers: ['alertname="HighCPU"']
    unit: percent
    value_unit: percent
    for: {window}
    thresholds: [{{op: '>', value: 80, severity: critical, priority: P1}}]
"#
        )
    };
    std::fs::write(&rules, rule_file("1h")).unwrap();
    let config = format!(
        r#"rule_files: ['{}']
route:
  receiver: none
  group_by: [alertname]
  group_wait: 100ms
  group_interval: 1h
  repeat_interval: 1h
  routes:
    - matchers: [priority="P1"]
      receiver: page
receivers:
  - name: none
  - name: page
    webhook_configs: [{{url: '{}'}}]
"#,
        rules.display(),
        page.url()
    );
    let router = Router::start(&config);
    let mut a = alert(&[("alertname", "HighCPU")]);
    a["annotations"] = json!({"value": "95"});
    a["startsAt"] = json!(chrono::Utc::now().to_rfc3339());
    assert_eq!(router.post_json("/api/v2/alerts", &json!([a])).await.0, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(page.count(), 0, "inside its hour-long window");

    std::fs::write(&rules, rule_file("2s")).unwrap();
    let reload = reqwest::Client::new()
        .post(router.url("/-/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(reload.status(), 200);
    let pages = page.wait_for(1, Duration::from_secs(8)).await;
    assert_eq!(pages[0].body["alerts"][0]["labels"]["priority"], "P1");
}
