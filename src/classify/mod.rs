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
        let (file, rule) = self.files.iter().find_map(|(_, f)| {
            f.rules
                .iter()
                .find(|r| r.selects(&alert.labels))
                .map(|r| (f, r))
        })?;
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
        let observed = read_value(alert, rule);
        let firing_long_enough = rule.for_duration.is_none_or(|d| {
            chrono::Duration::from_std(d.0).is_ok_and(|d| now - alert.starts_at >= d)
        });
        let from_threshold = observed
            .filter(|_| firing_long_enough)
            .and_then(|v| rule.evaluate(v))
            .map(|t| (t.severity.clone(), t.priority.clone()));
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

    /// Adds the classification labels; the sender's labels stay, a replaced severity is kept
    /// under `original_severity`, and the fingerprint is left as sent.
    pub fn apply(&self, alert: &mut Alert, now: Timestamp) -> Option<Classification> {
        let c = self.classify(alert, now)?;
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
        Some(c)
    }
}
