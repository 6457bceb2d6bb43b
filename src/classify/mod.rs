//! Severity from the runbooks: an alert is matched to a runbook rule, its observed value is
//! compared with the rule's thresholds, and the result is added as labels (`severity`,
//! `priority`, `runbook`, `response_sla`) before routing, so ordinary route matchers can send
//! P0 to a pager. The alert's fingerprint stays that of the alert as sent.

pub mod rules;
mod value;

use std::path::PathBuf;

use crate::model::time::Timestamp;
use crate::model::Alert;

use rules::rank;
pub use rules::{load_file, RuleFile, RulesError};
pub use value::{parse_observed, read_value};

/// The label that keeps the sender's severity when classification changes it.
pub const ORIGINAL_SEVERITY_LABEL: &str = "original_severity";

#[derive(Debug, Clone, PartialEq)]
pub struct Classification {
    pub runbook: String,
    pub rule: String,
    pub observed: Option<f64>,
    pub severity: String,
    pub priority: String,
    pub response_sla: Option<String>,
    /// From an identity rule: the runbook names this alert and gives its priority.
    pub by_identity: bool,
}

#[derive(Debug, Default)]
pub struct Classifier {
    files: Vec<(PathBuf, RuleFile)>,
}

impl Classifier {
    pub fn load(paths: &[PathBuf]) -> Result<Classifier, RulesError> {
        let files = paths
            .iter()
            .map(|p| load_file(p).map(|f| (p.clone(), f)))
            .collect::<Result<_, _>>()?;
        Ok(Classifier { files })
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    pub fn files(&self) -> impl Iterator<Item = &RuleFile> {
        self.files.iter().map(|(_, f)| f)
    }

    /// What the runbooks say about this alert, if a rule selects it: from its observed value
    /// when it carries one, else from the sender's `severity` through the file's severity_map.
    pub fn classify(&self, alert: &Alert, now: Timestamp) -> Option<Classification> {
        self.evaluate(alert, now).0
    }

    /// The classification, and when it may change by time alone (see [`Classifier::settles_at`])
    /// if that is still to come.
    fn evaluate(
        &self,
        alert: &Alert,
        now: Timestamp,
    ) -> (Option<Classification>, Option<Timestamp>) {
        let Some((file, rule)) = self.select(alert) else {
            return (None, None);
        };
        if rule.identity.is_some() {
            return (decide(file, rule, None, None, alert), None);
        }
        let observed = read_value(alert, rule);
        let met = observed.and_then(|v| rule.evaluate(v));
        let settles_at = window_end(rule, met, alert).filter(|at| *at > now);
        // Inside the `for` window the threshold met does not count yet.
        let counted = met.filter(|_| settles_at.is_none());
        (decide(file, rule, observed, counted, alert), settles_at)
    }

    /// The first rule that selects the alert, and its file.
    fn select(&self, alert: &Alert) -> Option<(&RuleFile, &rules::Rule)> {
        self.files.iter().find_map(|(_, f)| {
            f.rules
                .iter()
                .find(|r| r.selects(&alert.labels))
                .map(|r| (f, r))
        })
    }

    /// When this alert's classification may change by time alone: the end of its rule's `for`
    /// window, if it carries a value that meets a threshold (inside the window the sender's
    /// severity stands in). The router classifies it again then, without waiting for a re-send.
    pub fn settles_at(&self, alert: &Alert) -> Option<Timestamp> {
        let (_, rule) = self.select(alert)?;
        let met = read_value(alert, rule).and_then(|v| rule.evaluate(v));
        window_end(rule, met, alert)
    }

    /// Adds the classification labels; the sender's labels stay, a replaced severity is kept
    /// under `original_severity`, and the fingerprint is left as sent.
    pub fn apply(&self, alert: &mut Alert, now: Timestamp) -> Option<Classification> {
        self.apply_settling(alert, now).0
    }

    /// Like [`Classifier::apply`], and also says when to classify the alert again: the end of
    /// its `for` window, when that is still to come.
    pub fn apply_settling(
        &self,
        alert: &mut Alert,
        now: Timestamp,
    ) -> (Option<Classification>, Option<Timestamp>) {
        let (classification, settles_at) = self.evaluate(alert, now);
        let Some(c) = classification else {
            return (None, settles_at);
        };
        if let Some(sent) = alert.labels.get("severity") {
            if sent != c.severity && !alert.labels.contains(ORIGINAL_SEVERITY_LABEL) {
                let sent = sent.to_string();
                alert.labels.insert(ORIGINAL_SEVERITY_LABEL, sent);
            }
        }
        alert.labels.insert("severity", c.severity.as_str());
        alert.labels.insert("priority", c.priority.as_str());
        alert.labels.insert("runbook", c.runbook.as_str());
        if let Some(sla) = &c.response_sla {
            alert.labels.insert("response_sla", sla.as_str());
        }
        (Some(c), settles_at)
    }
}

/// The classification of an alert its rule selects: an identity rule's at once, else the
/// threshold `threshold` met (`None` below every threshold or inside the `for` window), else
/// the sender's severity through the file's severity_map, capped by what the value meets.
fn decide(
    file: &RuleFile,
    rule: &rules::Rule,
    observed: Option<f64>,
    threshold: Option<&rules::Threshold>,
    alert: &Alert,
) -> Option<Classification> {
    if let Some(identity) = &rule.identity {
        return Some(Classification {
            runbook: file.runbook.clone(),
            rule: rule.name.clone(),
            observed: None,
            severity: identity.severity.clone(),
            priority: identity.priority.clone(),
            response_sla: file
                .level(&identity.priority)
                .and_then(|l| l.response_time)
                .map(|d| d.to_string()),
            by_identity: true,
        });
    }
    let from_threshold = threshold.map(|t| (t.severity.clone(), t.priority.clone()));
    let (severity, priority) = match from_threshold {
        Some(found) => found,
        None => {
            let sender = alert.labels.get("severity")?;
            let mut priority = file.severity_map.get(sender)?;
            // The sender's word never outranks the runbook's numbers: with a value below
            // every threshold, or inside the `for` window, the alert ranks at most as the
            // same alert would above threshold.
            if let Some(ceiling) = observed.and_then(|v| rule.ceiling(v)) {
                if rank(priority) < rank(&ceiling.priority) {
                    priority = &ceiling.priority;
                }
            }
            let level = file.level(priority)?;
            (level.severity.clone(), priority.clone())
        }
    };
    let response_sla = file
        .level(&priority)
        .and_then(|l| l.response_time)
        .map(|d| d.to_string());
    Some(Classification {
        runbook: file.runbook.clone(),
        rule: rule.name.clone(),
        observed,
        severity,
        priority,
        response_sla,
        by_identity: false,
    })
}

/// The end of the rule's `for` window, when the alert carries a value that meets a threshold.
fn window_end(
    rule: &rules::Rule,
    met: Option<&rules::Threshold>,
    alert: &Alert,
) -> Option<Timestamp> {
    met?;
    let window = chrono::Duration::from_std(rule.for_duration?.0).ok()?;
    alert.starts_at.checked_add_signed(window)
}
