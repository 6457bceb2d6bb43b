use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::*;
use crate::config::GlobalConfig;
use crate::model::time::parse_rfc3339;
use crate::model::{Alert, LabelSet};
use crate::notify::registry::IntegrationConfig;

fn alert(instance: &str, resolved: bool, summary: &str) -> Alert {
    let labels: LabelSet = [
        ("alertname", "DiskFull"),
        ("instance", instance),
        ("severity", "critical"),
    ]
    .into_iter()
    .collect();
    Alert {
        fingerprint: labels.fingerprint(),
        labels,
        annotations: [("summary", summary)].into_iter().collect(),
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

fn config(yaml: &str) -> IncidentioConfig {
    serde_yaml_ng::from_str(yaml).unwrap()
}

fn notifier(yaml: &str) -> IncidentioNotifier {
    let c = config(yaml);
    let global = GlobalConfig::default();
    c.check(&global).unwrap();
    IncidentioNotifier::new(&c, &global).unwrap()
}

fn body(n: &IncidentioNotifier, alerts: &[Alert]) -> Value {
    serde_json::from_slice(&n.body(&ctx(), alerts).unwrap()).unwrap()
}

fn wire_alert(instance: &str, status: &str, ends_at: &str) -> Value {
    let labels = json!({"alertname": "DiskFull", "instance": instance, "severity": "critical"});
    let fingerprint = alert(instance, false, "").fingerprint.to_string();
    json!({
        "status": status,
        "labels": labels,
        "annotations": {"summary": "disk full"},
        "startsAt": "2024-05-01T11:00:00Z",
        "endsAt": ends_at,
        "generatorURL": "http://prom/graph",
        "fingerprint": fingerprint,
    })
}

const FULL: &str = "send_resolved: true\nurl: https://api.incident.io/v2/alert_events/http/01HX\nalert_source_token: tok\nmax_alerts: 1\ntimeout: 5s\n";

#[test]
fn every_field_firing_and_resolved() {
    let n = notifier(FULL);
    assert!(n.send_resolved);
    assert_eq!(n.timeout, Some(Duration::from_secs(5)));
    let firing = [
        alert("db-1", false, "disk full"),
        alert("db-2", false, "disk full"),
    ];
    assert_eq!(
        body(&n, &firing),
        json!({
            "receiver": "team",
            "status": "firing",
            "alerts": [wire_alert("db-1", "firing", "0001-01-01T00:00:00Z")],
            "groupLabels": {"alertname": "DiskFull"},
            "commonLabels": {"alertname": "DiskFull", "instance": "db-1", "severity": "critical"},
            "commonAnnotations": {"summary": "disk full"},
            "externalURL": "http://ar.example:9093",
            "version": "1",
            "groupKey": "{}:{alertname=\"DiskFull\"}",
            "truncatedAlerts": 1,
        })
    );
    let resolved = [
        alert("db-1", true, "disk full"),
        alert("db-2", true, "disk full"),
    ];
    let got = body(&n, &resolved);
    assert_eq!(got["status"], "resolved");
    assert_eq!(
        got["alerts"],
        json!([wire_alert("db-1", "resolved", "2024-05-01T11:45:00Z")])
    );
    assert_eq!(got["truncatedAlerts"], 1);
    // The keys in Alertmanager's order.
    let text = String::from_utf8(n.body(&ctx(), &resolved).unwrap()).unwrap();
    let order: Vec<usize> = [
        "\"receiver\"",
        "\"status\"",
        "\"alerts\"",
        "\"groupLabels\"",
        "\"commonLabels\"",
        "\"commonAnnotations\"",
        "\"externalURL\"",
        "\"version\"",
        "\"groupKey\"",
        "\"truncatedAlerts\"",
    ]
    .iter()
    .map(|k| text.find(k).unwrap())
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
}

#[test]
fn defaults_for_a_minimal_config() {
    let n = notifier("url: https://api.incident.io/v2/alert_events/http/01HX\n");
    assert!(
        n.send_resolved,
        "Alertmanager's incidentio default sends resolved"
    );
    assert_eq!(n.timeout, None);
    assert!(n.token.is_none());
    let alerts = [
        alert("db-1", false, "disk full"),
        alert("db-2", true, "disk full"),
    ];
    let got = body(&n, &alerts);
    assert_eq!(
        got["alerts"],
        json!([
            wire_alert("db-1", "firing", "0001-01-01T00:00:00Z"),
            wire_alert("db-2", "resolved", "2024-05-01T11:45:00Z"),
        ])
    );
    assert_eq!(got["status"], "firing");
    assert_eq!(got["truncatedAlerts"], 0);
    assert_eq!(got["version"], "1");
}

#[test]
fn a_message_over_512_kib_keeps_only_its_first_alert() {
    let n = notifier("url: https://i.example/x\n");
    // Different annotations, so the common ones do not carry the size as well.
    let big = |i: &str| format!("{i}{}", "x".repeat(200 * 1024));
    let alerts = [
        alert("db-1", false, &big("1")),
        alert("db-2", false, &big("2")),
        alert("db-3", false, &big("3")),
    ];
    let raw = n.body(&ctx(), &alerts).unwrap();
    assert!(raw.len() <= MAX_PAYLOAD_BYTES);
    let got: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(got["alerts"].as_array().unwrap().len(), 1);
    assert_eq!(got["alerts"][0]["labels"]["instance"], "db-1");
    assert_eq!(
        got["truncatedAlerts"], 0,
        "as Alertmanager: only max_alerts counts"
    );
    assert_eq!(got["commonLabels"]["alertname"], "DiskFull");
    assert!(
        got["commonLabels"].get("instance").is_none(),
        "group fields stay those of all alerts"
    );

    let two = [
        alert("db-1", false, &big("1")),
        alert("db-2", false, &big("2")),
    ];
    assert_eq!(
        body(&n, &two)["alerts"].as_array().unwrap().len(),
        2,
        "under the limit"
    );
}

#[test]
fn error_answers_keep_what_incident_io_said() {
    assert_eq!(
        error_details(r#"{"message":"invalid payload","errors":["a","b"]}"#).as_deref(),
        Some("invalid payload: a, b")
    );
    assert_eq!(error_details("not json"), None);
    let answer = |status| Answer {
        status,
        body: r#"{"error":"slow down"}"#.into(),
        retry_after: None,
        content_type: "application/json".into(),
    };
    let e = check(answer(400)).unwrap_err();
    assert_eq!(e.to_string(), "incidentio answered 400: slow down");
    assert!(!e.is_retryable());
    assert!(check(answer(429)).unwrap_err().is_retryable());
    assert!(check(answer(502)).unwrap_err().is_retryable());
    assert!(check(answer(202)).is_ok());
}

fn check_error(yaml: &str) -> String {
    config(yaml).check(&GlobalConfig::default()).unwrap_err()
}

#[test]
fn config_checks() {
    assert_eq!(
        check_error("{}"),
        "one of url or url_file must be configured"
    );
    assert_eq!(
        check_error("url: https://i.example\nurl_file: /f\n"),
        "at most one of url & url_file must be configured"
    );
    assert_eq!(
        check_error("url: https://i.example\nalert_source_token: t\nalert_source_token_file: /f\n"),
        "at most one of alert_source_token & alert_source_token_file must be configured"
    );
    assert_eq!(
        check_error("url: https://i.example\nalert_source_token: t\nhttp_config: {authorization: {credentials: c}}\n"),
        "cannot specify alert_source_token or alert_source_token_file when using http_config.authorization"
    );
    assert_eq!(
        check_error("url: https://i.example\nhttp_config: {follow_redirects: true}\n"),
        "at least one of alert_source_token, alert_source_token_file or http_config.authorization must be configured"
    );
    assert!(check_error("url: 'not a url'\n").starts_with("incidentio url"));
    for ok in [
        "url: https://i.example\n",
        "url_file: /run/secrets/url\nalert_source_token_file: /run/secrets/token\n",
        "url: https://i.example\nhttp_config: {authorization: {credentials: c}}\n",
    ] {
        assert!(config(ok).check(&GlobalConfig::default()).is_ok(), "{ok}");
    }
    assert!(serde_yaml_ng::from_str::<IncidentioConfig>("url: x\ntoken: y\n").is_err());
}
