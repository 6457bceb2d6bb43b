use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

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

fn config(yaml: &str) -> MattermostConfig {
    serde_yaml_ng::from_str(yaml).unwrap()
}

fn notifier_with(yaml: &str, global: &GlobalConfig) -> MattermostNotifier {
    let c = config(yaml);
    c.check(global).unwrap();
    MattermostNotifier::new(&c, global, Arc::new(Templates::with_defaults().unwrap())).unwrap()
}

fn notifier(yaml: &str) -> MattermostNotifier {
    notifier_with(yaml, &GlobalConfig::default())
}

/// Every field of the block's own attachment, and the message-level ones.
const FULL: &str = r#"
webhook_url: https://mm.example/hooks/xyz
channel: 'ops-{{ .CommonLabels.cluster }}'
username: 'bot-{{ .Receiver }}'
text: '{{ .Status }}: {{ .CommonAnnotations.summary }}'
fallback: 'fb {{ .GroupLabels.alertname }}'
color: '{{ if eq .Status "firing" }}#d00000{{ else }}#00d000{{ end }}'
pretext: 'pre {{ len .Alerts }}'
author_name: 'Prometheus {{ .CommonLabels.cluster }}'
author_link: https://prom.example/
author_icon: https://prom.example/icon.png
title: 'T {{ .Status | toUpper }}'
title_link: 'https://ar.example/{{ .GroupLabels.alertname }}'
fields:
  - {title: Severity, value: '{{ .CommonLabels.severity }}', short: true}
  - {title: Cluster, value: '{{ .CommonLabels.cluster }}', short: false}
  - {title: Note, value: n}
thumb_url: https://img.example/thumb.png
footer: 'footer {{ .Receiver }}'
footer_icon: https://img.example/footer.png
image_url: https://img.example/graph.png
icon_url: https://img.example/bot.png
icon_emoji: ':rotating_light:'
type: 'custom_{{ .Receiver }}'
props:
  card: '**{{ .GroupLabels.alertname }}** on {{ .CommonLabels.cluster }}'
priority:
  priority: '{{ if eq .Status "firing" }}URGENT{{ else }}standard{{ end }}'
  requested_ack: true
  persistent_notifications: true
send_resolved: false
"#;

fn full_body(status: &str, color: &str, priority: Json) -> Json {
    json!({
        "channel": "ops-eu-1",
        "username": "bot-team",
        "icon_url": "https://img.example/bot.png",
        "icon_emoji": ":rotating_light:",
        "type": "custom_team",
        "attachments": [{
            "fallback": "fb DiskFull",
            "color": color,
            "pretext": "pre 2",
            "text": format!("{status}: disk full"),
            "author_name": "Prometheus eu-1",
            "author_link": "https://prom.example/",
            "author_icon": "https://prom.example/icon.png",
            "title": format!("T {}", status.to_uppercase()),
            "title_link": "https://ar.example/DiskFull",
            "fields": [
                {"title": "Severity", "value": "critical", "short": true},
                {"title": "Cluster", "value": "eu-1", "short": false},
                {"title": "Note", "value": "n"},
            ],
            "thumb_url": "https://img.example/thumb.png",
            "footer": "footer team",
            "footer_icon": "https://img.example/footer.png",
            "image_url": "https://img.example/graph.png",
        }],
        "props": {"card": "**DiskFull** on eu-1"},
        "priority": priority,
    })
}

#[test]
fn every_field_firing_and_resolved() {
    let n = notifier(FULL);
    assert!(!n.send_resolved);
    assert_eq!(
        n.message(&ctx(), &firing()),
        full_body(
            "firing",
            "#d00000",
            json!({"priority": "urgent", "requested_ack": true, "persistent_notifications": true})
        )
    );
    assert_eq!(
        n.message(&ctx(), &resolved()),
        full_body("resolved", "#00d000", json!({"priority": "standard"})),
        "standard priority drops the ack request and persistent notifications"
    );
}

