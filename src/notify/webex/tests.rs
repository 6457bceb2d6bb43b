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
        annotations: [("summary", "disk full"), ("runbook", "rb/disk")]
            .into_iter()
            .collect(),
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
    vec![alert("db-1", false)]
}

fn resolved() -> Vec<Alert> {
    vec![alert("db-1", true)]
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

fn config(yaml: &str) -> WebexConfig {
    serde_yaml_ng::from_str(yaml).unwrap()
}

fn notifier_with(yaml: &str, global: &GlobalConfig) -> WebexNotifier {
    let c = config(yaml);
    c.check(global).unwrap();
    WebexNotifier::new(&c, global, Arc::new(Templates::with_defaults().unwrap())).unwrap()
}

fn notifier(yaml: &str) -> WebexNotifier {
    notifier_with(yaml, &GlobalConfig::default())
}

const AUTH: &str = "http_config:\n  authorization:\n    credentials: tok\n";

#[test]
fn every_field_firing_and_resolved() {
    let n = notifier(&format!(
        "{AUTH}api_url: https://webex.example/v1/messages\nroom_id: 'room-{{{{ .CommonLabels.cluster }}}}'\nmessage: '**{{{{ .Status }}}}** {{{{ .CommonAnnotations.summary }}}}'\nsend_resolved: false\n"
    ));
    assert!(!n.send_resolved);
    assert_eq!(n.url(), "https://webex.example/v1/messages");
    assert_eq!(
        n.message(&ctx(), &firing()),
        json!({"markdown": "**firing** disk full", "roomId": "room-eu-1"})
    );
    assert_eq!(
        n.message(&ctx(), &resolved()),
        json!({"markdown": "**resolved** disk full", "roomId": "room-eu-1"})
    );
}

const LIST: &str = "Labels:
 - alertname = DiskFull
 - cluster = eu-1
 - instance = db-1
 - severity = critical
Annotations:
 - runbook = rb/disk
 - summary = disk full
Source: http://prom/graph
";

#[test]
fn defaults() {
    let n = notifier(&format!("{AUTH}room_id: r1\n"));
    assert!(
        n.send_resolved,
        "Alertmanager sends resolved to Webex by default"
    );
    assert_eq!(n.url(), "https://webexapis.com/v1/messages");
    assert_eq!(
        n.message(&ctx(), &firing()),
        json!({"markdown": format!("rb/disk disk full\nFiring:\n{LIST}"), "roomId": "r1"})
    );
    assert_eq!(
        n.message(&ctx(), &resolved()),
        json!({"markdown": format!("rb/disk disk full\nResolved:\n{LIST}"), "roomId": "r1"})
    );
    let global = GlobalConfig {
        webex_api_url: Some("https://global.example/m".into()),
        ..Default::default()
    };
    assert_eq!(
        notifier_with(&format!("{AUTH}room_id: r1\n"), &global).url(),
        "https://global.example/m"
    );
}

#[test]
fn a_room_id_that_renders_empty_is_left_out() {
    let n = notifier(&format!(
        "{AUTH}room_id: '{{{{ .CommonLabels.nothere }}}}'\nmessage: m\n"
    ));
    assert_eq!(n.message(&ctx(), &firing()), json!({"markdown": "m"}));
}

#[test]
fn the_message_is_cut_to_7439_bytes_on_a_character_boundary() {
    // 3720 two-byte characters are 7440 bytes: one too many.
    let n = notifier(&format!(
        "{AUTH}room_id: r\nmessage: '{}'\n",
        "é".repeat(3720)
    ));
    let m = n.message(&ctx(), &firing());
    let markdown = m["markdown"].as_str().unwrap();
    // 7436 bytes of room for text: 3718 characters, then the 3-byte marker.
    assert_eq!(markdown, format!("{}…", "é".repeat(3718)));
    assert_eq!(markdown.len(), 7439);
    let fits = notifier(&format!(
        "{AUTH}room_id: r\nmessage: '{}x'\n",
        "é".repeat(3719)
    ));
    assert_eq!(
        fits.message(&ctx(), &firing())["markdown"],
        json!(format!("{}x", "é".repeat(3719))),
        "exactly 7439 bytes is kept whole"
    );
}

#[test]
fn truncate_in_bytes_edges() {
    assert_eq!(truncate_in_bytes("abcdef", 6), ("abcdef".into(), false));
    assert_eq!(truncate_in_bytes("abcdef", 5), ("ab…".into(), true));
    assert_eq!(truncate_in_bytes("abcdef", 4), ("a…".into(), true));
    assert_eq!(truncate_in_bytes("abcdef", 3), ("…".into(), true));
    assert_eq!(truncate_in_bytes("abcdef", 2), ("..".into(), true));
    assert_eq!(truncate_in_bytes("日本語です", 8), ("日…".into(), true));
}

#[test]
fn config_checks() {
    let global = GlobalConfig::default();
    let err = |yaml: &str| config(yaml).check(&global).unwrap_err();
    assert_eq!(err(AUTH), "missing room_id on webex_config");
    assert_eq!(
        err(&format!("{AUTH}room_id: ''\n")),
        "missing room_id on webex_config"
    );
    assert_eq!(
        err("room_id: r\n"),
        "missing webex_configs.http_config.authorization"
    );
    assert_eq!(
        err("room_id: r\nhttp_config:\n  basic_auth: {username: u, password: p}\n"),
        "missing webex_configs.http_config.authorization"
    );
    let with_global_auth = GlobalConfig {
        http_config: config(&format!("{AUTH}room_id: r\n")).http_config,
        ..Default::default()
    };
    assert_eq!(
        config("room_id: r\n").check(&with_global_auth).unwrap_err(),
        "missing webex_configs.http_config.authorization",
        "the global http_config does not stand in for the block's"
    );
    assert!(
        err(&format!("{AUTH}room_id: r\napi_url: 'webex.example/m'\n")).contains("webex api_url")
    );
    let bad_global = GlobalConfig {
        webex_api_url: Some("ftp://x/".into()),
        ..Default::default()
    };
    assert!(config(&format!("{AUTH}room_id: r\n"))
        .check(&bad_global)
        .unwrap_err()
        .contains("unsupported scheme"));
    assert!(serde_yaml_ng::from_str::<WebexConfig>("room_id: r\nroom: x\n").is_err());
    assert_eq!(
        config("room_id: '{{ .Receiver }}'\nmessage: m\n").templated_fields(),
        vec![("webex message", "m"), ("webex room_id", "{{ .Receiver }}")]
    );
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
    assert!(check(answer(200)).is_ok());
    assert!(check(answer(502)).unwrap_err().is_retryable());
    assert!(!check(answer(401)).unwrap_err().is_retryable());
    assert!(!check(answer(429)).unwrap_err().is_retryable());
}
