//! The notification log: what each receiver integration was last told about each group.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use parking_lot::Mutex;

use crate::model::time::Timestamp;
use crate::store::{shard_of, Pending, StoreError, SHARDS};

/// Where notification log entries are kept, so a restart neither pages again for what was sent
/// nor forgets to send the resolved notification.
pub trait NflogStore: Send + Sync {
    /// Saves an entry; resolves once it is durable.
    fn save_entry(&self, key: NflogKey, entry: NflogEntry) -> Pending<'_, Result<(), StoreError>>;
    /// Forgets expired entries.
    fn delete_entries(&self, keys: Vec<NflogKey>);
}

/// One integration of one receiver for one aggregation group: the unit Alertmanager dedups on.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NflogKey {
    pub group_key: String,
    pub receiver: String,
    pub integration: &'static str,
    pub index: usize,
}

/// What was last notified: the fingerprints firing and resolved at that moment.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NflogEntry {
    pub firing: Vec<u64>,
    pub resolved: Vec<u64>,
    pub timestamp: Timestamp,
    pub expires_at: Timestamp,
    /// Saved before a request leaves and replaced once it is answered: found after a restart,
    /// the send may or may not have arrived.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub in_flight: bool,
}

impl NflogKey {
    /// A stable text form for storage: receiver, integration, index and group key, separated
    /// by NUL (which none of them can contain in a valid config).
    pub fn encode(&self) -> String {
        format!(
            "{}\0{}\0{}\0{}",
            self.receiver, self.integration, self.index, self.group_key
        )
    }

    pub fn decode(s: &str) -> Option<NflogKey> {
        let mut parts = s.splitn(4, '\0');
        let receiver = parts.next()?.to_string();
        let integration = crate::notify::integration_name(parts.next()?)?;
        let index = parts.next()?.parse().ok()?;
        let group_key = parts.next()?.to_string();
        Some(NflogKey {
            group_key,
            receiver,
            integration,
            index,
        })
    }
}

impl NflogEntry {
    /// Every one of `fingerprints` was firing at the last notification.
    pub fn is_firing_subset(&self, fingerprints: &[u64]) -> bool {
        fingerprints
            .iter()
            .all(|f| self.firing.binary_search(f).is_ok())
    }

    pub fn is_resolved_subset(&self, fingerprints: &[u64]) -> bool {
        fingerprints
            .iter()
            .all(|f| self.resolved.binary_search(f).is_ok())
    }
}

#[derive(Default)]
pub struct NotificationLog {
    shards: Vec<Mutex<HashMap<NflogKey, NflogEntry>>>,
}

impl NotificationLog {
    pub fn new() -> Self {
        NotificationLog {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn shard(&self, key: &NflogKey) -> &Mutex<HashMap<NflogKey, NflogEntry>> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        &self.shards[shard_of(h.finish())]
    }

    pub fn get(&self, key: &NflogKey) -> Option<NflogEntry> {
        self.shard(key).lock().get(key).cloned()
    }

    /// Records an entry; returns it as stored (sorted), for persisting.
    pub fn log(&self, key: NflogKey, mut entry: NflogEntry) -> NflogEntry {
        entry.firing.sort_unstable();
        entry.resolved.sort_unstable();
        self.shard(&key).lock().insert(key, entry.clone());
        entry
    }

    /// Drops entries past their expiry; returns their keys.
    pub fn take_expired(&self, now: Timestamp) -> Vec<NflogKey> {
        let mut removed = Vec::new();
        for shard in &self.shards {
            let mut map = shard.lock();
            map.retain(|k, e| {
                let keep = e.expires_at > now;
                if !keep {
                    removed.push(k.clone());
                }
                keep
            });
        }
        removed
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