#[test]
fn configured_attachments_replace_the_blocks_own_and_text_moves_up() {
    let n = notifier(
        r#"
webhook_url: https://mm.example/hooks/xyz
title: ignored
color: ignored
fields: [{title: ignored, value: ignored}]
attachments:
  - title: 'A {{ .Status }}'
    text: 'body {{ .CommonLabels.cluster }}'
    color: '#123456'
    fields: [{title: Host, value: '{{ .CommonLabels.severity }}', short: true}]
  - {footer: second}
  - {pretext: '{{ .CommonLabels.nothere }}'}
"#,
    );
    assert_eq!(
        n.message(&ctx(), &firing()),
        json!({
            "username": "alert-router",
            "text": format!("# Firing\n{DB1}{DB2}"),
            "attachments": [
                {
                    "title": "A firing",
                    "text": "body eu-1",
                    "color": "#123456",
                    "fields": [{"title": "Host", "value": "critical", "short": true}],
                },
                {"footer": "second"},
                {},
            ],
        })
    );
}

const DB1: &str = "\n**Labels**\n- alertname: DiskFull\n- cluster: eu-1\n- instance: db-1\n- severity: critical\n\n**Annotations**\n- summary: disk full\n\n[Source](http://prom/graph)\n";
const DB2: &str = "\n**Labels**\n- alertname: DiskFull\n- cluster: eu-1\n- instance: db-2\n- severity: critical\n\n**Annotations**\n- summary: disk full\n\n[Source](http://prom/graph)\n";

#[test]
fn defaults() {
    let n = notifier("webhook_url: https://mm.example/hooks/xyz\n");
    assert!(
        n.send_resolved,
        "Alertmanager sends resolved to Mattermost by default"
    );
    assert_eq!(
        n.message(&ctx(), &firing()),
        json!({
            "username": "alert-router",
            "attachments": [{
                "fallback": "[FIRING:2] DiskFull (eu-1 critical) | http://ar.example:9093/#/alerts?receiver=team",
                "color": "danger",
                "text": format!("# Firing\n{DB1}{DB2}"),
                "title": "[FIRING:2] DiskFull (eu-1 critical)",
                "title_link": "http://ar.example:9093/#/alerts?receiver=team",
            }],
        })
    );
    assert_eq!(
        n.message(&ctx(), &resolved()),
        json!({
            "username": "alert-router",
            "attachments": [{
                "fallback": "[RESOLVED] DiskFull (eu-1 critical) | http://ar.example:9093/#/alerts?receiver=team",
                "color": "good",
                "text": format!("# Resolved\n{DB1}{DB2}"),
                "title": "[RESOLVED] DiskFull (eu-1 critical)",
                "title_link": "http://ar.example:9093/#/alerts?receiver=team",
            }],
        })
    );
}

#[test]
fn the_message_text_is_cut_to_16383_runes() {
    let long = "ß".repeat(17000);
    let n = notifier(&format!(
        "webhook_url: https://mm.example/h\ntext: '{long}'\nattachments: [{{title: t}}]\n"
    ));
    assert_eq!(
        n.message(&ctx(), &firing())["text"],
        json!(format!("{}…", "ß".repeat(16382)))
    );
    // Alertmanager cuts only the message's own text: in the block's attachment it stays whole.
    let own = notifier(&format!(
        "webhook_url: https://mm.example/h\ntext: '{long}'\n"
    ));
    assert_eq!(
        own.message(&ctx(), &firing())["attachments"][0]["text"],
        json!(long)
    );
}

#[test]
fn priorities_are_normalised() {
    let with = |p: &str, ack: bool, persistent: bool| {
        let n = notifier(&format!(
            "webhook_url: https://mm.example/h\npriority: {{priority: '{p}', requested_ack: {ack}, persistent_notifications: {persistent}}}\n"
        ));
        n.message(&ctx(), &firing()).get("priority").cloned()
    };
    assert_eq!(
        with("Important", true, true),
        Some(json!({"priority": "important", "requested_ack": true}))
    );
    assert_eq!(
        with("bogus", true, true),
        Some(json!({"priority": "standard"}))
    );
    assert_eq!(
        with("urgent", false, true),
        Some(json!({"priority": "urgent", "persistent_notifications": true}))
    );
    assert_eq!(with("", true, true), None, "an empty priority sends none");
    let no_card = notifier("webhook_url: https://mm.example/h\nprops: {card: ''}\n");
    assert_eq!(no_card.message(&ctx(), &firing()).get("props"), None);
    let empty_card =
        notifier("webhook_url: https://mm.example/h\nprops: {card: '{{ .CommonLabels.x }}'}\n");
    assert_eq!(
        empty_card.message(&ctx(), &firing()).get("props"),
        Some(&json!({})),
        "a card that renders empty still sends props, as Alertmanager does"
    );
}

