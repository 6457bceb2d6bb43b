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

fn config(yaml: &str) -> RocketchatConfig {
    serde_yaml_ng::from_str(yaml).unwrap()
}

fn notifier_with(yaml: &str, global: &GlobalConfig) -> RocketchatNotifier {
    let c = config(yaml);
    c.check(global).unwrap();
    RocketchatNotifier::new(&c, global, Arc::new(Templates::with_defaults().unwrap())).unwrap()
}

fn notifier(yaml: &str) -> RocketchatNotifier {
    notifier_with(yaml, &GlobalConfig::default())
}

const FULL: &str = r#"
api_url: https://chat.example/base/
token: tok
token_id: uid
channel: '#ops-{{ .CommonLabels.cluster }}'
color: '{{ if eq .Status "firing" }}#ff0000{{ else }}#00ff00{{ end }}'
title: '{{ .Status }}: {{ .GroupLabels.alertname }}'
title_link: 'https://grafana.example/d/{{ .CommonLabels.cluster }}'
text: '{{ .CommonAnnotations.summary }}'
fields:
  - {title: Cluster, value: '{{ .CommonLabels.cluster }}', short: false}
  - {title: Severity, value: '{{ .CommonLabels.severity }}'}
  - {title: '{{ .CommonLabels.nothere }}', value: '{{ .CommonLabels.nothere }}'}
short_fields: true
emoji: ':fire:'
icon_url: 'https://img.example/{{ .Receiver }}.png'
image_url: 'https://img.example/graph-{{ .GroupLabels.alertname }}.png'
thumb_url: https://img.example/thumb.png
link_names: true
actions:
  - {type: link, text: 'Runbook {{ .GroupLabels.alertname }}', url: 'https://rb.example/{{ .GroupLabels.alertname }}', msg: 'ack {{ .Status }}'}
  - {text: Silence}
send_resolved: true
"#;

/// The whole body for a status (`firing`, `resolved`) and its colour.
fn full_body(status: &str, color: &str) -> Json {
    json!({
        "channel": "#ops-eu-1",
        "emoji": ":fire:",
        "avatar": "https://img.example/team.png",
        "attachments": [{
            "title": format!("{status}: DiskFull"),
            "title_link": "https://grafana.example/d/eu-1",
            "text": "disk full",
            "image_url": "https://img.example/graph-DiskFull.png",
            "thumb_url": "https://img.example/thumb.png",
            "color": color,
            "fields": [
                {"short": false, "title": "Cluster", "value": "eu-1"},
                {"short": true, "title": "Severity", "value": "critical"},
                {"short": true},
            ],
            "actions": [
                {
                    "type": "button",
                    "text": "Runbook DiskFull",
                    "url": "https://rb.example/DiskFull",
                    "is_webview": false,
                    "msg": format!("ack {status}"),
                    "msg_in_chat_window": false,
                },
                {
                    "type": "button",
                    "text": "Silence",
                    "is_webview": false,
                    "msg_in_chat_window": false,
                },
            ],
        }],
    })
}

#[test]
fn every_field_firing_and_resolved() {
    let n = notifier(FULL);
    assert!(n.send_resolved);
    assert_eq!(n.url(), "https://chat.example/base/api/v1/chat.postMessage");
    assert_eq!(n.message(&ctx(), &firing()), full_body("firing", "#ff0000"));
    assert_eq!(
        n.message(&ctx(), &resolved()),
        full_body("resolved", "#00ff00")
    );
}

#[test]
fn defaults() {
    let n = notifier("token: t\ntoken_id: u\n");
    assert!(
        !n.send_resolved,
        "Alertmanager does not send resolved to Rocket.Chat by default"
    );
    assert_eq!(n.url(), "https://open.rocket.chat/api/v1/chat.postMessage");
    assert_eq!(
        n.message(&ctx(), &firing()),
        json!({
            "attachments": [{
                "title": "[FIRING:2] DiskFull (eu-1 critical)",
                "title_link": "http://ar.example:9093/#/alerts?receiver=team",
                "color": "red",
            }],
        })
    );
    assert_eq!(
        n.message(&ctx(), &resolved()),
        json!({
            "attachments": [{
                "title": "[RESOLVED] DiskFull (eu-1 critical)",
                "title_link": "http://ar.example:9093/#/alerts?receiver=team",
                "color": "green",
            }],
        })
    );
}

