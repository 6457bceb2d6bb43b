//! Alertmanager API v2 reads, status, health, reload and metrics.

use std::time::Duration;

use crate::common::{alert, Router, Sink};
use serde_json::{json, Value};

fn config(url: &str) -> String {
    format!(
        r#"global:
  slack_api_url: https://hooks.slack.test/services/T000/B000/SECRETTOKEN
route:
  receiver: default
  group_by: [alertname]
  group_wait: 100ms
  routes:
    - matchers: [team="db"]
      receiver: db
receivers:
  - name: default
    webhook_configs:
      - url: '{url}?token=WEBHOOKSECRET'
        http_config:
          basic_auth: {{username: user, password: BASICSECRET}}
  - name: db
    webhook_configs:
      - url: '{url}'
"#
    )
}

fn names(alerts: &Value) -> Vec<String> {
    alerts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["labels"]["alertname"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn get_alerts_with_filters() {
    let sink = Sink::start().await;
    let router = Router::start(&config(&sink.url()));
    router
        .post_json(
            "/api/v2/alerts",
            &json!([
                alert(&[("alertname", "A"), ("team", "db"), ("env", "prod")]),
                alert(&[("alertname", "B"), ("team", "web"), ("env", "prod")]),
                alert(&[("alertname", "C"), ("team", "db"), ("env", "dev")]),
            ]),
        )
        .await;
    let all = router.get_json("/api/v2/alerts").await;
    assert_eq!(all.as_array().unwrap().len(), 3);
    let fps: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["fingerprint"].as_str().unwrap())
        .collect();
    let mut sorted = fps.clone();
    sorted.sort();
    assert_eq!(fps, sorted, "sorted by fingerprint");
    let a = all
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["alertname"] == "A")
        .unwrap();
    assert_eq!(a["receivers"], json!([{"name": "db"}]));
    assert_eq!(
        a["status"],
        json!({"inhibitedBy": [], "silencedBy": [], "state": "active"})
    );
    assert!(
        a["startsAt"].as_str().unwrap().ends_with('Z')
            && a["startsAt"].as_str().unwrap().len() == 24
    );

    let db = router
        .get_json("/api/v2/alerts?filter=team%3D%22db%22")
        .await;
    let mut db_names = names(&db);
    db_names.sort();
    assert_eq!(db_names, ["A", "C"]);
    assert_eq!(db.as_array().unwrap().len(), 2);
    let both = router
        .get_json("/api/v2/alerts?filter=team%3Ddb&filter=env%3D~%22pr.*%22")
        .await;
    assert_eq!(names(&both), ["A"]);
    let by_receiver = router.get_json("/api/v2/alerts?receiver=def.*").await;
    assert_eq!(names(&by_receiver), ["B"]);
    let none = router.get_json("/api/v2/alerts?active=false").await;
    assert_eq!(none, json!([]));
    let r = reqwest::get(router.url("/api/v2/alerts?filter=%3Dteam"))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let msg: String = r.json().await.unwrap();
    assert!(
        msg.contains("bad matcher format") || msg.contains("unescaped"),
        "{msg}"
    );
    let r = reqwest::get(router.url("/api/v2/alerts?active=maybe"))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn alert_groups_and_receivers() {
    let sink = Sink::start().await;
    let router = Router::start(&config(&sink.url()));
    router
        .post_json(
            "/api/v2/alerts",
            &json!([
                alert(&[("alertname", "A"), ("team", "db"), ("i", "1")]),
                alert(&[("alertname", "A"), ("team", "db"), ("i", "2")]),
                alert(&[("alertname", "B")]),
            ]),
        )
        .await;
    let groups = router.get_json("/api/v2/alerts/groups").await;
    let groups = groups.as_array().unwrap();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0]["labels"], json!({"alertname": "A"}));
    assert_eq!(groups[0]["receiver"], json!({"name": "db"}));
    assert_eq!(groups[0]["alerts"].as_array().unwrap().len(), 2);
    assert_eq!(groups[1]["labels"], json!({"alertname": "B"}));
    let filtered = router
        .get_json("/api/v2/alerts/groups?receiver=default")
        .await;
    assert_eq!(filtered.as_array().unwrap().len(), 1);
    let receivers = router.get_json("/api/v2/receivers").await;
    assert_eq!(receivers, json!([{"name": "default"}, {"name": "db"}]));
}

