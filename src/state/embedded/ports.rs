//! The embedded backend's side of each port: silences go straight to the redb tables (rare,
//! each committed); everything else goes through the writer thread's write-ahead log.

use std::sync::Arc;

use super::{Persister, StateDb, StateError, Write};
use crate::dispatch::{GroupSchedule, ScheduleStore};
use crate::escalate::IncidentStore;
use crate::model::{Alert, Fingerprint};
use crate::notify::{NflogEntry, NflogKey, NflogStore};
use crate::state::{Durability, Recovered, StateBackend, StorageHealth};
use crate::store::{AlertLog, Pending, Silence, SilencePersistence, StoreError};

/// The state directory under `--storage.path`, opened and its writer started.
pub struct Embedded {
    db: Arc<StateDb>,
    persister: Persister,
}

impl Embedded {
    /// Opens the state directory (see [`StateDb::open`]) and starts its writer and compactor.
    pub fn open(
        dir: &std::path::Path,
        durability: Durability,
        repair: bool,
    ) -> Result<Embedded, StateError> {
        let db = Arc::new(StateDb::open(dir, repair)?);
        let persister = Persister::start(db.clone(), durability);
        Ok(Embedded { db, persister })
    }
}

impl AlertLog for Embedded {
    fn save_alerts(&self, alerts: Vec<Arc<Alert>>) -> Pending<'_, Result<(), StoreError>> {
        let writes = alerts.into_iter().map(Write::PutAlert).collect();
        Box::pin(self.persister.persist(writes))
    }

    fn queue_alerts(&self, alerts: Vec<Arc<Alert>>) -> Pending<'static, Result<(), StoreError>> {
        let writes = alerts.into_iter().map(Write::PutAlert).collect();
        Box::pin(self.persister.queue_now(writes))
    }

    fn delete_alerts(&self, fingerprints: Vec<Fingerprint>) {
        self.persister.send(
            fingerprints
                .into_iter()
                .map(|fp| Write::DeleteAlert(fp.0))
                .collect(),
        );
    }
}

impl NflogStore for Embedded {
    fn save_entry(&self, key: NflogKey, entry: NflogEntry) -> Pending<'_, Result<(), StoreError>> {
        Box::pin(self.persister.persist(vec![Write::PutNflog(key, entry)]))
    }

    fn delete_entries(&self, keys: Vec<NflogKey>) {
        self.persister
            .send(keys.into_iter().map(Write::DeleteNflog).collect());
    }
}

impl ScheduleStore for Embedded {
    fn save_schedule(&self, group_key: String, schedule: GroupSchedule) {
        self.persister
            .send(vec![Write::PutGroup(group_key, schedule)]);
    }

    fn delete_schedule(&self, group_key: String) {
        self.persister.send(vec![Write::DeleteGroup(group_key)]);
    }
}

impl IncidentStore for Embedded {
    fn save_incident(&self, id: String, encoded: Vec<u8>) {
        self.persister.send(vec![Write::PutIncident(id, encoded)]);
    }

    fn delete_incidents(&self, ids: Vec<String>) {
        self.persister
            .send(ids.into_iter().map(Write::DeleteIncident).collect());
    }

    fn incidents_saved(&self) -> Pending<'_, Result<(), StoreError>> {
        Box::pin(async move {
            match self.persister.durability() {
                Durability::Fsync => self.persister.commit(Vec::new()).await,
                _ => Ok(()),
            }
        })
    }
}

impl SilencePersistence for Embedded {
    fn save_silence(&self, silence: &Silence) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(silence).map_err(|e| StoreError::Encode {
            what: "silence",
            reason: e.to_string(),
        })?;
        self.db
            .write_silence(|t| t.insert(silence.id.as_str(), bytes.as_slice()).map(|_| ()))
            .map_err(|e| StoreError::Failed(e.to_string()))
    }

    fn delete_silence(&self, id: &str) -> Result<(), StoreError> {
        self.db
            .write_silence(|t| t.remove(id).map(|_| ()))
            .map_err(|e| StoreError::Failed(e.to_string()))
    }
}

impl StateBackend for Embedded {
    fn recover(&self) -> Result<Recovered, StoreError> {
        self.db
            .recover()
            .map_err(|e| StoreError::Failed(e.to_string()))
    }

    fn health(&self) -> Arc<StorageHealth> {
        self.db.health.clone()
    }

    fn flush(&self) -> Pending<'_, Result<(), StoreError>> {
        Box::pin(self.persister.commit(Vec::new()))
    }
}
