//! Opsgenie, VictorOps, Pushover, WeChat and Telegram end to end: the real router, an alert
//! posted to its API, and a local HTTP server standing in for each provider (answering what
//! the provider answers). Each test checks the request that arrived (method, path, query,
//! headers, body) and, where the integration sends them, the resolved notification.
//!
//! Pushover's endpoint is fixed (`https://api.pushover.net`), so its stand-in is an HTTPS
//! proxy: the router reaches it through `http_config.proxy_url`, and trusts the test's CA
//! through `tls_config.ca_file`, exactly as a real deployment behind a proxy would.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{json, Value};
use sha2::Digest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{alert, Router};

const ROUTE: &str = "route:\n  receiver: r\n  group_by: [alertname]\n  group_wait: 100ms\n  group_interval: 1s\n  repeat_interval: 1h\n";
const GROUP_KEY: &str = r#"{}:{alertname="DiskFull"}"#;
const SUBJECT: &str = "[FIRING:1] DiskFull (c1 critical)";
const RESOLVED_SUBJECT: &str = "[RESOLVED] DiskFull (c1 critical)";
const ALERTS_LINK: &str = "http://alert-router.test:9093/#/alerts?receiver=r";

fn group_hash() -> String {
    hex::encode(sha2::Sha256::digest(GROUP_KEY.as_bytes()))
}

fn disk_full() -> Value {
    alert(&[
        ("alertname", "DiskFull"),
        ("cluster", "c1"),
        ("severity", "critical"),
    ])
}

fn resolved(mut a: Value) -> Value {
    a["endsAt"] = json!(Utc::now().to_rfc3339());
    a
}

/// One request a provider received.
#[derive(Clone, Debug)]
struct Got {
    method: Method,
    path: String,
    query: BTreeMap<String, String>,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Got {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }
}

type Answer = fn(&Got) -> (u16, String);

struct ProviderState {
    got: Mutex<Vec<Got>>,
    answer: Answer,
}

/// A provider on 127.0.0.1 that records every request and answers with `answer`.
struct Provider {
    url: String,
    state: Arc<ProviderState>,
}

async fn provider(answer: Answer) -> Provider {
    let state = Arc::new(ProviderState {
        got: Mutex::new(Vec::new()),
        answer,
    });
    let app = axum::Router::new()
        .fallback(record)
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Provider {
        url: format!("http://{addr}"),
        state,
    }
}

fn parse_query(query: Option<&str>) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

async fn record(
    State(s): State<Arc<ProviderState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let got = Got {
        method,
        path: uri.path().to_string(),
        query: parse_query(uri.query()),
        headers,
        body: body.to_vec(),
    };
    let (status, body) = (s.answer)(&got);
    s.got.lock().unwrap().push(got);
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json")],
        body,
    )
        .into_response()
}

