use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::config::GlobalConfig;
use crate::model::time::parse_rfc3339;
use crate::model::{Alert, LabelSet};
use crate::notify::http::Answer;
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

fn config(yaml: &str) -> PushoverConfig {
    serde_yaml_ng::from_str(yaml).unwrap()
}

fn notifier(yaml: &str) -> PushoverNotifier {
    let c = config(yaml);
    let global = GlobalConfig::default();
    c.check(&global).unwrap();
    PushoverNotifier::new(&c, &global, Arc::new(Templates::with_defaults().unwrap())).unwrap()
}

fn params(pairs: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

fn get<'a>(params: &'a [(&'static str, String)], key: &str) -> &'a str {
    params
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {key} in {params:?}"))
}

const FULL: &str = r#"
user_key: 'u-{{ .Receiver }}'
token: tok
title: 'T {{ .Status }}'
message: '<b>{{ .GroupLabels.alertname }}</b> {{ "a<b" }}'
url: 'https://example.org/{{ .GroupLabels.alertname }}'
url_title: open
device: phone
sound: siren
priority: '{{ if eq .Status "firing" }}1{{ else }}-1{{ end }}'
retry: 1m30s
expire: 1.5h
ttl: 10m
html: true
send_resolved: false
"#;

#[test]
fn every_field_firing_and_resolved() {
    let n = notifier(FULL);
    assert!(!n.send_resolved);
    let got = n.parameters(&ctx(), &firing(), "tok", "u-{{ .Receiver }}");
    assert_eq!(
        got,
        params(&[
            ("device", "phone"),
            ("expire", "5400"),
            ("html", "1"),
            ("message", "<b>DiskFull</b> a&lt;b"),
            ("priority", "1"),
            ("retry", "90"),
            ("sound", "siren"),
            ("title", "T firing"),
            ("token", "tok"),
            ("ttl", "600"),
            ("url", "https://example.org/DiskFull"),
            ("url_title", "open"),
            ("user", "u-team"),
        ])
    );
    assert_eq!(
        PushoverNotifier::url(&got),
        "https://api.pushover.net/1/messages.json?device=phone&expire=5400&html=1&message=%3Cb%3EDiskFull%3C%2Fb%3E+a%26lt%3Bb&priority=1&retry=90&sound=siren&title=T+firing&token=tok&ttl=600&url=https%3A%2F%2Fexample.org%2FDiskFull&url_title=open&user=u-team"
    );
    let got = n.parameters(&ctx(), &resolved(), "tok", "u");
    assert_eq!(get(&got, "title"), "T resolved");
    assert_eq!(get(&got, "priority"), "-1");
}

const FIRING_MESSAGE: &str = "disk full

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
Source: http://prom/graph";

#[test]
fn defaults() {
    let n = notifier("{user_key: u, token: t}");
    assert!(
        n.send_resolved,
        "Pushover sends resolved notifications by default"
    );
    assert_eq!(
        n.parameters(&ctx(), &firing(), "t", "u"),
        params(&[
            ("device", ""),
            ("expire", "3600"),
            ("message", FIRING_MESSAGE),
            ("priority", "2"),
            ("retry", "60"),
            ("sound", ""),
            ("title", "[FIRING:2] DiskFull (eu-1 critical)"),
            ("token", "t"),
            ("url", "http://ar.example:9093/#/alerts?receiver=team"),
            ("url_title", ""),
            ("user", "u"),
        ])
    );
    let got = n.parameters(&ctx(), &resolved(), "t", "u");
    assert_eq!(get(&got, "priority"), "0");
    assert_eq!(get(&got, "title"), "[RESOLVED] DiskFull (eu-1 critical)");
    assert_eq!(
        get(&got, "message"),
        FIRING_MESSAGE.replace("Firing:", "Resolved:")
    );
}

#[test]
fn monospace_and_a_zero_ttl() {
    let n = notifier("{user_key: u, token: t, monospace: true, ttl: 0s, message: '{{ \"a<b\" }}'}");
    let got = n.parameters(&ctx(), &firing(), "t", "u");
    assert_eq!(get(&got, "monospace"), "1");
    assert_eq!(get(&got, "message"), "a<b", "not HTML: nothing escaped");
    assert!(got.iter().all(|(k, _)| *k != "ttl" && *k != "html"));
}

#[test]
fn title_message_and_url_are_cut_to_pushover_limits() {
    let n = notifier(&format!(
        "{{user_key: u, token: t, title: '{}', message: '{}', url: '{}'}}",
        "ä".repeat(251),
        "ö".repeat(1025),
        "u".repeat(513)
    ));
    let got = n.parameters(&ctx(), &firing(), "t", "u");
    assert_eq!(get(&got, "title"), format!("{}…", "ä".repeat(249)));
    assert_eq!(get(&got, "message"), format!("{}…", "ö".repeat(1023)));
    assert_eq!(get(&got, "url"), format!("{}…", "u".repeat(511)));

    let n = notifier(&format!(
        "{{user_key: u, token: t, title: '{}', message: '{}', url: '{}'}}",
        "ä".repeat(250),
        "ö".repeat(1024),
        "u".repeat(512)
    ));
    let got = n.parameters(&ctx(), &firing(), "t", "u");
    assert_eq!(get(&got, "title"), "ä".repeat(250));
    assert_eq!(get(&got, "message"), "ö".repeat(1024));
    assert_eq!(get(&got, "url"), "u".repeat(512));
}

#[test]
fn an_empty_message_says_no_details_and_the_message_is_trimmed() {
    let n = notifier("{user_key: u, token: t, message: '  {{ \"\" }}  '}");
    assert_eq!(
        get(&n.parameters(&ctx(), &firing(), "t", "u"), "message"),
        "(no details)"
    );
    let n = notifier("{user_key: u, token: t, message: \"  hi\\n\\n\"}");
    assert_eq!(
        get(&n.parameters(&ctx(), &firing(), "t", "u"), "message"),
        "hi"
    );
}

#[test]
fn go_durations() {
    let secs = |s: &str| GoDuration::parse(s).unwrap().whole_seconds();
    assert_eq!(secs("1m30s"), 90);
    assert_eq!(secs("1.5h"), 5400);
    assert_eq!(secs("1h2m3s4ms"), 3723);
    assert_eq!(secs("1500ms"), 1);
    assert_eq!(secs("999ms"), 0);
    assert_eq!(secs("-1m"), -60);
    assert_eq!(secs("0"), 0);
    assert_eq!(secs(".5m"), 30);
    assert_eq!(secs("2000000us"), 2);
    for bad in ["30", "1x", "", "h", "1..5s", "-", "1d"] {
        assert!(GoDuration::parse(bad).is_err(), "{bad:?}");
    }
    assert!(serde_yaml_ng::from_str::<PushoverConfig>("{retry: 5}").is_err());
}

#[test]
fn config_checks() {
    let global = GlobalConfig::default();
    let err = |yaml: &str| config(yaml).check(&global).unwrap_err();
    assert_eq!(
        err("{token: t}"),
        "one of user_key or user_key_file must be configured"
    );
    assert_eq!(
        err("{user_key: u, user_key_file: /u, token: t}"),
        "at most one of user_key & user_key_file must be configured"
    );
    assert_eq!(
        err("{user_key: u}"),
        "one of token or token_file must be configured"
    );
    assert_eq!(
        err("{user_key: u, token: t, token_file: /t}"),
        "at most one of token & token_file must be configured"
    );
    assert_eq!(
        err("{user_key: u, token: t, html: true, monospace: true}"),
        "at most one of monospace & html must be configured"
    );
    config("{user_key_file: /u, token_file: /t}")
        .check(&global)
        .unwrap();
    assert!(
        serde_yaml_ng::from_str::<PushoverConfig>("{user_key: u, token: t, api_url: x}").is_err()
    );
}

#[test]
fn only_5xx_is_retried() {
    let answer = |status: u16| Answer {
        status,
        body: r#"{"status":0}"#.into(),
        retry_after: None,
        content_type: String::new(),
    };
    assert!(check(answer(200)).is_ok());
    assert!(check(answer(500)).unwrap_err().is_retryable());
    assert!(!check(answer(429)).unwrap_err().is_retryable());
    assert!(!check(answer(400)).unwrap_err().is_retryable());
}
