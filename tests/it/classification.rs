//! Every threshold row of every runbook, just below, at and just above its threshold, through
//! the classifier as the router runs it (fixtures/classification/*.yml against rules/*.yml).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use alert_router::classify::rules::files_in_dir;
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

fn alert(labels: &BTreeMap<String, String>, value: f64) -> Alert {
    let labels: LabelSet = labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let now = Utc::now();
    Alert {
        fingerprint: labels.fingerprint(),
        labels,
        annotations: [("value", value.to_string())].into_iter().collect(),
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
            let a = alert(&case.labels, case.value);
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
    let mut a = alert(&labels, 0.0);
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
