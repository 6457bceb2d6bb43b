//! Escalation end to end, in real time: the real binary pages local Slack and PagerDuty
//! stand-ins and a real SMTP server step after step, stops on acknowledge (API or signed link)
//! and on resolve, and resumes its steps after a kill -9 without paging twice.

use std::time::{Duration, Instant};

use crate::common::smtp::{aiosmtpd_available, start_smtp, Smtp};
use crate::common::{alert, Router, Sink};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const SECRET: &str = "ack-link-secret";

struct Peers {
    slack: Sink,
    pager: Sink,
    smtp: Smtp,
}

async fn peers() -> Option<Peers> {
    if !aiosmtpd_available() {
        return None;
    }
    Some(Peers {
        slack: Sink::slack().await,
        pager: Sink::start().await,
        smtp: start_smtp(),
    })
}

/// A config whose P0 route escalates with `steps` (YAML flow list) over the three receivers.
fn config(p: &Peers, steps: &str, extra_policy: &str) -> String {
    format!(
        r#"global:
  smtp_from: alerts@example.org
route:
  receiver: quiet
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  routes:
    - matchers: ['priority="P0"']
      escalation: p0
receivers:
  - name: quiet
  - name: slack
    slack_configs: [{{api_url: '{slack}', channel: '#oncall'}}]
  - name: pager
    pagerduty_configs: [{{routing_key: rk-1, url: '{pager}'}}]
  - name: mail
    email_configs:
      - to: lead@example.org
        smarthost: '127.0.0.1:{port}'
        auth_username: alerts
        auth_password: s3cret
        tls_config: {{ca_file: '{ca}', server_name: localhost}}
escalation_policies:
  - name: p0
    steps: {steps}
{extra_policy}
"#,
        slack = p.slack.url(),
        pager = p.pager.url(),
        port = p.smtp.port,
        ca = p.smtp.ca_file.display(),
    )
}

fn start(config: &str, extra: &[&str]) -> Router {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("alertmanager.yml"), config).unwrap();
    std::fs::write(dir.path().join("ack.secret"), SECRET).unwrap();
    let secret = dir.path().join("ack.secret");
    let mut args = vec!["--incidents.ack-secret-file", secret.to_str().unwrap()];
    args.extend_from_slice(extra);
    Router::start_in(dir, &args)
}

fn p0(name: &str) -> Value {
    alert(&[("alertname", name), ("priority", "P0"), ("service", "api")])
}

fn dedup_key(group_key: &str) -> String {
    hex::encode(Sha256::digest(group_key.as_bytes()))
}

