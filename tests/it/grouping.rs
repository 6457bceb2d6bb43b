//! Aggregation groups and their timers, as Alertmanager runs them: group_wait, the "old
//! startsAt skips group_wait" rule, group_interval, repeat_interval, resolved notifications,
//! continue and child routes, max_alerts.

use std::time::{Duration, Instant};

use crate::common::{
    alert, alertnames, config_with_route, metric_value, post_distinct_alerts, Router, Sink,
};
use chrono::Utc;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread")]
async fn alerts_of_one_group_go_out_together_after_group_wait() {
    let sink = Sink::start().await;
    let route = "  receiver: hook\n  group_by: [cluster]\n  group_wait: 1s\n  group_interval: 10s";
    let router = Router::start(&config_with_route(route, &[("hook", &sink.url())]));
    let sent = Instant::now();
    router
        .post_json(
            "/api/v2/alerts",
            &json!([alert(&[("alertname", "A"), ("cluster", "c1")])]),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    router
        .post_json(
            "/api/v2/alerts",
            &json!([alert(&[("alertname", "B"), ("cluster", "c1")])]),
        )
        .await;
    router
        .post_json(
            "/api/v2/alerts",
            &json!([alert(&[("alertname", "C"), ("cluster", "c2")])]),
        )
        .await;
    let got = sink.wait_for(2, WAIT).await;
    for r in &got {
        assert!(
            r.at - sent >= Duration::from_millis(950),
            "flushed before group_wait: {:?}",
            r.at - sent
        );
    }
    let mut groups: Vec<Vec<String>> = got.iter().map(|r| alertnames(&r.body)).collect();
    groups.sort();
    assert_eq!(groups, [vec!["A", "B"], vec!["C"]]);
    let c1 = got
        .iter()
        .find(|r| r.body["groupLabels"]["cluster"] == "c1")
        .unwrap();
    assert_eq!(c1.body["groupKey"], r#"{}:{cluster="c1"}"#);
    assert_eq!(c1.body["commonLabels"], json!({"cluster": "c1"}));
}

#[tokio::test(flavor = "multi_thread")]
async fn old_alert_skips_group_wait() {
    let sink = Sink::start().await;
    let route = "  receiver: hook\n  group_by: [alertname]\n  group_wait: 30s";
    let router = Router::start(&config_with_route(route, &[("hook", &sink.url())]));
    let started = (Utc::now() - chrono::Duration::minutes(5)).to_rfc3339();
    let sent = Instant::now();
    let mut old = alert(&[("alertname", "Old")]);
    old["startsAt"] = json!(started);
    router.post_json("/api/v2/alerts", &json!([old])).await;
    let got = sink.wait_for(1, Duration::from_secs(5)).await;
    assert!(got[0].at - sent < Duration::from_secs(5));
    // A fresh alert in another group still waits its 30s.
    router
        .post_json("/api/v2/alerts", &json!([alert(&[("alertname", "Fresh")])]))
        .await;
    sink.expect_no_more_than(1, Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn new_alert_in_flushed_group_waits_for_group_interval() {
    let sink = Sink::start().await;
    let route = "  receiver: hook\n  group_by: [alertname]\n  group_wait: 100ms\n  group_interval: 2s\n  repeat_interval: 1h";
    let router = Router::start(&config_with_route(route, &[("hook", &sink.url())]));
    router
        .post_json(
            "/api/v2/alerts",
            &json!([alert(&[("alertname", "G"), ("i", "1")])]),
        )
        .await;
    let first = sink.wait_for(1, WAIT).await[0].at;
    router
        .post_json(
            "/api/v2/alerts",
            &json!([alert(&[("alertname", "G"), ("i", "2")])]),
        )
        .await;
    let got = sink.wait_for(2, WAIT).await;
    let gap = got[1].at - first;
    assert!(
        gap >= Duration::from_millis(1900) && gap < Duration::from_millis(3500),
        "gap {gap:?}"
    );
    assert_eq!(got[1].body["alerts"].as_array().unwrap().len(), 2);
    // Nothing changes afterwards: no more notifications before repeat_interval.
    sink.expect_no_more_than(2, Duration::from_millis(4500))
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unchanged_group_repeats_after_repeat_interval() {
    let sink = Sink::start().await;
    let route = "  receiver: hook\n  group_by: [alertname]\n  group_wait: 100ms\n  group_interval: 500ms\n  repeat_interval: 2s";
    let router = Router::start(&config_with_route(route, &[("hook", &sink.url())]));
    let mut a = alert(&[("alertname", "R")]);
    a["endsAt"] = json!((Utc::now() + chrono::Duration::minutes(10)).to_rfc3339());
    router.post_json("/api/v2/alerts", &json!([a])).await;
    let got = sink.wait_for(2, WAIT).await;
    let gap = got[1].at - got[0].at;
    // The repeat goes out at the first group_interval tick after repeat_interval elapsed.
    assert!(
        gap >= Duration::from_millis(1900) && gap < Duration::from_millis(3200),
        "gap {gap:?}"
    );
    assert_eq!(alertnames(&got[1].body), ["R"]);
}

/// A re-send that changes neither labels nor firing goes to the store alone; the group must
/// still show what was sent last.
#[tokio::test(flavor = "multi_thread")]
async fn a_resent_alerts_latest_annotations_and_end_reach_its_group() {
    let sink = Sink::start().await;
    let route = "  receiver: hook\n  group_by: [alertname]\n  group_wait: 100ms\n  group_interval: 500ms\n  repeat_interval: 2s";
    let router = Router::start(&config_with_route(route, &[("hook", &sink.url())]));
    let mut a = alert(&[("alertname", "Latest")]);
    a["annotations"] = json!({"summary": "first"});
    a["endsAt"] = json!((Utc::now() + chrono::Duration::minutes(10)).to_rfc3339());
    router
        .post_json("/api/v2/alerts", &json!([a.clone()]))
        .await;
    let got = sink.wait_for(1, WAIT).await;
    assert_eq!(got[0].body["alerts"][0]["annotations"]["summary"], "first");
    let later_end = Utc::now() + chrono::Duration::minutes(20);
    a["annotations"] = json!({"summary": "second"});
    a["endsAt"] = json!(later_end.to_rfc3339());
    router.post_json("/api/v2/alerts", &json!([a])).await;
    let groups = router.get_json("/api/v2/alerts/groups").await;
    let held = &groups[0]["alerts"][0];
    assert_eq!(held["annotations"]["summary"], "second");
    let ends = chrono::DateTime::parse_from_rfc3339(held["endsAt"].as_str().unwrap()).unwrap();
    assert!(
        (ends.with_timezone(&Utc) - later_end)
            .num_milliseconds()
            .abs()
            < 5,
        "{ends} vs {later_end}"
    );
    let got = sink.wait_for(2, WAIT).await;
    assert_eq!(got[1].body["alerts"][0]["annotations"]["summary"], "second");
}

#[tokio::test(flavor = "multi_thread")]
async fn resolved_alert_is_notified_once_then_leaves_the_group() {
    let sink = Sink::start().await;
    let route = "  receiver: hook\n  group_by: [alertname]\n  group_wait: 100ms\n  group_interval: 500ms\n  repeat_interval: 1h";
    let router = Router::start(&config_with_route(route, &[("hook", &sink.url())]));
    router
        .post_json("/api/v2/alerts", &json!([alert(&[("alertname", "Res")])]))
        .await;
    sink.wait_for(1, WAIT).await;
    let mut resolved = alert(&[("alertname", "Res")]);
    resolved["endsAt"] = json!(Utc::now().to_rfc3339());
    router.post_json("/api/v2/alerts", &json!([resolved])).await;
    let got = sink.wait_for(2, WAIT).await;
    assert_eq!(got[1].body["status"], "resolved");
    assert_eq!(got[1].body["alerts"][0]["status"], "resolved");
    assert_ne!(got[1].body["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    sink.expect_no_more_than(2, Duration::from_secs(2)).await;
    let groups = router.get_json("/api/v2/alerts/groups").await;
    assert_eq!(
        groups,
        json!([]),
        "the group is gone once its resolved alert was delivered"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn alert_without_end_resolves_at_resolve_timeout() {
    let sink = Sink::start().await;
    let config = format!(
        "global:\n  resolve_timeout: 1s\n{}",
        config_with_route(
            "  receiver: hook\n  group_by: [alertname]\n  group_wait: 100ms\n  group_interval: 500ms",
            &[("hook", &sink.url())]
        )
    );
    let router = Router::start(&config);
    router
        .post_json(
            "/api/v2/alerts",
            &json!([alert(&[("alertname", "Timeout")])]),
        )
        .await;
    let got = sink.wait_for(2, WAIT).await;
    assert_eq!(got[0].body["status"], "firing");
    assert_eq!(got[1].body["status"], "resolved");
}

#[tokio::test(flavor = "multi_thread")]
async fn continue_and_child_routes_fan_out() {
    let pager = Sink::start().await;
    let db = Sink::start().await;
    let fallback = Sink::start().await;
    let route = r#"  receiver: fallback
  group_wait: 100ms
  group_by: [alertname]
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
      continue: true
    - matchers: [team=db]
      receiver: db
      routes:
        - matchers: [env=~"prod|stage"]
          group_by: [env]"#;
    let router = Router::start(&config_with_route(
        route,
        &[
            ("pager", &pager.url()),
            ("db", &db.url()),
            ("fallback", &fallback.url()),
        ],
    ));
    router
        .post_json(
            "/api/v2/alerts",
            &json!([
                alert(&[
                    ("alertname", "X"),
                    ("severity", "critical"),
                    ("team", "db"),
                    ("env", "prod")
                ]),
                alert(&[("alertname", "Y"), ("team", "web")])
            ]),
        )
        .await;
    let p = pager.wait_for(1, WAIT).await;
    let d = db.wait_for(1, WAIT).await;
    let f = fallback.wait_for(1, WAIT).await;
    assert_eq!(
        p[0].body["groupKey"],
        r#"{}/{severity="critical"}:{alertname="X"}"#
    );
    assert_eq!(
        d[0].body["groupKey"],
        r#"{}/{team="db"}/{env=~"prod|stage"}:{env="prod"}"#
    );
    assert_eq!(
        d[0].body["receiver"], "db",
        "the child inherits its parent's receiver"
    );
    assert_eq!(alertnames(&f[0].body), ["Y"]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!((pager.count(), db.count(), fallback.count()), (1, 1, 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn group_by_all_labels_and_max_alerts() {
    let sink = Sink::start().await;
    let config = format!(
        "route:\n  receiver: hook\n  group_wait: 100ms\n  routes:\n    - matchers: [kind=each]\n      group_by: ['...']\n\
         receivers:\n  - name: hook\n    webhook_configs:\n      - url: '{}'\n        max_alerts: 2\n",
        sink.url()
    );
    let router = Router::start(&config);
    let batch: Vec<_> = (0..5)
        .map(|i| alert(&[("alertname", "Many"), ("i", &i.to_string())]))
        .collect();
    router.post_json("/api/v2/alerts", &json!(batch)).await;
    let got = sink.wait_for(1, WAIT).await;
    assert_eq!(got[0].body["alerts"].as_array().unwrap().len(), 2);
    assert_eq!(got[0].body["truncatedAlerts"], 3);
    router
        .post_json(
            "/api/v2/alerts",
            &json!([
                alert(&[("alertname", "E"), ("kind", "each"), ("x", "1")]),
                alert(&[("alertname", "E"), ("kind", "each"), ("x", "2")])
            ]),
        )
        .await;
    let got = sink.wait_for(3, WAIT).await;
    let keys: Vec<&str> = got[1..]
        .iter()
        .map(|r| r.body["groupKey"].as_str().unwrap())
        .collect();
    assert!(
        keys.contains(&r#"{}/{kind="each"}:{alertname="E", kind="each", x="1"}"#),
        "{keys:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_thousand_groups_cost_no_tasks() {
    let router = Router::start(&config_with_route(
        "  receiver: blackhole\n  group_by: [instance]\n  group_wait: 1h",
        &[("blackhole", "")],
    ));
    post_distinct_alerts(&router, 100_000).await;
    let metrics = router.metrics().await;
    assert!(
        metrics.contains("alertmanager_dispatcher_aggregation_groups 100000"),
        "{}",
        &metrics[..metrics.len().min(2000)]
    );
    let tasks = metric_value(&metrics, "alert_router_runtime_alive_tasks").expect("task gauge");
    assert!(tasks < 50.0, "{tasks} tasks alive with 100k groups");
}
