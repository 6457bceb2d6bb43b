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

fn config(yaml: &str) -> MsteamsConfig {
    serde_yaml_ng::from_str(yaml).unwrap()
}

fn notifier(yaml: &str) -> MsteamsNotifier {
    let c = config(yaml);
    let global = GlobalConfig::default();
    c.check(&global).unwrap();
    MsteamsNotifier::new(&c, &global, Arc::new(Templates::with_defaults().unwrap())).unwrap()
}

#[test]
fn every_field_firing_and_resolved() {
    let n = notifier(
        "webhook_url: https://outlook.example/webhook/abc\ntitle: 'T {{ .Status }}'\nsummary: 'S {{ .GroupLabels.alertname }}'\ntext: '{{ len .Alerts }} × {{ .CommonAnnotations.summary }}'\nsend_resolved: false\n",
    );
    assert!(!n.send_resolved);
    assert_eq!(
        n.message(&ctx(), &firing()),
        json!({
            "@context": "http://schema.org/extensions",
            "type": "MessageCard",
            "title": "T firing",
            "summary": "S DiskFull",
            "text": "2 × disk full",
            "themeColor": "8C1A1A",
        })
    );
    assert_eq!(
        n.message(&ctx(), &resolved()),
        json!({
            "@context": "http://schema.org/extensions",
            "type": "MessageCard",
            "title": "T resolved",
            "summary": "S DiskFull",
            "text": "2 × disk full",
            "themeColor": "2DC72D",
        })
    );
}

const DB1: &str = "\n**Labels**\n- alertname: DiskFull\n- cluster: eu-1\n- instance: db-1\n- severity: critical\n\n**Annotations**\n- summary: disk full\n\n[Source](http://prom/graph)\n";
const DB2: &str = "\n**Labels**\n- alertname: DiskFull\n- cluster: eu-1\n- instance: db-2\n- severity: critical\n\n**Annotations**\n- summary: disk full\n\n[Source](http://prom/graph)\n";

#[test]
fn defaults() {
    let n = notifier("webhook_url: https://outlook.example/webhook/abc\n");
    assert!(
        n.send_resolved,
        "Alertmanager sends resolved to Teams by default"
    );
    assert_eq!(
        n.message(&ctx(), &firing()),
        json!({
            "@context": "http://schema.org/extensions",
            "type": "MessageCard",
            "title": "[FIRING:2] DiskFull (eu-1 critical)",
            "summary": "[FIRING:2] DiskFull (eu-1 critical)",
            "text": format!("# Firing\n{DB1}{DB2}"),
            "themeColor": "8C1A1A",
        })
    );
    assert_eq!(
        n.message(&ctx(), &resolved()),
        json!({
            "@context": "http://schema.org/extensions",
            "type": "MessageCard",
            "title": "[RESOLVED] DiskFull (eu-1 critical)",
            "summary": "[RESOLVED] DiskFull (eu-1 critical)",
            "text": format!("# Resolved\n{DB1}{DB2}"),
            "themeColor": "2DC72D",
        })
    );
    let mixed = vec![alert("db-1", false), alert("db-2", true)];
    let m = n.message(&ctx(), &mixed);
    assert_eq!(
        m["text"],
        json!(format!("# Firing\n{DB1}\n# Resolved\n{DB2}"))
    );
    assert_eq!(
        m["themeColor"], "8C1A1A",
        "one firing alert makes the group firing"
    );
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
        err("webhook_url: https://t.example/h\nwebhook_url_file: /f\n"),
        "at most one of webhook_url & webhook_url_file must be configured"
    );
    assert!(err("webhook_url: 'mailto:x@y'\n").contains("msteams webhook_url"));
    config("webhook_url: <secret>\n").check(&global).unwrap();
    config("webhook_url_file: /f\n").check(&global).unwrap();
    assert!(serde_yaml_ng::from_str::<MsteamsConfig>("webhook_url: x\ncolor: red\n").is_err());
    assert_eq!(
        config("webhook_url: h\ntitle: a\nsummary: b\ntext: c\n").templated_fields(),
        vec![
            ("msteams title", "a"),
            ("msteams summary", "b"),
            ("msteams text", "c")
        ]
    );
}

#[tokio::test]
async fn an_unreadable_url_file_fails_without_retry() {
    let n = notifier("webhook_url_file: /nonexistent/teams-url\n");
    let e = n.send(&ctx(), &firing()).await.unwrap_err();
    assert!(matches!(e, NotifyError::Build(_)), "{e:?}");
    assert!(!e.is_retryable());
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
    assert!(check(answer(200), "msteams").is_ok());
    assert!(check(answer(500), "msteams").unwrap_err().is_retryable());
    assert!(!check(answer(400), "msteams").unwrap_err().is_retryable());
    assert!(!check(answer(429), "msteams").unwrap_err().is_retryable());
}

#[test]
fn the_markdown_list_leaves_out_empty_annotations_and_source() {
    let n = notifier("webhook_url: https://outlook.example/webhook/abc\n");
    let mut bare = alert("db-1", false);
    bare.annotations = LabelSet::new();
    bare.generator_url = "".into();
    assert_eq!(
        n.message(&ctx(), &[bare])["text"],
        json!("# Firing\n\n**Labels**\n- alertname: DiskFull\n- cluster: eu-1\n- instance: db-1\n- severity: critical\n")
    );
}