#[test]
fn the_webhook_falls_back_to_global() {
    let global = GlobalConfig {
        mattermost_webhook_url: Some(Secret::new("https://global.example/hooks/g")),
        ..Default::default()
    };
    let n = notifier_with("channel: c\n", &global);
    assert_eq!(
        n.webhook,
        SecretSource::Inline(Secret::new("https://global.example/hooks/g"))
    );
    let own = notifier_with("webhook_url_file: /run/mm\n", &global);
    assert_eq!(own.webhook, SecretSource::File("/run/mm".into()));
}

#[test]
fn config_checks() {
    let global = GlobalConfig::default();
    let err = |yaml: &str, global: &GlobalConfig| config(yaml).check(global).unwrap_err();
    assert_eq!(
        err("channel: c\n", &global),
        "missing webhook_url or webhook_url_file on mattermost_config"
    );
    assert_eq!(
        err("webhook_url: https://m/h\nwebhook_url_file: /f\n", &global),
        "at most one of webhook_url & webhook_url_file must be configured"
    );
    let both_global = GlobalConfig {
        mattermost_webhook_url: Some(Secret::new("https://m/h")),
        mattermost_webhook_url_file: Some("/f".into()),
        ..Default::default()
    };
    assert_eq!(
        err("webhook_url: https://m/h\n", &both_global),
        "at most one of mattermost_webhook_url & mattermost_webhook_url_file must be configured"
    );
    assert!(err("webhook_url: 'gopher://m/h'\n", &global).contains("mattermost webhook_url"));
    config("webhook_url: <secret>\n").check(&global).unwrap();
    assert_eq!(
        err("webhook_url: https://m/h\nfields: [{value: v}]\n", &global),
        "missing title in Mattermost field configuration"
    );
    assert_eq!(
        err(
            "webhook_url: https://m/h\nattachments: [{fields: [{title: t, value: ''}]}]\n",
            &global
        ),
        "missing value in Mattermost field configuration"
    );
    assert!(
        serde_yaml_ng::from_str::<MattermostConfig>("webhook_url: x\nlink_names: true\n").is_err()
    );
    assert!(
        serde_yaml_ng::from_str::<MattermostConfig>("webhook_url: x\npriority: {level: 1}\n")
            .is_err()
    );
    let c = config(
        "webhook_url: h\nchannel: c\ntitle: t\nfields: [{title: ft, value: fv}]\nattachments: [{text: at, footer: af}]\nprops: {card: pc}\npriority: {priority: pp}\n",
    );
    assert_eq!(
        c.templated_fields(),
        vec![
            ("mattermost channel", "c"),
            ("mattermost title", "t"),
            ("mattermost field title", "ft"),
            ("mattermost field value", "fv"),
            ("mattermost footer", "af"),
            ("mattermost attachment text", "at"),
            ("mattermost props card", "pc"),
            ("mattermost priority", "pp"),
        ]
    );
}

#[tokio::test]
async fn unreadable_or_empty_urls_fail_without_retry() {
    let n = notifier("webhook_url_file: /nonexistent/mm-url\n");
    let e = n.send(&ctx(), &firing()).await.unwrap_err();
    assert!(
        matches!(e, NotifyError::Build(_)) && !e.is_retryable(),
        "{e:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("url");
    std::fs::write(&file, "  \n").unwrap();
    let n = notifier(&format!("webhook_url_file: {}\n", file.display()));
    let e = n.send(&ctx(), &firing()).await.unwrap_err();
    assert_eq!(e.to_string(), "building notification: webhook url missing");
}

fn answer(status: u16) -> Answer {
    Answer {
        status,
        body: "b".into(),
        retry_after: None,
        content_type: String::new(),
    }
}

#[test]
fn only_server_errors_are_retried() {
    assert!(check(answer(200), "c").is_ok());
    let e = check(answer(500), "ops").unwrap_err();
    assert!(e.is_retryable());
    assert_eq!(e.to_string(), "mattermost answered 500: channel \"ops\": b");
    assert!(!check(answer(403), "c").unwrap_err().is_retryable());
    assert!(!check(answer(429), "c").unwrap_err().is_retryable());
}
