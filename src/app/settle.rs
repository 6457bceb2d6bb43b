//! Alerts waiting for their runbook rule's `for` window to end.
//!
//! Inside the window the sender's severity stands in for the threshold; once it ends, the
//! threshold decides. Relays re-send an alert only every `repeat_interval`, so the router does
//! not wait for a re-send: it classifies the stored alert again when the window ends.

use std::collections::HashMap;
use std::time::Instant;

use parking_lot::Mutex;

use crate::model::time::Timestamp;
use crate::model::Fingerprint;
use crate::timers::DeadlineHeap;

#[derive(Default)]
pub struct Settling {
    heap: DeadlineHeap<Fingerprint>,
    /// The deadline that counts for each alert; a heap entry that is not it is stale.
    scheduled: Mutex<HashMap<Fingerprint, (Timestamp, Instant)>>,
}

impl Settling {
    /// Classify the alert again at `at` (at once when that has passed). An alert re-sent
    /// inside its window keeps its one deadline.
    pub fn schedule(&self, fingerprint: Fingerprint, at: Timestamp, now: Timestamp) {
        let due = tokio::time::Instant::now().into_std() + (at - now).to_std().unwrap_or_default();
        {
            let mut scheduled = self.scheduled.lock();
            if scheduled
                .get(&fingerprint)
                .is_some_and(|(when, _)| *when == at)
            {
                return;
            }
            scheduled.insert(fingerprint, (at, due));
        }
        self.heap.push(due, fingerprint);
    }

    /// Whether the alert waits for the end of a window.
    pub fn is_waiting(&self, fingerprint: Fingerprint) -> bool {
        self.scheduled.lock().contains_key(&fingerprint)
    }

    /// Waits for deadlines (at most `bound`) and returns the alerts due now.
    pub async fn due_within(&self, bound: std::time::Duration) -> Vec<Fingerprint> {
        let entries = self.heap.wait_due_within(bound).await;
        let mut scheduled = self.scheduled.lock();
        entries
            .into_iter()
            .filter(|(due, fp)| {
                let current = scheduled.get(fp).is_some_and(|(_, d)| d == due);
                if current {
                    scheduled.remove(fp);
                }
                current
            })
            .map(|(_, fp)| fp)
            .collect()
    }
}
