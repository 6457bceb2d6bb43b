//! Discord, Webex, Microsoft Teams (connector and workflow), Rocket.Chat and Mattermost end to
//! end: the real router, an alert posted to its API, and a local HTTP server standing in for
//! each provider, answering what the provider answers. Each test checks the whole request that
//! arrived (method, path, headers, body) and then the resolved notification, or its absence
//! where the integration does not send resolved notifications by default.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use chrono::Utc;
use serde_json::{json, Value};

use crate::common::Router;

const ROUTE: &str = "route:\n  receiver: r\n  group_by: [alertname]\n  group_wait: 100ms\n  group_interval: 1s\n  repeat_interval: 1h\n";
/// A failed flush is tried again at the next group interval: a long one keeps that out of
/// tests about what one flush retries.
const SLOW_ROUTE: &str = "route:\n  receiver: r\n  group_by: [alertname]\n  group_wait: 100ms\n  group_interval: 1m\n  repeat_interval: 1h\n";
const SUBJECT: &str = "[FIRING:1] DiskFull (c1 critical)";
const RESOLVED_SUBJECT: &str = "[RESOLVED] DiskFull (c1 critical)";
const ALERTS_LINK: &str = "http://alert-router.test:9093/#/alerts?receiver=r";
/// Our `__text_alert_list` for the alert below.
const TEXT_LIST: &str = "Labels:\n - alertname = DiskFull\n - cluster = c1\n - severity = critical\nAnnotations:\n - summary = disk is full\nSource: http://prom.test/graph\n";
/// Our `__text_alert_list_markdown` for it.
const MARKDOWN_LIST: &str = "\n**Labels**\n- alertname: DiskFull\n- cluster: c1\n- severity: critical\n\n**Annotations**\n- summary: disk is full\n\n[Source](http://prom.test/graph)\n";

fn disk_full() -> Value {
    json!({
        "labels": {"alertname": "DiskFull", "cluster": "c1", "severity": "critical"},
        "annotations": {"summary": "disk is full"},
        "generatorURL": "http://prom.test/graph",
    })
}

fn resolved() -> Value {
    let mut a = disk_full();
    a["endsAt"] = json!(Utc::now().to_rfc3339());
    a
}

/// One request a provider received.
#[derive(Clone, Debug)]
struct Got {
    method: Method,
    uri: String,
    headers: HeaderMap,
    body: Value,
}

