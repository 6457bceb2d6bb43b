use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::*;
use crate::config::GlobalConfig;
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

fn config(yaml: &str) -> DiscordConfig {
    serde_yaml_ng::from_str(yaml).unwrap()
}

fn notifier(yaml: &str) -> DiscordNotifier {
    let c = config(yaml);
    let global = GlobalConfig::default();
    c.check(&global).unwrap();
    DiscordNotifier::new(&c, &global, Arc::new(Templates::with_defaults().unwrap())).unwrap()
}

const FULL: &str = r#"
webhook_url: https://discord.example/api/webhooks/1/tok
content: '<@ops> {{ .CommonLabels.severity }}'
title: '{{ .Status | toUpper }} {{ .GroupLabels.alertname }}'
message: '{{ len .Alerts }} on {{ .CommonLabels.cluster }}: {{ .CommonAnnotations.summary }}'
username: '{{ not templated }}'
avatar_url: https://img.example/bot.png
send_resolved: false
"#;

#[test]
fn every_field_firing_and_resolved() {
    let n = notifier(FULL);
    assert!(!n.send_resolved);
    assert_eq!(
        n.message(&ctx(), &firing()),
        json!({
            "content": "<@ops> critical",
            "embeds": [{
                "title": "FIRING DiskFull",
                "description": "2 on eu-1: disk full",
                "color": 0x992D22,
            }],
            "username": "{{ not templated }}",
            "avatar_url": "https://img.example/bot.png",
        })
    );
    assert_eq!(
        n.message(&ctx(), &resolved()),
        json!({
            "content": "<@ops> critical",
            "embeds": [{
                "title": "RESOLVED DiskFull",
                "description": "2 on eu-1: disk full",
                "color": 3066993,
            }],
            "username": "{{ not templated }}",
            "avatar_url": "https://img.example/bot.png",
        })
    );
}

const ALERT_LIST: &str = "Labels:
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
";

#[test]
fn defaults_send_resolved_and_the_default_texts() {
    let n = notifier("webhook_url: https://discord.example/api/webhooks/1/tok\n");
    assert!(
        n.send_resolved,
        "Alertmanager sends resolved to Discord by default"
    );
    assert_eq!(
        n.message(&ctx(), &firing()),
        json!({
            "content": "",
            "embeds": [{
                "title": "[FIRING:2] DiskFull (eu-1 critical)",
                "description": format!("Firing:\n{ALERT_LIST}"),
                "color": 10038562,
            }],
        })
    );
    assert_eq!(
        n.message(&ctx(), &resolved()),
        json!({
            "content": "",
            "embeds": [{
                "title": "[RESOLVED] DiskFull (eu-1 critical)",
                "description": format!("Resolved:\n{ALERT_LIST}"),
                "color": 3066993,
            }],
        })
    );
    let mixed = vec![alert("db-1", false), alert("db-2", true)];
    let description = n.message(&ctx(), &mixed)["embeds"][0]["description"].clone();
    assert_eq!(
        description,
        json!(
            "Firing:\nLabels:\n - alertname = DiskFull\n - cluster = eu-1\n - instance = db-1\n - severity = critical\nAnnotations:\n - summary = disk full\nSource: http://prom/graph\n\nResolved:\nLabels:\n - alertname = DiskFull\n - cluster = eu-1\n - instance = db-2\n - severity = critical\nAnnotations:\n - summary = disk full\nSource: http://prom/graph\n"
        )
    );
}

fn long(c: char, n: usize) -> String {
    std::iter::repeat_n(c, n).collect()
}

#[test]
fn title_is_cut_to_256_runes_with_an_ellipsis() {
    let n = notifier(&format!(
        "webhook_url: https://d.example/h\ntitle: '{}'\n",
        long('é', 300)
    ));
    let title = n.message(&ctx(), &firing())["embeds"][0]["title"].clone();
    assert_eq!(title, json!(format!("{}…", long('é', 255))));
    let exact = notifier(&format!(
        "webhook_url: https://d.example/h\ntitle: '{}'\n",
        long('é', 256)
    ));
    assert_eq!(
        exact.message(&ctx(), &firing())["embeds"][0]["title"],
        json!(long('é', 256)),
        "a title at the limit is kept whole"
    );
}

