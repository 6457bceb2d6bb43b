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

fn config(yaml: &str) -> Msteamsv2Config {
    serde_yaml_ng::from_str(yaml).unwrap()
}

fn notifier(yaml: &str) -> Msteamsv2Notifier {
    let c = config(yaml);
    let global = GlobalConfig::default();
    c.check(&global).unwrap();
    Msteamsv2Notifier::new(&c, &global, Arc::new(Templates::with_defaults().unwrap())).unwrap()
}

/// The whole workflow message for a heading, its colour and a text.
fn card(title: &str, color: &str, text: &str) -> Json {
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
                    {
                        "type": "TextBlock",
                        "text": title,
                        "weight": "Bolder",
                        "size": "Medium",
                        "wrap": true,
                        "style": "heading",
                        "color": color
                    },
                    {"type": "TextBlock", "text": text, "wrap": true}
                ],
                "msteams": {"width": "full"}
            }
        }]
    })
}

#[test]
fn every_field_firing_and_resolved() {
    let n = notifier(
        "webhook_url: https://prod.example/workflows/abc/triggers/manual/paths/invoke?sig=s\ntitle: '{{ .Status | title }}: {{ .GroupLabels.alertname }}'\ntext: '{{ range .Alerts }}{{ .Labels.instance }} {{ end }}'\nsend_resolved: false\n",
    );
    assert!(!n.send_resolved);
    let firing = vec![alert("db-1", false), alert("db-2", false)];
    assert_eq!(
        n.message(&ctx(), &firing),
        card("Firing: DiskFull", "Attention", "db-1 db-2 ")
    );
    let resolved = vec![alert("db-1", true)];
    assert_eq!(
        n.message(&ctx(), &resolved),
        card("Resolved: DiskFull", "Good", "db-1 ")
    );
}

const DB1: &str = "\n**Labels**\n- alertname: DiskFull\n- cluster: eu-1\n- instance: db-1\n- severity: critical\n\n**Annotations**\n- summary: disk full\n\n[Source](http://prom/graph)\n";

#[test]
fn defaults() {
    let n = notifier("webhook_url_file: /run/teams-workflow-url\n");
    assert!(
        n.send_resolved,
        "Alertmanager sends resolved to Teams by default"
    );
    assert_eq!(
        n.message(&ctx(), &[alert("db-1", false)]),
        card(
            "[FIRING:1] DiskFull (eu-1 db-1 critical)",
            "Attention",
            &format!("# Firing\n{DB1}")
        )
    );
    assert_eq!(
        n.message(&ctx(), &[alert("db-1", true)]),
        card(
            "[RESOLVED] DiskFull (eu-1 db-1 critical)",
            "Good",
            &format!("# Resolved\n{DB1}")
        )
    );
}

#[test]
fn a_block_with_its_own_http_config_keeps_the_global_proxy() {
    let global = GlobalConfig {
        http_config: Some(crate::config::HttpClientConfig {
            proxy_url: Some("http://proxy.example:3128".into()),
            follow_redirects: Some(false),
            ..Default::default()
        }),
        ..Default::default()
    };
    let own = config("webhook_url: https://w.example/\nhttp_config:\n  follow_redirects: true\n");
    let http = own.http(&global).unwrap();
    assert_eq!(http.proxy_url.as_deref(), Some("http://proxy.example:3128"));
    assert_eq!(
        http.follow_redirects,
        Some(true),
        "the rest is the block's own"
    );
    let own_proxy = config(
        "webhook_url: https://w.example/\nhttp_config:\n  proxy_url: http://mine.example:1\n",
    );
    assert_eq!(
        own_proxy.http(&global).unwrap().proxy_url.as_deref(),
        Some("http://mine.example:1")
    );
    let none = config("webhook_url: https://w.example/\n");
    assert_eq!(none.http(&global).unwrap().follow_redirects, Some(false));
    assert!(none.http(&GlobalConfig::default()).is_none());
}

#[test]
fn config_checks() {
    let global = GlobalConfig::default();
    let err = |yaml: &str| config(yaml).check(&global).unwrap_err();
    assert_eq!(
        err("text: t\n"),
        "one of webhook_url or webhook_url_file must be configured"
    );
    assert_eq!(
        err("webhook_url: https://t.example/h\nwebhook_url_file: /f\n"),
        "at most one of webhook_url & webhook_url_file must be configured"
    );
    assert!(err("webhook_url: 'not a url'\n").contains("msteamsv2 webhook_url"));
    config("webhook_url: <secret>\n").check(&global).unwrap();
    assert!(serde_yaml_ng::from_str::<Msteamsv2Config>("webhook_url: x\nsummary: s\n").is_err());
    assert_eq!(
        config("webhook_url: h\ntitle: a\ntext: b\n").templated_fields(),
        vec![("msteamsv2 title", "a"), ("msteamsv2 text", "b")]
    );
}

#[tokio::test]
async fn an_unreadable_url_file_fails_without_retry() {
    let n = notifier("webhook_url_file: /nonexistent/teams-url\n");
    let e = n.send(&ctx(), &[alert("db-1", false)]).await.unwrap_err();
    assert!(matches!(e, NotifyError::Build(_)), "{e:?}");
    assert!(!e.is_retryable());
}
