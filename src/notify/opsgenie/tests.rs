use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use super::*;
use crate::config::{GlobalConfig, Secret};
use crate::model::time::parse_rfc3339;
use crate::model::{Alert, LabelSet};
use crate::notify::registry::IntegrationConfig;

const ALIAS: &str = "17c4e445d234645c9e547ff6d32a864af0ebdadcd1902771c24c8d366637ff41";

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

fn config(yaml: &str) -> OpsgenieConfig {
    serde_yaml_ng::from_str(yaml).unwrap()
}

fn notifier_with(yaml: &str, global: &GlobalConfig) -> OpsgenieNotifier {
    let c = config(yaml);
    c.check(global).unwrap();
    OpsgenieNotifier::new(&c, global, Arc::new(Templates::with_defaults().unwrap())).unwrap()
}

fn notifier(yaml: &str) -> OpsgenieNotifier {
    notifier_with(yaml, &GlobalConfig::default())
}

/// A request with its body parsed, for comparing whole requests.
#[derive(Debug, PartialEq)]
struct Parsed {
    method: Method,
    url: String,
    body: Json,
}

fn req(method: Method, url: &str, body: Json) -> Parsed {
    Parsed {
        method,
        url: url.to_string(),
        body,
    }
}

fn parsed(requests: &[OpsgenieRequest]) -> Vec<Parsed> {
    requests
        .iter()
        .map(|r| Parsed {
            method: r.method.clone(),
            url: r.url.clone(),
            body: serde_json::from_str(&r.body).unwrap(),
        })
        .collect()
}

const FULL: &str = r#"
api_key: k
api_url: https://og.example/base
message: '{{ .CommonLabels.alertname }} on {{ .CommonLabels.cluster }}'
description: 'desc {{ .Status }}'
source: 'src-{{ .Receiver }}'
details:
  cluster: 'override {{ .CommonLabels.cluster }}'
  extra: '{{ len .Alerts }}'
entity: 'ent-{{ .GroupLabels.alertname }}'
responders:
  - {id: id1, type: team}
  - {name: 'a,b, c', type: teams}
  - {username: u@example.org, type: user}
  - {name: '{{ .CommonLabels.nothere }}', type: '{{ .CommonLabels.nothere }}'}
  - {name: ops, type: '{{ .CommonLabels.severity }}'}
actions: 'restart, page'
tags: ' t1,t2,,t3 '
note: 'n {{ .Status }}'
priority: P1
update_alerts: true
send_resolved: false
"#;

#[test]
fn every_field_firing_creates_then_updates_message_and_description() {
    let n = notifier(FULL);
    assert!(!n.send_resolved);
    let got = n.message(&ctx(), &firing());
    let create = json!({
        "alias": ALIAS,
        "message": "DiskFull on eu-1",
        "description": "desc firing",
        "details": {
            "alertname": "DiskFull",
            "cluster": "override eu-1",
            "extra": "2",
            "severity": "critical",
        },
        "source": "src-team",
        "responders": [
            {"id": "id1", "type": "team"},
            {"name": "a", "type": "team"},
            {"name": "b", "type": "team"},
            {"name": " c", "type": "team"},
            {"username": "u@example.org", "type": "user"},
            {"name": "ops", "type": "critical"},
        ],
        "tags": ["t1", "t2", "t3"],
        "note": "n firing",
        "priority": "P1",
        "entity": "ent-DiskFull",
        "actions": ["restart", " page"],
    });
    assert_eq!(
        parsed(&got),
        vec![
            req(Method::POST, "https://og.example/base/v2/alerts", create),
            req(
                Method::PUT,
                &format!("https://og.example/base/v2/alerts/{ALIAS}/message?identifierType=alias"),
                json!({"message": "DiskFull on eu-1"}),
            ),
            req(
                Method::PUT,
                &format!(
                    "https://og.example/base/v2/alerts/{ALIAS}/description?identifierType=alias"
                ),
                json!({"description": "desc firing"}),
            ),
        ]
    );
    // The keys go out in Alertmanager's order.
    let text = &got[0].body;
    let order: Vec<usize> = [
        "\"alias\"",
        "\"message\"",
        "\"description\"",
        "\"details\"",
        "\"source\"",
        "\"responders\"",
        "\"tags\"",
        "\"note\"",
        "\"priority\"",
        "\"entity\"",
        "\"actions\"",
    ]
    .iter()
    .map(|k| text.find(k).unwrap())
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
}

#[test]
fn every_field_resolved_closes_the_alert_by_alias() {
    let got = notifier(FULL).message(&ctx(), &resolved());
    assert_eq!(
        parsed(&got),
        vec![req(
            Method::POST,
            &format!("https://og.example/base/v2/alerts/{ALIAS}/close?identifierType=alias"),
            json!({"source": "src-team"}),
        )]
    );
}

