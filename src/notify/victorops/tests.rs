use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::config::{GlobalConfig, Secret};
use crate::model::time::parse_rfc3339;
use crate::model::{Alert, LabelSet};
use crate::notify::http::Answer;
use crate::notify::registry::IntegrationConfig;

const ENTITY_ID: &str = "17c4e445d234645c9e547ff6d32a864af0ebdadcd1902771c24c8d366637ff41";

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

fn config(yaml: &str) -> VictoropsConfig {
    serde_yaml_ng::from_str(yaml).unwrap()
}

fn notifier_with(yaml: &str, global: &GlobalConfig) -> VictoropsNotifier {
    let c = config(yaml);
    c.check(global).unwrap();
    VictoropsNotifier::new(&c, global, Arc::new(Templates::with_defaults().unwrap())).unwrap()
}

fn notifier(yaml: &str) -> VictoropsNotifier {
    notifier_with(yaml, &GlobalConfig::default())
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const FULL: &str = r#"
api_key: vk
api_url: https://vo.example/alert
routing_key: 'team-{{ .CommonLabels.severity }}'
message_type: WARNING
state_message: 'state {{ .Status }}'
entity_display_name: 'name {{ .GroupLabels.alertname }}'
monitoring_tool: tool
custom_fields:
  cluster: '{{ .CommonLabels.cluster }}'
  static: s
send_resolved: false
"#;

#[test]
fn every_field_firing_and_resolved() {
    let n = notifier(FULL);
    assert!(!n.send_resolved);
    assert_eq!(
        n.url("vk", &ctx(), &firing()),
        "https://vo.example/alert/vk/team-critical"
    );
    assert_eq!(
        n.message(&ctx(), &firing()),
        map(&[
            ("cluster", "eu-1"),
            ("entity_display_name", "name DiskFull"),
            ("entity_id", ENTITY_ID),
            ("message_type", "WARNING"),
            ("monitoring_tool", "tool"),
            ("state_message", "state firing"),
            ("static", "s"),
        ])
    );
    assert_eq!(
        n.message(&ctx(), &resolved()),
        map(&[
            ("cluster", "eu-1"),
            ("entity_display_name", "name DiskFull"),
            ("entity_id", ENTITY_ID),
            ("message_type", "RECOVERY"),
            ("monitoring_tool", "tool"),
            ("state_message", "state resolved"),
            ("static", "s"),
        ])
    );
    // The wire form: one flat JSON object, keys sorted as Go encodes a map.
    assert_eq!(
        serde_json::to_string(&n.message(&ctx(), &firing())).unwrap(),
        format!(
            r#"{{"cluster":"eu-1","entity_display_name":"name DiskFull","entity_id":"{ENTITY_ID}","message_type":"WARNING","monitoring_tool":"tool","state_message":"state firing","static":"s"}}"#
        )
    );
}

const FIRING_STATE: &str = "disk full
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
";

#[test]
fn defaults() {
    let n = notifier("{api_key: vk, routing_key: rk}");
    assert!(
        n.send_resolved,
        "VictorOps sends resolved notifications by default"
    );
    assert_eq!(
        n.url("vk", &ctx(), &firing()),
        "https://alert.victorops.com/integrations/generic/20131114/alert/vk/rk"
    );
    assert_eq!(
        n.message(&ctx(), &firing()),
        map(&[
            ("entity_display_name", "[FIRING:2] DiskFull (eu-1 critical)"),
            ("entity_id", ENTITY_ID),
            ("message_type", "CRITICAL"),
            ("monitoring_tool", "alert-router"),
            ("state_message", FIRING_STATE),
        ])
    );
    let resolved_state = FIRING_STATE.replace("Firing:", "Resolved:");
    assert_eq!(
        n.message(&ctx(), &resolved()),
        map(&[
            ("entity_display_name", "[RESOLVED] DiskFull (eu-1 critical)"),
            ("entity_id", ENTITY_ID),
            ("message_type", "RECOVERY"),
            ("monitoring_tool", "alert-router"),
            ("state_message", &resolved_state),
        ])
    );
}

#[test]
fn a_firing_message_type_outside_info_warning_critical_is_critical() {
    for (configured, sent) in [
        ("PAGE", "CRITICAL"),
        ("warning", "CRITICAL"),
        ("INFO", "INFO"),
        (
            "'{{ if eq .Status \"firing\" }}WARNING{{ end }}'",
            "WARNING",
        ),
        ("RECOVERY", "CRITICAL"),
    ] {
        let n = notifier(&format!(
            "{{api_key: vk, routing_key: rk, message_type: {configured}}}"
        ));
        assert_eq!(
            n.message(&ctx(), &firing())["message_type"],
            sent,
            "{configured}"
        );
        assert_eq!(n.message(&ctx(), &resolved())["message_type"], "RECOVERY");
    }
}

#[test]
fn state_message_is_cut_at_20480_runes() {
    let n = notifier(&format!(
        "{{api_key: vk, routing_key: rk, state_message: '{}'}}",
        "ü".repeat(20481)
    ));
    let state = &n.message(&ctx(), &firing())["state_message"];
    assert_eq!(state, &format!("{}…", "ü".repeat(20479)));
    let n = notifier(&format!(
        "{{api_key: vk, routing_key: rk, state_message: '{}'}}",
        "ü".repeat(20480)
    ));
    assert_eq!(
        n.message(&ctx(), &firing())["state_message"],
        "ü".repeat(20480)
    );
}

#[test]
fn global_url_and_key() {
    let global = GlobalConfig {
        victorops_api_url: Some("http://vo.local:8080/integrations".into()),
        victorops_api_key_file: Some("/run/vo-key".into()),
        ..GlobalConfig::default()
    };
    let n = notifier_with("{routing_key: rk}", &global);
    assert_eq!(n.key, SecretSource::File("/run/vo-key".into()));
    assert_eq!(
        n.url("k", &ctx(), &firing()),
        "http://vo.local:8080/integrations/k/rk"
    );
}

#[test]
fn config_checks() {
    let global = GlobalConfig::default();
    let err = |yaml: &str| config(yaml).check(&global).unwrap_err();
    assert_eq!(
        err("{api_key: k}"),
        "missing Routing key in VictorOps config"
    );
    assert_eq!(err("{routing_key: rk}"), "no global VictorOps API Key set");
    assert_eq!(
        err("{api_key: k, api_key_file: /k, routing_key: rk}"),
        "at most one of api_key & api_key_file must be configured"
    );
    for reserved in ["entity_id", "entity_state", "message_type", "routing_key"] {
        assert_eq!(
            err(&format!("{{api_key: k, routing_key: rk, custom_fields: {{{reserved}: x}}}}")),
            format!("victorOps config contains custom field {reserved} which cannot be used as it conflicts with the fixed/static fields")
        );
    }
    assert!(
        err("{api_key: k, routing_key: rk, api_url: 'mailto:x@y'}").contains("victorops api_url")
    );
    let with_key = GlobalConfig {
        victorops_api_key: Some(Secret::new("k")),
        ..GlobalConfig::default()
    };
    config("{routing_key: rk, custom_fields: {team: x}}")
        .check(&with_key)
        .unwrap();
}

#[test]
fn only_5xx_is_retried() {
    let answer = |status: u16| Answer {
        status,
        body: "no".into(),
        retry_after: None,
        content_type: String::new(),
    };
    assert!(check(answer(200)).is_ok());
    assert!(check(answer(202)).is_ok());
    assert!(check(answer(500)).unwrap_err().is_retryable());
    assert!(check(answer(503)).unwrap_err().is_retryable());
    assert!(!check(answer(429)).unwrap_err().is_retryable());
    assert!(!check(answer(400)).unwrap_err().is_retryable());
    assert!(!check(answer(404)).unwrap_err().is_retryable());
}
