//! The in-memory backend: every port kept in maps, nothing on disk. It serves
//! `--storage.durability none` (state lives as long as the process, as in Alertmanager) and
//! tests. Handles cloned from one backend share it, as replicas share a database: a silence
//! one saves reaches the others' change feeds.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::broadcast;

use crate::dispatch::{GroupSchedule, ScheduleStore};
use crate::escalate::IncidentStore;
use crate::model::{Alert, Fingerprint};
use crate::notify::{NflogEntry, NflogKey, NflogStore};
use crate::state::{Recovered, StateBackend, StorageHealth};
use crate::store::{AlertLog, Pending, Silence, SilencePersistence, StoreError};

#[derive(Default)]
struct Maps {
    alerts: HashMap<Fingerprint, Arc<Alert>>,
    nflog: HashMap<NflogKey, NflogEntry>,
    silences: HashMap<String, Silence>,
    incidents: HashMap<String, Vec<u8>>,
    groups: HashMap<String, GroupSchedule>,
}

/// A backend in memory. `Clone` gives another handle to the same state, with its own
/// subscription to silence changes.
pub struct Memory {
    maps: Arc<Mutex<Maps>>,
    /// Every save, with the handle that made it: a handle hears only the others'.
    changes: broadcast::Sender<(usize, Silence)>,
    me: usize,
    /// Off for `--storage.durability none`: the alert store is then the only copy of the
    /// alerts, since nothing outlives the process anyway.
    keep_alerts: bool,
    health: Arc<StorageHealth>,
}

impl Default for Memory {
    fn default() -> Self {
        Memory::new()
    }
}

impl Memory {
    /// A backend that keeps everything, for tests and for replicas sharing it.
    pub fn new() -> Memory {
        Memory {
            maps: Arc::default(),
            changes: broadcast::channel(1024).0,
            me: 0,
            keep_alerts: true,
            health: Arc::default(),
        }
    }

    /// What `--storage.durability none` runs on: like `new`, but alerts are not kept a second
    /// time (`recover` returns none), which would cost memory per alert for nothing.
    pub fn without_alerts() -> Memory {
        Memory {
            keep_alerts: false,
            ..Memory::new()
        }
    }

    /// Another handle on the same state, as a second replica would have.
    pub fn handle(&self) -> Memory {
        static HANDLES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
        Memory {
            maps: self.maps.clone(),
            changes: self.changes.clone(),
            me: HANDLES.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            keep_alerts: self.keep_alerts,
            health: self.health.clone(),
        }
    }
}

fn ready<'a>() -> Pending<'a, Result<(), StoreError>> {
    Box::pin(std::future::ready(Ok(())))
}

impl AlertLog for Memory {
    fn save_alerts(&self, alerts: Vec<Arc<Alert>>) -> Pending<'_, Result<(), StoreError>> {
        if !self.keep_alerts {
            return ready();
        }
        let mut maps = self.maps.lock();
        for a in alerts {
            maps.alerts.insert(a.fingerprint, a);
        }
        ready()
    }

    fn keeps_alerts(&self) -> bool {
        self.keep_alerts
    }

    fn queue_alerts(&self, alerts: Vec<Arc<Alert>>) -> Pending<'static, Result<(), StoreError>> {
        let saved = self.save_alerts(alerts);
        drop(saved);
        ready()
    }

    fn delete_alerts(&self, fingerprints: Vec<Fingerprint>) {
        if !self.keep_alerts {
            return;
        }
        let mut maps = self.maps.lock();
        for fp in fingerprints {
            maps.alerts.remove(&fp);
        }
    }
}

impl NflogStore for Memory {
    fn save_entry(&self, key: NflogKey, entry: NflogEntry) -> Pending<'_, Result<(), StoreError>> {
        self.maps.lock().nflog.insert(key, entry);
        ready()
    }

    fn delete_entries(&self, keys: Vec<NflogKey>) {
        let mut maps = self.maps.lock();
        for k in keys {
            maps.nflog.remove(&k);
        }
    }
}

impl ScheduleStore for Memory {
    fn save_schedule(&self, group_key: String, schedule: GroupSchedule) {
        self.maps.lock().groups.insert(group_key, schedule);
    }

    fn delete_schedule(&self, group_key: String) {
        self.maps.lock().groups.remove(&group_key);
    }
}

