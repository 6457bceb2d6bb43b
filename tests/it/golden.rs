//! Golden notifications: the Slack message, PagerDuty event and email (subject, text, HTML)
//! rendered for fixed groups, compared with fixtures/golden/*.json. `UPDATE_GOLDEN=1` rewrites
//! them; review the diff before committing.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alert_router::config::LoadedConfig;
use alert_router::model::time::parse_rfc3339;
use alert_router::model::{Alert, LabelSet};
use alert_router::notify::email::EmailNotifier;
use alert_router::notify::pagerduty::PagerdutyNotifier;
use alert_router::notify::slack::SlackNotifier;
use alert_router::notify::FlushContext;
use alert_router::template::Templates;
use serde_json::{json, Value};

const CONFIG: &str = r#"
global:
  slack_api_url: http://127.0.0.1:9/slack
  smtp_smarthost: 127.0.0.1:25
  smtp_from: alerts@example.org
route: {receiver: team}
receivers:
  - name: team
    slack_configs: [{channel: '#ops', send_resolved: true}]
    pagerduty_configs: [{routing_key: key, description: '{{ template "pagerduty.default.description" . }}: {{ .CommonAnnotations.summary }}'}]
    email_configs: [{to: oncall@example.org}]
"#;

fn alert(name: &str, instance: &str, summary: &str, resolved: bool) -> Alert {
    let labels: LabelSet = [
        ("alertname", name),
        ("cluster", "eu-1"),
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
        ends_at: if resolved {
            parse_rfc3339("2024-05-01T11:45:00Z").unwrap()
        } else {
            parse_rfc3339("2024-05-01T12:05:00Z").unwrap()
        },
        generator_url: "http://prometheus:9090/graph?g0.expr=up".into(),
        updated_at: parse_rfc3339("2024-05-01T12:00:00Z").unwrap(),
        timeout: true,
        values: Default::default(),
    }
}

fn cases() -> Vec<(&'static str, Vec<Alert>)> {
    vec![
        (
            "firing",
            vec![alert("DiskFull", "db-1", "disk is 97% full", false)],
        ),
        (
            "resolved",
            vec![
                alert("DiskFull", "db-1", "disk is 97% full", true),
                alert("DiskFull", "db-2", "disk is 95% full", true),
            ],
        ),
        (
            "many",
            (0..30)
                .map(|i| {
                    alert(
                        "DiskFull",
                        &format!("db-{i:02}"),
                        "disk almost full",
                        i % 3 == 0,
                    )
                })
                .collect(),
        ),
        (
            "unicode",
            vec![alert(
                "DiskFull",
                "sérveur-ü",
                "Plattenplatz fast erschöpft — 磁盘将满 ☠",
                false,
            )],
        ),
        (
            "long_summary",
            vec![alert(
                "DiskFull",
                "db-1",
                &"very long summary ".repeat(100),
                false,
            )],
        ),
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
        external_url: "http://alert-router.example.org:9093".into(),
        mute_time_intervals: Vec::new(),
        route_labels: Vec::new(),
        ack_url: None,
        active_time_intervals: Vec::new(),
    }
}

#[test]
fn rendered_notifications_match_the_golden_files() {
    let config = LoadedConfig::parse(CONFIG).unwrap();
    let templates = Arc::new(Templates::with_defaults().unwrap());
    let r = &config.config.receivers[0];
    let slack = SlackNotifier::new(&r.slack_configs[0], &config.global, templates.clone()).unwrap();
    let pd = PagerdutyNotifier::new(
        &r.pagerduty_configs[0],
        config.global.pagerduty_url.as_deref(),
        templates.clone(),
    )
    .unwrap();
    let email = EmailNotifier::new(&r.email_configs[0], &config.global, templates).unwrap();
    let update = std::env::var("UPDATE_GOLDEN").is_ok();
    for (name, alerts) in cases() {
        let ctx = ctx();
        let mail = email.message(&ctx, &alerts).unwrap();
        let raw = String::from_utf8(mail.formatted()).unwrap();
        let subject = mail
            .headers()
            .get_raw("Subject")
            .unwrap_or_default()
            .to_string();
        let got = json!({
            "slack": slack.message(&ctx, &alerts),
            "pagerduty": pd.event(&ctx, &alerts),
            "email": {
                "subject": subject,
                "multipart_alternative": raw.contains("multipart/alternative"),
                "text_plain": raw.contains("Content-Type: text/plain"),
                "text_html": raw.contains("Content-Type: text/html"),
            },
        });
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("fixtures/golden/{name}.json"));
        if update {
            std::fs::write(&path, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
            continue;
        }
        let want: Value = serde_json::from_str(
            &std::fs::read_to_string(&path)
                .unwrap_or_else(|_| panic!("{} missing (UPDATE_GOLDEN=1)", path.display())),
        )
        .unwrap();
        assert_eq!(got, want, "{name} differs from {}", path.display());
        // Invariants that hold whatever the wording.
        let summary = got["pagerduty"]["payload"]["summary"].as_str().unwrap();
        assert!(
            summary.chars().count() <= 1024,
            "{name}: PagerDuty summary over 1024 characters"
        );
        if name == "long_summary" {
            assert_eq!(summary.chars().count(), 1024);
            assert!(summary.ends_with('…'));
        }
    }
}
