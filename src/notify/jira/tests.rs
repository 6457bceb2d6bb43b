use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::*;
use crate::config::GlobalConfig;
use crate::model::time::parse_rfc3339;
use crate::model::{Alert, LabelSet};
use crate::notify::registry::IntegrationConfig;

/// `ALERT{<sha256 of the group key>}`, the hash computed with Python's hashlib.
const LABEL: &str = "ALERT{17c4e445d234645c9e547ff6d32a864af0ebdadcd1902771c24c8d366637ff41}";

fn alert(instance: &str, severity: &str, resolved: bool) -> Alert {
    let labels: LabelSet = [
        ("alertname", "DiskFull"),
        ("cluster", "eu-1"),
        ("instance", instance),
        ("severity", severity),
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
    vec![
        alert("db-1", "critical", false),
        alert("db-2", "critical", false),
    ]
}

fn resolved() -> Vec<Alert> {
    vec![
        alert("db-1", "critical", true),
        alert("db-2", "critical", true),
    ]
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

fn config(yaml: &str) -> JiraConfig {
    serde_yaml_ng::from_str(yaml).unwrap()
}

fn notifier_with(yaml: &str, global: &GlobalConfig) -> JiraNotifier {
    let c = config(yaml);
    c.check(global).unwrap();
    JiraNotifier::new(&c, global, Arc::new(Templates::with_defaults().unwrap())).unwrap()
}

fn notifier(yaml: &str) -> JiraNotifier {
    notifier_with(yaml, &GlobalConfig::default())
}

const FULL: &str = r#"
send_resolved: true
api_url: https://example.atlassian.net/rest/api/2/
api_type: auto
project: '{{ .CommonLabels.cluster | toUpper }}'
issue_type: '{{ if eq .CommonLabels.severity "critical" }}Incident{{ else }}Task{{ end }}'
summary: '{{ .Status | toUpper }}: {{ .GroupLabels.alertname }}'
description:
  template: '{{ len .Alerts }} alerts: {{ .CommonAnnotations.summary }}'
  enable_update: false
labels: ['alertmanager', '{{ .CommonLabels.severity }}']
priority: '{{ if eq .Status "firing" }}Highest{{ else }}Low{{ end }}'
reopen_transition: Reopen
resolve_transition: Close
wont_fix_resolution: "Won't Fix"
reopen_duration: 1h30m
fields:
  components: [{name: '{{ .CommonLabels.cluster }}'}]
  customfield_10001: '{{ len .Alerts }}'
  customfield_10002: '{value: "{{ .CommonLabels.severity }}"}'
  'customfield_{{ .Receiver }}': '{{ "" }}'
  customfield_10003: plain text
  customfield_10004: 7
"#;

fn full_issue(summary: &str, priority: &str) -> serde_json::Value {
    json!({"fields": {
        "summary": summary,
        "description": "2 alerts: disk full",
        "issuetype": {"name": "Incident"},
        "labels": [LABEL, "alertmanager", "critical"],
        "priority": {"name": priority},
        "project": {"key": "EU-1"},
        "components": [{"name": "eu-1"}],
        "customfield_10001": 2,
        "customfield_10002": {"value": "critical"},
        "customfield_team": null,
        "customfield_10003": "plain text",
        "customfield_10004": 7,
    }})
}

#[test]
fn every_field_firing() {
    let n = notifier(FULL);
    assert_eq!(
        n.issue(&ctx(), &firing()).unwrap(),
        full_issue("FIRING: DiskFull", "Highest")
    );
    let (url, body) = n.search(&ctx(), &firing());
    assert_eq!(url, "https://example.atlassian.net/rest/api/3/search/jql");
    assert_eq!(
        body,
        json!({
            "fields": ["status"],
            "jql": format!(r#"(resolution is EMPTY or resolution != "Won't Fix") and (resolutiondate is EMPTY OR resolutiondate >= -90m) and project="EU-1" and labels="{LABEL}" order by status ASC,resolutiondate DESC"#),
            "maxResults": 2,
        })
    );
}

#[test]
fn every_field_resolved() {
    let n = notifier(FULL);
    assert_eq!(
        n.issue(&ctx(), &resolved()).unwrap(),
        full_issue("RESOLVED: DiskFull", "Low")
    );
    let (_, body) = n.search(&ctx(), &resolved());
    assert_eq!(
        body["jql"],
        format!(
            r#"(resolution is EMPTY or resolution != "Won't Fix") and statusCategory != Done and project="EU-1" and labels="{LABEL}" order by status ASC,resolutiondate DESC"#
        )
    );
}

#[test]
fn defaults_for_a_minimal_config() {
    let global = GlobalConfig {
        jira_api_url: Some("https://jira.example.com/rest/api/2".into()),
        ..Default::default()
    };
    let n = notifier_with("project: OPS\nissue_type: Bug\n", &global);
    assert!(
        n.send_resolved,
        "Alertmanager's jira default sends resolved"
    );
    let item = |i: &str| {
        format!("\n*Labels*\n* alertname: DiskFull\n* cluster: eu-1\n* instance: {i}\n* severity: critical\n*Annotations*\n* summary: disk full\n[Source|http://prom/graph]\n")
    };
    assert_eq!(
        n.issue(&ctx(), &firing()).unwrap(),
        json!({"fields": {
            "summary": "[FIRING:2] DiskFull (eu-1 critical)",
            "description": format!("h3. Firing (2)\n{}{}", item("db-1"), item("db-2")),
            "issuetype": {"name": "Bug"},
            "labels": [LABEL],
            "priority": {"name": "High"},
            "project": {"key": "OPS"},
        }})
    );
    let (url, body) = n.search(&ctx(), &firing());
    assert_eq!(url, "https://jira.example.com/rest/api/2/search");
    assert_eq!(
        body["jql"],
        format!(
            r#"statusCategory != Done and project="OPS" and labels="{LABEL}" order by status ASC,resolutiondate DESC"#
        )
    );
    let mixed = vec![
        alert("db-1", "critical", false),
        alert("db-2", "info", true),
    ];
    assert_eq!(
        n.issue(&ctx(), &mixed).unwrap()["fields"]["description"],
        format!("h3. Firing (1)\n{}\nh3. Resolved (1)\n\n*Labels*\n* alertname: DiskFull\n* cluster: eu-1\n* instance: db-2\n* severity: info\n*Annotations*\n* summary: disk full\n[Source|http://prom/graph]\n", item("db-1"))
    );
}

#[test]
fn a_reopen_duration_without_a_reopen_transition_searches_open_issues_only() {
    let n = notifier("api_url: https://j.example/rest/api/2\nproject: P\nissue_type: Bug\nreopen_duration: 10m\n");
    let (_, body) = n.search(&ctx(), &firing());
    assert!(body["jql"]
        .as_str()
        .unwrap()
        .starts_with("statusCategory != Done and project=\"P\""));
}

#[test]
fn the_default_priority_is_the_most_severe_firing_severity() {
    let n = notifier("api_url: https://j.example/rest/api/2\nproject: P\nissue_type: Bug\n");
    let priority =
        |alerts: Vec<Alert>| n.issue(&ctx(), &alerts).unwrap()["fields"]["priority"].clone();
    assert_eq!(
        priority(vec![
            alert("a", "info", false),
            alert("b", "warning", false)
        ]),
        json!({"name": "Medium"})
    );
    assert_eq!(
        priority(vec![
            alert("a", "warning", false),
            alert("b", "critical", false)
        ]),
        json!({"name": "High"})
    );
    assert_eq!(
        priority(vec![alert("a", "info", false)]),
        json!({"name": "Low"})
    );
    assert_eq!(
        priority(vec![alert("a", "page", false), alert("b", "warning", true)]),
        json!({"name": "Medium"}),
        "no firing alert has a known severity: the resolved ones decide"
    );
    assert_eq!(
        priority(vec![alert("a", "page", false)]),
        serde_json::Value::Null,
        "no known severity: no priority field"
    );
}

#[test]
fn search_endpoints_by_api_type() {
    let url = |api_url: &str, api_type: &str| {
        notifier(&format!(
            "api_url: {api_url}\napi_type: {api_type}\nproject: P\nissue_type: Bug\n"
        ))
        .search(&ctx(), &firing())
        .0
    };
    assert_eq!(
        url("https://example.atlassian.net/rest/api/2", "datacenter"),
        "https://example.atlassian.net/rest/api/2/search"
    );
    assert_eq!(
        url("https://jira.corp/rest/api/2/", "cloud"),
        "https://jira.corp/rest/api/3/search/jql"
    );
    assert_eq!(
        url("https://jira.corp/rest/api/2", "auto"),
        "https://jira.corp/rest/api/2/search"
    );
    assert_eq!(
        url("https://example.atlassian.net/rest/api/3", "auto"),
        "https://example.atlassian.net/rest/api/3/search/jql"
    );
}

#[test]
fn the_v3_api_takes_an_adf_description() {
    let yaml = "api_url: https://example.atlassian.net/rest/api/3\nproject: P\nissue_type: Bug\ndescription: '  {\"type\":\"doc\",\"version\":1,\"content\":[{\"type\":\"paragraph\",\"content\":[{\"type\":\"text\",\"text\":\"{{ .CommonAnnotations.summary }}\"}]}]}  '\n";
    assert_eq!(
        notifier(yaml).issue(&ctx(), &firing()).unwrap()["fields"]["description"],
        json!({"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"disk full"}]}]})
    );
    let err = notifier(
        "api_url: https://example.atlassian.net/rest/api/3/\nproject: P\nissue_type: Bug\n",
    )
    .issue(&ctx(), &firing())
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "building notification: description template: invalid JSON for API v3"
    );
    assert!(!err.is_retryable());
    let empty = notifier("api_url: https://example.atlassian.net/rest/api/3\nproject: P\nissue_type: Bug\ndescription: '  '\n")
        .issue(&ctx(), &firing())
        .unwrap();
    assert!(empty["fields"].get("description").is_none());
}

#[test]
fn summary_and_description_are_cut_to_jiras_limits() {
    let long_summary = "s".repeat(300);
    let long_description = "d".repeat(40_000);
    let yaml = format!("api_url: https://j.example/rest/api/2\nproject: P\nissue_type: Bug\nsummary: {long_summary}\ndescription: {long_description}\n");
    let issue = notifier(&yaml).issue(&ctx(), &firing()).unwrap();
    let summary = issue["fields"]["summary"].as_str().unwrap();
    assert_eq!(summary.chars().count(), MAX_SUMMARY_RUNES);
    assert_eq!(summary, format!("{}…", "s".repeat(254)));
    let description = issue["fields"]["description"].as_str().unwrap();
    assert_eq!(description.chars().count(), MAX_DESCRIPTION_RUNES);
    assert!(description.ends_with("d…"));
    let exact = format!(
        "api_url: https://j.example/rest/api/2\nproject: P\nissue_type: Bug\nsummary: {}\n",
        "e".repeat(255)
    );
    assert_eq!(
        notifier(&exact).issue(&ctx(), &firing()).unwrap()["fields"]["summary"],
        "e".repeat(255)
    );
}

#[test]
fn an_empty_priority_is_left_out() {
    let n = notifier(
        "api_url: https://j.example/rest/api/2\nproject: P\nissue_type: Bug\npriority: ''\n",
    );
    assert!(n.issue(&ctx(), &firing()).unwrap()["fields"]
        .get("priority")
        .is_none());
}

#[test]
fn quoting_and_joining() {
    assert_eq!(go_quote(r#"a "b" \c"#), r#""a \"b\" \\c""#);
    assert_eq!(go_quote("x\ny\u{1}"), r#""x\ny\x01""#);
    let base = url::Url::parse("https://j.example/rest/api/2/?x=1").unwrap();
    assert_eq!(
        join(&base, "issue/P-1/transitions"),
        "https://j.example/rest/api/2/issue/P-1/transitions?x=1"
    );
}

// --- Config checks ----------------------------------------------------------------------------

fn check_error(yaml: &str) -> String {
    config(yaml).check(&GlobalConfig::default()).unwrap_err()
}

#[test]
fn config_checks() {
    assert_eq!(
        check_error("api_url: https://j.example\nissue_type: Bug\n"),
        "missing project in jira_config"
    );
    assert_eq!(
        check_error("api_url: https://j.example\nproject: P\n"),
        "missing issue_type in jira_config"
    );
    assert_eq!(
        check_error("api_url: https://j.example\nproject: P\nissue_type: Bug\napi_type: server\n"),
        "unknown api_type on jira_config, must be auto, cloud or datacenter"
    );
    assert_eq!(
        check_error("project: P\nissue_type: Bug\n"),
        "no global Jira Cloud URL set"
    );
    assert!(
        check_error("api_url: 'jira.example'\nproject: P\nissue_type: Bug\n")
            .starts_with("jira api_url")
    );
    assert!(serde_yaml_ng::from_str::<JiraConfig>(
        "project: P\nsummary: {template: x, colour: red}\n"
    )
    .is_err());
    assert!(serde_yaml_ng::from_str::<JiraConfig>("project: P\nissue: x\n").is_err());
}

#[test]
fn summary_and_description_take_both_forms() {
    let c = config("summary: 'plain {{ .Status }}'\ndescription: {enable_update: false}\n");
    let summary = c.summary.as_ref().unwrap();
    assert_eq!(summary.template.as_deref(), Some("plain {{ .Status }}"));
    assert!(summary.enable_update());
    let description = c.description.as_ref().unwrap();
    assert_eq!(description.template, None, "the default template stays");
    assert!(!description.enable_update());
}

#[test]
fn templated_fields_are_all_listed() {
    let c = config(FULL);
    let names: Vec<&str> = c.templated_fields().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "jira project",
            "jira issue_type",
            "jira priority",
            "jira summary",
            "jira description",
            "jira label",
            "jira label",
            "jira field name",
            "jira field",
            "jira field",
            "jira field name",
            "jira field",
            "jira field name",
            "jira field",
            "jira field name",
            "jira field",
            "jira field name",
            "jira field name",
            "jira field",
        ]
    );
}
