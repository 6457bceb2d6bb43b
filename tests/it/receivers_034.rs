//! What Alertmanager 0.26..0.34 added to the four receivers alert-router had: webhook `payload`,
//! templated `url` and `timeout`; Slack `app_token`, `app_url`, `message_text` and
//! `update_message`; PagerDuty `timeout` and structured `details`; email `threading`. Each
//! against a real local stand-in.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::IntoResponse;
use serde_json::{json, Value};

use crate::common::smtp::{aiosmtpd_available, start_smtp};
use crate::common::{alert, Hanging, Router, Sink};

const ROUTE: &str = "route:\n  receiver: r\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\n";

#[tokio::test(flavor = "multi_thread")]
async fn webhook_payload_and_templated_url() {
    let sink = Sink::start().await;
    let config = format!(
        r#"{ROUTE}receivers:
  - name: r
    webhook_configs:
      - url: 'http://{}/hook/{{{{ .GroupLabels.alertname }}}}'
        payload:
          text: '{{{{ .CommonAnnotations.summary }}}}'
          count: '{{{{ .Alerts.Firing | len }}}}'
          '{{{{ .Status }}}}': true
          nested: ['{{{{ .Receiver }}}}', 3]
"#,
        sink.addr
    );
    let router = Router::start(&config);
    let mut a = alert(&[("alertname", "DiskFull")]);
    a["annotations"] = json!({"summary": "disk 97%"});
    router.post_json("/api/v2/alerts", &json!([a])).await;
    let got = sink.wait_for(1, Duration::from_secs(5)).await;
    // A rendered number becomes a number; keys are templates too.
    assert_eq!(
        got[0].body,
        json!({"text": "disk 97%", "count": 1, "firing": true, "nested": ["r", 3]})
    );
    let log = router.log().join("\n");
    assert!(!log.contains("notify failed"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn webhook_and_pagerduty_timeouts_end_a_hung_request() {
    let hung = Hanging::start().await;
    let config = format!(
        "route:\n  receiver: r\n  group_wait: 0s\n  group_interval: 1m\nreceivers:\n  - name: r\n    webhook_configs:\n      - url: '{}'\n        timeout: 300ms\n    pagerduty_configs:\n      - routing_key: k\n        url: '{}'\n        timeout: 300ms\n",
        hung.url(),
        hung.url()
    );
    let router = Router::start(&config);
    router
        .post_json("/api/v2/alerts", &json!([alert(&[("alertname", "Hung")])]))
        .await;
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut attempts = 0;
    while Instant::now() < deadline {
        let log = router.log().join("\n");
        attempts = ["webhook", "pagerduty"]
            .iter()
            .filter(|i| {
                log.lines().any(|l| {
                    l.contains(&format!("configured {i} timeout reached")) && l.contains("retrying")
                })
            })
            .count();
        if attempts == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        attempts,
        2,
        "each hung request ends at its own timeout and is retried:\n{}",
        router.log().join("\n")
    );
}

/// A stand-in for Slack's Web API: records path, Authorization and body, answers JSON.
#[derive(Clone, Default)]
struct SlackApi {
    got: Arc<Mutex<Vec<(String, String, Value)>>>,
}

async fn slack_api(
    State(api): State<SlackApi>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    api.got
        .lock()
        .unwrap()
        .push((uri.path().to_string(), auth, body));
    axum::Json(json!({"ok": true, "channel": "C024BE91L", "ts": "1712345678.000100"}))
}

#[tokio::test(flavor = "multi_thread")]
async fn slack_bot_token_posts_then_updates_its_message() {
    let api = SlackApi::default();
    let app = axum::Router::new()
        .route("/{*path}", axum::routing::post(slack_api))
        .with_state(api.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let config = format!(
        r##"global:
  slack_app_token: xoxb-test-token
  slack_app_url: 'http://{addr}/api/chat.postMessage'
{ROUTE}receivers:
  - name: r
    slack_configs:
      - channel: '#ops'
        send_resolved: true
        update_message: true
        message_text: '{{{{ .Status | toUpper }}}}: {{{{ .CommonLabels.alertname }}}}'
"##
    );
    let router = Router::start(&config);
    let a = alert(&[("alertname", "DiskFull")]);
    router.post_json("/api/v2/alerts", &json!([a])).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while api.got.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "no message");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut resolved = alert(&[("alertname", "DiskFull")]);
    resolved["endsAt"] = json!(chrono::Utc::now().to_rfc3339());
    router.post_json("/api/v2/alerts", &json!([resolved])).await;
    while api.got.lock().unwrap().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "no update: {:?}",
            api.got.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got = api.got.lock().unwrap().clone();
    let (path, auth, first) = &got[0];
    assert_eq!(path, "/api/chat.postMessage");
    assert_eq!(auth, "Bearer xoxb-test-token");
    assert_eq!(first["channel"], "#ops");
    assert_eq!(first["text"], "FIRING: DiskFull");
    assert!(first.get("ts").is_none());
    let (path, auth, second) = &got[1];
    assert_eq!(path, "/api/chat.update", "the group's message is edited");
    assert_eq!(auth, "Bearer xoxb-test-token");
    assert_eq!(second["ts"], "1712345678.000100");
    assert_eq!(second["channel"], "C024BE91L");
    assert_eq!(second["text"], "RESOLVED: DiskFull");
}

#[tokio::test(flavor = "multi_thread")]
async fn email_threading_puts_a_groups_mails_in_one_thread() {
    if !aiosmtpd_available() {
        return;
    }
    let smtp = start_smtp();
    let config = format!(
        r#"global:
  smtp_from: alerts@example.org
{ROUTE}receivers:
  - name: r
    email_configs:
      - to: oncall@example.org
        smarthost: '127.0.0.1:{}'
        send_resolved: true
        auth_username: alerts
        auth_password: s3cret
        tls_config:
          ca_file: '{}'
          server_name: localhost
        threading:
          enabled: true
"#,
        smtp.port,
        smtp.ca_file.display()
    );
    let router = Router::start(&config);
    router
        .post_json(
            "/api/v2/alerts",
            &json!([alert(&[("alertname", "DiskFull")])]),
        )
        .await;
    smtp.wait_for(1, Duration::from_secs(10)).await;
    let mut resolved = alert(&[("alertname", "DiskFull")]);
    resolved["endsAt"] = json!(chrono::Utc::now().to_rfc3339());
    router.post_json("/api/v2/alerts", &json!([resolved])).await;
    let got = smtp.wait_for(2, Duration::from_secs(10)).await;
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let mut roots = Vec::new();
    for m in &got {
        let h = &m["headers"];
        let references = h["References"].as_str().unwrap_or("").to_string();
        assert_eq!(h["In-Reply-To"].as_str(), Some(references.as_str()), "{h}");
        assert!(
            references.starts_with("<alert-")
                && references.ends_with(&format!("-{today}@alertmanager>")),
            "{references}"
        );
        roots.push(references);
    }
    assert_eq!(
        roots[0], roots[1],
        "firing and resolved share the thread root"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pagerduty_details_may_be_any_yaml_value() {
    let sink = Sink::start().await;
    let config = format!(
        "{ROUTE}receivers:\n  - name: r\n    pagerduty_configs:\n      - routing_key: k\n        url: '{}'\n        details:\n          count: 5\n          regions: [eu, us]\n          status: '{{{{ .Status }}}}'\n",
        sink.url()
    );
    let router = Router::start(&config);
    router
        .post_json(
            "/api/v2/alerts",
            &json!([alert(&[("alertname", "DiskFull")])]),
        )
        .await;
    let got = sink.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(
        got[0].body["payload"]["custom_details"],
        json!({"count": 5, "regions": ["eu", "us"], "status": "firing"})
    );
}

/// `http_config.oauth2` (client credentials): the token endpoint is asked with the client's
/// id, secret, scopes and extra parameters, and its token goes out as a Bearer.
#[tokio::test(flavor = "multi_thread")]
async fn oauth2_client_credentials_authorize_the_webhook() {
    let asked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let recorded = asked.clone();
    let app = axum::Router::new().route(
        "/token",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let recorded = recorded.clone();
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                recorded.lock().unwrap().push((auth, body));
                axum::Json(
                    json!({"access_token": "tok-1", "token_type": "Bearer", "expires_in": 3600}),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let token_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let sink = Sink::start().await;
    let config = format!(
        "{ROUTE}receivers:\n  - name: r\n    webhook_configs:\n      - url: '{}'\n        http_config:\n          oauth2:\n            client_id: router\n            client_secret: s3cret\n            token_url: 'http://{token_addr}/token'\n            scopes: [alerts.write, alerts.read]\n            endpoint_params: {{audience: hooks}}\n",
        sink.url()
    );
    let router = Router::start(&config);
    router
        .post_json(
            "/api/v2/alerts",
            &json!([alert(&[("alertname", "DiskFull")])]),
        )
        .await;
    let got = sink.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got[0].headers["authorization"], "Bearer tok-1");
    let asked = asked.lock().unwrap().clone();
    let (auth, form) = &asked[0];
    use base64::Engine;
    let expected = base64::engine::general_purpose::STANDARD.encode("router:s3cret");
    assert_eq!(auth, &format!("Basic {expected}"));
    assert!(form.contains("grant_type=client_credentials"), "{form}");
    assert!(form.contains("scope=alerts.write+alerts.read"), "{form}");
    assert!(form.contains("audience=hooks"), "{form}");
}

/// 0.34's route labels: inherited from the parent route, rendered once per notification
/// against the group's data, and seen by templates as `.RouteLabels`.
#[tokio::test(flavor = "multi_thread")]
async fn route_labels_are_inherited_rendered_and_seen_by_templates() {
    let sink = Sink::start().await;
    let config = format!(
        r#"route:
  receiver: r
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  labels: {{team: storage, tier: gold}}
  routes:
    - matchers: [alertname="DiskFull"]
      labels:
        tier: platinum
        summary: '{{{{ .GroupLabels.alertname }}}} ({{{{ .Alerts.Firing | len }}}})'
receivers:
  - name: r
    webhook_configs:
      - url: '{}'
        payload:
          labels: '{{{{ .RouteLabels.team }}}}/{{{{ .RouteLabels.tier }}}}/{{{{ .RouteLabels.summary }}}}'
"#,
        sink.url()
    );
    let router = Router::start(&config);
    router
        .post_json(
            "/api/v2/alerts",
            &json!([alert(&[("alertname", "DiskFull")])]),
        )
        .await;
    let got = sink.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(
        got[0].body,
        json!({"labels": "storage/platinum/DiskFull (1)"})
    );
}