#[test]
fn description_is_cut_to_4096_runes() {
    let n = notifier(&format!(
        "webhook_url: https://d.example/h\nmessage: '{}'\n",
        long('ж', 5000)
    ));
    assert_eq!(
        n.message(&ctx(), &firing())["embeds"][0]["description"],
        json!(format!("{}…", long('ж', 4095)))
    );
}

#[test]
fn content_is_cut_to_2000_runes() {
    let n = notifier(&format!(
        "webhook_url: https://d.example/h\ncontent: '{}'\n",
        long('x', 2001)
    ));
    assert_eq!(
        n.message(&ctx(), &firing())["content"],
        json!(format!("{}…", long('x', 1999)))
    );
}

#[test]
fn an_avatar_url_go_would_not_parse_is_left_out() {
    let n = notifier("webhook_url: https://d.example/h\navatar_url: 'http://x/%zz'\n");
    let m = n.message(&ctx(), &firing());
    assert_eq!(m.get("avatar_url"), None, "{m}");
    assert!(go_url_parses("relative/avatar.png"));
    assert!(go_url_parses("https://img.example/a%20b.png?q=%zz"));
    assert!(!go_url_parses(":nothing"));
    assert!(!go_url_parses("http://x/\u{7f}"));
    assert!(!go_url_parses("http://x/%4"));
}

#[test]
fn config_checks() {
    let global = GlobalConfig::default();
    let err = |yaml: &str| config(yaml).check(&global).unwrap_err();
    assert_eq!(
        err("title: t\n"),
        "one of webhook_url or webhook_url_file must be configured"
    );
    assert_eq!(
        err("webhook_url: https://d.example/h\nwebhook_url_file: /run/url\n"),
        "at most one of webhook_url & webhook_url_file must be configured"
    );
    assert!(err("webhook_url: ftp://d.example/h\n").contains("unsupported scheme"));
    assert!(err("webhook_url: ''\n").contains("invalid URL"));
    config("webhook_url: <secret>\n").check(&global).unwrap();
    config("webhook_url_file: /run/url\n")
        .check(&global)
        .unwrap();
    assert!(serde_yaml_ng::from_str::<DiscordConfig>("webhook_url: x\nembeds: []\n").is_err());
    assert_eq!(
        config("webhook_url: h\ntitle: a\nmessage: b\ncontent: c\nusername: d\n")
            .templated_fields(),
        vec![
            ("discord title", "a"),
            ("discord message", "b"),
            ("discord content", "c")
        ]
    );
}

#[tokio::test]
async fn an_unreadable_url_file_fails_without_retry() {
    let n = notifier("webhook_url_file: /nonexistent/discord-url\n");
    let e = n.send(&ctx(), &firing()).await.unwrap_err();
    assert!(matches!(e, NotifyError::Build(_)), "{e:?}");
    assert!(!e.is_retryable());
}

fn answer(status: u16) -> Answer {
    Answer {
        status,
        body: "b".into(),
        retry_after: Some(Duration::from_secs(1)),
        content_type: String::new(),
    }
}

#[test]
fn only_server_errors_are_retried() {
    assert!(check(answer(204)).is_ok());
    assert!(check(answer(200)).is_ok());
    assert!(check(answer(500)).unwrap_err().is_retryable());
    assert!(check(answer(503)).unwrap_err().is_retryable());
    assert!(!check(answer(400)).unwrap_err().is_retryable());
    assert!(!check(answer(404)).unwrap_err().is_retryable());
    assert!(
        !check(answer(429)).unwrap_err().is_retryable(),
        "Alertmanager's retrier for Discord does not retry 429"
    );
}
