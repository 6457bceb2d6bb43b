use std::collections::HashMap;

use parking_lot::RwLock;

use crate::config::{merge_matchers, InhibitRuleConfig};
use crate::model::time::Timestamp;
use crate::model::{Alert, Fingerprint, LabelSet, Matchers};

/// Inhibit rules with, for each, the firing source alerts indexed by their `equal` label values,
/// so checking a target is a hash lookup rather than a scan of every source alert.
pub struct Inhibitor {
    rules: Vec<Rule>,
}

struct Rule {
    source: Matchers,
    target: Matchers,
    equal: Vec<String>,
    sources: RwLock<HashMap<String, HashMap<Fingerprint, Source>>>,
}

#[derive(Clone, Copy)]
struct Source {
    ends_at: Timestamp,
    /// The source alert also matches the target side.
    two_sided: bool,
}

impl Rule {
    /// The `equal` labels' values joined; a missing label counts as empty, as in Alertmanager.
    fn key(&self, labels: &LabelSet) -> String {
        let mut key = String::new();
        for name in &self.equal {
            key.push_str(labels.value_or_empty(name));
            key.push('\u{ff}');
        }
        key
    }
}

impl Inhibitor {
    pub fn new(rules: &[InhibitRuleConfig]) -> Inhibitor {
        let rules = rules
            .iter()
            .map(|r| Rule {
                source: Matchers(merge_matchers(
                    &r.source_match,
                    &r.source_match_re,
                    &r.source_matchers,
                )),
                target: Matchers(merge_matchers(
                    &r.target_match,
                    &r.target_match_re,
                    &r.target_matchers,
                )),
                equal: r.equal.iter().map(|l| l.0.clone()).collect(),
                sources: RwLock::new(HashMap::new()),
            })
            .collect();
        Inhibitor { rules }
    }

    /// Records an alert (as stored after merge) as a possible source.
    pub fn observe(&self, alert: &Alert) {
        for rule in &self.rules {
            if !rule.source.matches(&alert.labels) {
                continue;
            }
            let source = Source {
                ends_at: alert.ends_at,
                two_sided: rule.target.matches(&alert.labels),
            };
            rule.sources
                .write()
                .entry(rule.key(&alert.labels))
                .or_default()
                .insert(alert.fingerprint, source);
        }
    }

    /// The first firing source alert that inhibits an alert with these labels. An alert that
    /// matches both sides of a rule is not inhibited by sources that also match both sides.
    pub fn mutes(&self, labels: &LabelSet, now: Timestamp) -> Option<Fingerprint> {
        for rule in &self.rules {
            if !rule.target.matches(labels) {
                continue;
            }
            let exclude_two_sided = rule.source.matches(labels);
            let sources = rule.sources.read();
            let Some(candidates) = sources.get(&rule.key(labels)) else {
                continue;
            };
            let mut found: Option<Fingerprint> = None;
            for (fp, s) in candidates {
                if s.ends_at <= now || (exclude_two_sided && s.two_sided) {
                    continue;
                }
                // Deterministic answer when several sources qualify.
                if found.is_none_or(|f| *fp < f) {
                    found = Some(*fp);
                }
            }
            if found.is_some() {
                return found;
            }
        }
        None
    }

    /// Forgets sources that resolved before `now`.
    pub fn collect_resolved(&self, now: Timestamp) {
        for rule in &self.rules {
            let mut sources = rule.sources.write();
            sources.retain(|_, by_fp| {
                by_fp.retain(|_, s| s.ends_at > now);
                !by_fp.is_empty()
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LoadedConfig;
    use chrono::Utc;

    fn inhibitor(yaml_rules: &str) -> Inhibitor {
        let cfg = LoadedConfig::parse(&format!(
            "route: {{receiver: a}}\nreceivers: [{{name: a}}]\ninhibit_rules:\n{yaml_rules}"
        ))
        .unwrap();
        Inhibitor::new(&cfg.config.inhibit_rules)
    }

    fn alert(pairs: &[(&str, &str)], firing: bool) -> Alert {
        let labels: LabelSet = pairs.iter().map(|(k, v)| (*k, *v)).collect();
        let now = Utc::now();
        Alert {
            fingerprint: labels.fingerprint(),
            labels,
            annotations: LabelSet::new(),
            starts_at: now,
            ends_at: if firing {
                now + chrono::Duration::minutes(5)
            } else {
                now - chrono::Duration::seconds(1)
            },
            generator_url: "".into(),
            updated_at: now,
            timeout: true,
            values: Default::default(),
        }
    }

    #[test]
    fn equal_labels_must_match_and_missing_counts_as_empty() {
        let ih = inhibitor("  - source_matchers: [severity=critical]\n    target_matchers: [severity=warning]\n    equal: [cluster, zone]\n");
        let src = alert(
            &[
                ("alertname", "Down"),
                ("severity", "critical"),
                ("cluster", "c1"),
            ],
            true,
        );
        ih.observe(&src);
        let now = Utc::now();
        let same = LabelSet::from_iter([("severity", "warning"), ("cluster", "c1")]);
        assert_eq!(ih.mutes(&same, now), Some(src.fingerprint));
        let other = LabelSet::from_iter([("severity", "warning"), ("cluster", "c2")]);
        assert_eq!(ih.mutes(&other, now), None);
        let zoned =
            LabelSet::from_iter([("severity", "warning"), ("cluster", "c1"), ("zone", "z")]);
        assert_eq!(ih.mutes(&zoned, now), None, "zone differs: empty vs z");
    }

    #[test]
    fn resolved_sources_do_not_inhibit() {
        let ih = inhibitor(
            "  - source_match: {severity: critical}\n    target_match_re: {severity: warn.*}\n",
        );
        ih.observe(&alert(&[("severity", "critical")], false));
        assert_eq!(
            ih.mutes(&LabelSet::from_iter([("severity", "warning")]), Utc::now()),
            None
        );
        ih.observe(&alert(&[("severity", "critical")], true));
        assert!(ih
            .mutes(&LabelSet::from_iter([("severity", "warning")]), Utc::now())
            .is_some());
    }

    #[test]
    fn two_sided_alerts_do_not_inhibit_each_other() {
        let ih = inhibitor("  - source_matchers: [team=db]\n    target_matchers: [team=db]\n    equal: [alertname]\n");
        let a = alert(&[("team", "db"), ("alertname", "X"), ("i", "1")], true);
        let b = alert(&[("team", "db"), ("alertname", "X"), ("i", "2")], true);
        ih.observe(&a);
        ih.observe(&b);
        assert_eq!(ih.mutes(&a.labels, Utc::now()), None);
    }
}
