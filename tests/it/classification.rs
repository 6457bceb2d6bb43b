//! Every threshold row of every runbook, just below, at and just above its threshold, through
//! the classifier as the router runs it (fixtures/classification/*.yml against rules/*.yml).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use alert_router::classify::rules::{files_in_dir, Rule, Unit};
use alert_router::classify::Classifier;
use alert_router::model::{Alert, LabelSet};
use chrono::Utc;
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    runbook: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    rule: String,
    labels: BTreeMap<String, String>,
    value: f64,
    expect: Expect,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Expect {
    None(String),
    Some { severity: String, priority: String },
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A fixture's value as a sender writes it in the rule's unit: with its suffix where the unit
/// has one, so the boundary cases test the thresholds, not how a bare number is read.
fn in_unit(rule: &Rule, value: f64) -> String {
    let suffix = match rule.unit {
        Some(Unit::Percent) => "%",
        Some(Unit::Seconds) => "s",
        Some(Unit::Milliseconds) => "ms",
        _ => "",
    };
    format!("{value}{suffix}")
}

fn alert(labels: &BTreeMap<String, String>, value: &str) -> Alert {
    let labels: LabelSet = labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let now = Utc::now();
    Alert {
        fingerprint: labels.fingerprint(),
        labels,
        annotations: [("value", value)].into_iter().collect(),
        // Long enough ago for every rule's `for`.
        starts_at: now - chrono::Duration::hours(2),
        ends_at: now + chrono::Duration::minutes(5),
        generator_url: "".into(),
        updated_at: now,
        timeout: true,
        values: Default::default(),
    }
}

#[test]
fn every_threshold_row_of_every_runbook_at_its_boundaries() {
    let rule_files = files_in_dir(&root().join("rules")).unwrap();
    assert_eq!(rule_files.len(), 5, "one file per runbook");
    let classifier = Classifier::load(&rule_files).expect("rules load and validate");
    let fixtures: Vec<PathBuf> = files_in_dir(&root().join("fixtures/classification")).unwrap();
    assert_eq!(fixtures.len(), 5);
    let mut checked = 0;
    for path in fixtures {
        let fixture: Fixture =
            serde_yaml_ng::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let file = classifier
            .files()
            .find(|f| f.runbook == fixture.runbook)
            .expect("fixture's runbook is loaded");
        // Every threshold row has its three cases.
        let rows: usize = file.rules.iter().map(|r| r.thresholds.len()).sum();
        assert_eq!(
            fixture.cases.len(),
            rows * 3,
            "{}: three cases per threshold row",
            fixture.runbook
        );
        for case in &fixture.cases {
            assert!(
                !case.labels.contains_key("severity"),
                "fixtures test values, not sender severities"
            );
            let rule = file
                .rules
                .iter()
                .find(|r| r.name == case.rule)
                .unwrap_or_else(|| panic!("{}: no rule {}", fixture.runbook, case.rule));
            let a = alert(&case.labels, &in_unit(rule, case.value));
            let got = classifier.classify(&a, Utc::now());
            let what = format!("{} {} value {}", fixture.runbook, case.rule, case.value);
            match &case.expect {
                Expect::None(s) => {
                    assert_eq!(s, "none");
                    assert_eq!(got, None, "{what}");
                }
                Expect::Some { severity, priority } => {
                    let got = got.unwrap_or_else(|| panic!("{what}: not classified"));
                    assert_eq!(
                        (got.runbook.as_str(), got.rule.as_str()),
                        (fixture.runbook.as_str(), case.rule.as_str()),
                        "{what}: selected by another rule"
                    );
                    assert_eq!(
                        (&got.severity, &got.priority),
                        (severity, priority),
                        "{what}"
                    );
                    assert_eq!(got.observed, Some(case.value));
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 80, "{checked} cases");
}

#[test]
fn sender_severity_stands_in_without_a_value_and_labels_are_added() {
    let classifier = Classifier::load(&files_in_dir(&root().join("rules")).unwrap()).unwrap();
    let file = classifier
        .files()
        .find(|f| !f.severity_map.is_empty() && !f.rules.is_empty())
        .unwrap();
    let rule = &file.rules[0];
    // Labels the rule selects: take them from its fixture.
    let fixture: Fixture = serde_yaml_ng::from_str(
        &std::fs::read_to_string(
            root().join(format!("fixtures/classification/{}.yml", file.runbook)),
        )
        .unwrap(),
    )
    .unwrap();
    let case = fixture.cases.iter().find(|c| c.rule == rule.name).unwrap();
    let (sender, mapped) = file.severity_map.iter().next().unwrap();
    let mut labels = case.labels.clone();
    labels.insert("severity".into(), sender.clone());
    let mut a = alert(&labels, "0");
    a.annotations = LabelSet::new();
    let fingerprint = a.fingerprint;
    let c = classifier
        .apply(&mut a, Utc::now())
        .expect("classified from the sender's severity");
    assert_eq!(&c.priority, mapped);
    assert_eq!(c.observed, None);
    assert_eq!(a.labels.get("priority"), Some(mapped.as_str()));
    assert_eq!(a.labels.get("runbook"), Some(file.runbook.as_str()));
    assert_eq!(
        a.fingerprint, fingerprint,
        "the fingerprint stays that of the alert as sent"
    );
    for (k, v) in &case.labels {
        assert_eq!(a.labels.get(k), Some(v.as_str()), "sender label {k} kept");
    }
    if a.labels.get("severity") != Some(sender.as_str()) {
        assert_eq!(a.labels.get("original_severity"), Some(sender.as_str()));
    }
}

/// P0 is 0, the most urgent.
fn urgency(priority: &str) -> usize {
    ["P0", "P1", "P2", "P3"]
        .iter()
        .position(|p| *p == priority)
        .unwrap_or(4)
}

#[test]
fn a_sender_severity_never_outranks_the_threshold() {
    let rule_files = files_in_dir(&root().join("rules")).unwrap();
    let classifier = Classifier::load(&rule_files).unwrap();
    let mut checked = 0;
    for file in classifier.files() {
        let fixture: Fixture = serde_yaml_ng::from_str(
            &std::fs::read_to_string(
                root().join(format!("fixtures/classification/{}.yml", file.runbook)),
            )
            .unwrap(),
        )
        .unwrap();
        for case in &fixture.cases {
            let Some(rule) = file.rules.iter().find(|r| r.name == case.rule) else {
                continue;
            };
            let least = rule
                .thresholds
                .iter()
                .map(|t| urgency(&t.priority))
                .max()
                .unwrap();
            for sender in file.severity_map.keys() {
                let mut labels = case.labels.clone();
                labels.insert("severity".into(), sender.clone());
                let what = format!(
                    "{} {} value {} sent as {sender}",
                    file.runbook, case.rule, case.value
                );
                match &case.expect {
                    // Below every threshold: at most as urgent as the least urgent threshold.
                    Expect::None(_) => {
                        let a = alert(&labels, &in_unit(rule, case.value));
                        if let Some(c) = classifier.classify(&a, Utc::now()) {
                            assert!(urgency(&c.priority) >= least, "{what}: {}", c.priority);
                            checked += 1;
                        }
                    }
                    // Above a threshold but just started (inside `for`): at most that threshold.
                    Expect::Some { priority, .. } if rule.for_duration.is_some() => {
                        let mut a = alert(&labels, &in_unit(rule, case.value));
                        a.starts_at = Utc::now();
                        if let Some(c) = classifier.classify(&a, Utc::now()) {
                            assert!(
                                urgency(&c.priority) >= urgency(priority),
                                "{what}, inside its for window: {} over {priority}",
                                c.priority
                            );
                            checked += 1;
                        }
                    }
                    Expect::Some { .. } => {}
                }
            }
        }
    }
    assert!(checked >= 20, "{checked} cases");
}

#[test]
fn alerts_the_runbooks_name_without_a_number_are_classified_by_identity() {
    let classifier = Classifier::load(&files_in_dir(&root().join("rules")).unwrap()).unwrap();
    for (alertname, service, runbook, severity, priority) in [
        ("ServiceDown", "hitl-api", "hitl-api", "critical", "P0"),
        (
            "ServiceDown",
            "counterfactual-lab",
            "counterfactual-lab",
            "critical",
            "P0",
        ),
        (
            "SecurityBreach",
            "counterfactual-lab",
            "counterfactual-lab",
            "critical",
            "P0",
        ),
        (
            "HighResponseTime",
            "counterfactual-lab",
            "counterfactual-lab",
            "warning",
            "P1",
        ),
        (
            "MemoryUsageHigh",
            "counterfactual-lab",
            "counterfactual-lab",
            "warning",
            "P1",
        ),
    ] {
        // Whatever the sender calls it, and with no value at all.
        for sent in [None, Some("info"), Some("critical")] {
            let mut labels: BTreeMap<String, String> = [
                ("alertname".to_string(), alertname.to_string()),
                ("service".to_string(), service.to_string()),
            ]
            .into_iter()
            .collect();
            if let Some(s) = sent {
                labels.insert("severity".into(), s.into());
            }
            let mut a = alert(&labels, "0");
            a.annotations = LabelSet::new();
            let c = classifier
                .classify(&a, Utc::now())
                .unwrap_or_else(|| panic!("{alertname} on {service} is not classified"));
            assert_eq!(
                (c.runbook.as_str(), c.severity.as_str(), c.priority.as_str()),
                (runbook, severity, priority),
                "{alertname} on {service} sent as {sent:?}"
            );
            assert!(c.by_identity && c.observed.is_none());
        }
    }
}

/// A bare number is read in the unit its rule states (`value_unit`): availability and error
/// rates as the ratios Prometheus computes, usage as a percent.
#[test]
fn bare_numbers_are_read_in_the_unit_each_rule_states() {
    let classifier = Classifier::load(&files_in_dir(&root().join("rules")).unwrap()).unwrap();
    let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let classify = |pairs: &[(&str, &str)], value: &str| {
        classifier
            .classify(&alert(&labels(pairs), value), Utc::now())
            .map(|c| (c.priority, c.observed))
    };
    let availability = [("alertname", "LowAvailability"), ("service", "hitl-api")];
    // Uptime < 99.9% is the P0 line: 0.9995 is 99.95%, above it.
    assert_eq!(classify(&availability, "0.9995"), None);
    assert_eq!(
        classify(&availability, "0.998"),
        Some(("P0".to_string(), Some(99.8)))
    );
    assert_eq!(classify(&availability, "99.95%"), None);
    // A bare number that is no ratio is not read as 9995%: the alert carries no usable value.
    let unread = classifier
        .classify(&alert(&labels(&availability), "99.95"), Utc::now())
        .map(|c| c.observed);
    assert!(matches!(unread, None | Some(None)), "{unread:?}");

    let errors = [
        ("alertname", "HighErrorRate"),
        ("service", "agentic-platform"),
    ];
    // > 10% is P1, > 5% P2.
    assert_eq!(
        classify(&errors, "0.12"),
        Some(("P1".to_string(), Some(12.0)))
    );
    assert_eq!(
        classify(&errors, "12%"),
        Some(("P1".to_string(), Some(12.0)))
    );
    assert_eq!(classify(&errors, "0.02"), None);

    let memory = [
        ("alertname", "HighMemoryUsage"),
        ("service", "agentic-platform"),
    ];
    let as_percent = classify(&memory, "95").map(|(_, observed)| observed);
    assert_eq!(
        as_percent,
        Some(Some(95.0)),
        "usage: a bare number is a percent"
    );
}
