//! Silences: Alertmanager's API v2 validation, update rules and ordering, the suppression state
//! machine and its effect on notifications, persistence across kill -9, and the real amtool's
//! silence commands.

use std::process::{Command, Output};
use std::time::Duration;

use crate::common::{alert, config_with_route, require_tool, Router, Sink};
use chrono::Utc;
use serde_json::{json, Value};

const AMTOOL: &str = "/usr/bin/amtool";
const ROUTE: &str = "  receiver: hook\n  group_by: [alertname]\n  group_wait: 100ms\n  group_interval: 1s\n  repeat_interval: 1h";

fn in_minutes(m: i64) -> String {
    (Utc::now() + chrono::Duration::minutes(m)).to_rfc3339()
}

fn silence_body(matchers: Value, start: i64, end: i64) -> Value {
    json!({"matchers": matchers, "startsAt": in_minutes(start), "endsAt": in_minutes(end),
           "createdBy": "oncall", "comment": "maintenance"})
}

async fn create(router: &Router, body: &Value) -> (u16, Value) {
    let (status, text) = router.post_json("/api/v2/silences", body).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread")]
async fn validation_and_not_found() {
    let router = Router::start(&config_with_route("  receiver: x", &[("x", "")]));
    let eq = |n: &str, v: &str| json!({"name": n, "value": v, "isRegex": false});
    let cases = [
        (
            silence_body(json!([]), 0, 60),
            "silence invalid: at least one matcher required",
        ),
        (
            silence_body(
                json!([{"name": "a", "value": ".*", "isRegex": true}]),
                0,
                60,
            ),
            "silence invalid: at least one matcher must not match the empty string",
        ),
        (
            silence_body(json!([eq("a", "b")]), 60, 30),
            "Failed to create silence: start time must be before end time",
        ),
        (
            silence_body(json!([eq("a", "b")]), -60, -30),
            "Failed to create silence: end time can't be in the past",
        ),
        (
            silence_body(json!([eq("", "c")]), 0, 60),
            "silence invalid: invalid label matcher 0: invalid label name \"\"",
        ),
    ];
    for (body, message) in cases {
        let (status, answer) = create(&router, &body).await;
        assert_eq!((status, answer.as_str()), (400, Some(message)), "{body}");
    }
    let mut unknown = silence_body(json!([eq("a", "b")]), 0, 60);
    unknown["id"] = json!("4f3a6f8e-0000-4000-8000-000000000000");
    assert_eq!(create(&router, &unknown).await.0, 404);
    let r = reqwest::get(router.url("/api/v2/silence/4f3a6f8e-0000-4000-8000-000000000000"))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = reqwest::Client::new()
        .delete(router.url("/api/v2/silence/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let (status, _) = router
        .post_raw("/api/v2/silences", b"{\"matchers\": 3}".to_vec())
        .await;
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn update_keeps_or_replaces_and_list_is_sorted() {
    let router = Router::start(&config_with_route("  receiver: x", &[("x", "")]));
    let m = |v: &str| json!([{"name": "job", "value": v, "isRegex": false, "isEqual": true}]);
    let (_, a) = create(&router, &silence_body(m("a"), 0, 60)).await;
    let id = a["silenceID"].as_str().unwrap().to_string();
    let got = router.get_json(&format!("/api/v2/silence/{id}")).await;
    assert_eq!(got["status"]["state"], "active");
    assert_eq!(got["createdBy"], "oncall");
    assert_eq!(
        got["matchers"],
        json!([{"isEqual": true, "isRegex": false, "name": "job", "value": "a"}])
    );

    // Extending an active silence keeps its id.
    let mut extend = got.clone();
    extend["endsAt"] = json!(in_minutes(120));
    assert_eq!(create(&router, &extend).await.1["silenceID"], json!(id));
    // Changing its matchers expires it and creates a new one.
    let mut change = router.get_json(&format!("/api/v2/silence/{id}")).await;
    change["matchers"] = m("b");
    let (_, replaced) = create(&router, &change).await;
    let new_id = replaced["silenceID"].as_str().unwrap().to_string();
    assert_ne!(new_id, id);
    assert_eq!(
        router.get_json(&format!("/api/v2/silence/{id}")).await["status"]["state"],
        "expired"
    );

    let (_, p) = create(&router, &silence_body(m("c"), 30, 60)).await;
    let pending = p["silenceID"].as_str().unwrap().to_string();
    let (_, s) = create(&router, &silence_body(m("d"), 0, 10)).await;
    let soon = s["silenceID"].as_str().unwrap().to_string();
    let list = router.get_json("/api/v2/silences").await;
    let order: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        [
            soon.as_str(),
            new_id.as_str(),
            pending.as_str(),
            id.as_str()
        ]
    );
    let filtered = router
        .get_json("/api/v2/silences?filter=job%3D~%22c%7Cd%22")
        .await;
    assert_eq!(filtered.as_array().unwrap().len(), 2);

    // Expiring: 200, then already expired is an error, as in Alertmanager.
    let r = reqwest::Client::new()
        .delete(router.url(&format!("/api/v2/silence/{pending}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = reqwest::Client::new()
        .delete(router.url(&format!("/api/v2/silence/{pending}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
}

#[tokio::test(flavor = "multi_thread")]
async fn silenced_alert_is_suppressed_until_the_silence_ends() {
    let sink = Sink::start().await;
    let router = Router::start(&config_with_route(ROUTE, &[("hook", &sink.url())]));
    let (_, s) = create(
        &router,
        &silence_body(
            json!([{"name": "alertname", "value": "Muted", "isRegex": false}]),
            0,
            60,
        ),
    )
    .await;
    let id = s["silenceID"].as_str().unwrap().to_string();
    router
        .post_json(
            "/api/v2/alerts",
            &json!([
                alert(&[("alertname", "Muted")]),
                alert(&[("alertname", "Loud")])
            ]),
        )
        .await;

    let got = sink.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(crate::common::alertnames(&got[0].body), ["Loud"]);
    sink.expect_no_more_than(1, Duration::from_millis(1500))
        .await;

    let alerts = router.get_json("/api/v2/alerts").await;
    let muted = alerts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["alertname"] == "Muted")
        .unwrap();
    assert_eq!(
        muted["status"],
        json!({"state": "suppressed", "silencedBy": [id], "inhibitedBy": []})
    );
    let unsilenced = router.get_json("/api/v2/alerts?silenced=false").await;
    assert_eq!(
        crate::common::alertnames(&json!({"alerts": unsilenced})),
        ["Loud"]
    );
    let suppressed_only = router.get_json("/api/v2/alerts?active=false").await;
    assert_eq!(
        crate::common::alertnames(&json!({"alerts": suppressed_only})),
        ["Muted"]
    );

    // Expire the silence: the group notifies at its next flush.
    let r = reqwest::Client::new()
        .delete(router.url(&format!("/api/v2/silence/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let got = sink.wait_for(2, Duration::from_secs(5)).await;
    assert_eq!(crate::common::alertnames(&got[1].body), ["Muted"]);
    let alerts = router
        .get_json("/api/v2/alerts?filter=alertname%3DMuted")
        .await;
    assert_eq!(alerts[0]["status"]["state"], "active");
}

#[tokio::test(flavor = "multi_thread")]
async fn silences_survive_kill_9() {
    let router = Router::start(&config_with_route("  receiver: x", &[("x", "")]));
    let m = |v: &str| json!([{"name": "job", "value": v, "isRegex": false}]);
    let mut ids = Vec::new();
    for v in ["a", "b", "c"] {
        let (status, body) = create(&router, &silence_body(m(v), 0, 60)).await;
        assert_eq!(status, 200);
        ids.push(body["silenceID"].as_str().unwrap().to_string());
    }
    let r = reqwest::Client::new()
        .delete(router.url(&format!("/api/v2/silence/{}", ids[1])))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let before = router.get_json("/api/v2/silences").await;

    let dir = router.kill9();
    let router = Router::start_in(dir, &[]);
    let after = router.get_json("/api/v2/silences").await;
    assert_eq!(
        after, before,
        "every silence, and its expiry, survived kill -9"
    );
    assert_eq!(
        router
            .get_json(&format!("/api/v2/silence/{}", ids[1]))
            .await["status"]["state"],
        "expired"
    );
    router
        .post_json("/api/v2/alerts", &json!([alert(&[("job", "a")])]))
        .await;
    let alerts = router.get_json("/api/v2/alerts").await;
    assert_eq!(alerts[0]["status"]["silencedBy"], json!([ids[0]]));
}

fn amtool(router: &Router, args: &[&str]) -> Output {
    let url = format!("--alertmanager.url=http://{}", router.addr);
    let out = Command::new(AMTOOL)
        .arg(&url)
        .args(args)
        .env("HOME", "/nonexistent")
        .output()
        .expect("amtool");
    assert!(
        out.status.success(),
        "amtool {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn amtool_silence_commands() {
    if !require_tool(AMTOOL) {
        return;
    }
    let sink = Sink::start().await;
    let router = Router::start(&config_with_route(ROUTE, &[("hook", &sink.url())]));

    // silence add with author, comment and duration prints the new id.
    let id = text(&amtool(
        &router,
        &[
            "silence",
            "add",
            "alertname=Disk",
            "env=~prod.*",
            "--author=alice",
            "--comment=swap disk",
            "--duration=2h",
        ],
    ));
    let s = router.get_json(&format!("/api/v2/silence/{id}")).await;
    assert_eq!(s["createdBy"], "alice");
    assert_eq!(s["comment"], "swap disk");
    let length = chrono::DateTime::parse_from_rfc3339(s["endsAt"].as_str().unwrap()).unwrap()
        - chrono::DateTime::parse_from_rfc3339(s["startsAt"].as_str().unwrap()).unwrap();
    assert!((length.num_seconds() - 7200).abs() < 5, "{length}");

    // It mutes: the silenced alert is not notified, the other one is.
    router
        .post_json(
            "/api/v2/alerts",
            &json!([
                alert(&[("alertname", "Disk"), ("env", "prod1")]),
                alert(&[("alertname", "Cpu")])
            ]),
        )
        .await;
    let got = sink.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(crate::common::alertnames(&got[0].body), ["Cpu"]);

    let second = text(&amtool(
        &router,
        &[
            "silence",
            "add",
            "alertname=Other",
            "--comment=x",
            "--duration=1h",
        ],
    ));
    // query: all, by matcher, quiet, json.
    let all = text(&amtool(&router, &["silence", "query", "-q"]));
    assert_eq!(all.lines().count(), 2);
    let only = text(&amtool(
        &router,
        &["silence", "query", "-q", "alertname=Disk"],
    ));
    assert_eq!(only, id);
    let table = text(&amtool(&router, &["silence", "query"]));
    assert!(
        table.contains("alice") && table.contains("swap disk"),
        "{table}"
    );

    // update: a longer duration keeps the id of an active silence.
    // (amtool 0.25's `update --quiet` prints a Go pointer, so read the table and the API.)
    let updated = text(&amtool(
        &router,
        &["silence", "update", &id, "--duration=3h"],
    ));
    assert!(updated.contains(&id), "{updated}");
    let s = router.get_json(&format!("/api/v2/silence/{id}")).await;
    assert_eq!(s["status"]["state"], "active");
    let length = chrono::DateTime::parse_from_rfc3339(s["endsAt"].as_str().unwrap()).unwrap()
        - chrono::DateTime::parse_from_rfc3339(s["startsAt"].as_str().unwrap()).unwrap();
    assert!((length.num_seconds() - 3 * 3600).abs() < 5, "{length}");
    assert_eq!(
        text(&amtool(&router, &["silence", "query", "-q"]))
            .lines()
            .count(),
        2,
        "no new silence"
    );
    // expire, then query --expired finds it.
    amtool(&router, &["silence", "expire", &second]);
    let expired = text(&amtool(&router, &["silence", "query", "-q", "--expired"]));
    assert_eq!(expired, second);

    // export as JSON, expire everything, import: the silences come back with new ids.
    let export = amtool(&router, &["silence", "query", "-o", "json"]).stdout;
    let exported: Value = serde_json::from_slice(&export).unwrap();
    assert_eq!(exported.as_array().unwrap().len(), 1);
    let file = router.dir.path().join("silences.json");
    std::fs::write(&file, &export).unwrap();
    amtool(&router, &["silence", "expire", &id]);
    assert_eq!(text(&amtool(&router, &["silence", "query", "-q"])), "");
    let imported = amtool(&router, &["silence", "import", file.to_str().unwrap()]);
    let new_ids = text(&imported);
    assert_eq!(new_ids.lines().count(), 1, "{new_ids}");
    assert_ne!(new_ids, id);
    let active = text(&amtool(
        &router,
        &["silence", "query", "-q", "alertname=Disk"],
    ));
    assert_eq!(active, new_ids);

    // With its silence expired, the Disk alert is notified at the group's next flush.
    amtool(&router, &["silence", "expire", &new_ids]);
    let got = sink.wait_for(2, Duration::from_secs(5)).await;
    assert!(
        got.iter()
            .any(|r| crate::common::alertnames(&r.body) == ["Disk"]),
        "{got:#?}"
    );
}
