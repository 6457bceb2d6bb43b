use std::collections::HashMap;

use std::sync::Arc;

use parking_lot::Mutex;

use super::{shard_of, SHARDS};
use crate::model::time::Timestamp;
use crate::model::{Alert, Fingerprint, Prehashed};

/// Every alert by fingerprint. A re-sent alert merges into the one stored (Alertmanager's rule),
/// so the same alert sent by Prometheus every minute stays one alert.
pub struct AlertStore {
    shards: Vec<Mutex<Shard>>,
}

#[derive(Default)]
struct Shard {
    alerts: HashMap<Fingerprint, Slot, Prehashed>,
    /// Alerts whose latest version is owed a deferred write (see [`Save::Soon`]), each once.
    soon: Vec<Fingerprint>,
}

/// When the state file must get the version `put_tracked` stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Save {
    /// What the state file holds is good enough: a renewal within the slack.
    Nothing,
    /// Before the sender's answer: a new alert, a resolve, a re-fire, changed labels, a changed
    /// start or end rule, an earlier end, or any change while no version of it is committed.
    BeforeAnswer,
    /// Within the deferred-write delay, not awaited by the answer: only annotations, the
    /// generator URL, values or a renewed end changed on an alert whose committed version
    /// already carries its labels and start. A crash before that write loses only those
    /// changes; the sender's next re-send brings them again.
    Soon,
}

/// What `put_tracked` stored, and what else it needs.
pub struct Put {
    pub alert: Arc<Alert>,
    pub save: Save,
    /// Aggregation groups must take it in: it is new, it had resolved, or its labels changed.
    pub regroup: bool,
    /// The version it replaced, when the labels changed: its groups keep it.
    pub relabelled: Option<Arc<Alert>>,
}

struct Slot {
    /// The latest version, which the aggregation groups holding the alert read when they flush.
    alert: Arc<Alert>,
    /// The `ends_at` of the newest committed version; `None` while a write that must precede
    /// an answer is pending or after one failed, so a re-send is written rather than taken as
    /// saved.
    saved_ends_at: Option<Timestamp>,
    /// Listed in its shard's `soon`.
    owed_soon: bool,
}

/// Whether `new` differs from the committed `old` only in what may be written late: the same
/// labels, start, end rule and firing state, and an end no earlier.
fn deferrable(old: &Alert, new: &Alert, now: Timestamp) -> bool {
    old.labels == new.labels
        && old.starts_at == new.starts_at
        && old.timeout == new.timeout
        && new.ends_at >= old.ends_at
        && !old.resolved_at(now)
        && !new.resolved_at(now)
}

/// Whether a [`deferrable`] re-send changes nothing but an end pushed later: Prometheus moves
/// `endsAt` forward on every re-send, and an end derived from the resolve timeout moves by
/// itself.
fn same_but_renewed(old: &Alert, new: &Alert) -> bool {
    old.annotations == new.annotations
        && old.generator_url == new.generator_url
        && old.values == new.values
}

impl Default for AlertStore {
    fn default() -> Self {
        AlertStore {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
        }
    }
}

