//! Escalation policies: the config's `escalation_policies`, and every runbook's escalation path
//! as the policy `runbook:<runbook>`, its roles mapped to receivers.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::classify::Classifier;
use crate::config::{EscalateUntil, LoadedConfig};

/// Routes name a runbook's escalation path as `runbook:<runbook name>`.
pub use crate::config::RUNBOOK_POLICY_PREFIX;

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Delay since the incident opened (within one round).
    pub after: Duration,
    pub receivers: Vec<String>,
    pub active_time_intervals: Vec<String>,
    /// Whether an acknowledgement stops this step, or only the incident resolving.
    pub until: EscalateUntil,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub name: String,
    pub steps: Vec<Step>,
    /// Extra rounds after the first.
    pub repeat_count: u32,
    /// Time between the starts of two rounds.
    pub repeat_interval: Duration,
    pub reescalate_on_new_alerts: bool,
    pub notify_acknowledged: bool,
}

/// Where one step of one round sits in a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StepPosition {
    pub round: u32,
    pub step: usize,
}

impl Policy {
    /// The delay of a step since the escalation was armed.
    pub fn offset(&self, at: StepPosition) -> Option<Duration> {
        let step = self.steps.get(at.step)?;
        Some(self.repeat_interval * at.round + step.after)
    }

    /// The step after `at`, if the policy has one.
    pub fn next(&self, at: StepPosition) -> Option<StepPosition> {
        if at.step + 1 < self.steps.len() {
            Some(StepPosition {
                round: at.round,
                step: at.step + 1,
            })
        } else if at.round < self.repeat_count {
            Some(StepPosition {
                round: at.round + 1,
                step: 0,
            })
        } else {
            None
        }
    }

    /// The step before `at`, if any.
    pub fn previous(&self, at: StepPosition) -> Option<StepPosition> {
        if at.step > 0 {
            Some(StepPosition {
                round: at.round,
                step: at.step - 1,
            })
        } else if at.round > 0 {
            Some(StepPosition {
                round: at.round - 1,
                step: self.steps.len().checked_sub(1)?,
            })
        } else {
            None
        }
    }

    /// The first step at or after `from` that pages although the incident is acknowledged.
    pub fn next_despite_ack(&self, from: Option<StepPosition>) -> Option<StepPosition> {
        let mut at = from?;
        loop {
            if self.steps.get(at.step)?.until == EscalateUntil::Resolved {
                return Some(at);
            }
            at = self.next(at)?;
        }
    }

    /// Every receiver some step pages.
    pub fn receivers(&self) -> impl Iterator<Item = &str> {
        self.steps
            .iter()
            .flat_map(|s| s.receivers.iter().map(String::as_str))
    }
}

/// Every policy a route may name.
/// A route's escalation that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("escalation policy {name:?} used in a route cannot page anyone: {why}")]
    PagesNoOne { name: String, why: String },
    #[error(
        "undefined escalation policy {name:?} used in route (no runbook of that name is loaded)"
    )]
    Undefined { name: String },
    #[error("escalation_delays.{runbook}: {why}")]
    Delays { runbook: String, why: String },
}

#[derive(Debug, Default)]
pub struct Policies {
    by_name: BTreeMap<String, Policy>,
}

impl Policies {
    /// The config's policies and the runbooks' paths. A route that names a runbook path whose
    /// roles map to no receiver is an error; unused runbook paths need no mapping.
    pub fn build(config: &LoadedConfig, classifier: &Classifier) -> Result<Policies, PolicyError> {
        let mut by_name = BTreeMap::new();
        for p in &config.config.escalation_policies {
            let policy = Policy {
                name: p.name.clone(),
                steps: p
                    .steps
                    .iter()
                    .map(|s| Step {
                        after: s.after.0,
                        receivers: s.notify.clone(),
                        active_time_intervals: s.active_time_intervals.clone(),
                        until: s.until.unwrap_or(p.until),
                    })
                    .collect(),
                repeat_count: p.repeat.map_or(0, |r| r.count),
                repeat_interval: p.repeat.map_or(Duration::ZERO, |r| r.interval.0),
                reescalate_on_new_alerts: p.reescalate_on_new_alerts,
                notify_acknowledged: p.notify_acknowledged,
            };
            by_name.insert(policy.name.clone(), policy);
        }
        let receivers: std::collections::BTreeSet<&str> = config
            .config
            .receivers
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        let mut unmapped: BTreeMap<String, String> = BTreeMap::new();
        for runbook in config.config.escalation_delays.keys() {
            if !classifier.files().any(|f| f.runbook == *runbook) {
                return Err(PolicyError::Delays {
                    runbook: runbook.clone(),
                    why: "no runbook of that name is loaded".into(),
                });
            }
        }
        for file in classifier.files() {
            let name = format!("{RUNBOOK_POLICY_PREFIX}{}", file.runbook);
            let delays = config.config.escalation_delays.get(&file.runbook);
            if let Some(delays) = delays {
                if delays.len() != file.escalation.len() {
                    return Err(PolicyError::Delays {
                        runbook: file.runbook.clone(),
                        why: format!(
                            "{} delays for the runbook's {} escalation steps: give one per step",
                            delays.len(),
                            file.escalation.len()
                        ),
                    });
                }
                if delays.windows(2).any(|w| w[1] < w[0]) {
                    return Err(PolicyError::Delays {
                        runbook: file.runbook.clone(),
                        why: "delays are in increasing order".into(),
                    });
                }
            }
            let mut steps = Vec::new();
            for (index, step) in file.escalation.iter().enumerate() {
                let after = match (delays.and_then(|d| d.get(index)), step.after) {
                    (Some(configured), _) => *configured,
                    (None, Some(stated)) => stated,
                    (None, None) => {
                        unmapped.insert(
                            name.clone(),
                            format!(
                                "the runbook gives no delay for its step {} ({:?}); set escalation_delays: {{{}: [...]}}, one delay per step",
                                index + 1,
                                step.notify,
                                file.runbook
                            ),
                        );
                        break;
                    }
                };
                let role = step.notify.as_str();
                // `<runbook>:<role>` maps a role for one runbook; a bare role, for every runbook.
                let mapped = match config
                    .config
                    .escalation_roles
                    .get(&format!("{}:{role}", file.runbook))
                    .or_else(|| config.config.escalation_roles.get(role))
                {
                    Some(list) => list.clone(),
                    None if receivers.contains(role) => vec![role.to_string()],
                    None => {
                        unmapped.insert(
                            name.clone(),
                            format!("its role {role:?} is neither in escalation_roles nor a receiver name"),
                        );
                        break;
                    }
                };
                steps.push(Step {
                    after: after.0,
                    receivers: mapped,
                    active_time_intervals: Vec::new(),
                    until: step.until,
                });
            }
            if unmapped.contains_key(&name) || steps.is_empty() {
                continue;
            }
            by_name.insert(
                name.clone(),
                Policy {
                    name,
                    steps,
                    repeat_count: 0,
                    repeat_interval: Duration::ZERO,
                    reescalate_on_new_alerts: false,
                    notify_acknowledged: false,
                },
            );
        }
        let policies = Policies { by_name };
        let mut missing = Vec::new();
        collect_route_policies(config.route(), &mut missing);
        for name in missing {
            if policies.get(&name).is_some() {
                continue;
            }
            return Err(match unmapped.remove(&name) {
                Some(why) => PolicyError::PagesNoOne { name, why },
                None => PolicyError::Undefined { name },
            });
        }
        Ok(policies)
    }

