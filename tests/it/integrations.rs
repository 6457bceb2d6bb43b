//! Slack and PagerDuty against real local HTTP servers standing in for them: the requests we
//! make, and how we react to 200/ok, 202, 400, 429 with Retry-After, 500 and a hung endpoint.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{alert, Router};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{json, Value};
use sha2::Digest;

#[derive(Clone)]
struct Reply {
    status: u16,
    body: &'static str,
    retry_after: Option<u64>,
    delay: Duration,
}

fn reply(status: u16, body: &'static str) -> Reply {
    Reply {
        status,
        body,
        retry_after: None,
        delay: Duration::ZERO,
    }
}

#[derive(Clone)]
struct Provider {
    url: String,
    got: Arc<Mutex<Vec<(Instant, Value)>>>,
}

struct ProviderState {
    got: Arc<Mutex<Vec<(Instant, Value)>>>,
    script: Mutex<VecDeque<Reply>>,
    default: Reply,
}

/// A provider that answers with `script` in turn, then `default`.
async fn provider(script: Vec<Reply>, default: Reply) -> Provider {
    let got: Arc<Mutex<Vec<(Instant, Value)>>> = Arc::default();
    let state = Arc::new(ProviderState {
        got: got.clone(),
        script: Mutex::new(script.into()),
        default,
    });
    let app = axum::Router::new()
        .route("/{*path}", axum::routing::post(answer))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Provider {
        url: format!("http://{addr}/api"),
        got,
    }
}

async fn answer(State(s): State<Arc<ProviderState>>, _headers: HeaderMap, body: Bytes) -> Response {
    s.got.lock().unwrap().push((
        Instant::now(),
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    ));
    let r = s
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| s.default.clone());
    tokio::time::sleep(r.delay).await;
    let mut response = (StatusCode::from_u16(r.status).unwrap(), r.body).into_response();
    if let Some(secs) = r.retry_after {
        response
            .headers_mut()
            .insert("retry-after", secs.to_string().parse().unwrap());
    }
    response
}

impl Provider {
    async fn wait_for(&self, n: usize, within: Duration) -> Vec<(Instant, Value)> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.got.lock().unwrap().clone();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} requests, got {}: {got:?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn count(&self) -> usize {
        self.got.lock().unwrap().len()
    }
}

const ROUTE: &str = "route:\n  receiver: r\n  group_by: [alertname]\n  group_wait: 100ms\n  group_interval: 1s\n  repeat_interval: 1h\n";
/// A failed notification is tried again at the group's next flush, as in Alertmanager; a long
/// group_interval keeps that out of tests about retries within one flush.
const SLOW_ROUTE: &str = "route:\n  receiver: r\n  group_by: [alertname]\n  group_wait: 100ms\n  group_interval: 1m\n  repeat_interval: 1h\n";

fn metrics_contains(text: &str, needle: &str) -> bool {
    text.lines().any(|l| l.starts_with(needle))
}