async fn incidents(router: &Router, query: &str) -> Vec<Value> {
    router
        .get_json(&format!("/api/v1/incidents{query}"))
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn events(incident: &Value) -> Vec<String> {
    incident["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_string())
        .collect()
}

/// Waits until the incident list (with `query`) satisfies `ok`.
async fn wait_incidents(
    router: &Router,
    query: &str,
    within: Duration,
    ok: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + within;
    loop {
        let list = incidents(router, query).await;
        if ok(&list) {
            return list;
        }
        assert!(
            Instant::now() < deadline,
            "incidents never matched: {list:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn post_change(router: &Router, id: &str, action: &str, body: Value) -> (u16, Value) {
    let (status, text) = router
        .post_json(&format!("/api/v1/incidents/{id}/{action}"), &body)
        .await;
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The path of the acknowledge link in a Slack message (`<url|Acknowledge>` in its text), on
/// the router's external URL.
fn ack_link_path(slack_message: &Value) -> String {
    let text = slack_message["attachments"][0]["text"].as_str().unwrap();
    let link = text
        .split('<')
        .find_map(|s| s.split_once("|Acknowledge>").map(|(l, _)| l.to_string()))
        .unwrap_or_else(|| panic!("no ack link in {text}"));
    link.strip_prefix("http://alert-router.test:9093")
        .unwrap_or_else(|| panic!("link on the external URL: {link}"))
        .to_string()
}

fn secs_between(a: Instant, b: Instant) -> f64 {
    b.duration_since(a).as_secs_f64()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unacknowledged_p0_escalates_from_slack_to_pagerduty_to_email_on_schedule() {
    let Some(p) = peers().await else { return };
    let router = start(
        &config(
            &p,
            "[{after: 0s, notify: [slack]}, {after: 3s, notify: [pager]}, {after: 6s, notify: [mail]}]",
            "",
        ),
        &[],
    );
    let sent = Instant::now();
    router
        .post_json("/api/v2/alerts", &json!([p0("ApiDown")]))
        .await;

    let slack = p.slack.wait_for(1, Duration::from_secs(5)).await;
    let pager = p.pager.wait_for(1, Duration::from_secs(10)).await;
    p.smtp.wait_for(1, Duration::from_secs(15)).await;
    let mail_at = Instant::now();
    // Each step pages at its time, not before (the mail is seen when polled, so only its lower
    // bound is exact).
    assert!(secs_between(sent, slack[0].at) < 3.0, "slack paged first");
    assert!(
        secs_between(sent, pager[0].at) >= 2.9,
        "pager not before 3s"
    );
    assert!(pager[0].at > slack[0].at);
    assert!(secs_between(sent, mail_at) >= 5.9, "mail not before 6s");

    let text = slack[0].body["attachments"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("/ack?via=slack&expires="),
        "ack link in Slack: {text}"
    );
    let event = &pager[0].body;
    assert_eq!(event["event_action"], "trigger");
    assert_eq!(event["routing_key"], "rk-1");
    let group_key = r#"{}/{priority="P0"}:{alertname="ApiDown"}"#;
    assert_eq!(event["dedup_key"], dedup_key(group_key));
    let body = p.smtp.messages()[0]["parts"].to_string();
    assert!(body.contains("Acknowledge"), "ack link in the mail: {body}");

    let list = wait_incidents(&router, "?state=triggered", Duration::from_secs(5), |l| {
        l.len() == 1 && l[0]["notified"].as_array().is_some_and(|n| n.len() == 3)
    })
    .await;
    let incident = &list[0];
    assert_eq!(incident["groupKey"], group_key);
    assert_eq!(incident["policy"], "p0");
    assert_eq!(incident["priority"], "P0");
    assert_eq!(incident["receiver"], "quiet");
    assert_eq!(
        events(incident),
        vec![
            "triggered",
            "escalated",
            "escalated",
            "escalated",
            "exhausted"
        ]
    );
    assert_eq!(incidents(&router, "?receiver=pager").await.len(), 1);
    assert_eq!(incidents(&router, "?priority=P1").await.len(), 0);
    // Exhausted: nothing more is paged.
    p.slack.expect_no_more_than(1, Duration::from_secs(1)).await;
    assert_eq!(p.pager.count(), 1);
    let metrics = router.metrics().await;
    assert!(
        metrics.contains(r#"alert_router_incidents{state="triggered"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"alert_router_escalation_steps_total{policy="p0"} 3"#),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_signed_link_acknowledges_stops_the_steps_and_unacknowledge_rearms_them() {
    let Some(p) = peers().await else { return };
    let router = start(
        &config(
            &p,
            "[{after: 0s, notify: [slack, pager]}, {after: 3s, notify: [mail]}]",
            "    notify_acknowledged: true",
        ),
        &[],
    );
    router
        .post_json("/api/v2/alerts", &json!([p0("ApiDown")]))
        .await;
    let slack = p.slack.wait_for(1, Duration::from_secs(5)).await;
    p.pager.wait_for(1, Duration::from_secs(5)).await;
    let path = ack_link_path(&slack[0].body);
    let path = path.as_str();
    let client = reqwest::Client::new();

    let tampered = path.replace("via=slack", "via=mail");
    let r = client.get(router.url(&tampered)).send().await.unwrap();
    assert_eq!(r.status(), 403, "a changed link is refused");
    let r = client
        .get(router.url(path))
        .header(
            "User-Agent",
            "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        incidents(&router, "?state=triggered").await.len(),
        1,
        "a preview does not acknowledge"
    );

    let r = client.get(router.url(path)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("acknowledged"));
    let list = incidents(&router, "?state=acknowledged").await;
    assert_eq!(list.len(), 1);
    let id = list[0]["id"].as_str().unwrap().to_string();
    assert_eq!(list[0]["acknowledgedBy"], "acknowledge link sent to slack");

    // PagerDuty hears `acknowledge` for the same incident; Slack gets the notice.
    let pager = p.pager.wait_for(2, Duration::from_secs(5)).await;
    assert_eq!(pager[1].body["event_action"], "acknowledge");
    assert_eq!(pager[1].body["dedup_key"], pager[0].body["dedup_key"]);
    assert_eq!(pager[1].body["routing_key"], "rk-1");
    let slack = p.slack.wait_for(2, Duration::from_secs(5)).await;
    let notice = slack[1].body["text"].as_str().unwrap();
    assert!(
        notice.contains("acknowledged by acknowledge link sent to slack"),
        "{notice}"
    );
    assert_eq!(slack[1].body["channel"], "#oncall");

    // The mail step (3s) never comes while acknowledged.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        p.smtp.messages().is_empty(),
        "acknowledged incidents stop escalating"
    );
    let r = client.get(router.url(path)).send().await.unwrap();
    assert_eq!(r.status(), 409, "already acknowledged");

    // Unacknowledged: the mail step follows after the policy's 3s gap.
    let (status, body) = post_change(
        &router,
        &id,
        "unack",
        json!({"by": "bob", "comment": "not fixed"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "triggered");
    let rearmed = Instant::now();
    p.smtp.wait_for(1, Duration::from_secs(10)).await;
    assert!(rearmed.elapsed() >= Duration::from_millis(2900));
    let incident = router.get_json(&format!("/api/v1/incidents/{id}")).await;
    let unack = incident["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "unacknowledged")
        .unwrap();
    assert_eq!(unack["by"], "bob");
    assert_eq!(unack["comment"], "not fixed");
    // Acknowledged again, now that the mail step paged: the mail receiver gets the notice too.
    let (status, body) = post_change(
        &router,
        &id,
        "ack",
        json!({"by": "dave", "comment": "rebooting"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let mails = p.smtp.wait_for(2, Duration::from_secs(10)).await;
    let notice = &mails[1];
    let subject = notice["headers"]["Subject"].as_str().unwrap();
    assert!(subject.starts_with("[ACKNOWLEDGED]"), "{subject}");
    assert!(
        notice["parts"]
            .to_string()
            .contains("acknowledged by dave: rebooting"),
        "{notice}"
    );
    let metrics = router.metrics().await;
    assert!(
        metrics
            .contains("alert_router_incident_time_to_acknowledge_seconds_count{policy=\"p0\"} 2"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_step_outside_its_active_time_intervals_is_skipped() {
    let Some(p) = peers().await else { return };
    let cfg = config(
        &p,
        "[{after: 0s, notify: [slack], active_time_intervals: [long-ago]}, {after: 1s, notify: [pager]}]",
        "",
    )
    .replace(
        "escalation_policies:",
        "time_intervals:\n  - name: long-ago\n    time_intervals: [{years: ['2000']}]\nescalation_policies:",
    );
    let router = start(&cfg, &[]);
    router
        .post_json("/api/v2/alerts", &json!([p0("ApiDown")]))
        .await;
    p.pager.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(p.slack.count(), 0, "the out-of-hours step pages nobody");
    let list = wait_incidents(&router, "", Duration::from_secs(5), |l| {
        l.len() == 1 && events(&l[0]).len() == 4
    })
    .await;
    assert_eq!(
        events(&list[0]),
        vec!["triggered", "step_skipped", "escalated", "exhausted"]
    );
    assert_eq!(
        list[0]["timeline"][1]["comment"],
        "outside the step's active time intervals"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn resolving_stops_the_steps_and_sends_resolve_to_pagerduty() {
    let Some(p) = peers().await else { return };
    let router = start(
        &config(
            &p,
            "[{after: 0s, notify: [pager]}, {after: 4s, notify: [slack]}]",
            "",
        ),
        &[],
    );
    // One incident ends because its alert resolves, another because someone resolves it.
    router
        .post_json("/api/v2/alerts", &json!([p0("ApiDown"), p0("DiskFull")]))
        .await;
    let triggers = p.pager.wait_for(2, Duration::from_secs(5)).await;
    let key_of =
        |name: &str| dedup_key(&format!(r#"{{}}/{{priority="P0"}}:{{alertname="{name}"}}"#));
    assert!(triggers.iter().all(|r| r.body["event_action"] == "trigger"));

    let mut resolved = p0("ApiDown");
    resolved["endsAt"] = json!(chrono::Utc::now().to_rfc3339());
    router.post_json("/api/v2/alerts", &json!([resolved])).await;

    let list = incidents(&router, "").await;
    let disk = list
        .iter()
        .find(|i| i["groupLabels"]["alertname"] == "DiskFull")
        .unwrap();
    let id = disk["id"].as_str().unwrap();
    let (status, body) = post_change(&router, id, "resolve", json!({})).await;
    assert_eq!(status, 400, "who resolves is required: {body}");
    let (status, body) = post_change(
        &router,
        id,
        "resolve",
        json!({"by": "carol", "comment": "rolled back"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "resolved");
    let (status, _) = post_change(&router, id, "resolve", json!({"by": "carol"})).await;
    assert_eq!(status, 409);
    let (status, _) = post_change(&router, "0000000000000000", "ack", json!({"by": "carol"})).await;
    assert_eq!(status, 404);

    let got = p.pager.wait_for(4, Duration::from_secs(5)).await;
    let resolves: Vec<&Value> = got[2..].iter().map(|r| &r.body).collect();
    assert!(
        resolves.iter().all(|e| e["event_action"] == "resolve"),
        "{resolves:?}"
    );
    let mut keys: Vec<&str> = resolves
        .iter()
        .map(|e| e["dedup_key"].as_str().unwrap())
        .collect();
    keys.sort();
    let mut expected = vec![key_of("ApiDown"), key_of("DiskFull")];
    expected.sort();
    assert_eq!(keys, expected);

    // Neither incident reaches its 4s Slack step.
    p.slack.expect_no_more_than(0, Duration::from_secs(5)).await;
    assert_eq!(p.pager.count(), 4);
    let list = incidents(&router, "?state=resolved").await;
    assert_eq!(list.len(), 2);
    let by_alerts = list
        .iter()
        .find(|i| i["groupLabels"]["alertname"] == "ApiDown")
        .unwrap();
    let last = by_alerts["timeline"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["event"], "resolved");
    assert_eq!(last["comment"], "every alert resolved");
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_kill_between_two_steps_each_later_step_fires_once_at_its_time() {
    let Some(p) = peers().await else { return };
    let cfg = config(
        &p,
        "[{after: 0s, notify: [slack]}, {after: 3s, notify: [pager]}, {after: 9s, notify: [mail]}]",
        "",
    );
    // Links valid for 2s: the one in the Slack page has expired by the end of this test.
    let router = start(&cfg, &["--incidents.ack-link-ttl", "2s"]);
    let sent = Instant::now();
    router
        .post_json("/api/v2/alerts", &json!([p0("ApiDown")]))
        .await;
    let slack = p.slack.wait_for(1, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let dir = router.kill9();

    // Down past the pager step's time (3s): it fires at once after the restart.
    tokio::time::sleep(Duration::from_secs(4).saturating_sub(sent.elapsed())).await;
    let secret = dir.path().join("ack.secret");
    let router = Router::start_in(
        dir,
        &["--incidents.ack-secret-file", secret.to_str().unwrap()],
    );
    let restarted = Instant::now();
    let pager = p.pager.wait_for(1, Duration::from_secs(5)).await;
    assert!(
        secs_between(restarted, pager[0].at) < 3.0,
        "an overdue step fires at once after the restart"
    );
    // The mail step keeps its original time: 9s after the incident opened.
    p.smtp.wait_for(1, Duration::from_secs(15)).await;
    assert!(
        sent.elapsed() >= Duration::from_millis(8900),
        "mail not before its time"
    );
    // Never twice: one page per step.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        p.slack.count(),
        1,
        "slack step not repeated after the restart"
    );
    assert_eq!(p.pager.count(), 1);
    assert_eq!(p.smtp.messages().len(), 1);
    let list = incidents(&router, "").await;
    assert_eq!(
        list.len(),
        1,
        "the restart keeps the same incident: {list:#?}"
    );
    assert_eq!(
        events(&list[0]),
        vec![
            "triggered",
            "escalated",
            "escalated",
            "escalated",
            "exhausted"
        ]
    );
    let r = reqwest::get(router.url(&ack_link_path(&slack[0].body)))
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "an expired link is refused");
    assert!(r.text().await.unwrap().contains("expired"));
    assert_eq!(incidents(&router, "?state=triggered").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn escalation_config_errors_name_the_problem_and_status_stays_amtool_readable() {
    let cases = [
        (
            "escalation_policies: [{name: p, steps: [{after: 0s, notify: [nobody]}]}]",
            "escalation policy \"p\": step 1 notifies undefined receiver \"nobody\"",
        ),
        (
            "escalation_policies: [{name: p, steps: [{after: 5m, notify: [a]}, {after: 1m, notify: [a]}]}]",
            "step after 1m comes before a step after 5m",
        ),
        (
            "escalation_policies: [{name: p, steps: [{after: 5m, notify: [a]}], repeat: {count: 2, interval: 5m}}]",
            "repeat interval 5m must be longer than the last step's after (5m)",
        ),
        (
            "escalation_policies: [{name: p, steps: [{after: 0s, notify: [a], active_time_intervals: [office]}]}]",
            "step 1 uses undefined time interval \"office\"",
        ),
        (
            "escalation_policies: [{name: p, steps: []}]",
            "escalation policy \"p\": needs at least one step",
        ),
    ];
    for (extra, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("am.yml");
        std::fs::write(
            &file,
            format!("route: {{receiver: a}}\nreceivers: [{{name: a}}]\n{extra}\n"),
        )
        .unwrap();
        let out = std::process::Command::new(crate::common::BIN)
            .args(["check-config", file.to_str().unwrap()])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{extra}");
        assert!(text.contains(expected), "{extra}: {text}");
    }
    // A route naming a runbook path that gives no delays (core-agent states the order of its
    // contacts only), then one whose roles map to no receiver.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("am.yml");
    let check = |extra: &str| {
        std::fs::write(
            &file,
            format!(
                "route: {{receiver: on-call, routes: [{{matchers: ['runbook=\"core-agent\"'], escalation: 'runbook:core-agent'}}]}}\nreceivers: [{{name: on-call}}]\nrule_files: ['{}/rules/core-agent.yml']\n{extra}",
                env!("CARGO_MANIFEST_DIR")
            ),
        )
        .unwrap();
        let out = std::process::Command::new(crate::common::BIN)
            .args(["check-config", file.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{extra}");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let text = check("");
    assert!(
        text.contains(r#"the runbook gives no delay for its step 2 ("team-lead"); set escalation_delays: {core-agent: [...]}"#),
        "{text}"
    );
    let text = check("escalation_delays: {core-agent: [0m, 30m]}\n");
    assert!(
        text.contains(
            "escalation_delays.core-agent: 2 delays for the runbook's 4 escalation steps"
        ),
        "{text}"
    );
    let text = check("escalation_delays: {core-agent: [0m, 30m, 1h, 2h]}\n");
    assert!(
        text.contains(r#"its role "team-lead" is neither in escalation_roles nor a receiver name"#),
        "{text}"
    );

    // Mapped: it loads, and /api/v2/status shows Alertmanager YAML without our extensions.
    let config = format!(
        "route:\n  receiver: on-call\n  escalation: 'runbook:core-agent'\nreceivers: [{{name: on-call}}, {{name: lead}}, {{name: cto}}]\nrule_files: ['{}/rules/core-agent.yml']\nescalation_roles: {{team-lead: [lead], engineering-manager: [lead]}}\nescalation_delays: {{core-agent: [0m, 30m, 1h, 2h]}}\n",
        env!("CARGO_MANIFEST_DIR")
    );
    let router = Router::start(&config);
    let status = router.get_json("/api/v2/status").await;
    let original = status["config"]["original"].as_str().unwrap();
    assert!(!original.contains("escalation"), "{original}");
    assert!(original.contains("on-call"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_thousand_open_incidents_cost_no_tasks() {
    let router = Router::start(
        "route:\n  receiver: blackhole\n  group_by: [instance]\n  group_wait: 0s\n  escalation: slow\nreceivers: [{name: blackhole}]\nescalation_policies: [{name: slow, steps: [{after: 1h, notify: [blackhole]}]}]\n",
    );
    crate::common::post_distinct_alerts(&router, 100_000).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let metrics = loop {
        let metrics = router.metrics().await;
        if metrics.contains(r#"alert_router_incidents{state="triggered"} 100000"#) {
            break metrics;
        }
        assert!(
            Instant::now() < deadline,
            "100k incidents not open: {}",
            metrics
                .lines()
                .filter(|l| l.starts_with("alert_router_incidents"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let tasks = crate::common::metric_value(&metrics, "alert_router_runtime_alive_tasks")
        .expect("task gauge");
    assert!(tasks < 50.0, "{tasks} tasks alive with 100k open incidents");
}