    pub fn from_list(list: impl IntoIterator<Item = Policy>) -> Policies {
        Policies {
            by_name: list.into_iter().map(|p| (p.name.clone(), p)).collect(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&Policy> {
        self.by_name.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Policy> {
        self.by_name.values()
    }
}

fn collect_route_policies(route: &crate::config::RouteConfig, out: &mut Vec<String>) {
    if let Some(p) = &route.escalation {
        out.push(p.clone());
    }
    for child in &route.routes {
        collect_route_policies(child, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(steps: &[u64], repeat_count: u32, repeat_interval: u64) -> Policy {
        Policy {
            name: "p".into(),
            steps: steps
                .iter()
                .map(|s| Step {
                    after: Duration::from_secs(*s),
                    receivers: vec!["r".into()],
                    active_time_intervals: Vec::new(),
                    until: EscalateUntil::Acknowledged,
                })
                .collect(),
            repeat_count,
            repeat_interval: Duration::from_secs(repeat_interval),
            reescalate_on_new_alerts: false,
            notify_acknowledged: false,
        }
    }

    #[test]
    fn rounds_repeat_the_steps() {
        let p = policy(&[0, 60], 2, 600);
        let mut at = StepPosition { round: 0, step: 0 };
        let mut offsets = vec![p.offset(at).unwrap().as_secs()];
        while let Some(next) = p.next(at) {
            assert_eq!(p.previous(next), Some(at));
            at = next;
            offsets.push(p.offset(at).unwrap().as_secs());
        }
        assert_eq!(offsets, vec![0, 60, 600, 660, 1200, 1260]);
    }

    #[test]
    fn runbook_paths_map_roles_to_receivers() {
        let dir = tempfile::tempdir().unwrap();
        let rules = dir.path().join("rb.yml");
        std::fs::write(
            &rules,
            "runbook: rb\ntitle: t\nlevels: []\nescalation:\n  - {after: 0m, notify: on-call}\n  - {after: 30m, notify: team-lead}\nrules: []\n",
        )
        .unwrap();
        let classifier = Classifier::load(&[rules]).unwrap();
        let config = |roles: &str| {
            LoadedConfig::parse(&format!(
                "route: {{receiver: on-call, escalation: 'runbook:rb'}}\nreceivers: [{{name: on-call}}, {{name: lead-pager}}]\n{roles}"
            ))
            .unwrap()
        };
        let err = Policies::build(&config(""), &classifier)
            .unwrap_err()
            .to_string();
        assert!(err.contains("team-lead"), "{err}");
        let built = Policies::build(
            &config("escalation_roles: {team-lead: [lead-pager]}"),
            &classifier,
        )
        .unwrap();
        let p = built.get("runbook:rb").unwrap();
        assert_eq!(p.steps[0].receivers, vec!["on-call"]);
        assert_eq!(p.steps[1].receivers, vec!["lead-pager"]);
        assert_eq!(p.steps[1].after, Duration::from_secs(1800));
        // A role mapped for this runbook alone wins over the role for every runbook.
        let built = Policies::build(
            &config("escalation_roles: {team-lead: [on-call], 'rb:team-lead': [lead-pager], 'other:on-call': [lead-pager]}"),
            &classifier,
        )
        .unwrap();
        let p = built.get("runbook:rb").unwrap();
        assert_eq!(p.steps[0].receivers, vec!["on-call"]);
        assert_eq!(p.steps[1].receivers, vec!["lead-pager"]);
    }
}
