use std::collections::HashMap;

use parking_lot::Mutex;

use super::{shard_of, SHARDS};
use crate::model::time::Timestamp;
use crate::model::{Alert, Fingerprint};

/// Every alert by fingerprint. A re-sent alert merges into the one stored (Alertmanager's rule),
/// so the same alert sent by Prometheus every minute stays one alert.
pub struct AlertStore {
    shards: Vec<Mutex<HashMap<Fingerprint, Alert>>>,
}

impl Default for AlertStore {
    fn default() -> Self {
        AlertStore {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
}

impl AlertStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn shard(&self, fp: Fingerprint) -> &Mutex<HashMap<Fingerprint, Alert>> {
        &self.shards[shard_of(fp.0)]
    }

    /// Stores the alert, merging with the stored one when their active ranges overlap, and
    /// returns what is now stored.
    pub fn put(&self, alert: Alert) -> Alert {
        let mut shard = self.shard(alert.fingerprint).lock();
        let stored = match shard.get(&alert.fingerprint) {
            Some(old) if old.overlaps(&alert) => old.merge(&alert),
            _ => alert,
        };
        shard.insert(stored.fingerprint, stored.clone());
        stored
    }

    pub fn get(&self, fp: Fingerprint) -> Option<Alert> {
        self.shard(fp).lock().get(&fp).cloned()
    }

    pub fn list(&self) -> Vec<Alert> {
        let mut out = Vec::new();
        for shard in &self.shards {
            out.extend(shard.lock().values().cloned());
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
            shard.lock().retain(|fp, a| {
                let drop = a.resolved_at(now) && !keep.contains(fp);
                if drop {
                    removed.push(*fp);
                }
                !drop
            });
        }
        removed
    }
}
