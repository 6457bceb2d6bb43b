use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::config::{GlobalConfig, Secret};
use crate::model::time::parse_rfc3339;
use crate::model::{Alert, LabelSet};
use crate::notify::registry::IntegrationConfig;
fn alert(instance: &str, resolved: bool) -> Alert {
    let labels: LabelSet = [
        ("alertname", "DiskFull"),
        ("cluster", "eu-1"),
        ("instance", instance),
        ("severity", "critical"),
    ]
    .into_iter()
    .collect();
    Alert {
        fingerprint: labels.fingerprint(),
        labels,
        annotations: [("summary", "disk full")].into_iter().collect(),
        starts_at: parse_rfc3339("2024-05-01T11:00:00Z").unwrap(),
        ends_at: parse_rfc3339(if resolved {
            "2024-05-01T11:45:00Z"
        } else {
            "2024-05-01T12:05:00Z"
        })
        .unwrap(),
        generator_url: "http://prom/graph".into(),
        updated_at: parse_rfc3339("2024-05-01T12:00:00Z").unwrap(),
        timeout: true,
        values: Default::default(),
    }
}

fn firing() -> Vec<Alert> {
    vec![alert("db-1", false), alert("db-2", false)]
}

fn resolved() -> Vec<Alert> {
    vec![alert("db-1", true), alert("db-2", true)]
}

fn ctx() -> FlushContext {
    FlushContext {
        group_key: r#"{}:{alertname="DiskFull"}"#.into(),
        group_labels: [("alertname", "DiskFull")].into_iter().collect(),
        receiver: "team".into(),
        repeat_interval: Duration::from_secs(3600),
        now: parse_rfc3339("2024-05-01T12:00:00Z").unwrap(),
        deadline: Instant::now() + Duration::from_secs(10),
        external_url: "http://ar.example:9093".into(),
        mute_time_intervals: Vec::new(),
        active_time_intervals: Vec::new(),
        route_labels: Vec::new(),
        ack_url: None,
    }
}

fn config(yaml: &str) -> WechatConfig {
    serde_yaml_ng::from_str(yaml).unwrap()
}

fn notifier_with(yaml: &str, global: &GlobalConfig) -> WechatNotifier {
    let c = config(yaml);
    c.check(global).unwrap();
    WechatNotifier::new(&c, global, Arc::new(Templates::with_defaults().unwrap())).unwrap()
}

fn notifier(yaml: &str) -> WechatNotifier {
    notifier_with(yaml, &GlobalConfig::default())
}

const FULL: &str = r#"
api_secret: sec
corp_id: corp
api_url: https://wc.example/cgi-bin
message: 'M {{ .Status }}'
to_user: 'u1|u2'
to_party: '{{ .CommonLabels.cluster }}'
to_tag: tag
agent_id: '1000002'
message_type: markdown
send_resolved: true
"#;

#[test]
fn every_field_firing_and_resolved() {
    let n = notifier(FULL);
    assert!(n.send_resolved);
    assert_eq!(
        n.message(&ctx(), &firing()),
        r#"{"text":{"content":""},"touser":"u1|u2","toparty":"eu-1","totag":"tag","agentid":"1000002","safe":"0","msgtype":"markdown","markdown":{"content":"M firing"}}"#
    );
    assert_eq!(
        n.message(&ctx(), &resolved()),
        r#"{"text":{"content":""},"touser":"u1|u2","toparty":"eu-1","totag":"tag","agentid":"1000002","safe":"0","msgtype":"markdown","markdown":{"content":"M resolved"}}"#
    );
    assert_eq!(
        n.token_url("corp", "sec"),
        "https://wc.example/cgi-bin/gettoken?corpid=corp&corpsecret=sec"
    );
    assert_eq!(
        n.send_url("tok"),
        "https://wc.example/cgi-bin/message/send?access_token=tok"
    );
}

const FIRING_MESSAGE: &str = "[FIRING:2] DiskFull (eu-1 critical)
disk full
Firing:
Labels:
 - alertname = DiskFull
 - cluster = eu-1
 - instance = db-1
 - severity = critical
