use std::collections::HashMap;

use std::sync::Arc;

use parking_lot::Mutex;

use super::{shard_of, SHARDS};
use crate::model::time::Timestamp;
use crate::model::{Alert, Fingerprint, Prehashed};

/// Every alert by fingerprint. A re-sent alert merges into the one stored (Alertmanager's rule),
/// so the same alert sent by Prometheus every minute stays one alert.
pub struct AlertStore {
    shards: Vec<Mutex<HashMap<Fingerprint, Slot, Prehashed>>>,
}

/// What `put_tracked` stored, and what else it needs.
pub struct Put {
    pub alert: Arc<Alert>,
    /// The state file must get this version.
    pub write: bool,
    /// Aggregation groups must take it in: it is new, it had resolved, or its labels changed.
    pub regroup: bool,
}

struct Slot {
    /// Shared with the aggregation groups that hold the alert: one copy, however many routes.
    alert: Arc<Alert>,
    /// The `ends_at` of the stored version once its write is committed; `None` while a write
    /// is pending or after one failed, so a re-send is written rather than taken as saved.
    saved_ends_at: Option<Timestamp>,
}

/// Whether a re-send changes nothing but an end pushed later: Prometheus moves `endsAt` forward
/// on every re-send, and an end derived from the resolve timeout moves by itself.
fn same_but_renewed(old: &Alert, new: &Alert) -> bool {
    old.timeout == new.timeout
        && new.ends_at >= old.ends_at
        && old.starts_at == new.starts_at
        && old.annotations == new.annotations
        && old.generator_url == new.generator_url
        && old.values == new.values
}

impl Default for AlertStore {
    fn default() -> Self {
        AlertStore {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(HashMap::default()))
                .collect(),
        }
    }
}

impl AlertStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn shard(&self, fp: Fingerprint) -> &Mutex<HashMap<Fingerprint, Slot, Prehashed>> {
        &self.shards[shard_of(fp.0)]
    }

    /// Stores the alert, merging with the stored one when their active ranges overlap, and
    /// returns what is now stored.
    pub fn put(&self, alert: Alert) -> Arc<Alert> {
        self.put_tracked(alert, None).alert
    }

    /// Like `put`, and also says whether the stored alert must be written to the state file and
    /// whether it must be (re)grouped. A re-send that only pushes the end further by less than
    /// `renewal_slack` past the saved copy need not be written: after a crash that alert ends
    /// at most that much earlier.
    pub fn put_tracked(&self, alert: Alert, renewal_slack: Option<chrono::Duration>) -> Put {
        let fingerprint = alert.fingerprint;
        let received_at = alert.updated_at;
        let mut shard = self.shard(fingerprint).lock();
        let Some(slot) = shard.get_mut(&fingerprint) else {
            let stored = Arc::new(alert);
            let slot = Slot {
                alert: stored.clone(),
                saved_ends_at: None,
            };
            shard.insert(fingerprint, slot);
            return Put {
                alert: stored,
                write: true,
                regroup: true,
            };
        };
        // A re-send with the same start and a later end does not overlap: Alertmanager
        // replaces rather than merges it. Either way, compare with what was there.
        let next = if slot.alert.overlaps(&alert) {
            slot.alert.merge(alert)
        } else {
            alert
        };
        let write = match (renewal_slack, slot.saved_ends_at) {
            (Some(slack), Some(saved)) if same_but_renewed(&slot.alert, &next) => {
                next.ends_at > saved + slack
            }
            _ => true,
        };
        if write {
            slot.saved_ends_at = None;
        }
        // The groups of an alert that was firing hold it still, and read its latest version
        // from here when they flush: unless its labels changed, they need no update.
        let regroup = slot.alert.resolved_at(received_at) || slot.alert.labels != next.labels;
        let stored = Arc::new(next);
        let replaced = std::mem::replace(&mut slot.alert, stored.clone());
        drop(shard);
        // Freed (when no group holds it either) outside the lock.
        drop(replaced);
        Put {
            alert: stored,
            write,
            regroup,
        }
    }

    /// Records that `alert` is committed to the state file, if it is still the stored version
    /// (a newer one has a write of its own pending).
    pub fn mark_saved(&self, alert: &Alert) {
        let mut shard = self.shard(alert.fingerprint).lock();
        if let Some(slot) = shard.get_mut(&alert.fingerprint) {
            if slot.alert.ends_at == alert.ends_at && slot.alert.updated_at == alert.updated_at {
                slot.saved_ends_at = Some(alert.ends_at);
            }
        }
    }

    /// Records that writing the alert failed: its next re-send is written, whatever it changes.
    pub fn mark_unsaved(&self, fingerprint: Fingerprint) {
        if let Some(slot) = self.shard(fingerprint).lock().get_mut(&fingerprint) {
            slot.saved_ends_at = None;
        }
    }

    pub fn get(&self, fp: Fingerprint) -> Option<Arc<Alert>> {
        self.shard(fp).lock().get(&fp).map(|s| s.alert.clone())
    }

    pub fn list(&self) -> Vec<Arc<Alert>> {
        let mut out = Vec::new();
        for shard in &self.shards {
            out.extend(shard.lock().values().map(|s| s.alert.clone()));
        }
        out
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops alerts resolved before `now`, except those in `keep`, and returns their
    /// fingerprints. Aggregation groups hold their own copies, so a resolved notification still
    /// goes out after this.
    pub fn collect_resolved(
        &self,
        now: Timestamp,
        keep: &std::collections::HashSet<Fingerprint>,
    ) -> Vec<Fingerprint> {
        let mut removed = Vec::new();
        for shard in &self.shards {
            shard.lock().retain(|fp, slot| {
                let drop = slot.alert.resolved_at(now) && !keep.contains(fp);
                if drop {
                    removed.push(*fp);
                }
                !drop
            });
        }
        removed
    }
}

