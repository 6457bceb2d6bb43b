//! A deadline heap with one waiter: how aggregation groups and escalation steps wait without a
//! task each.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use parking_lot::Mutex;
use tokio::sync::Notify;

/// A min-heap of deadlines with one waiter. Entries are never removed early: a rescheduled
/// item pushes a new deadline and the owner ignores the stale one when it comes due.
pub struct DeadlineHeap<T: Ord> {
    heap: Mutex<BinaryHeap<Reverse<(Instant, T)>>>,
    changed: Notify,
}

impl<T: Ord + Copy> Default for DeadlineHeap<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Ord + Copy> DeadlineHeap<T> {
    pub fn new() -> Self {
        DeadlineHeap {
            heap: Mutex::new(BinaryHeap::new()),
            changed: Notify::new(),
        }
    }

    pub fn push(&self, at: Instant, item: T) {
        let earliest = {
            let mut heap = self.heap.lock();
            let earlier = heap.peek().is_none_or(|Reverse((first, _))| at < *first);
            heap.push(Reverse((at, item)));
            earlier
        };
        if earliest {
            self.changed.notify_one();
        }
    }

    pub fn wake(&self) {
        self.changed.notify_one();
    }

    /// Like [`DeadlineHeap::wait_due`], giving up after `bound` with nothing due, so a loop
    /// that holds its owner only through a weak reference gets to check it is still wanted.
    pub async fn wait_due_within(&self, bound: std::time::Duration) -> Vec<(Instant, T)> {
        tokio::select! {
            due = self.wait_due() => due,
            _ = tokio::time::sleep(bound) => Vec::new(),
        }
    }

    /// Waits until at least one deadline has passed (or `wake` is called) and returns the
    /// entries that are due, possibly none.
    pub async fn wait_due(&self) -> Vec<(Instant, T)> {
        let next = self.heap.lock().peek().map(|Reverse((at, _))| *at);
        match next {
            None => self.changed.notified().await,
            Some(at) if at > tokio::time::Instant::now().into_std() => {
                tokio::select! {
                    _ = tokio::time::sleep_until(at.into()) => {}
                    _ = self.changed.notified() => {}
                }
            }
            Some(_) => {}
        }
        // tokio's clock, so tests on paused time see deadlines pass; it is the real clock
        // otherwise.
        let now = tokio::time::Instant::now().into_std();
        let mut heap = self.heap.lock();
        let mut due = Vec::new();
        while heap.peek().is_some_and(|Reverse((at, _))| *at <= now) {
            if let Some(Reverse(entry)) = heap.pop() {
                due.push(entry);
            }
        }
        due
    }
}