#[test]
fn the_title_is_cut_to_1024_runes() {
    let n = notifier(&format!(
        "token: t\ntoken_id: u\ntitle: '{}'\n",
        "ü".repeat(1100)
    ));
    assert_eq!(
        n.message(&ctx(), &firing())["attachments"][0]["title"],
        json!(format!("{}…", "ü".repeat(1023)))
    );
    let at_limit = notifier(&format!(
        "token: t\ntoken_id: u\ntitle: '{}'\n",
        "ü".repeat(1024)
    ));
    assert_eq!(
        at_limit.message(&ctx(), &firing())["attachments"][0]["title"],
        json!("ü".repeat(1024))
    );
}

#[test]
fn the_api_path_joins_the_base_url() {
    for (base, want) in [
        (
            "https://open.rocket.chat/",
            "https://open.rocket.chat/api/v1/chat.postMessage",
        ),
        (
            "https://c.example",
            "https://c.example/api/v1/chat.postMessage",
        ),
        (
            "https://c.example/rc",
            "https://c.example/rc/api/v1/chat.postMessage",
        ),
        (
            "http://c.example:3000/rc/?x=1",
            "http://c.example:3000/rc/api/v1/chat.postMessage?x=1",
        ),
    ] {
        assert_eq!(post_message_url(base).unwrap(), want, "{base}");
    }
}

#[test]
fn credentials_and_url_fall_back_to_global() {
    let global = GlobalConfig {
        rocketchat_api_url: Some("https://global.example/".into()),
        rocketchat_token: Some(Secret::new("gt")),
        rocketchat_token_id: Some(Secret::new("gu")),
        ..Default::default()
    };
    let n = notifier_with("channel: '#a'\n", &global);
    assert_eq!(n.url(), "https://global.example/api/v1/chat.postMessage");
    assert_eq!(n.token.current().expose(), "gt");
    assert_eq!(n.token_id.current().expose(), "gu");
    let own = notifier_with(
        "token: t\ntoken_id: u\napi_url: https://own.example\n",
        &global,
    );
    assert_eq!(own.url(), "https://own.example/api/v1/chat.postMessage");
    assert_eq!(own.token.current().expose(), "t");
    assert_eq!(own.token_id.current().expose(), "u");
}

#[test]
fn credential_files_are_read_at_load_and_again_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "first\n").unwrap();
    let yaml = format!("token_file: {}\ntoken_id: u\n", token.display());
    let n = notifier(&yaml);
    assert_eq!(n.token.current().expose(), "first");
    std::fs::write(&token, "rotated").unwrap();
    assert_eq!(n.token.current().expose(), "rotated");
    std::fs::remove_file(&token).unwrap();
    assert_eq!(
        n.token.current().expose(),
        "first",
        "a file gone after load leaves the token read at load"
    );
    let c = config(&yaml);
    let e = RocketchatNotifier::new(
        &c,
        &GlobalConfig::default(),
        Arc::new(Templates::with_defaults().unwrap()),
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("could not read"), "{e}");
}