impl Got {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

struct ProviderState {
    got: Mutex<Vec<Got>>,
    /// Statuses to answer with, in turn; then `status`.
    script: Mutex<Vec<u16>>,
    status: u16,
    body: &'static str,
}

#[derive(Clone)]
struct Provider {
    base: String,
    state: Arc<ProviderState>,
}

/// A provider on 127.0.0.1 answering `status` and `body` to every request, after `script`.
async fn provider(script: &[u16], status: u16, body: &'static str) -> Provider {
    let state = Arc::new(ProviderState {
        got: Mutex::new(Vec::new()),
        script: Mutex::new(script.iter().rev().copied().collect()),
        status,
        body,
    });
    let app = axum::Router::new()
        .route("/{*path}", axum::routing::any(record))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Provider {
        base: format!("http://{addr}"),
        state,
    }
}

async fn record(
    State(s): State<Arc<ProviderState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    s.got.lock().unwrap().push(Got {
        method,
        uri: uri.to_string(),
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    let status = s.script.lock().unwrap().pop().unwrap_or(s.status);
    (StatusCode::from_u16(status).unwrap(), s.body)
}

impl Provider {
    async fn wait_for(&self, n: usize) -> Vec<Got> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.state.got.lock().unwrap().clone();
            if got.len() >= n {
                return got;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "expected {n} requests, got {}: {got:#?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn count(&self) -> usize {
        self.state.got.lock().unwrap().len()
    }
}

/// Posts the alert firing, waits for its notification, then posts it resolved.
async fn fire_then_resolve(router: &Router, p: &Provider) -> Got {
    router
        .post_json("/api/v2/alerts", &json!([disk_full()]))
        .await;
    let first = p.wait_for(1).await.remove(0);
    router
        .post_json("/api/v2/alerts", &json!([resolved()]))
        .await;
    first
}

fn assert_json_post(got: &Got, uri: &str) {
    assert_eq!(got.method, Method::POST);
    assert_eq!(got.uri, uri);
    assert_eq!(got.header("content-type"), "application/json");
}

#[tokio::test(flavor = "multi_thread")]
async fn discord_webhook_message_and_resolution() {
    // Discord answers a webhook post with 204 No Content.
    let p = provider(&[], 204, "").await;
    let config = format!(
        "{ROUTE}receivers:\n  - name: r\n    discord_configs:\n      - webhook_url: '{}/api/webhooks/42/tok'\n        content: '<@&7> {{{{ .CommonLabels.severity }}}}'\n        username: alert-bot\n        avatar_url: https://img.test/bot.png\n",
        p.base
    );
    let router = Router::start(&config);
    let first = fire_then_resolve(&router, &p).await;
    assert_json_post(&first, "/api/webhooks/42/tok");
    assert_eq!(
        first.body,
        json!({
            "content": "<@&7> critical",
            "embeds": [{
                "title": SUBJECT,
                "description": format!("Firing:\n{TEXT_LIST}"),
                "color": 10038562,
            }],
            "username": "alert-bot",
            "avatar_url": "https://img.test/bot.png",
        })
    );
    let second = p.wait_for(2).await.remove(1);
    assert_json_post(&second, "/api/webhooks/42/tok");
    assert_eq!(
        second.body,
        json!({
            "content": "<@&7> critical",
            "embeds": [{
                "title": RESOLVED_SUBJECT,
                "description": format!("Resolved:\n{TEXT_LIST}"),
                "color": 3066993,
            }],
            "username": "alert-bot",
            "avatar_url": "https://img.test/bot.png",
        })
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn discord_retries_a_5xx_but_not_a_429() {
    let p = provider(&[503], 204, "").await;
    let config = format!(
        "{SLOW_ROUTE}receivers:\n  - name: r\n    discord_configs:\n      - webhook_url: '{}/api/webhooks/1/a'\n",
        p.base
    );
    let router = Router::start(&config);
    router
        .post_json("/api/v2/alerts", &json!([disk_full()]))
        .await;
    p.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(p.count(), 2, "the success after the 503 ends the retries");

    let limited = provider(&[], 429, "{\"message\": \"You are being rate limited.\"}").await;
    let config = format!(
        "{SLOW_ROUTE}receivers:\n  - name: r\n    discord_configs:\n      - webhook_url: '{}/api/webhooks/1/a'\n",
        limited.base
    );
    let router = Router::start(&config);
    router
        .post_json("/api/v2/alerts", &json!([disk_full()]))
        .await;
    limited.wait_for(1).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        limited.count(),
        1,
        "Alertmanager's retrier for Discord does not retry 429"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn webex_message_with_bearer_token_and_resolution() {
    let p = provider(&[], 200, r#"{"id":"m1"}"#).await;
    let config = format!(
        "{ROUTE}receivers:\n  - name: r\n    webex_configs:\n      - api_url: '{}/v1/messages'\n        room_id: 'room-{{{{ .CommonLabels.cluster }}}}'\n        http_config:\n          authorization:\n            credentials: bot-token\n",
        p.base
    );
    let router = Router::start(&config);
    let first = fire_then_resolve(&router, &p).await;
    assert_json_post(&first, "/v1/messages");
    assert_eq!(first.header("authorization"), "Bearer bot-token");
    assert_eq!(
        first.body,
        json!({"markdown": format!("disk is full\nFiring:\n{TEXT_LIST}"), "roomId": "room-c1"})
    );
    let second = p.wait_for(2).await.remove(1);
    assert_json_post(&second, "/v1/messages");
    assert_eq!(second.header("authorization"), "Bearer bot-token");
    assert_eq!(
        second.body,
        json!({"markdown": format!("disk is full\nResolved:\n{TEXT_LIST}"), "roomId": "room-c1"})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn msteams_message_card_and_resolution() {
    // An Office 365 connector answers `1`.
    let p = provider(&[], 200, "1").await;
    let config = format!(
        "{ROUTE}receivers:\n  - name: r\n    msteams_configs:\n      - webhook_url: '{}/webhookb2/abc/IncomingWebhook/def'\n",
        p.base
    );
    let router = Router::start(&config);
    let first = fire_then_resolve(&router, &p).await;
    assert_json_post(&first, "/webhookb2/abc/IncomingWebhook/def");
    assert_eq!(
        first.body,
        json!({
            "@context": "http://schema.org/extensions",
            "type": "MessageCard",
            "title": SUBJECT,
            "summary": SUBJECT,
            "text": format!("# Firing\n{MARKDOWN_LIST}"),
            "themeColor": "8C1A1A",
        })
    );
    let second = p.wait_for(2).await.remove(1);
    assert_eq!(
        second.body,
        json!({
            "@context": "http://schema.org/extensions",
            "type": "MessageCard",
            "title": RESOLVED_SUBJECT,
            "summary": RESOLVED_SUBJECT,
            "text": format!("# Resolved\n{MARKDOWN_LIST}"),
            "themeColor": "2DC72D",
        })
    );
}

fn adaptive_card(title: &str, color: &str, text: &str) -> Value {
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.2",
                "body": [
                    {"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium",
                     "wrap": true, "style": "heading", "color": color},
                    {"type": "TextBlock", "text": text, "wrap": true},
                ],
                "msteams": {"width": "full"},
            },
        }],
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn msteamsv2_adaptive_card_from_a_url_file_and_resolution() {
    // A Power Automate workflow trigger answers 202 Accepted.
    let p = provider(&[], 202, "").await;
    let dir = tempfile::tempdir().unwrap();
    let url_file = dir.path().join("workflow-url");
    std::fs::write(
        &url_file,
        format!(
            "{}/workflows/w1/triggers/manual/paths/invoke?api-version=1&sig=s3cr3t\n",
            p.base
        ),
    )
    .unwrap();
    let config = format!(
        "{ROUTE}receivers:\n  - name: r\n    msteamsv2_configs:\n      - webhook_url_file: '{}'\n",
        url_file.display()
    );
    let router = Router::start(&config);
    let first = fire_then_resolve(&router, &p).await;
    let uri = "/workflows/w1/triggers/manual/paths/invoke?api-version=1&sig=s3cr3t";
    assert_json_post(&first, uri);
    assert_eq!(
        first.body,
        adaptive_card(SUBJECT, "Attention", &format!("# Firing\n{MARKDOWN_LIST}"))
    );
    let second = p.wait_for(2).await.remove(1);
    assert_json_post(&second, uri);
    assert_eq!(
        second.body,
        adaptive_card(
            RESOLVED_SUBJECT,
            "Good",
            &format!("# Resolved\n{MARKDOWN_LIST}")
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rocketchat_post_message_with_token_headers() {
    let p = provider(&[], 200, r#"{"success":true,"channel":"ops"}"#).await;
    let config = format!(
        "global:\n  rocketchat_token_id: user-1\n{ROUTE}receivers:\n  - name: r\n    rocketchat_configs:\n      - api_url: '{}/rc/'\n        token: tok-1\n        channel: '#ops'\n        fields:\n          - {{title: Cluster, value: '{{{{ .CommonLabels.cluster }}}}'}}\n        actions:\n          - {{text: Runbook, url: 'https://rb.test/{{{{ .GroupLabels.alertname }}}}'}}\n",
        p.base
    );
    let router = Router::start(&config);
    let first = fire_then_resolve(&router, &p).await;
    assert_json_post(&first, "/rc/api/v1/chat.postMessage");
    assert_eq!(first.header("x-auth-token"), "tok-1");
    assert_eq!(first.header("x-user-id"), "user-1", "the global token_id");
    assert_eq!(
        first.body,
        json!({
            "channel": "#ops",
            "attachments": [{
                "title": SUBJECT,
                "title_link": ALERTS_LINK,
                "color": "red",
                "fields": [{"short": false, "title": "Cluster", "value": "c1"}],
                "actions": [{
                    "type": "button",
                    "text": "Runbook",
                    "url": "https://rb.test/DiskFull",
                    "is_webview": false,
                    "msg_in_chat_window": false,
                }],
            }],
        })
    );
    // send_resolved is off by default for Rocket.Chat: the resolution is not posted.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(p.count(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn rocketchat_refusal_in_a_200_is_not_retried() {
    let p = provider(
        &[],
        200,
        r#"{"success":false,"error":"error-invalid-channel"}"#,
    )
    .await;
    let config = format!(
        "{SLOW_ROUTE}receivers:\n  - name: r\n    rocketchat_configs:\n      - api_url: '{}'\n        token: t\n        token_id: u\n        channel: '#gone'\n",
        p.base
    );
    let router = Router::start(&config);
    router
        .post_json("/api/v2/alerts", &json!([disk_full()]))
        .await;
    p.wait_for(1).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(p.count(), 1);
    let failed = router
        .log()
        .into_iter()
        .any(|l| l.contains("error response from Rocketchat: error-invalid-channel"));
    assert!(failed, "{:#?}", router.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn mattermost_global_webhook_priority_and_resolution() {
    let p = provider(&[], 200, "ok").await;
    let config = format!(
        "global:\n  mattermost_webhook_url: '{}/hooks/xyz'\n{ROUTE}receivers:\n  - name: r\n    mattermost_configs:\n      - channel: town-square\n        icon_emoji: ':fire:'\n        priority:\n          priority: Urgent\n          requested_ack: true\n        props:\n          card: 'Runbook for {{{{ .GroupLabels.alertname }}}}'\n",
        p.base
    );
    let router = Router::start(&config);
    let first = fire_then_resolve(&router, &p).await;
    assert_json_post(&first, "/hooks/xyz");
    let body = |subject: &str, color: &str, text: String| {
        json!({
            "channel": "town-square",
            "username": "alert-router",
            "icon_emoji": ":fire:",
            "attachments": [{
                "fallback": format!("{subject} | {ALERTS_LINK}"),
                "color": color,
                "text": text,
                "title": subject,
                "title_link": ALERTS_LINK,
            }],
            "props": {"card": "Runbook for DiskFull"},
            "priority": {"priority": "urgent", "requested_ack": true},
        })
    };
    assert_eq!(
        first.body,
        body(SUBJECT, "danger", format!("# Firing\n{MARKDOWN_LIST}"))
    );
    let second = p.wait_for(2).await.remove(1);
    assert_json_post(&second, "/hooks/xyz");
    assert_eq!(
        second.body,
        body(
            RESOLVED_SUBJECT,
            "good",
            format!("# Resolved\n{MARKDOWN_LIST}")
        )
    );
}