Annotations:
 - summary = disk full
Source: http://prom/graph
Labels:
 - alertname = DiskFull
 - cluster = eu-1
 - instance = db-2
 - severity = critical
Annotations:
 - summary = disk full
Source: http://prom/graph
Alerts: http://ar.example:9093/#/alerts?receiver=team";

#[test]
fn defaults() {
    let n = notifier("{api_secret: s, corp_id: c}");
    assert!(
        !n.send_resolved,
        "WeChat does not send resolved notifications by default"
    );
    let expected = serde_json::json!({
        "text": {"content": FIRING_MESSAGE},
        "safe": "0",
        "msgtype": "text",
        "markdown": {"content": ""},
    });
    assert_eq!(
        serde_json::from_str::<Json>(&n.message(&ctx(), &firing())).unwrap(),
        expected
    );
    assert_eq!(
        n.token_url("c", "s"),
        "https://qyapi.weixin.qq.com/cgi-bin/gettoken?corpid=c&corpsecret=s"
    );
    assert_eq!(
        n.send_url("a b"),
        "https://qyapi.weixin.qq.com/cgi-bin/message/send?access_token=a+b"
    );
}

#[test]
fn globals_and_a_query_on_the_url() {
    let global = GlobalConfig {
        wechat_api_url: Some("http://wc.local/api?debug=1".into()),
        wechat_api_secret_file: Some("/run/wechat".into()),
        wechat_api_corp_id: Some("gcorp".into()),
        ..GlobalConfig::default()
    };
    let n = notifier_with("{}", &global);
    assert_eq!(n.secret, SecretSource::File("/run/wechat".into()));
    assert_eq!(n.corp_id, "gcorp");
    assert_eq!(
        n.token_url("c", "s"),
        "http://wc.local/api/gettoken?corpid=c&corpsecret=s",
        "Alertmanager replaces the query for gettoken"
    );
    assert_eq!(
        n.send_url("t"),
        "http://wc.local/api/message/send?access_token=t&debug=1"
    );
    let n = notifier_with("{corp_id: own, api_secret: own}", &global);
    assert_eq!(n.corp_id, "own");
    assert_eq!(n.secret, SecretSource::Inline(Secret::new("own")));
}

#[test]
fn config_checks() {
    let global = GlobalConfig::default();
    let err = |yaml: &str| config(yaml).check(&global).unwrap_err();
    assert_eq!(
        err("{api_secret: s, corp_id: c, message_type: news}"),
        r#"weChat message type "news" does not match valid options ^(text|markdown)$"#
    );
    assert_eq!(
        err("{api_secret: s, api_secret_file: /s, corp_id: c}"),
        "at most one of api_secret & api_secret_file must be configured"
    );
    assert_eq!(
        err("{corp_id: c}"),
        "no global Wechat Api Secret set either inline or in a file"
    );
    assert_eq!(err("{api_secret: s}"), "no global Wechat CorpID set");
    assert!(err("{api_secret: s, corp_id: c, api_url: 'wc.example'}").contains("wechat api_url"));
    for ok in [
        "{api_secret: s, corp_id: c, message_type: text}",
        "{api_secret_file: /s, corp_id: c, message_type: ''}",
    ] {
        config(ok).check(&global).unwrap();
    }
    assert_eq!(config("{message_type: ''}").message_type(), "text");
}

/// A stand-in for WeChat: counts token requests and answers `message/send` from a script.
struct FakeWechat {
    url: String,
    token_requests: Arc<AtomicUsize>,
    sent: Arc<parking_lot::Mutex<Vec<String>>>,
}