#[tokio::test(flavor = "multi_thread")]
async fn status_shows_config_without_secrets() {
    let sink = Sink::start().await;
    let router = Router::start(&config(&sink.url()));
    let status = router.get_json("/api/v2/status").await;
    // Alertmanager's default `--cluster.listen-address` (0.0.0.0:9094): a one-member
    // cluster, ready, this instance its peer.
    assert_eq!(status["cluster"]["status"], "ready");
    let peers = status["cluster"]["peers"].as_array().unwrap();
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0]["name"], status["cluster"]["name"]);
    assert_eq!(peers[0]["address"], "0.0.0.0:9094");
    assert!(status["versionInfo"]["version"].is_string());
    let original = status["config"]["original"].as_str().unwrap();
    for secret in ["SECRETTOKEN", "WEBHOOKSECRET", "BASICSECRET"] {
        assert!(!original.contains(secret), "{secret} leaked: {original}");
        assert!(
            !router.log().iter().any(|l| l.contains(secret)),
            "{secret} in logs"
        );
    }
    assert!(original.contains("<secret>"));
    // What /api/v2/status shows is itself a config the router accepts.
    let path = router.dir.path().join("from-status.yml");
    std::fs::write(&path, original).unwrap();
    let out = std::process::Command::new(crate::common::BIN)
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn health_ready_and_reload() {
    let sink = Sink::start().await;
    let mut router = Router::start(&config(&sink.url()));
    for path in ["/-/healthy", "/-/ready"] {
        let r = reqwest::get(router.url(path)).await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), "OK");
        let head = reqwest::Client::new()
            .head(router.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), 200);
    }
    let r = reqwest::get(router.url("/-/reload")).await.unwrap();
    assert_eq!(r.status(), 405);

    // A broken config is refused and the running one stays.
    std::fs::write(
        router.config_path(),
        "route:\n  receiver: nope\nreceivers: []\n",
    )
    .unwrap();
    let r = reqwest::Client::new()
        .post(router.url("/-/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    let body = r.text().await.unwrap();
    assert!(
        body.starts_with("failed to reload config: undefined receiver \"nope\""),
        "{body}"
    );
    assert_eq!(
        router
            .get_json("/api/v2/receivers")
            .await
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // A valid one takes effect, by POST and by SIGHUP.
    let new = config(&sink.url()).replace("- name: db\n", "- name: db\n  - name: extra\n");
    std::fs::write(router.config_path(), &new).unwrap();
    let r = reqwest::Client::new()
        .post(router.url("/-/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        router
            .get_json("/api/v2/receivers")
            .await
            .as_array()
            .unwrap()
            .len(),
        3
    );
    std::fs::write(router.config_path(), config(&sink.url())).unwrap();
    let kill = std::process::Command::new("kill")
        .args(["-HUP", &router.pid().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let mut n = 0;
    for _ in 0..100 {
        n = router
            .get_json("/api/v2/receivers")
            .await
            .as_array()
            .unwrap()
            .len();
        if n == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(n, 2, "SIGHUP reloaded the config");

    // SIGTERM stops the process cleanly.
    std::process::Command::new("kill")
        .args(["-TERM", &router.pid().to_string()])
        .status()
        .unwrap();
    let status = router
        .wait_exit(Duration::from_secs(10))
        .expect("exits after SIGTERM");
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_keeps_alerts_and_does_not_resend() {
    let sink = Sink::start().await;
    let router = Router::start(&config(&sink.url()));
    router
        .post_json("/api/v2/alerts", &json!([alert(&[("alertname", "Keep")])]))
        .await;
    sink.wait_for(1, Duration::from_secs(5)).await;
    let r = reqwest::Client::new()
        .post(router.url("/-/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    sink.expect_no_more_than(1, Duration::from_secs(1)).await;
    assert_eq!(router.alert_count().await, 1);
    assert_eq!(
        router
            .get_json("/api/v2/alerts/groups")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_in_prometheus_format() {
    let sink = Sink::start().await;
    let router = Router::start(&config(&sink.url()));
    router
        .post_json("/api/v2/alerts", &json!([alert(&[("alertname", "M")])]))
        .await;
    sink.wait_for(1, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = reqwest::get(router.url("/metrics")).await.unwrap();
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = r.text().await.unwrap();
    for needle in [
        r#"alertmanager_alerts_received_total{status="firing"} 1"#,
        r#"alertmanager_alerts{state="active"} 1"#,
        "alertmanager_dispatcher_aggregation_groups 1",
        r#"alertmanager_notifications_total{integration="webhook"} 1"#,
        r#"alertmanager_notification_latency_seconds_bucket{integration="webhook",le="+Inf"} 1"#,
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
}
