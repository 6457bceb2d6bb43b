//! The embedded state file under `--storage.path`: a redb database whose every write is a
//! committed, fsynced transaction, so what was acknowledged survives `kill -9`.

use std::path::{Path, PathBuf};

use redb::{Database, ReadableTable, TableDefinition};
use thiserror::Error;

use super::silences::{Silence, SilencePersistence};

const SILENCES: TableDefinition<&str, &[u8]> = TableDefinition::new("silences");

pub const STATE_FILE: &str = "alert-router.redb";

#[derive(Debug, Error)]
pub enum StateError {
    #[error("cannot open state file {path}: {reason}. If it is damaged, move it aside to start with empty state")]
    Open { path: PathBuf, reason: String },
    #[error("state file {path}: {reason}")]
    Io { path: PathBuf, reason: String },
}

pub struct StateDb {
    db: Database,
    path: PathBuf,
}

impl StateDb {
    pub fn open(dir: &Path) -> Result<StateDb, StateError> {
        let path = dir.join(STATE_FILE);
        let open_err = |reason: String| StateError::Open {
            path: path.clone(),
            reason,
        };
        std::fs::create_dir_all(dir).map_err(|e| open_err(e.to_string()))?;
        let db = Database::create(&path).map_err(|e| open_err(e.to_string()))?;
        // Make sure the tables exist so readers never see "table does not exist".
        let txn = db.begin_write().map_err(|e| open_err(e.to_string()))?;
        txn.open_table(SILENCES)
            .map_err(|e| open_err(e.to_string()))?;
        txn.commit().map_err(|e| open_err(e.to_string()))?;
        Ok(StateDb { db, path })
    }

    fn io(&self, e: impl std::fmt::Display) -> StateError {
        StateError::Io {
            path: self.path.clone(),
            reason: e.to_string(),
        }
    }

    pub fn load_silences(&self) -> Result<Vec<Silence>, StateError> {
        let txn = self.db.begin_read().map_err(|e| self.io(e))?;
        let table = txn.open_table(SILENCES).map_err(|e| self.io(e))?;
        let mut out = Vec::new();
        for row in table.iter().map_err(|e| self.io(e))? {
            let (key, value) = row.map_err(|e| self.io(e))?;
            match serde_json::from_slice::<Silence>(value.value()) {
                Ok(s) => out.push(s),
                Err(e) => {
                    tracing::error!(silence = key.value(), error = %e, "skipping unreadable silence in state file")
                }
            }
        }
        Ok(out)
    }

    fn write(
        &self,
        f: impl FnOnce(&mut redb::Table<&str, &[u8]>) -> Result<(), redb::StorageError>,
    ) -> Result<(), String> {
        let txn = self.db.begin_write().map_err(|e| e.to_string())?;
        {
            let mut table = txn.open_table(SILENCES).map_err(|e| e.to_string())?;
            f(&mut table).map_err(|e| e.to_string())?;
        }
        txn.commit().map_err(|e| e.to_string())
    }
}

impl SilencePersistence for StateDb {
    fn save(&self, silence: &Silence) -> Result<(), String> {
        let bytes = serde_json::to_vec(silence).map_err(|e| e.to_string())?;
        self.write(|t| t.insert(silence.id.as_str(), bytes.as_slice()).map(|_| ()))
    }

    fn delete(&self, id: &str) -> Result<(), String> {
        self.write(|t| t.remove(id).map(|_| ()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::silences::{SilenceMatcher, Silences};
    use chrono::Utc;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn silences_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now();
        let id = {
            let db = Arc::new(StateDb::open(dir.path()).unwrap());
            let silences = Silences::new(Duration::from_secs(3600), Some(db));
            silences
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
                        comment: "maintenance".into(),
                    },
                    now,
                )
                .unwrap()
        };
        let db = StateDb::open(dir.path()).unwrap();
        let loaded = db.load_silences().unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].id, id);
        assert_eq!(loaded[0].comment, "maintenance");
    }

    #[test]
    fn a_damaged_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(STATE_FILE),
            b"this is not a database, just bytes that are long enough",
        )
        .unwrap();
        let err = StateDb::open(dir.path())
            .err()
            .expect("damaged file refused")
            .to_string();
        assert!(
            err.contains(STATE_FILE) && err.contains("move it aside"),
            "{err}"
        );
    }
}