async fn wait_for(got: &Mutex<Vec<Got>>, n: usize, within: Duration) -> Vec<Got> {
    let deadline = Instant::now() + within;
    loop {
        let now = got.lock().unwrap().clone();
        if now.len() >= n {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "expected {n} requests, got {}: {now:#?}",
            now.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl Provider {
    async fn wait_for(&self, n: usize) -> Vec<Got> {
        wait_for(&self.state.got, n, Duration::from_secs(8)).await
    }

    fn count(&self) -> usize {
        self.state.got.lock().unwrap().len()
    }
}

/// The text our default templates list one firing alert of `disk_full()` with.
fn listed(status: &str) -> String {
    format!(
        "{status}:\nLabels:\n - alertname = DiskFull\n - cluster = c1\n - severity = critical\nAnnotations:\nSource: \n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn opsgenie_creates_the_alert_by_alias_then_closes_it() {
    let og = provider(|_| {
        (
            202,
            r#"{"result":"Request will be processed","took":0.01,"requestId":"r-1"}"#.into(),
        )
    })
    .await;
    let config = format!(
        "{ROUTE}receivers:\n  - name: r\n    opsgenie_configs:\n      - api_key: og-key\n        api_url: '{}/'\n        responders: [{{name: ops, type: team}}]\n        tags: 'disk,prod'\n        priority: P2\n",
        og.url
    );
    let router = Router::start(&config);
    router
        .post_json("/api/v2/alerts", &json!([disk_full()]))
        .await;
    let got = og.wait_for(1).await;
    let create = &got[0];
    assert_eq!(create.method, Method::POST);
    assert_eq!(create.path, "/v2/alerts");
    assert!(create.query.is_empty());
    assert_eq!(create.header("authorization"), "GenieKey og-key");
    assert_eq!(create.header("content-type"), "application/json");
    assert_eq!(
        create.json(),
        json!({
            "alias": group_hash(),
            "message": SUBJECT,
            "description": format!("\n{}", listed("Firing")),
            "details": {"alertname": "DiskFull", "cluster": "c1", "severity": "critical"},
            "source": ALERTS_LINK,
            "responders": [{"name": "ops", "type": "team"}],
            "tags": ["disk", "prod"],
            "priority": "P2",
        })
    );

    router
        .post_json("/api/v2/alerts", &json!([resolved(disk_full())]))
        .await;
    let got = og.wait_for(2).await;
    let close = &got[1];
    assert_eq!(close.method, Method::POST);
    assert_eq!(close.path, format!("/v2/alerts/{}/close", group_hash()));
    assert_eq!(
        close.query,
        BTreeMap::from([("identifierType".to_string(), "alias".to_string())])
    );
    assert_eq!(close.header("authorization"), "GenieKey og-key");
    assert_eq!(close.json(), json!({"source": ALERTS_LINK}));
}

#[tokio::test(flavor = "multi_thread")]
async fn victorops_sends_critical_then_recovery_to_key_and_routing_key() {
    let vo = provider(|_| (200, r#"{"result":"success","entity_id":"x"}"#.into())).await;
    let config = format!(
        "{ROUTE}receivers:\n  - name: r\n    victorops_configs:\n      - api_key: vo-key\n        api_url: '{}/integrations/generic/'\n        routing_key: 'team-{{{{ .CommonLabels.severity }}}}'\n        custom_fields:\n          runbook: 'http://rb/{{{{ .GroupLabels.alertname }}}}'\n",
        vo.url
    );
    let router = Router::start(&config);
    router
        .post_json("/api/v2/alerts", &json!([disk_full()]))
        .await;
    let got = vo.wait_for(1).await;
    let first = &got[0];
    assert_eq!(first.method, Method::POST);
    assert_eq!(first.path, "/integrations/generic/vo-key/team-critical");
    assert_eq!(first.header("content-type"), "application/json");
    assert_eq!(
        first.json(),
        json!({
            "message_type": "CRITICAL",
            "entity_id": group_hash(),
            "entity_display_name": SUBJECT,
            "state_message": format!("\n{}", listed("Firing")),
            "monitoring_tool": "alert-router",
            "runbook": "http://rb/DiskFull",
        })
    );

    router
        .post_json("/api/v2/alerts", &json!([resolved(disk_full())]))
        .await;
    let got = vo.wait_for(2).await;
    let recovery = got[1].json();
    assert_eq!(got[1].path, "/integrations/generic/vo-key/team-critical");
    assert_eq!(recovery["message_type"], "RECOVERY");
    assert_eq!(recovery["entity_id"], group_hash());
    assert_eq!(recovery["entity_display_name"], RESOLVED_SUBJECT);
    assert_eq!(
        recovery["state_message"],
        format!("\n{}", listed("Resolved"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wechat_fetches_a_token_once_and_sends_text_messages() {
    let wc = provider(|got| match got.path.as_str() {
        "/cgi-bin/gettoken" => (
            200,
            r#"{"errcode":0,"errmsg":"ok","access_token":"tok-1","expires_in":7200}"#.into(),
        ),
        _ => (200, r#"{"errcode":0,"errmsg":"ok"}"#.into()),
    })
    .await;
    let config = format!(
        "{ROUTE}receivers:\n  - name: r\n    wechat_configs:\n      - api_secret: wc-secret\n        corp_id: wc-corp\n        api_url: '{}/cgi-bin/'\n        to_user: '@all'\n        agent_id: '1000002'\n",
        wc.url
    );
    let router = Router::start(&config);
    router
        .post_json("/api/v2/alerts", &json!([disk_full()]))
        .await;
    let got = wc.wait_for(2).await;
    let token = &got[0];
    assert_eq!(token.method, Method::GET);
    assert_eq!(token.path, "/cgi-bin/gettoken");
    assert_eq!(
        token.query,
        BTreeMap::from([
            ("corpid".to_string(), "wc-corp".to_string()),
            ("corpsecret".to_string(), "wc-secret".to_string()),
        ])
    );
    let send = &got[1];
    assert_eq!(send.method, Method::POST);
    assert_eq!(send.path, "/cgi-bin/message/send");
    assert_eq!(
        send.query,
        BTreeMap::from([("access_token".to_string(), "tok-1".to_string())])
    );
    assert_eq!(send.header("content-type"), "application/json");
    assert_eq!(
        send.json(),
        json!({
            "text": {"content": format!("{SUBJECT}\n\n{}Alerts: {ALERTS_LINK}", listed("Firing"))},
            "touser": "@all",
            "agentid": "1000002",
            "safe": "0",
            "msgtype": "text",
            "markdown": {"content": ""},
        })
    );

    // A second alert in the group: the cached token is used, no new gettoken.
    let mut second = disk_full();
    second["labels"]["instance"] = json!("db-2");
    router
        .post_json("/api/v2/alerts", &json!([disk_full(), second.clone()]))
        .await;
    let got = wc.wait_for(3).await;
    assert_eq!(got[2].path, "/cgi-bin/message/send");
    assert_eq!(got[2].query["access_token"], "tok-1");
    assert!(got[2].json()["text"]["content"]
        .as_str()
        .unwrap()
        .starts_with("[FIRING:2] DiskFull"));

    // send_resolved is off by default for WeChat.
    router
        .post_json(
            "/api/v2/alerts",
            &json!([resolved(disk_full()), resolved(second)]),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(wc.count(), 3, "no resolved notification");
}

#[tokio::test(flavor = "multi_thread")]
async fn telegram_posts_send_message_with_the_bot_token_in_the_path() {
    let tg = provider(|_| {
        (
            200,
            r#"{"ok":true,"result":{"message_id":7,"date":0,"chat":{"id":-100,"type":"group"},"text":"x"}}"#.into(),
        )
    })
    .await;
    let config = format!(
        "{ROUTE}receivers:\n  - name: r\n    telegram_configs:\n      - bot_token: '123:abc'\n        api_url: '{}'\n        chat_id: -100\n        message_thread_id: 3\n        disable_notifications: true\n",
        tg.url
    );
    let router = Router::start(&config);
    router
        .post_json("/api/v2/alerts", &json!([disk_full()]))
        .await;
    let got = tg.wait_for(1).await;
    let first = &got[0];
    assert_eq!(first.method, Method::POST);
    assert_eq!(first.path, "/bot123:abc/sendMessage");
    assert_eq!(first.header("content-type"), "application/json");
    assert_eq!(
        first.json(),
        json!({
            "chat_id": "-100",
            "disable_notification": "true",
            "disable_web_page_preview": "true",
            "message_thread_id": "3",
            "parse_mode": "HTML",
            "text": listed("Firing"),
        })
    );

    router
        .post_json("/api/v2/alerts", &json!([resolved(disk_full())]))
        .await;
    let got = tg.wait_for(2).await;
    assert_eq!(got[1].path, "/bot123:abc/sendMessage");
    assert_eq!(got[1].json()["text"], listed("Resolved"));
}

/// An HTTPS proxy standing in for `api.pushover.net`: it accepts `CONNECT`, terminates TLS
/// with a certificate for that name signed by a CA made here, and records the requests.
struct PushoverProxy {
    proxy_url: String,
    ca_file: std::path::PathBuf,
    connects: Arc<Mutex<Vec<String>>>,
    got: Arc<Mutex<Vec<Got>>>,
    _dir: tempfile::TempDir,
}

async fn pushover_proxy() -> PushoverProxy {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};

    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["api.pushover.net".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();

    let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![rustls_pki_types::CertificateDer::from(leaf.der().to_vec())],
        rustls_pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connects: Arc<Mutex<Vec<String>>> = Arc::default();
    let got: Arc<Mutex<Vec<Got>>> = Arc::default();
    let (c, g) = (connects.clone(), got.clone());
    tokio::spawn(async move {
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, connects, got) = (acceptor.clone(), c.clone(), g.clone());
            tokio::spawn(async move {
                // The client sends nothing after its CONNECT head until it is answered.
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    let Ok(n) = tcp.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    head.extend_from_slice(&buf[..n]);
                }
                let head = String::from_utf8_lossy(&head).to_string();
                connects
                    .lock()
                    .unwrap()
                    .push(head.lines().next().unwrap_or("").to_string());
                if tcp
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .is_err()
                {
                    return;
                }
                let Ok(stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let got = got.clone();
                        async move {
                            use http_body_util::BodyExt;
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes().to_vec())
                                .unwrap_or_default();
                            got.lock().unwrap().push(Got {
                                method: parts.method,
                                path: parts.uri.path().to_string(),
                                query: parse_query(parts.uri.query()),
                                headers: parts.headers,
                                body,
                            });
                            let response = hyper::Response::builder()
                            .status(200)
                            .header("content-type", "application/json")
                            .body(http_body_util::Full::new(Bytes::from_static(
                                br#"{"status":1,"request":"5042853c-402d-4a18-abcb-168734a801de"}"#,
                            )))
                            .unwrap();
                            Ok::<_, std::convert::Infallible>(response)
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    PushoverProxy {
        proxy_url: format!("http://{addr}"),
        ca_file,
        connects,
        got,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn pushover_posts_every_parameter_in_the_query_to_api_pushover_net() {
    let proxy = pushover_proxy().await;
    let config = format!(
        "{ROUTE}receivers:\n  - name: r\n    pushover_configs:\n      - user_key: u-key\n        token: app-token\n        sound: siren\n        ttl: 1h\n        http_config:\n          proxy_url: '{}'\n          tls_config: {{ca_file: '{}'}}\n",
        proxy.proxy_url,
        proxy.ca_file.display()
    );
    let router = Router::start(&config);
    router
        .post_json("/api/v2/alerts", &json!([disk_full()]))
        .await;
    let got = wait_for(&proxy.got, 1, Duration::from_secs(8)).await;
    assert!(
        proxy.connects.lock().unwrap()[0].starts_with("CONNECT api.pushover.net:443 "),
        "{:?}",
        proxy.connects.lock().unwrap()
    );
    let first = &got[0];
    assert_eq!(first.method, Method::POST);
    assert_eq!(first.path, "/1/messages.json");
    assert_eq!(first.header("host"), "api.pushover.net");
    assert_eq!(first.header("content-type"), "text/plain");
    assert!(first.body.is_empty(), "everything is in the query");
    let expected = |title: &str, priority: &str, message: &str| -> BTreeMap<String, String> {
        [
            ("device", ""),
            ("expire", "3600"),
            ("message", message),
            ("priority", priority),
            ("retry", "60"),
            ("sound", "siren"),
            ("title", title),
            ("token", "app-token"),
            ("ttl", "3600"),
            ("url", ALERTS_LINK),
            ("url_title", ""),
            ("user", "u-key"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    };
    let firing_message = listed("Firing");
    assert_eq!(first.query, expected(SUBJECT, "2", firing_message.trim()));

    router
        .post_json("/api/v2/alerts", &json!([resolved(disk_full())]))
        .await;
    let got = wait_for(&proxy.got, 2, Duration::from_secs(8)).await;
    let resolved_message = listed("Resolved");
    assert_eq!(
        got[1].query,
        expected(RESOLVED_SUBJECT, "0", resolved_message.trim())
    );
}