#[test]
fn config_checks() {
    let global = GlobalConfig::default();
    let err = |yaml: &str, global: &GlobalConfig| config(yaml).check(global).unwrap_err();
    assert_eq!(
        err("token: t\n", &global),
        "no global Rocketchat TokenID set either inline or in a file"
    );
    assert_eq!(
        err("token_id: u\n", &global),
        "no global Rocketchat Token set either inline or in a file"
    );
    assert_eq!(
        err("token: t\ntoken_file: /f\ntoken_id: u\n", &global),
        "at most one of token & token_file must be configured"
    );
    assert_eq!(
        err("token: t\ntoken_id: u\ntoken_id_file: /f\n", &global),
        "at most one of token_id & token_id_file must be configured"
    );
    let both_global = GlobalConfig {
        rocketchat_token: Some(Secret::new("gt")),
        rocketchat_token_file: Some("/f".into()),
        rocketchat_token_id: Some(Secret::new("gu")),
        ..Default::default()
    };
    assert_eq!(
        err("channel: x\n", &both_global),
        "at most one of rocketchat_token & rocketchat_token_file must be configured"
    );
    assert!(err("token: t\ntoken_id: u\napi_url: 'chat'\n", &global).contains("rocketchat api_url"));
    let bad_global = GlobalConfig {
        rocketchat_api_url: Some("ftp://x/".into()),
        ..Default::default()
    };
    assert!(err("token: t\ntoken_id: u\n", &bad_global).contains("unsupported scheme"));
    config("token_file: /f\ntoken_id_file: /g\n")
        .check(&global)
        .unwrap();
    assert!(serde_yaml_ng::from_str::<RocketchatConfig>("token: t\nusername: x\n").is_err());
    assert!(serde_yaml_ng::from_str::<RocketchatConfig>(
        "actions: [{text: a, imageurl: i, iswebview: true, msginchatwindow: true}]\n"
    )
    .is_ok());
    assert_eq!(
        config(FULL).templated_fields(),
        vec![
            ("rocketchat channel", "#ops-{{ .CommonLabels.cluster }}"),
            (
                "rocketchat color",
                r#"{{ if eq .Status "firing" }}#ff0000{{ else }}#00ff00{{ end }}"#
            ),
            (
                "rocketchat title",
                "{{ .Status }}: {{ .GroupLabels.alertname }}"
            ),
            (
                "rocketchat title_link",
                "https://grafana.example/d/{{ .CommonLabels.cluster }}"
            ),
            ("rocketchat text", "{{ .CommonAnnotations.summary }}"),
            ("rocketchat emoji", ":fire:"),
            (
                "rocketchat icon_url",
                "https://img.example/{{ .Receiver }}.png"
            ),
            (
                "rocketchat image_url",
                "https://img.example/graph-{{ .GroupLabels.alertname }}.png"
            ),
            ("rocketchat thumb_url", "https://img.example/thumb.png"),
            ("rocketchat field title", "Cluster"),
            ("rocketchat field value", "{{ .CommonLabels.cluster }}"),
            ("rocketchat field title", "Severity"),
            ("rocketchat field value", "{{ .CommonLabels.severity }}"),
            ("rocketchat field title", "{{ .CommonLabels.nothere }}"),
            ("rocketchat field value", "{{ .CommonLabels.nothere }}"),
            (
                "rocketchat action text",
                "Runbook {{ .GroupLabels.alertname }}"
            ),
            (
                "rocketchat action url",
                "https://rb.example/{{ .GroupLabels.alertname }}"
            ),
            ("rocketchat action msg", "ack {{ .Status }}"),
            ("rocketchat action text", "Silence"),
        ]
    );
}

fn answer(status: u16, body: &str) -> Answer {
    Answer {
        status,
        body: body.into(),
        retry_after: None,
        content_type: "application/json".into(),
    }
}

#[test]
fn answers_statuses_and_success_flag() {
    assert!(check(answer(200, r#"{"success":true,"ts":1}"#), "#a").is_ok());
    let refused = check(
        answer(200, r#"{"success":false,"error":"error-not-allowed"}"#),
        "#a",
    )
    .unwrap_err();
    assert!(!refused.is_retryable());
    assert_eq!(
        refused.to_string(),
        "rocketchat answered 200 with unexpected body: channel \"#a\": error response from Rocketchat: error-not-allowed"
    );
    let garbled = check(answer(200, "<html>"), "#a").unwrap_err();
    assert!(
        garbled.is_retryable(),
        "a 2xx that is not JSON is tried again"
    );
    assert!(garbled
        .to_string()
        .contains("could not unmarshal JSON response"));
    assert!(!check(answer(200, "{}"), "#a").unwrap_err().is_retryable());
    let server = check(answer(500, "down"), "#a").unwrap_err();
    assert!(server.is_retryable());
    assert_eq!(
        server.to_string(),
        "rocketchat answered 500: channel \"#a\": down"
    );
    assert!(!check(answer(400, r#"{"success":false}"#), "#a")
        .unwrap_err()
        .is_retryable());
    assert!(!check(answer(429, ""), "#a").unwrap_err().is_retryable());
}
