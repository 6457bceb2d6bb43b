//! The notification channels a runbook names, held against where a config sends them.
//!
//! A runbook says "P0: email and phone" or "level 3: PagerDuty"; a config says which receivers
//! a `runbook`/`priority` route reaches and which receivers an escalation role pages. The two
//! drift apart silently, so `check-config` and `rules test` report every level and escalation
//! step that reaches other channels than its runbook names.

use std::collections::BTreeSet;
use std::fmt;

use crate::classify::Classifier;
use crate::config::{LoadedConfig, ReceiverConfig};
use crate::escalate::{Policies, RUNBOOK_POLICY_PREFIX};
use crate::model::LabelSet;
use crate::route::RouteTree;

/// A level or escalation step whose receivers reach other channels than its runbook names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub runbook: String,
    /// `level P0`, `escalation step 3 (team-lead)`.
    pub what: String,
    pub named: BTreeSet<String>,
    pub reached: BTreeSet<String>,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>().join(", ");
        write!(
            f,
            "runbook {}, {}: the runbook names {}; the config reaches {}",
            self.runbook,
            self.what,
            list(&self.named),
            if self.reached.is_empty() {
                "nothing".to_string()
            } else {
                list(&self.reached)
            }
        )
    }
}

/// The channels a receiver notifies through, as each integration names its channel; a receiver
/// with no integrations only logs.
fn receiver_channels(receiver: &ReceiverConfig) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = receiver
        .integrations()
        .into_iter()
        .map(|(name, block)| block.channel(name, &receiver.name).to_string())
        .collect();
    if out.is_empty() {
        out.insert("log".to_string());
    }
    out
}

/// The union of the channels of the named receivers.
pub fn channels_of<'a>(
    config: &LoadedConfig,
    receivers: impl IntoIterator<Item = &'a str>,
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for name in receivers {
        if let Some(r) = config.config.receivers.iter().find(|r| r.name == name) {
            out.extend(receiver_channels(r));
        }
    }
    out
}

/// Who an alert with these labels notifies at once: its routes' receivers, and the receivers
/// of the first escalation steps (`after: 0m`) of those routes' policies.
pub fn first_notified<'a>(
    routes: &'a RouteTree,
    policies: &'a Policies,
    labels: &LabelSet,
) -> Vec<&'a str> {
    let mut out = Vec::new();
    for id in routes.match_labels(labels) {
        let route = routes.get(id);
        out.push(route.receiver.as_str());
        let Some(policy) = route.escalation.as_deref().and_then(|p| policies.get(p)) else {
            continue;
        };
        for step in policy.steps.iter().take_while(|s| s.after.is_zero()) {
            out.extend(step.receivers.iter().map(String::as_str));
        }
    }
    out
}

/// The labels classification gives an alert of this runbook level, which routes match on.
fn level_labels(runbook: &str, priority: &str, severity: &str) -> LabelSet {
    [
        ("runbook", runbook),
        ("priority", priority),
        ("severity", severity),
    ]
    .into_iter()
    .collect()
}

/// Every level and escalation step, of every runbook the config loads, whose config reaches
/// other channels than the runbook names. Levels and steps that name none are not checked.
pub fn check(config: &LoadedConfig, classifier: &Classifier, policies: &Policies) -> Vec<Mismatch> {
    let routes = RouteTree::build(config.route());
    let mut out = Vec::new();
    for file in classifier.files() {
        for level in file.levels.iter().filter(|l| !l.channels.is_empty()) {
            let labels = level_labels(&file.runbook, &level.priority, &level.severity);
            let reached = channels_of(config, first_notified(&routes, policies, &labels));
            let named: BTreeSet<String> = level.channels.iter().cloned().collect();
            if reached != named {
                out.push(Mismatch {
                    runbook: file.runbook.clone(),
                    what: format!("level {}", level.priority),
                    named,
                    reached,
                });
            }
        }
        // Only a path some route uses is built; an unused path pages no one.
        let Some(policy) = policies.get(&format!("{RUNBOOK_POLICY_PREFIX}{}", file.runbook)) else {
            continue;
        };
        for (index, (step, built)) in file.escalation.iter().zip(&policy.steps).enumerate() {
            if step.channels.is_empty() {
                continue;
            }
            let reached = channels_of(config, built.receivers.iter().map(String::as_str));
            let named: BTreeSet<String> = step.channels.iter().cloned().collect();
            if reached != named {
                out.push(Mismatch {
                    runbook: file.runbook.clone(),
                    what: format!("escalation step {} ({})", index + 1, step.notify),
                    named,
                    reached,
                });
            }
        }
    }
    out
}