impl IncidentStore for Memory {
    fn save_incident(&self, id: String, encoded: Vec<u8>) {
        self.maps.lock().incidents.insert(id, encoded);
    }

    fn delete_incidents(&self, ids: Vec<String>) {
        let mut maps = self.maps.lock();
        for id in ids {
            maps.incidents.remove(&id);
        }
    }

    fn incidents_saved(&self) -> Pending<'_, Result<(), StoreError>> {
        ready()
    }
}

impl SilencePersistence for Memory {
    fn save_silence(&self, silence: &Silence) -> Result<(), StoreError> {
        self.maps
            .lock()
            .silences
            .insert(silence.id.clone(), silence.clone());
        // Nobody listening is fine: no other handle follows changes.
        let _ = self.changes.send((self.me, silence.clone()));
        Ok(())
    }

    fn delete_silence(&self, id: &str) -> Result<(), StoreError> {
        self.maps.lock().silences.remove(id);
        Ok(())
    }

    fn silence_changes(&self) -> Option<broadcast::Receiver<Silence>> {
        let mut from_everyone = self.changes.subscribe();
        let (tx, rx) = broadcast::channel(1024);
        let me = self.me;
        // Only other handles' saves are changes to this one.
        tokio::spawn(async move {
            loop {
                match from_everyone.recv().await {
                    Ok((by, s)) => {
                        if by != me && tx.send(s).is_err() {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        Some(rx)
    }
}

impl StateBackend for Memory {
    fn recover(&self) -> Result<Recovered, StoreError> {
        let maps = self.maps.lock();
        Ok(Recovered {
            silences: maps.silences.values().cloned().collect(),
            alerts: maps.alerts.values().map(|a| (**a).clone()).collect(),
            nflog: maps
                .nflog
                .iter()
                .map(|(k, e)| (k.clone(), e.clone()))
                .collect(),
            groups: maps.groups.iter().map(|(k, s)| (k.clone(), *s)).collect(),
            incidents: maps.incidents.values().cloned().collect(),
        })
    }

    fn health(&self) -> Arc<StorageHealth> {
        self.health.clone()
    }

    fn flush(&self) -> Pending<'_, Result<(), StoreError>> {
        ready()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{SilenceMatcher, Silences};
    use std::time::Duration;

    #[tokio::test]
    async fn without_alerts_keeps_everything_but_the_alerts() {
        let backend = Memory::without_alerts();
        let labels: crate::model::LabelSet = [("alertname", "A")].into_iter().collect();
        let now = chrono::Utc::now();
        let alert = Arc::new(Alert {
            fingerprint: labels.fingerprint(),
            labels,
            annotations: Default::default(),
            starts_at: now,
            ends_at: now,
            generator_url: "".into(),
            updated_at: now,
            timeout: false,
            values: Default::default(),
        });
        backend.save_alerts(vec![alert]).await.unwrap();
        backend.save_incident("00000000000000aa".into(), b"{}".to_vec());
        let recovered = backend.recover().unwrap();
        assert!(recovered.alerts.is_empty());
        assert_eq!(recovered.incidents.len(), 1);
    }

    #[tokio::test]
    async fn a_silence_set_through_one_handle_reaches_the_index_of_another() {
        let shared = Memory::new();
        let one = Arc::new(Silences::new(
            Duration::from_secs(60),
            Some(Arc::new(shared.handle())),
        ));
        let two = Arc::new(Silences::new(
            Duration::from_secs(60),
            Some(Arc::new(shared.handle())),
        ));
        one.follow_changes();
        two.follow_changes();
        let now = chrono::Utc::now();
        let id = one
            .set(
                Silence {
                    id: String::new(),
                    matchers: vec![SilenceMatcher {
                        name: "a".into(),
                        value: "b".into(),
                        is_regex: false,
                        is_equal: true,
                    }],
                    starts_at: now,
                    ends_at: now + chrono::Duration::hours(1),
                    updated_at: now,
                    created_by: "me".into(),
                    comment: "c".into(),
                },
                now,
            )
            .unwrap();
        let labels: crate::model::LabelSet = [("a", "b")].into_iter().collect();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while two.mutes(&labels, now).is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "the change never arrived"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(two.mutes(&labels, now), vec![id]);
    }
}