impl crate::ingest::KnownAlerts for AlertStore {
    fn known(&self, fingerprint: Fingerprint) -> Option<Arc<Alert>> {
        self.get(fingerprint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn alert(ends_in_secs: i64, summary: &str) -> Alert {
        let labels: crate::model::LabelSet = [("a", "b")].into_iter().collect();
        let now = Utc::now();
        Alert {
            fingerprint: labels.fingerprint(),
            labels,
            annotations: [("summary", summary)].into_iter().collect(),
            starts_at: now - chrono::Duration::seconds(600),
            ends_at: now + chrono::Duration::seconds(ends_in_secs),
            generator_url: "".into(),
            updated_at: now,
            timeout: true,
            values: Default::default(),
        }
    }

    /// A put whose write (if it needs one) is then committed.
    fn saved_put(store: &AlertStore, alert: Alert, slack: Option<chrono::Duration>) -> bool {
        let put = store.put_tracked(alert, slack);
        if put.write {
            store.mark_saved(&put.alert);
        }
        put.write
    }

    #[test]
    fn a_resend_after_a_failed_or_pending_write_is_written() {
        let store = AlertStore::new();
        let slack = Some(chrono::Duration::seconds(60));
        let sent = alert(300, "x");
        assert!(store.put_tracked(sent.clone(), slack).write);
        // Its commit has not succeeded (or failed): the unchanged re-send is written too.
        assert!(
            store.put_tracked(sent.clone(), slack).write,
            "still pending"
        );
        store.mark_unsaved(sent.fingerprint);
        let put = store.put_tracked(sent.clone(), slack);
        assert!(put.write, "after a failed commit");
        store.mark_saved(&put.alert);
        assert!(!store.put_tracked(sent, slack).write, "once committed");
    }

    #[test]
    fn a_commit_of_an_older_version_does_not_mark_a_newer_one_saved() {
        let store = AlertStore::new();
        let slack = Some(chrono::Duration::seconds(60));
        let mut sent = alert(300, "x");
        let first = store.put_tracked(sent.clone(), slack).alert;
        sent.ends_at += chrono::Duration::seconds(5);
        sent.updated_at += chrono::Duration::seconds(5);
        assert!(store.put_tracked(sent.clone(), slack).write);
        store.mark_saved(&first);
        assert!(
            store.put_tracked(sent, slack).write,
            "the newer version's own write has not been committed"
        );
    }

    #[test]
    fn renewals_within_slack_need_no_write() {
        let store = AlertStore::new();
        let slack = Some(chrono::Duration::seconds(60));
        let mut first = alert(300, "x");
        let starts = first.starts_at;
        assert!(
            saved_put(&store, first.clone(), slack),
            "new alert is written"
        );
        first.ends_at += chrono::Duration::seconds(30);
        first.updated_at += chrono::Duration::seconds(30);
        assert!(
            !saved_put(&store, first.clone(), slack),
            "30s renewal is not"
        );
        first.ends_at += chrono::Duration::seconds(40);
        first.updated_at += chrono::Duration::seconds(40);
        assert!(
            saved_put(&store, first.clone(), slack),
            "70s past the saved end is"
        );
        let mut changed = alert(300, "y");
        changed.starts_at = starts;
        changed.updated_at = first.updated_at + chrono::Duration::seconds(1);
        assert!(saved_put(&store, changed, slack), "a changed annotation is");
    }

    #[test]
    fn explicit_ends_pushed_later_are_renewals_too() {
        let store = AlertStore::new();
        let slack = Some(chrono::Duration::seconds(60));
        // Prometheus' re-sends: a fixed start and an end moved a minute further each time.
        let mut sent = alert(240, "x");
        sent.timeout = false;
        assert!(saved_put(&store, sent.clone(), slack));
        sent.ends_at += chrono::Duration::seconds(50);
        sent.updated_at += chrono::Duration::seconds(50);
        assert!(!saved_put(&store, sent.clone(), slack), "50s later");
        sent.ends_at += chrono::Duration::seconds(20);
        sent.updated_at += chrono::Duration::seconds(20);
        assert!(
            saved_put(&store, sent.clone(), slack),
            "70s past the saved end"
        );
        // A resolve moves the end back to now: that is always written.
        sent.ends_at = sent.updated_at + chrono::Duration::seconds(1);
        sent.updated_at += chrono::Duration::seconds(1);
        let put = store.put_tracked(sent.clone(), slack);
        assert!(put.write, "an earlier end is written");
        assert_eq!(put.alert.ends_at, sent.ends_at);
    }

    #[test]
    fn only_new_resolved_or_relabelled_alerts_need_regrouping() {
        let store = AlertStore::new();
        let mut sent = alert(300, "x");
        assert!(store.put_tracked(sent.clone(), None).regroup, "new");
        sent.updated_at += chrono::Duration::seconds(60);
        sent.ends_at += chrono::Duration::seconds(60);
        assert!(
            !store.put_tracked(sent.clone(), None).regroup,
            "re-sent while firing"
        );
        sent.annotations = [("summary", "changed")].into_iter().collect();
        sent.updated_at += chrono::Duration::seconds(1);
        assert!(
            !store.put_tracked(sent.clone(), None).regroup,
            "annotations changed"
        );
        // Resolved since: its groups may have let it go.
        let later = sent.ends_at + chrono::Duration::seconds(10);
        sent.updated_at = later;
        sent.starts_at = later;
        sent.ends_at = later + chrono::Duration::seconds(300);
        assert!(
            store.put_tracked(sent.clone(), None).regroup,
            "firing again after resolving"
        );
        // Same fingerprint, other labels: what classification can do to an alert.
        sent.updated_at += chrono::Duration::seconds(1);
        sent.labels.insert("priority", "P1");
        assert!(store.put_tracked(sent, None).regroup, "labels changed");
    }
}