#[tokio::test(flavor = "multi_thread")]
async fn slack_message_and_its_ok_answer() {
    let slack = provider(vec![], reply(200, "ok")).await;
    let config = format!(
        "{ROUTE}receivers:\n  - name: r\n    slack_configs:\n      - api_url: '{}'\n        channel: '#ops'\n        fields:\n          - {{title: Cluster, value: '{{{{ .CommonLabels.cluster }}}}', short: true}}\n",
        slack.url
    );
    let router = Router::start(&config);
    let mut a = alert(&[
        ("alertname", "DiskFull"),
        ("cluster", "c1"),
        ("severity", "critical"),
    ]);
    a["annotations"] = json!({"summary": "disk ☠ full"});
    router.post_json("/api/v2/alerts", &json!([a])).await;
    let got = slack.wait_for(1, Duration::from_secs(5)).await;
    let m = &got[0].1;
    assert_eq!(m["channel"], "#ops");
    assert_eq!(m["username"], "alert-router");
    let att = &m["attachments"][0];
    assert_eq!(att["title"], "[FIRING:1] DiskFull (c1 critical)");
    assert_eq!(att["color"], "danger");
    assert_eq!(
        att["title_link"],
        "http://alert-router.test:9093/#/alerts?receiver=r"
    );
    assert!(
        att["text"].as_str().unwrap().contains("disk ☠ full"),
        "{att}"
    );
    assert_eq!(
        att["fields"],
        json!([{"title": "Cluster", "value": "c1", "short": true}])
    );
    assert_eq!(att["mrkdwn_in"], json!(["fallback", "pretext", "text"]));

    // send_resolved is off by default for Slack: the resolution is not posted.
    let mut resolved = alert(&[
        ("alertname", "DiskFull"),
        ("cluster", "c1"),
        ("severity", "critical"),
    ]);
    resolved["endsAt"] = json!(Utc::now().to_rfc3339());
    router.post_json("/api/v2/alerts", &json!([resolved])).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(slack.count(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn slack_errors_429_and_unexpected_bodies() {
    let slack = provider(
        vec![
            Reply {
                status: 429,
                body: "rate_limited",
                retry_after: Some(1),
                delay: Duration::ZERO,
            },
            reply(500, "oops"),
        ],
        reply(200, "ok"),
    )
    .await;
    let config = format!("{ROUTE}receivers:\n  - name: r\n    slack_configs:\n      - api_url: '{}'\n        send_resolved: true\n", slack.url);
    let router = Router::start(&config);
    router
        .post_json(
            "/api/v2/alerts",
            &json!([alert(&[("alertname", "Limited")])]),
        )
        .await;
    let got = slack.wait_for(3, Duration::from_secs(8)).await;
    assert!(
        got[1].0 - got[0].0 >= Duration::from_millis(980),
        "Retry-After honoured: {:?}",
        got[1].0 - got[0].0
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(slack.count(), 3, "success after the 500 ends the retries");

    // A 200 whose body is not `ok` is a failure, and a 4xx is not retried.
    let bad = provider(vec![], reply(200, "invalid_payload")).await;
    let config = format!(
        "{SLOW_ROUTE}receivers:\n  - name: r\n    slack_configs:\n      - api_url: '{}'\n",
        bad.url
    );
    let router = Router::start(&config);
    router
        .post_json("/api/v2/alerts", &json!([alert(&[("alertname", "Bad")])]))
        .await;
    bad.wait_for(1, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(bad.count(), 1);
    let text = router.metrics().await;
    assert!(
        metrics_contains(
            &text,
            r#"alertmanager_notifications_failed_total{integration="slack",reason="clientError"} 1"#
        ),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pagerduty_trigger_then_resolve_with_dedup_key() {
    let pd = provider(
        vec![reply(500, "busy")],
        reply(202, r#"{"status":"success"}"#),
    )
    .await;
    let config = format!(
        "{ROUTE}receivers:\n  - name: r\n    pagerduty_configs:\n      - routing_key: R0UT1NG\n        url: '{}'\n        links: [{{href: 'http://runbook/x', text: Runbook}}]\n",
        pd.url
    );
    let router = Router::start(&config);
    let mut a = alert(&[("alertname", "NodeDown"), ("instance", "n1")]);
    a["annotations"] = json!({"summary": "node down"});
    router.post_json("/api/v2/alerts", &json!([a])).await;
    let got = pd.wait_for(2, Duration::from_secs(6)).await;
    let e = &got[1].1;
    assert_eq!(
        got[0].1, got[1].1,
        "the 500 was retried with the same event"
    );
    assert_eq!(e["routing_key"], "R0UT1NG");
    assert_eq!(e["event_action"], "trigger");
    let group_key = r#"{}:{alertname="NodeDown"}"#;
    assert_eq!(
        e["dedup_key"],
        hex::encode(sha2::Sha256::digest(group_key.as_bytes()))
    );
    assert_eq!(e["payload"]["summary"], "[FIRING:1] NodeDown (n1)");
    assert_eq!(e["payload"]["severity"], "error");
    assert_eq!(e["payload"]["source"], "alert-router");
    assert_eq!(e["payload"]["custom_details"]["num_firing"], "1");
    assert!(e["payload"]["custom_details"]["firing"]
        .as_str()
        .unwrap()
        .contains("alertname = NodeDown"));
    assert_eq!(
        e["links"],
        json!([{"href": "http://runbook/x", "text": "Runbook"}])
    );
    assert_eq!(e["client"], "alert-router");

    let mut resolved = alert(&[("alertname", "NodeDown"), ("instance", "n1")]);
    resolved["endsAt"] = json!(Utc::now().to_rfc3339());
    router.post_json("/api/v2/alerts", &json!([resolved])).await;
    let got = pd.wait_for(3, Duration::from_secs(5)).await;
    assert_eq!(got[2].1["event_action"], "resolve");
    assert_eq!(got[2].1["dedup_key"], e["dedup_key"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn pagerduty_400_is_not_retried_and_v1_uses_service_key() {
    let pd = provider(
        vec![],
        reply(
            400,
            r#"{"status":"invalid event","errors":["payload.summary missing"]}"#,
        ),
    )
    .await;
    let config = format!("{SLOW_ROUTE}receivers:\n  - name: r\n    pagerduty_configs:\n      - service_key: SERV1CE\n        url: '{}'\n", pd.url);
    let router = Router::start(&config);
    router
        .post_json("/api/v2/alerts", &json!([alert(&[("alertname", "V1")])]))
        .await;
    let got = pd.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got[0].1["service_key"], "SERV1CE");
    assert_eq!(got[0].1["event_type"], "trigger");
    assert!(got[0].1["incident_key"].as_str().unwrap().len() == 64);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(pd.count(), 1);
    assert!(
        router
            .log()
            .iter()
            .any(|l| l.contains("payload.summary missing")),
        "PagerDuty's errors are logged"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hung_slack_does_not_delay_pagerduty() {
    let slack = provider(
        vec![],
        Reply {
            status: 200,
            body: "ok",
            retry_after: None,
            delay: Duration::from_secs(30),
        },
    )
    .await;
    let pd = provider(vec![], reply(202, "{}")).await;
    let config = format!(
        "{ROUTE}receivers:\n  - name: r\n    slack_configs:\n      - api_url: '{}'\n    pagerduty_configs:\n      - routing_key: K\n        url: '{}'\n",
        slack.url, pd.url
    );
    let router = Router::start(&config);
    let sent = Instant::now();
    router
        .post_json("/api/v2/alerts", &json!([alert(&[("alertname", "Both")])]))
        .await;
    let got = pd.wait_for(1, Duration::from_secs(5)).await;
    assert!(
        got[0].0 - sent < Duration::from_secs(2),
        "PagerDuty waited {:?}",
        got[0].0 - sent
    );
    // Both integrations start together; under load Slack's request may land just after
    // PagerDuty's answer. It must land, and hang, without ever being answered in time.
    let hanging = slack.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(
        hanging.len(),
        1,
        "Slack was called once and is still hanging"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_template_falls_back_and_the_page_still_goes_out() {
    let slack = provider(vec![], reply(200, "ok")).await;
    let config = format!(
        "{ROUTE}receivers:\n  - name: r\n    slack_configs:\n      - api_url: '{}'\n        title: '{{{{ template \"no.such.template\" . }}}}'\n",
        slack.url
    );
    let router = Router::start(&config);
    router
        .post_json(
            "/api/v2/alerts",
            &json!([alert(&[("alertname", "Fallback")])]),
        )
        .await;
    let got = slack.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(
        got[0].1["attachments"][0]["title"], "[FIRING:1] Fallback",
        "the default title stands in"
    );
    let text = router.metrics().await;
    assert!(
        metrics_contains(
            &text,
            r#"alert_router_template_errors_total{integration="slack"} 1"#
        ),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pagerduty_events_over_512kb_lose_their_details_not_the_page() {
    let pd = provider(vec![], reply(202, "{}")).await;
    let config = format!("{ROUTE}receivers:\n  - name: r\n    pagerduty_configs:\n      - routing_key: K\n        url: '{}'\n", pd.url);
    let router = Router::start(&config);
    let huge = "x".repeat(200 * 1024);
    let batch: Vec<Value> = (0..4)
        .map(|i| {
            let mut a = alert(&[("alertname", "Huge"), ("i", &i.to_string())]);
            a["annotations"] = json!({"description": huge});
            a
        })
        .collect();
    router.post_json("/api/v2/alerts", &json!(batch)).await;
    let got = pd.wait_for(1, Duration::from_secs(5)).await;
    let details = &got[0].1["payload"]["custom_details"];
    assert!(
        details["error"].as_str().unwrap().contains("512kB"),
        "{details}"
    );
    assert_eq!(got[0].1["event_action"], "trigger");
    assert!(serde_json::to_vec(&got[0].1).unwrap().len() < 512 * 1024);
}