async fn fake_wechat(answers: Vec<(u16, &'static str)>) -> FakeWechat {
    use axum::extract::{Query, State};
    use axum::http::StatusCode;
    use std::collections::HashMap;

    #[derive(Clone)]
    struct S {
        tokens: Arc<AtomicUsize>,
        sent: Arc<parking_lot::Mutex<Vec<String>>>,
        answers: Arc<parking_lot::Mutex<std::collections::VecDeque<(u16, &'static str)>>>,
    }
    let s = S {
        tokens: Arc::default(),
        sent: Arc::default(),
        answers: Arc::new(parking_lot::Mutex::new(answers.into())),
    };
    let app = axum::Router::new()
        .route(
            "/cgi-bin/gettoken",
            axum::routing::get(
                |State(s): State<S>, Query(q): Query<HashMap<String, String>>| async move {
                    let n = s.tokens.fetch_add(1, Ordering::SeqCst) + 1;
                    assert_eq!(q.get("corpid").map(String::as_str), Some("corp"));
                    assert_eq!(q.get("corpsecret").map(String::as_str), Some("sec"));
                    format!(r#"{{"errcode":0,"access_token":"tok{n}","expires_in":7200}}"#)
                },
            ),
        )
        .route(
            "/cgi-bin/message/send",
            axum::routing::post(
                |State(s): State<S>, Query(q): Query<HashMap<String, String>>| async move {
                    s.sent
                        .lock()
                        .push(q.get("access_token").cloned().unwrap_or_default());
                    let (status, body) = s
                        .answers
                        .lock()
                        .pop_front()
                        .unwrap_or((200, r#"{"errcode":0,"errmsg":"ok"}"#));
                    (StatusCode::from_u16(status).unwrap(), body)
                },
            ),
        )
        .with_state(s.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    FakeWechat {
        url: format!("http://{addr}/cgi-bin/"),
        token_requests: s.tokens,
        sent: s.sent,
    }
}

#[tokio::test]
async fn the_token_is_cached_and_dropped_when_wechat_says_it_expired() {
    let fake = fake_wechat(vec![
        (200, r#"{"errcode":0,"errmsg":"ok"}"#),
        (200, r#"{"errcode":42001,"errmsg":"access_token expired"}"#),
        (200, r#"{"errcode":0,"errmsg":"ok"}"#),
        (200, r#"{"errcode":40003,"errmsg":"invalid openid"}"#),
        (403, "forbidden"),
        (200, "not json"),
        (500, "oops"),
    ])
    .await;
    let n = notifier(&format!(
        "{{api_secret: sec, corp_id: corp, api_url: '{}'}}",
        fake.url
    ));
    let (ctx, alerts) = (ctx(), firing());
    let send = || n.send(&ctx, &alerts);

    send().await.unwrap();
    assert_eq!(fake.token_requests.load(Ordering::SeqCst), 1);

    let expired = send().await.unwrap_err();
    assert!(expired.is_retryable(), "42001 is retried: {expired}");
    assert_eq!(
        fake.token_requests.load(Ordering::SeqCst),
        1,
        "cached token used"
    );

    send().await.unwrap();
    assert_eq!(
        fake.token_requests.load(Ordering::SeqCst),
        2,
        "a new token after 42001"
    );

    let refused = send().await.unwrap_err();
    assert!(
        !refused.is_retryable(),
        "another errcode is not retried: {refused}"
    );
    let forbidden = send().await.unwrap_err();
    assert!(
        forbidden.is_retryable(),
        "any status but 200 is retried: {forbidden}"
    );
    let garbled = send().await.unwrap_err();
    assert!(
        garbled.is_retryable(),
        "an unreadable answer is retried: {garbled}"
    );
    let server = send().await.unwrap_err();
    assert!(server.is_retryable());
    assert_eq!(
        *fake.sent.lock(),
        ["tok1", "tok1", "tok2", "tok2", "tok2", "tok2", "tok2"]
    );
}

#[tokio::test]
async fn no_token_in_the_answer_is_not_retried() {
    let app = axum::Router::new().route(
        "/cgi-bin/gettoken",
        axum::routing::get(|| async { r#"{"errcode":40013,"errmsg":"invalid corpid"}"# }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let n = notifier(&format!(
        "{{api_secret: sec, corp_id: corp, api_url: 'http://{addr}/cgi-bin/'}}"
    ));
    let err = n.send(&ctx(), &firing()).await.unwrap_err();
    assert!(!err.is_retryable());
    assert!(
        err.to_string()
            .contains("invalid APISecret for CorpID: corp"),
        "{err}"
    );
}