impl AlertStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn shard(&self, fp: Fingerprint) -> &Mutex<Shard> {
        &self.shards[shard_of(fp.0)]
    }

    /// Stores the alert, merging with the stored one when their active ranges overlap, and
    /// returns what is now stored.
    pub fn put(&self, alert: Alert) -> Arc<Alert> {
        self.put_tracked(alert, None).alert
    }

    /// Like `put`, and also says when the stored alert must be written to the state file and
    /// whether it must be (re)grouped. A re-send that only pushes the end further by less than
    /// `renewal_slack` past the saved copy need not be written: after a crash that alert ends
    /// at most that much earlier. Without a slack every change is written before the answer.
    pub fn put_tracked(&self, alert: Alert, renewal_slack: Option<chrono::Duration>) -> Put {
        let fingerprint = alert.fingerprint;
        let received_at = alert.updated_at;
        let mut guard = self.shard(fingerprint).lock();
        let shard = &mut *guard;
        let Some(slot) = shard.alerts.get_mut(&fingerprint) else {
            let stored = Arc::new(alert);
            let slot = Slot {
                alert: stored.clone(),
                saved_ends_at: None,
                owed_soon: false,
            };
            shard.alerts.insert(fingerprint, slot);
            return Put {
                alert: stored,
                save: Save::BeforeAnswer,
                regroup: true,
                relabelled: None,
            };
        };
        // A re-send with the same start and a later end does not overlap: Alertmanager
        // replaces rather than merges it. Either way, compare with what was there.
        let next = if slot.alert.overlaps(&alert) {
            slot.alert.merge(alert)
        } else {
            alert
        };
        let save = match (renewal_slack, slot.saved_ends_at) {
            (Some(slack), Some(saved)) if deferrable(&slot.alert, &next, received_at) => {
                if same_but_renewed(&slot.alert, &next) && next.ends_at <= saved + slack {
                    Save::Nothing
                } else {
                    Save::Soon
                }
            }
            _ => Save::BeforeAnswer,
        };
        match save {
            Save::BeforeAnswer => {
                // That write carries this version: a deferred one owed is covered by it.
                slot.saved_ends_at = None;
                slot.owed_soon = false;
            }
            Save::Soon if !slot.owed_soon => {
                slot.owed_soon = true;
                shard.soon.push(fingerprint);
            }
            Save::Soon | Save::Nothing => {}
        }
        // The groups of an alert that was firing hold it still, and read its latest version
        // from here when they flush: unless its labels changed, they need no update.
        let relabelled = slot.alert.labels != next.labels;
        let regroup = relabelled || slot.alert.resolved_at(received_at);
        let stored = Arc::new(next);
        let replaced = std::mem::replace(&mut slot.alert, stored.clone());
        drop(guard);
        Put {
            alert: stored,
            save,
            regroup,
            // Otherwise freed here, outside the lock.
            relabelled: relabelled.then_some(replaced),
        }
    }

    /// Records that `alert` is committed to the state file, if it is still the stored version
    /// (a newer one has a write of its own pending).
    pub fn mark_saved(&self, alert: &Alert) {
        let mut shard = self.shard(alert.fingerprint).lock();
        if let Some(slot) = shard.alerts.get_mut(&alert.fingerprint) {
            if slot.alert.ends_at == alert.ends_at && slot.alert.updated_at == alert.updated_at {
                slot.saved_ends_at = Some(alert.ends_at);
            }
        }
    }

    /// Records that writing the alert failed: its next re-send is written, whatever it changes.
    pub fn mark_unsaved(&self, fingerprint: Fingerprint) {
        if let Some(slot) = self.shard(fingerprint).lock().alerts.get_mut(&fingerprint) {
            slot.saved_ends_at = None;
        }
    }

    /// Hands the latest version of every alert owed a deferred write to `queue`, a shard at a
    /// time (see [`AlertStore::take_soon_in`]). Returns how many were handed over.
    pub fn take_soon(&self, mut queue: impl FnMut(Vec<Arc<Alert>>)) -> usize {
        (0..SHARDS)
            .map(|shard| self.take_soon_in(shard, &mut queue))
            .sum()
    }

    /// Hands the latest version of every alert of one shard (`0..SHARDS`) owed a deferred
    /// write to `queue`, under that shard's lock, so no later version of the same alert can be
    /// queued for writing before it (which would leave the older one last in the state file).
    /// Returns how many were handed over.
    pub fn take_soon_in(&self, shard: usize, queue: impl FnOnce(Vec<Arc<Alert>>)) -> usize {
        let Some(shard) = self.shards.get(shard) else {
            return 0;
        };
        let mut guard = shard.lock();
        let shard = &mut *guard;
        if shard.soon.is_empty() {
            return 0;
        }
        let mut batch = Vec::with_capacity(shard.soon.len());
        for fp in shard.soon.drain(..) {
            if let Some(slot) = shard.alerts.get_mut(&fp) {
                if std::mem::take(&mut slot.owed_soon) {
                    batch.push(slot.alert.clone());
                }
            }
        }
        let taken = batch.len();
        if taken > 0 {
            queue(batch);
        }
        taken
    }

    /// Records that deferred writes are committed. A newer version may have come meanwhile;
    /// the written one is still what a crash would leave, so its end counts as saved as long
    /// as nothing that must precede an answer is pending.
    pub fn mark_saved_soon(&self, written: &[Arc<Alert>]) {
        self.each_slot(written, |_, alert, slot| {
            if let Some(saved) = slot.saved_ends_at {
                if slot.alert.starts_at == alert.starts_at && slot.alert.labels == alert.labels {
                    slot.saved_ends_at = Some(saved.max(alert.ends_at));
                }
            }
        });
    }

    /// Runs `f` on the slot of each alert still stored, locking each shard once for a run of
    /// alerts in it (`take_soon` hands out a shard's alerts together).
    fn each_slot(
        &self,
        alerts: &[Arc<Alert>],
        mut f: impl FnMut(&mut Vec<Fingerprint>, &Alert, &mut Slot),
    ) {
        let mut i = 0;
        while i < alerts.len() {
            let shard_index = shard_of(alerts[i].fingerprint.0);
            let mut guard = self.shards[shard_index].lock();
            let shard = &mut *guard;
            while let Some(alert) = alerts
                .get(i)
                .filter(|a| shard_of(a.fingerprint.0) == shard_index)
            {
                if let Some(slot) = shard.alerts.get_mut(&alert.fingerprint) {
                    f(&mut shard.soon, alert, slot);
                }
                i += 1;
            }
        }
    }

    /// Records that deferred writes failed: each is owed again (unless a write that must
    /// precede an answer carries a newer version meanwhile).
    pub fn retry_soon(&self, failed: &[Arc<Alert>]) {
        self.each_slot(failed, |soon, alert, slot| {
            if slot.saved_ends_at.is_some() && !slot.owed_soon {
                slot.owed_soon = true;
                soon.push(alert.fingerprint);
            }
        });
    }

    /// How many alerts are owed a deferred write.
    pub fn owed_soon(&self) -> usize {
        self.shards.iter().map(|s| s.lock().soon.len()).sum()
    }

    pub fn get(&self, fp: Fingerprint) -> Option<Arc<Alert>> {
        self.shard(fp)
            .lock()
            .alerts
            .get(&fp)
            .map(|s| s.alert.clone())
    }

    pub fn list(&self) -> Vec<Arc<Alert>> {
        let mut out = Vec::new();
        for shard in &self.shards {
            out.extend(shard.lock().alerts.values().map(|s| s.alert.clone()));
        }
        out
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().alerts.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops alerts resolved before `now`, except those in `keep` (the alerts aggregation
    /// groups still hold: they read them here when they flush, and may owe a resolved
    /// notification), and returns their fingerprints.
    pub fn collect_resolved(
        &self,
        now: Timestamp,
        keep: &std::collections::HashSet<Fingerprint>,
    ) -> Vec<Fingerprint> {
        let mut removed = Vec::new();
        for shard in &self.shards {
            shard.lock().alerts.retain(|fp, slot| {
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
        match put.save {
            Save::BeforeAnswer => store.mark_saved(&put.alert),
            Save::Soon => {
                let mut written = Vec::new();
                store.take_soon(|batch| written.extend(batch));
                store.mark_saved_soon(&written);
            }
            Save::Nothing => {}
        }
        put.save != Save::Nothing
    }

    #[test]
    fn a_resend_after_a_failed_or_pending_write_is_written() {
        let store = AlertStore::new();
        let slack = Some(chrono::Duration::seconds(60));
        let sent = alert(300, "x");
        assert!(store.put_tracked(sent.clone(), slack).save == Save::BeforeAnswer);
        // Its commit has not succeeded (or failed): the unchanged re-send is written too.
        assert!(
            store.put_tracked(sent.clone(), slack).save == Save::BeforeAnswer,
            "still pending"
        );
        store.mark_unsaved(sent.fingerprint);
        let put = store.put_tracked(sent.clone(), slack);
        assert!(put.save == Save::BeforeAnswer, "after a failed commit");
        store.mark_saved(&put.alert);
        assert_eq!(
            store.put_tracked(sent, slack).save,
            Save::Nothing,
            "once committed"
        );
    }

    #[test]
    fn a_commit_of_an_older_version_does_not_mark_a_newer_one_saved() {
        let store = AlertStore::new();
        let slack = Some(chrono::Duration::seconds(60));
        let mut sent = alert(300, "x");
        let first = store.put_tracked(sent.clone(), slack).alert;
        sent.ends_at += chrono::Duration::seconds(5);
        sent.updated_at += chrono::Duration::seconds(5);
        assert!(store.put_tracked(sent.clone(), slack).save == Save::BeforeAnswer);
        store.mark_saved(&first);
        assert!(
            store.put_tracked(sent, slack).save == Save::BeforeAnswer,
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
        assert!(put.save == Save::BeforeAnswer, "an earlier end is written");
        assert_eq!(put.alert.ends_at, sent.ends_at);
    }

    #[test]
    fn what_an_answer_waits_for_and_what_is_written_soon() {
        let store = AlertStore::new();
        let slack = Some(chrono::Duration::seconds(60));
        let mut sent = alert(300, "CPU at 91%");
        sent.timeout = false;
        let put = |store: &AlertStore, a: &Alert| store.put_tracked(a.clone(), slack).save;
        assert_eq!(put(&store, &sent), Save::BeforeAnswer, "new");
        assert_eq!(
            put(&store, &sent),
            Save::BeforeAnswer,
            "nothing committed yet"
        );
        store.mark_saved(&store.get(sent.fingerprint).unwrap());
        // Prometheus' next evaluation: the same alert, its value (and summary) changed.
        sent.annotations = [("summary", "CPU at 93%")].into_iter().collect();
        sent.updated_at += chrono::Duration::seconds(15);
        sent.ends_at += chrono::Duration::seconds(15);
        assert_eq!(put(&store, &sent), Save::Soon, "annotations only");
        sent.annotations = [("summary", "CPU at 94%")].into_iter().collect();
        sent.updated_at += chrono::Duration::seconds(15);
        assert_eq!(put(&store, &sent), Save::Soon, "again before the write");
        // Owed once, as its latest version.
        let mut taken = Vec::new();
        assert_eq!(store.take_soon(|batch| taken.extend(batch)), 1);
        assert_eq!(taken[0].annotations.get("summary"), Some("CPU at 94%"));
        assert_eq!(store.take_soon(|_| {}), 0, "nothing owed twice");
        store.mark_saved_soon(&taken);
        // What must be durable before the answer.
        let mut relabelled = sent.clone();
        relabelled.labels.insert("priority", "P1");
        relabelled.updated_at += chrono::Duration::seconds(1);
        assert_eq!(put(&store, &relabelled), Save::BeforeAnswer, "labels");
        store.mark_saved(&store.get(sent.fingerprint).unwrap());
        let mut restarted = relabelled.clone();
        restarted.starts_at -= chrono::Duration::seconds(30);
        restarted.updated_at += chrono::Duration::seconds(1);
        assert_eq!(put(&store, &restarted), Save::BeforeAnswer, "start");
        store.mark_saved(&store.get(sent.fingerprint).unwrap());
        let mut resolved = restarted.clone();
        resolved.updated_at += chrono::Duration::seconds(1);
        resolved.ends_at = resolved.updated_at;
        assert_eq!(put(&store, &resolved), Save::BeforeAnswer, "resolve");
    }

    #[test]
    fn a_failed_deferred_write_is_owed_again_and_a_prompt_write_covers_it() {
        let store = AlertStore::new();
        let slack = Some(chrono::Duration::seconds(60));
        let mut sent = alert(300, "1");
        saved_put(&store, sent.clone(), slack);
        sent.annotations = [("summary", "2")].into_iter().collect();
        sent.updated_at += chrono::Duration::seconds(1);
        assert_eq!(store.put_tracked(sent.clone(), slack).save, Save::Soon);
        let mut taken = Vec::new();
        store.take_soon(|batch| taken.extend(batch));
        store.retry_soon(&taken);
        assert_eq!(store.take_soon(|_| {}), 1, "owed again after failing");
        // Owed, then a label change writes the latest version before its answer.
        sent.annotations = [("summary", "3")].into_iter().collect();
        sent.updated_at += chrono::Duration::seconds(1);
        assert_eq!(store.put_tracked(sent.clone(), slack).save, Save::Soon);
        sent.labels.insert("priority", "P2");
        sent.updated_at += chrono::Duration::seconds(1);
        assert_eq!(store.put_tracked(sent, slack).save, Save::BeforeAnswer);
        assert_eq!(store.take_soon(|_| {}), 0, "covered by the prompt write");
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
