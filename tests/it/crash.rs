//! Crash safety: the real binary is killed with SIGKILL at random moments under load and
//! restarted on the same state directory. Nothing acknowledged may be lost, nothing logged as
//! sent may be sent again, and resolved notifications still go out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{alert, alertnames, config_with_route, Rng, Router, Sink};
use chrono::Utc;
use serde_json::{json, Value};

fn names(alerts: &Value) -> std::collections::HashSet<String> {
    alerts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["labels"]["alertname"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_acknowledged_is_lost_across_random_kill_9() {
    let mut rng = Rng::from_env("CRASH_SEED");
    let config = config_with_route("  receiver: x\n  group_by: [alertname]", &[("x", "")]);
    let mut dir = {
        let r = Router::start(&config);
        r.kill9()
    };
    let acked_alerts: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut acked_silences: Vec<String> = Vec::new();
    let mut next = 0u64;
    for round in 0..6 {
        let router = Router::start_in(dir, &[]);
        // Everything acknowledged before is still there.
        let present = names(&router.get_json("/api/v2/alerts").await);
        let missing: Vec<String> = acked_alerts
            .lock()
            .unwrap()
            .iter()
            .filter(|n| !present.contains(*n))
            .cloned()
            .collect();
        assert!(
            missing.is_empty(),
            "round {round}: lost {} acknowledged alerts, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(5)]
        );
        let silences = router.get_json("/api/v2/silences").await;
        let ids: std::collections::HashSet<&str> = silences
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap())
            .collect();
        for id in &acked_silences {
            assert!(
                ids.contains(id.as_str()),
                "round {round}: lost silence {id}"
            );
        }

        // Load from four clients; SIGKILL at a random moment while they run.
        let url = router.url("/api/v2/alerts");
        let stop = Instant::now() + Duration::from_millis(200 + rng.below(600));
        let mut clients = Vec::new();
        for c in 0..4u64 {
            let (url, acked) = (url.clone(), acked_alerts.clone());
            let base = next + c * 1_000_000;
            clients.push(tokio::spawn(async move {
                let client = reqwest::Client::new();
                for batch in 0u64.. {
                    let names: Vec<String> = (0..16)
                        .map(|i| format!("a{}", base + batch * 16 + i))
                        .collect();
                    let body: Vec<Value> = names
                        .iter()
                        .map(|n| alert(&[("alertname", n), ("round", "x")]))
                        .collect();
                    match client.post(&url).json(&body).send().await {
                        Ok(r) if r.status() == 200 => acked.lock().unwrap().extend(names),
                        _ => return,
                    }
                }
            }));
        }
        let body = json!({"matchers": [{"name": "round", "value": round.to_string(), "isRegex": false}],
            "startsAt": Utc::now().to_rfc3339(), "endsAt": (Utc::now() + chrono::Duration::hours(1)).to_rfc3339(),
            "createdBy": "crash-test", "comment": "round"});
        let (status, answer) = router.post_json("/api/v2/silences", &body).await;
        assert_eq!(status, 200);
        acked_silences.push(
            serde_json::from_str::<Value>(&answer).unwrap()["silenceID"]
                .as_str()
                .unwrap()
                .to_string(),
        );

        tokio::time::sleep(stop.saturating_duration_since(Instant::now())).await;
        dir = router.kill9();
        for c in clients {
            let _ = c.await;
        }
        next += 10_000_000;
    }
    assert!(
        acked_alerts.lock().unwrap().len() > 100,
        "the load actually ran"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_resend_after_restart_and_resolved_notification_still_goes_out() {
    let sink = Sink::start().await;
    let config = config_with_route(
        "  receiver: hook\n  group_by: [alertname]\n  group_wait: 100ms\n  group_interval: 1s\n  repeat_interval: 1h",
        &[("hook", &sink.url())],
    );
    let router = Router::start(&config);
    let mut ending = alert(&[("alertname", "Ending")]);
    ending["endsAt"] = json!((Utc::now() + chrono::Duration::seconds(3)).to_rfc3339());
    router
        .post_json(
            "/api/v2/alerts",
            &json!([ending, alert(&[("alertname", "Steady")])]),
        )
        .await;
    let got = sink.wait_for(2, Duration::from_secs(5)).await;
    assert!(got.iter().all(|r| r.body["status"] == "firing"));
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Killed; "Ending" resolves while the router is down.
    let dir = router.kill9();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _router = Router::start_in(dir, &[]);
    let got = sink.wait_for(3, Duration::from_secs(5)).await;
    let after: Vec<_> = got[2..].to_vec();
    assert_eq!(alertnames(&after[0].body), ["Ending"]);
    assert_eq!(after[0].body["status"], "resolved");
    // "Steady" was logged as sent and did not change: it is not sent again.
    sink.expect_no_more_than(3, Duration::from_secs(2)).await;
    let per_group: HashMap<String, usize> =
        sink.received().iter().fold(HashMap::new(), |mut m, r| {
            *m.entry(r.body["groupKey"].as_str().unwrap().to_string())
                .or_default() += 1;
            m
        });
    assert_eq!(
        per_group[r#"{}:{alertname="Steady"}"#], 1,
        "no duplicate page"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn groups_resume_their_flush_schedule() {
    let sink = Sink::start().await;
    let config = config_with_route(
        "  receiver: hook\n  group_by: [alertname]\n  group_wait: 30s\n  group_interval: 4s\n  repeat_interval: 1h",
        &[("hook", &sink.url())],
    );
    let router = Router::start(&config);
    // Started a minute ago: no group_wait for its first flush.
    let mut x = alert(&[("alertname", "G"), ("i", "x")]);
    x["startsAt"] = json!((Utc::now() - chrono::Duration::minutes(1)).to_rfc3339());
    router.post_json("/api/v2/alerts", &json!([x])).await;
    let first = sink.wait_for(1, Duration::from_secs(5)).await[0].at;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let dir = router.kill9();
    // Down for a while: a group that started over would tick 4s after the restart (about 5.8s
    // after the first flush); a resumed one ticks 4s after the first flush.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let router = Router::start_in(dir, &[]);
    let posted = Instant::now();
    router
        .post_json(
            "/api/v2/alerts",
            &json!([alert(&[("alertname", "G"), ("i", "y")])]),
        )
        .await;
    let got = sink.wait_for(2, Duration::from_secs(8)).await;
    // The new alert waits for the group's next tick (first flush + 4s), neither flushed at
    // once as a fresh group of old alerts would be, nor held for a fresh group_wait of 30s.
    let since_first = got[1].at - first;
    assert!(
        since_first >= Duration::from_millis(3800),
        "flushed early: {since_first:?} after the first flush"
    );
    assert!(
        since_first < Duration::from_millis(4900),
        "schedule started over: {since_first:?} after the first flush"
    );
    assert!(got[1].at - posted < Duration::from_secs(6));
    assert_eq!(got[1].body["alerts"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn damaged_state_file_is_a_clear_error_and_repair_starts_fresh() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("alertmanager.yml"),
        config_with_route("  receiver: x", &[("x", "")]),
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/alert-router.redb"), vec![0x5a; 8192]).unwrap();
    let out = std::process::Command::new(crate::common::BIN)
        .args([
            "serve",
            "--web.listen-address",
            "127.0.0.1:0",
            "--config.file",
        ])
        .arg(dir.path().join("alertmanager.yml"))
        .arg("--storage.path")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("alert-router.redb") && stderr.contains("--storage.repair"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    let router = Router::start_in(dir, &["--storage.repair"]);
    assert_eq!(router.get_json("/api/v2/alerts").await, json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_commits_batched_writes_and_none_keeps_nothing() {
    let config = config_with_route("  receiver: x", &[("x", "")]);
    let router = Router::start_with_args(&config, &["--storage.durability", "batch"]);
    let batch: Vec<Value> = (0..50)
        .map(|i| alert(&[("alertname", &format!("b{i}"))]))
        .collect();
    assert_eq!(
        router.post_json("/api/v2/alerts", &json!(batch)).await.0,
        200
    );
    let (status, dir) = router.terminate(Duration::from_secs(15));
    assert!(status.expect("exited").success());
    let router = Router::start_in(dir, &["--storage.durability", "batch"]);
    assert_eq!(router.alert_count().await, 50);

    let memory = Router::start_with_args(&config, &["--storage.durability", "none"]);
    memory
        .post_json("/api/v2/alerts", &json!([alert(&[("alertname", "m")])]))
        .await;
    assert!(
        !memory.dir.path().join("data/alert-router.redb").exists(),
        "none writes no state file"
    );
    let dir = memory.kill9();
    let memory = Router::start_in(dir, &["--storage.durability", "none"]);
    assert_eq!(memory.get_json("/api/v2/alerts").await, json!([]));
}

/// The summary of the stored alert named `name`, if any.
async fn summary_of(router: &Router, name: &str) -> Option<String> {
    let alerts = router.get_json("/api/v2/alerts").await;
    alerts.as_array()?.iter().find_map(|a| {
        (a["labels"]["alertname"] == name)
            .then(|| a["annotations"]["summary"].as_str().map(String::from))?
    })
}

fn with_summary(name: &str, summary: &str) -> Value {
    json!([{"labels": {"alertname": name}, "annotations": {"summary": summary}}])
}

/// A re-send that changes only annotations is answered without waiting for the disk, and is
/// written within the bound the README states (one second, plus a commit): it survives a
/// SIGKILL after that, and a clean shutdown right after the answer.
#[tokio::test(flavor = "multi_thread")]
async fn annotation_changes_are_written_within_the_bound_and_at_clean_shutdown() {
    let config = config_with_route("  receiver: x\n  group_by: [alertname]", &[("x", "")]);
    let router = Router::start(&config);
    let url = "/api/v2/alerts";
    assert_eq!(
        router
            .post_json(url, &with_summary("Cpu", "CPU at 91%"))
            .await
            .0,
        200
    );
    assert_eq!(
        router
            .post_json(url, &with_summary("Cpu", "CPU at 93%"))
            .await
            .0,
        200
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let router = Router::start_in(router.kill9(), &[]);
    assert_eq!(
        summary_of(&router, "Cpu").await.as_deref(),
        Some("CPU at 93%"),
        "the deferred write was committed within the bound"
    );
    assert_eq!(
        router
            .post_json(url, &with_summary("Cpu", "CPU at 97%"))
            .await
            .0,
        200
    );
    let (status, dir) = router.terminate(Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    let router = Router::start_in(dir, &[]);
    assert_eq!(
        summary_of(&router, "Cpu").await.as_deref(),
        Some("CPU at 97%"),
        "the last version before a clean shutdown is written"
    );
}
