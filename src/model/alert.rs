use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::time::Timestamp;
use super::{Fingerprint, LabelSet};

/// An alert as the router holds it: Alertmanager's alert plus the extras other senders give us.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Alert {
    pub labels: LabelSet,
    pub annotations: LabelSet,
    pub starts_at: Timestamp,
    /// Always set once ingested: either the sender's end or `updated_at + resolve_timeout`.
    pub ends_at: Timestamp,
    pub generator_url: std::sync::Arc<str>,
    pub updated_at: Timestamp,
    /// `ends_at` was derived from the resolve timeout rather than sent, so a later explicit
    /// end wins on merge.
    pub timeout: bool,
    /// Grafana's evaluated values per query refId, kept for classification.
    pub values: BTreeMap<String, f64>,
    pub fingerprint: Fingerprint,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertStatus {
    Firing,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }
}

impl Alert {
    pub fn resolved_at(&self, now: Timestamp) -> bool {
        self.ends_at <= now
    }

    pub fn status_at(&self, now: Timestamp) -> AlertStatus {
        if self.resolved_at(now) {
            AlertStatus::Resolved
        } else {
            AlertStatus::Firing
        }
    }

    /// Alertmanager's `Alert.Merge`: the younger alert wins, with the earliest start and the
    /// latest explicit end. The re-sent alert comes by value: it usually is the younger one,
    /// and becomes the merge.
    pub fn merge(&self, newer: Alert) -> Alert {
        if newer.updated_at < self.updated_at {
            return newer.merge(self.clone());
        }
        let older = self;
        let newer_ends_at = newer.ends_at;
        let newer_resolved = newer.resolved_at(newer.updated_at);
        let updated_at = newer.updated_at;
        let mut merged = newer;
        if older.starts_at < merged.starts_at {
            merged.starts_at = older.starts_at;
        }
        if newer_resolved {
            if older.resolved_at(updated_at) && older.ends_at > newer_ends_at {
                merged.ends_at = older.ends_at;
            }
        } else if older.ends_at > newer_ends_at && !older.timeout {
            merged.ends_at = older.ends_at;
            merged.timeout = false;
        }
        if merged.values.is_empty() && !older.values.is_empty() {
            merged.values = older.values.clone();
        }
        merged
    }

    /// Whether a re-sent alert overlaps this one's active range, which is when Alertmanager
    /// merges rather than replaces.
    pub fn overlaps(&self, newer: &Alert) -> bool {
        (newer.ends_at > self.starts_at && newer.ends_at < self.ends_at)
            || (newer.starts_at > self.starts_at && newer.starts_at < self.ends_at)
    }
}

/// Alertmanager's alert order in notifications: by `job`, then `instance` (alerts with the
/// label first), then by the whole label set.
pub fn sort_for_notification(alerts: &mut [Alert]) {
    alerts.sort_by(|a, b| {
        for key in ["job", "instance"] {
            match (a.labels.get(key), b.labels.get(key)) {
                (None, None) => continue,
                (None, Some(_)) => return Ordering::Greater,
                (Some(_), None) => return Ordering::Less,
                (Some(x), Some(y)) if x != y => return x.cmp(y),
                _ => {}
            }
        }
        if a.labels.before(&b.labels) {
            Ordering::Less
        } else if b.labels.before(&a.labels) {
            Ordering::Greater
        } else {
            Ordering::Equal
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::time::parse_rfc3339;

    fn alert(starts: &str, ends: &str, updated: &str, timeout: bool) -> Alert {
        let labels: LabelSet = [("a", "b")].into_iter().collect();
        Alert {
            fingerprint: labels.fingerprint(),
            labels,
            annotations: LabelSet::new(),
            starts_at: parse_rfc3339(starts).unwrap(),
            ends_at: parse_rfc3339(ends).unwrap(),
            generator_url: "".into(),
            updated_at: parse_rfc3339(updated).unwrap(),
            timeout,
            values: BTreeMap::new(),
        }
    }

    #[test]
    fn merge_keeps_earliest_start_and_explicit_end() {
        let old = alert(
            "2024-01-01T00:00:00Z",
            "2024-01-01T02:00:00Z",
            "2024-01-01T00:00:00Z",
            false,
        );
        let new = alert(
            "2024-01-01T00:30:00Z",
            "2024-01-01T01:05:00Z",
            "2024-01-01T01:00:00Z",
            true,
        );
        let m = old.merge(new.clone());
        assert_eq!(m.starts_at, old.starts_at);
        assert_eq!(
            m.ends_at, old.ends_at,
            "explicit later end beats a timeout end"
        );
        assert!(!m.timeout);
        // Order of the arguments does not matter: the younger is picked by updated_at.
        assert_eq!(new.merge(old), m);
    }

    #[test]
    fn merge_lets_newer_timeout_replace_older_timeout() {
        let old = alert(
            "2024-01-01T00:00:00Z",
            "2024-01-01T01:10:00Z",
            "2024-01-01T00:00:00Z",
            true,
        );
        let new = alert(
            "2024-01-01T00:00:00Z",
            "2024-01-01T01:05:00Z",
            "2024-01-01T01:00:00Z",
            true,
        );
        assert_eq!(old.merge(new.clone()).ends_at, new.ends_at);
    }
}
