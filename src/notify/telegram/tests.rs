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

fn config(yaml: &str) -> TelegramConfig {
    serde_yaml_ng::from_str(yaml).unwrap()
}

fn notifier_with(yaml: &str, global: &GlobalConfig) -> TelegramNotifier {
    let c = config(yaml);
    c.check(global).unwrap();
    TelegramNotifier::new(&c, global, Arc::new(Templates::with_defaults().unwrap())).unwrap()
}

fn notifier(yaml: &str) -> TelegramNotifier {
    notifier_with(yaml, &GlobalConfig::default())
}

fn body(pairs: &[(&'static str, &str)]) -> BTreeMap<&'static str, String> {
    pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

const FULL: &str = r#"
bot_token: '123:abc'
api_url: https://tg.example
chat_id: -1001234
message_thread_id: 7
message: '<b>{{ .Status }}</b> {{ .CommonLabels.cluster }} {{ "a<b" }}'
disable_notifications: true
parse_mode: HTML
send_resolved: false
"#;

#[test]
fn every_field_firing_and_resolved() {
    let n = notifier(FULL);
    assert!(!n.send_resolved);
    assert_eq!(
        n.url("123:abc"),
        "https://tg.example/bot123:abc/sendMessage"
    );
    let got = n.message(&ctx(), &firing(), -1001234);
    assert_eq!(
        got,
        body(&[
            ("chat_id", "-1001234"),
            ("disable_notification", "true"),
            ("disable_web_page_preview", "true"),
            ("message_thread_id", "7"),
            ("parse_mode", "HTML"),
            ("text", "<b>firing</b> eu-1 a&lt;b"),
        ])
    );
    assert_eq!(
        serde_json::to_string(&got).unwrap(),
        r#"{"chat_id":"-1001234","disable_notification":"true","disable_web_page_preview":"true","message_thread_id":"7","parse_mode":"HTML","text":"<b>firing</b> eu-1 a&lt;b"}"#
    );
    assert_eq!(
        n.message(&ctx(), &resolved(), -1001234)["text"],
        "<b>resolved</b> eu-1 a&lt;b"
    );
}

const LIST: &str = "Labels:
 - alertname = DiskFull
 - cluster = eu-1
 - instance = db-1
 - severity = critical
Annotations:
 - summary = disk full
Source: http://prom/graph
";

#[test]
fn defaults() {
    let n = notifier("{bot_token: t, chat_id: 42}");
    assert!(
        n.send_resolved,
        "Telegram sends resolved notifications by default"
    );
    assert_eq!(n.url("t"), "https://api.telegram.org/bott/sendMessage");
    let firing_list = format!("{LIST}{}", LIST.replace("db-1", "db-2"));
    assert_eq!(
        n.message(&ctx(), &firing(), 42),
        body(&[
            ("chat_id", "42"),
            ("disable_web_page_preview", "true"),
            ("parse_mode", "HTML"),
            ("text", &format!("Firing:\n{firing_list}")),
        ])
    );
    assert_eq!(
        n.message(&ctx(), &resolved(), 42)["text"],
        format!("Resolved:\n{firing_list}")
    );
    let mixed = [alert("db-1", false), alert("db-2", true)];
    assert_eq!(
        n.message(&ctx(), &mixed, 42)["text"],
        format!(
            "Firing:\n{LIST}\nResolved:\n{}",
            LIST.replace("db-1", "db-2")
        )
    );
}

#[test]
fn label_values_are_escaped_in_html_mode_only() {
    let mut a = alert("db-1", false);
    a.annotations = [("summary", "<x> & y")].into_iter().collect();
    let n = notifier("{bot_token: t, chat_id: 1, message: '{{ .CommonAnnotations.summary }}'}");
    assert_eq!(n.text(&ctx(), &[a.clone()]), "&lt;x&gt; &amp; y");
    let n = notifier(
        "{bot_token: t, chat_id: 1, parse_mode: MarkdownV2, message: '{{ .CommonAnnotations.summary }}'}",
    );
    assert_eq!(n.text(&ctx(), &[a]), "<x> & y");
}

#[test]
fn an_empty_parse_mode_sends_none() {
    let n = notifier("{bot_token: t, chat_id: 1, parse_mode: '', message: hi}");
    assert_eq!(
        n.message(&ctx(), &firing(), 1),
        body(&[
            ("chat_id", "1"),
            ("disable_web_page_preview", "true"),
            ("text", "hi"),
        ])
    );
}

#[test]
fn long_messages() {
    for mode in ["''", "Markdown", "MarkdownV2"] {
        let n = notifier(&format!(
            "{{bot_token: t, chat_id: 1, parse_mode: {mode}, message: '{}'}}",
            "ж".repeat(4097)
        ));
        assert_eq!(
            n.text(&ctx(), &firing()),
            format!("{}…", "ж".repeat(4095)),
            "{mode}"
        );
        let n = notifier(&format!(
            "{{bot_token: t, chat_id: 1, parse_mode: {mode}, message: '{}'}}",
            "ж".repeat(4096)
        ));
        assert_eq!(n.text(&ctx(), &firing()), "ж".repeat(4096), "{mode}");
    }
    // HTML cannot be cut safely: a notice goes instead.
    let n = notifier(&format!(
        "{{bot_token: t, chat_id: 1, message: '{}'}}",
        "ж".repeat(4097)
    ));
    assert_eq!(n.text(&ctx(), &firing()), TOO_LONG_HTML);
    let n = notifier(&format!(
        "{{bot_token: t, chat_id: 1, message: '{}'}}",
        "ж".repeat(4096)
    ));
    assert_eq!(n.text(&ctx(), &firing()), "ж".repeat(4096));
}

#[test]
fn chat_id_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat");
    std::fs::write(&path, " -100777\n").unwrap();
    let n = notifier(&format!(
        "{{bot_token: t, chat_id_file: '{}'}}",
        path.display()
    ));
    assert_eq!(n.read_chat_id().unwrap(), -100777);
    std::fs::write(&path, "general").unwrap();
    let err = n.read_chat_id().unwrap_err();
    assert!(err.is_retryable(), "Alertmanager retries: {err}");
    assert!(err.to_string().contains("could not parse chat_id"), "{err}");
}

#[test]
fn global_token_and_url() {
    let global = GlobalConfig {
        telegram_api_url: Some("http://tg.local:8081/".into()),
        telegram_bot_token_file: Some("/run/tg".into()),
        ..GlobalConfig::default()
    };
    let n = notifier_with("{chat_id: 1}", &global);
    assert_eq!(n.token, SecretSource::File("/run/tg".into()));
    assert_eq!(
        n.url("x"),
        "http://tg.local:8081//botx/sendMessage",
        "joined as strings, as Alertmanager does"
    );
    let n = notifier_with("{chat_id: 1, bot_token: own}", &global);
    assert_eq!(n.token, SecretSource::Inline(Secret::new("own")));
}

#[test]
fn config_checks() {
    let global = GlobalConfig::default();
    let err = |yaml: &str| config(yaml).check(&global).unwrap_err();
    assert_eq!(
        err("{bot_token: t, bot_token_file: /t, chat_id: 1}"),
        "at most one of bot_token & bot_token_file must be configured"
    );
    assert_eq!(
        err("{bot_token: t}"),
        "missing chat_id or chat_id_file on telegram_config"
    );
    assert_eq!(
        err("{bot_token: t, chat_id: 0}"),
        "missing chat_id or chat_id_file on telegram_config"
    );
    assert_eq!(
        err("{bot_token: t, chat_id: 1, chat_id_file: /c}"),
        "at most one of chat_id & chat_id_file must be configured"
    );
    assert_eq!(
        err("{bot_token: t, chat_id: 1, parse_mode: markdown}"),
        "unknown parse_mode on telegram_config, must be Markdown, MarkdownV2, HTML or empty string"
    );
    assert_eq!(
        err("{chat_id: 1}"),
        "missing bot_token or bot_token_file on telegram_config"
    );
    assert!(err("{bot_token: t, chat_id: 1, api_url: 'tg.example'}").contains("telegram api_url"));
    assert!(serde_yaml_ng::from_str::<TelegramConfig>("{bot_token: t, chat_id: abc}").is_err());
    let both_global = GlobalConfig {
        telegram_bot_token: Some(Secret::new("t")),
        telegram_bot_token_file: Some("/t".into()),
        ..GlobalConfig::default()
    };
    assert_eq!(
        config("{chat_id: 1}").check(&both_global).unwrap_err(),
        "at most one of telegram_bot_token & telegram_bot_token_file must be configured"
    );
    config("{bot_token_file: /t, chat_id_file: /c, parse_mode: MarkdownV2}")
        .check(&global)
        .unwrap();
}

#[test]
fn every_failure_is_retried_and_flood_control_waits() {
    let answer = |status: u16, body: &str| Answer {
        status,
        body: body.into(),
        retry_after: None,
        content_type: "application/json".into(),
    };
    assert!(check(answer(200, r#"{"ok":true,"result":{"message_id":1}}"#)).is_ok());
    let bad = check(answer(
        400,
        r#"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#,
    ))
    .unwrap_err();
    assert!(bad.is_retryable());
    assert_eq!(
        bad.to_string(),
        "request failed: telegram: Bad Request: chat not found (400)"
    );
    assert!(check(answer(502, "<html>bad gateway</html>"))
        .unwrap_err()
        .is_retryable());
    assert!(check(answer(200, "ok")).unwrap_err().is_retryable());
    let flood = check(answer(
        429,
        r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 3","parameters":{"retry_after":3}}"#,
    ))
    .unwrap_err();
    assert!(flood.is_retryable());
    assert!(matches!(
        flood,
        NotifyError::RateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(3)
    ));
}