const DEFAULT_DESCRIPTION: &str = "disk full
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
    let n = notifier("api_key: k");
    assert!(
        n.send_resolved,
        "Opsgenie sends resolved notifications by default"
    );
    assert_eq!(
        parsed(&n.message(&ctx(), &firing())),
        vec![req(
            Method::POST,
            "https://api.opsgenie.com/v2/alerts",
            json!({
                "alias": ALIAS,
                "message": "[FIRING:2] DiskFull (eu-1 critical)",
                "description": DEFAULT_DESCRIPTION,
                "details": {"alertname": "DiskFull", "cluster": "eu-1", "severity": "critical"},
                "source": "http://ar.example:9093/#/alerts?receiver=team",
            }),
        )]
    );
    assert_eq!(
        parsed(&n.message(&ctx(), &resolved())),
        vec![req(
            Method::POST,
            &format!("https://api.opsgenie.com/v2/alerts/{ALIAS}/close?identifierType=alias"),
            json!({"source": "http://ar.example:9093/#/alerts?receiver=team"}),
        )]
    );
}

#[test]
fn global_url_and_key_and_a_query_on_the_url() {
    let global = GlobalConfig {
        opsgenie_api_url: Some("https://eu.og.example/api?region=eu".into()),
        opsgenie_api_key: Some(Secret::new("gk")),
        ..GlobalConfig::default()
    };
    let n = notifier_with("{}", &global);
    assert_eq!(n.key, SecretSource::Inline(Secret::new("gk")));
    assert_eq!(
        n.message(&ctx(), &firing())[0].url,
        "https://eu.og.example/api/v2/alerts?region=eu"
    );
    assert_eq!(
        n.message(&ctx(), &resolved())[0].url,
        format!("https://eu.og.example/api/v2/alerts/{ALIAS}/close?identifierType=alias&region=eu")
    );
}

#[test]
fn message_is_cut_at_130_runes_with_an_ellipsis() {
    let n = notifier(&format!("api_key: k\nmessage: '{}'", "é".repeat(131)));
    let body = &parsed(&n.message(&ctx(), &firing()))[0].body;
    assert_eq!(body["message"], format!("{}…", "é".repeat(129)));
    assert_eq!(body["message"].as_str().unwrap().chars().count(), 130);

    let n = notifier(&format!("api_key: k\nmessage: '{}'", "x".repeat(130)));
    assert_eq!(
        parsed(&n.message(&ctx(), &firing()))[0].body["message"],
        "x".repeat(130)
    );
}

#[test]
fn a_templated_api_key_is_rendered() {
    let n = notifier("api_key: 'key-{{ .GroupLabels.alertname }}'");
    assert_eq!(n.api_key(&ctx(), &firing()).unwrap(), "key-DiskFull");
    let n = notifier("api_key: plain");
    assert_eq!(n.api_key(&ctx(), &firing()).unwrap(), "plain");
}

#[test]
fn config_checks() {
    let global = GlobalConfig::default();
    let err = |yaml: &str| config(yaml).check(&global).unwrap_err();
    assert_eq!(
        err("{}"),
        "no global OpsGenie API Key set either inline or in a file"
    );
    assert_eq!(
        err("{api_key: k, api_key_file: /k}"),
        "at most one of api_key & api_key_file must be configured"
    );
    assert!(err("{api_key: k, responders: [{type: team}]}")
        .contains("has to have at least one of id, username or name specified"),);
    assert_eq!(
        err("{api_key: k, responders: [{name: n, type: group}]}"),
        r#"opsGenieConfig responder {id: "", name: "n", username: "", type: "group"} type does not match valid options ^(team|teams|user|escalation|schedule)$"#
    );
    assert!(err("{api_key: k, responders: [{name: n}]}").contains("type does not match"));
    assert!(err("{api_key: k, api_url: 'ftp://og.example/'}").contains("opsgenie api_url"));
    assert!(serde_yaml_ng::from_str::<OpsgenieConfig>("{api_key: k, team: x}").is_err());

    for ok in [
        "{api_key: k, responders: [{name: n, type: Team}]}",
        "{api_key: k, responders: [{id: i, type: '{{ .CommonLabels.t }}'}]}",
        "{api_key_file: /k, responders: [{username: u, type: escalation}, {name: s, type: schedule}]}",
    ] {
        config(ok).check(&global).unwrap();
    }
    let with_global_key = GlobalConfig {
        opsgenie_api_key_file: Some("/key".into()),
        ..GlobalConfig::default()
    };
    config("{}").check(&with_global_key).unwrap();
    let both_global = GlobalConfig {
        opsgenie_api_key: Some(Secret::new("k")),
        opsgenie_api_key_file: Some("/key".into()),
        ..GlobalConfig::default()
    };
    assert_eq!(
        config("{}").check(&both_global).unwrap_err(),
        "at most one of opsgenie_api_key & opsgenie_api_key_file must be configured"
    );
}

#[test]
fn templated_fields_name_every_template() {
    let c = config(FULL);
    let names: Vec<&str> = c.templated_fields().iter().map(|(n, _)| *n).collect();
    for expected in [
        "opsgenie message",
        "opsgenie description",
        "opsgenie source",
        "opsgenie details",
        "opsgenie entity",
        "opsgenie responder name",
        "opsgenie responder type",
        "opsgenie tags",
        "opsgenie api_key",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
}
