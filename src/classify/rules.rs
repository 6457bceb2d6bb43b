//! The runbook rule files under `rules/`: their schema, loading and validation.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use crate::config::{ConfigMatchers, EscalateUntil, PromDuration};
use crate::model::{LabelSet, Matcher};

#[derive(Debug, Error)]
pub enum RulesError {
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("bad rule_files pattern {0:?}: {1}")]
    Pattern(String, String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    pub runbook: String,
    pub title: String,
    pub levels: Vec<Level>,
    #[serde(default)]
    pub severity_map: BTreeMap<String, String>,
    pub escalation: Vec<EscalationStep>,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Level {
    pub priority: String,
    pub severity: String,
    pub response_time: Option<PromDuration>,
    pub description: String,
    #[serde(default)]
    pub channels: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationStep {
    /// The delay since the incident opened; `None` where the runbook gives none, and the
    /// config's `escalation_delays` must.
    #[serde(default)]
    pub after: Option<PromDuration>,
    pub notify: String,
    /// `resolved` where the runbook escalates "if not resolved": an acknowledgement does not
    /// stop this step.
    #[serde(default)]
    pub until: EscalateUntil,
    /// The channels the runbook says this step notifies through, as a level's `channels`.
    #[serde(default)]
    pub channels: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    Percent,
    Ratio,
    Seconds,
    Milliseconds,
    Count,
    Score,
    Bytes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Op {
    #[serde(rename = ">")]
    Greater,
    #[serde(rename = ">=")]
    GreaterOrEqual,
    #[serde(rename = "<")]
    Less,
    #[serde(rename = "<=")]
    LessOrEqual,
}

impl Op {
    pub fn holds(self, observed: f64, threshold: f64) -> bool {
        match self {
            Op::Greater => observed > threshold,
            Op::GreaterOrEqual => observed >= threshold,
            Op::Less => observed < threshold,
            Op::LessOrEqual => observed <= threshold,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    pub op: Op,
    pub value: f64,
    pub severity: String,
    pub priority: String,
}

/// Where a rule reads the observed value from; by default the `value` annotation, then a
/// Grafana alert's only value.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum ValueSource {
    Annotation(String),
    Label(String),
    Grafana(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub name: String,
    pub matchers: ConfigMatchers,
    #[serde(default)]
    pub match_any: Vec<ConfigMatchers>,
    /// The unit of the thresholds; absent for an identity rule.
    #[serde(default)]
    pub unit: Option<Unit>,
    /// The unit of a bare observed number (one sent without `%`, `s` or `ms`), when it differs
    /// from `unit`. Required when `unit` is `percent`: Prometheus computes availability and
    /// error rates as ratios (0.9995), exporters' usage rules often as percents (95), and a
    /// bare number cannot say which.
    #[serde(default)]
    pub value_unit: Option<Unit>,
    #[serde(default)]
    pub value: Option<ValueSource>,
    #[serde(rename = "for", default)]
    pub for_duration: Option<PromDuration>,
    #[serde(default)]
    pub thresholds: Vec<Threshold>,
    /// For an alert the runbook names with no number ("Service Down", "Security Breach"): the
    /// severity and priority it has by what it is, whatever the sender says.
    #[serde(default)]
    pub identity: Option<Identity>,
}

/// An identity rule's classification.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    pub severity: String,
    pub priority: String,
}

impl Rule {
    pub fn selects(&self, labels: &LabelSet) -> bool {
        let all = |ms: &[Matcher]| ms.iter().all(|m| m.matches(labels));
        (!self.matchers.0.is_empty() && all(&self.matchers.0))
            || self.match_any.iter().any(|alt| all(&alt.0))
    }

    /// The first threshold (most severe first) that holds for `observed`, in the rule's unit.
    pub fn evaluate(&self, observed: f64) -> Option<&Threshold> {
        self.thresholds
            .iter()
            .find(|t| t.op.holds(observed, t.value))
    }

    /// The most an alert with this value may rank when its threshold does not decide (it is
    /// below every threshold, or still inside its `for` window): the threshold it would meet,
    /// else the least severe one.
    pub fn ceiling(&self, observed: f64) -> Option<&Threshold> {
        self.evaluate(observed)
            .or_else(|| self.thresholds.iter().max_by_key(|t| rank(&t.priority)))
    }
}

const PRIORITIES: [&str; 4] = ["P0", "P1", "P2", "P3"];

/// The channels a level or escalation step may name; `log` is "log only": no notification.
pub const CHANNELS: [&str; 5] = ["pagerduty", "slack", "email", "phone", "log"];

fn check_channels(what: &str, channels: &[String]) -> Result<(), String> {
    if let Some(c) = channels.iter().find(|c| !CHANNELS.contains(&c.as_str())) {
        return Err(format!(
            "{what}: channel {c:?} is not one of {}",
            CHANNELS.join(", ")
        ));
    }
    if channels.len() > 1 && channels.iter().any(|c| c == "log") {
        return Err(format!(
            "{what}: `log` (log only) cannot go with other channels"
        ));
    }
    Ok(())
}

/// P0 is 0, the most urgent; an unknown priority ranks below P3.
pub(crate) fn rank(priority: &str) -> usize {
    PRIORITIES
        .iter()
        .position(|p| *p == priority)
        .unwrap_or(PRIORITIES.len())
}
const SEVERITIES: [&str; 3] = ["critical", "warning", "info"];

impl RuleFile {
    pub fn level(&self, priority: &str) -> Option<&Level> {
        self.levels.iter().find(|l| l.priority == priority)
    }

    fn validate(&self) -> Result<(), String> {
        if self.runbook.is_empty() {
            return Err("runbook must not be empty".into());
        }
        let mut seen = BTreeSet::new();
        for level in &self.levels {
            if !PRIORITIES.contains(&level.priority.as_str()) {
                return Err(format!(
                    "level priority {:?} is not one of P0..P3",
                    level.priority
                ));
            }
            if !SEVERITIES.contains(&level.severity.as_str()) {
                return Err(format!(
                    "level {}: severity {:?} is not critical, warning or info",
                    level.priority, level.severity
                ));
            }
            if !seen.insert(level.priority.as_str()) {
                return Err(format!("level {} is defined twice", level.priority));
            }
            check_channels(&format!("level {}", level.priority), &level.channels)?;
        }
        for (sender, priority) in &self.severity_map {
            if self.level(priority).is_none() {
                return Err(format!(
                    "severity_map {sender:?} -> {priority:?}: no such level"
                ));
            }
        }
        for step in &self.escalation {
            check_channels(
                &format!("escalation step {:?}", step.notify),
                &step.channels,
            )?;
        }
        let stated: Vec<(PromDuration, &str)> = self
            .escalation
            .iter()
            .filter_map(|s| s.after.map(|after| (after, s.notify.as_str())))
            .collect();
        for pair in stated.windows(2) {
            if pair[1].0 < pair[0].0 {
                return Err(format!(
                    "escalation step {:?} comes before the step above it",
                    pair[1].1
                ));
            }
        }
        let mut names = BTreeSet::new();
        for rule in &self.rules {
            if !names.insert(rule.name.as_str()) {
                return Err(format!("rule {:?} is defined twice", rule.name));
            }
            if rule.matchers.0.is_empty() && rule.match_any.iter().all(|a| a.0.is_empty()) {
                return Err(format!(
                    "rule {:?} has no matchers: it would select every alert",
                    rule.name
                ));
            }
            match (&rule.identity, rule.thresholds.is_empty(), rule.unit) {
                (Some(identity), true, None) => {
                    if self.level(&identity.priority).is_none() {
                        return Err(format!(
                            "rule {:?}: priority {:?} is not one of the file's levels",
                            rule.name, identity.priority
                        ));
                    }
                    if !SEVERITIES.contains(&identity.severity.as_str()) {
                        return Err(format!(
                            "rule {:?}: severity {:?} is not critical, warning or info",
                            rule.name, identity.severity
                        ));
                    }
                }
                (Some(_), _, _) => {
                    return Err(format!(
                        "rule {:?}: an identity rule has neither unit nor thresholds",
                        rule.name
                    ))
                }
                (None, true, _) => {
                    return Err(format!(
                        "rule {:?} has no thresholds (or identity)",
                        rule.name
                    ))
                }
                (None, false, None) => {
                    return Err(format!("rule {:?}: thresholds need a unit", rule.name))
                }
                (None, false, Some(Unit::Percent)) if rule.value_unit.is_none() => {
                    return Err(format!(
                        "rule {:?}: percent thresholds need `value_unit`, the unit of a bare observed number: `ratio` (0.9995 is 99.95%) or `percent` (99.95 is 99.95%)",
                        rule.name
                    ))
                }
                (None, false, Some(_)) => {}
            }
            for t in &rule.thresholds {
                if self.level(&t.priority).is_none() {
                    return Err(format!(
                        "rule {:?}: priority {:?} is not one of the file's levels",
                        rule.name, t.priority
                    ));
                }
                if !SEVERITIES.contains(&t.severity.as_str()) {
                    return Err(format!(
                        "rule {:?}: severity {:?} is not critical, warning or info",
                        rule.name, t.severity
                    ));
                }
                if !t.value.is_finite() {
                    return Err(format!(
                        "rule {:?}: threshold value must be a number",
                        rule.name
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Loads and checks one rule file.
pub fn load_file(path: &Path) -> Result<RuleFile, RulesError> {
    let text = std::fs::read_to_string(path).map_err(|e| RulesError::Read {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let file: RuleFile = serde_yaml_ng::from_str(&text).map_err(|e| RulesError::Invalid {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    file.validate().map_err(|reason| RulesError::Invalid {
        path: path.to_path_buf(),
        reason,
    })?;
    Ok(file)
}

/// The `.yml`/`.yaml` files in a directory, sorted by name.
pub fn files_in_dir(dir: &Path) -> Result<Vec<PathBuf>, RulesError> {
    let entries = std::fs::read_dir(dir).map_err(|e| RulesError::Read {
        path: dir.to_path_buf(),
        reason: e.to_string(),
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    files.sort();
    Ok(files)
}

/// Expands `rule_files:` patterns (relative to `base`): a directory, a file, or a file name
/// pattern with `*` in its last component.
pub fn expand_patterns(patterns: &[String], base: &Path) -> Result<Vec<PathBuf>, RulesError> {
    let mut out = Vec::new();
    for pattern in patterns {
        let full = if Path::new(pattern).is_absolute() {
            PathBuf::from(pattern)
        } else {
            base.join(pattern)
        };
        let name = full
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.contains('*') {
            let matched = crate::config::glob::matching_files(&full)
                .map_err(|e| RulesError::Pattern(pattern.clone(), e.to_string()))?;
            out.extend(matched);
        } else if full.is_dir() {
            out.extend(files_in_dir(&full)?);
        } else {
            out.push(full);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identity_rule_has_neither_unit_nor_thresholds() {
        let file = |rule: &str| {
            format!(
                "runbook: r\ntitle: t\nlevels: [{{priority: P0, severity: critical, description: d}}]\nescalation: []\nrules:\n  - name: x\n    matchers: ['alertname=\"A\"']\n{rule}"
            )
        };
        let parse = |rule: &str| -> Result<(), String> {
            let f: RuleFile = serde_yaml_ng::from_str(&file(rule)).map_err(|e| e.to_string())?;
            f.validate()
        };
        assert_eq!(
            parse("    identity: {severity: critical, priority: P0}\n"),
            Ok(())
        );
        let mixed = parse("    unit: percent\n    identity: {severity: critical, priority: P0}\n");
        assert!(mixed.unwrap_err().contains("neither unit nor thresholds"));
        let unknown = parse("    identity: {severity: critical, priority: P3}\n");
        assert!(unknown
            .unwrap_err()
            .contains("not one of the file's levels"));
        let bare = parse("    unit: percent\n");
        assert!(bare.unwrap_err().contains("no thresholds"));
    }

    #[test]
    fn percent_thresholds_say_what_a_bare_number_is() {
        let file = |value_unit: &str| {
            format!(
                "runbook: r\ntitle: t\nlevels: [{{priority: P0, severity: critical, description: d}}]\nescalation: []\nrules:\n  - name: x\n    matchers: ['alertname=\"A\"']\n    unit: percent\n{value_unit}    thresholds: [{{op: '>', value: 5, severity: critical, priority: P0}}]\n"
            )
        };
        let parse = |value_unit: &str| -> Result<(), String> {
            let f: RuleFile =
                serde_yaml_ng::from_str(&file(value_unit)).map_err(|e| e.to_string())?;
            f.validate()
        };
        let unstated = parse("").unwrap_err();
        assert!(unstated.contains("need `value_unit`"), "{unstated}");
        assert_eq!(parse("    value_unit: ratio\n"), Ok(()));
        assert_eq!(parse("    value_unit: percent\n"), Ok(()));
    }
}
