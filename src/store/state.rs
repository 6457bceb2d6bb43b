//! The embedded state file under `--storage.path`: a redb database holding silences, active
//! alerts, the notification log and aggregation group schedules.
//!
//! Silences are rare and written synchronously. Alerts, log entries and schedules go through a
//! writer thread that commits whatever has queued up in one transaction (group commit): while
//! one commit's fsync runs, the next batch gathers, so durability costs one fsync per batch
//! rather than per request.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redb::{Database, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::sync::oneshot;

use super::nflog::{NflogEntry, NflogKey};
use super::silences::{Silence, SilencePersistence};
use crate::model::time::Timestamp;
use crate::model::Alert;

const SILENCES: TableDefinition<&str, &[u8]> = TableDefinition::new("silences");
const ALERTS: TableDefinition<u64, &[u8]> = TableDefinition::new("alerts");
const NFLOG: TableDefinition<&str, &[u8]> = TableDefinition::new("nflog");
const GROUPS: TableDefinition<&str, &[u8]> = TableDefinition::new("groups");
/// Incidents by id, as the escalator encodes them (with their next escalation time).
const INCIDENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("incidents");

pub const STATE_FILE: &str = "alert-router.redb";

#[derive(Debug, Error)]
pub enum StateError {
    #[error("cannot open state file {path}: {reason}. Start with --storage.repair to move the damaged file aside and start with empty state")]
    Open { path: PathBuf, reason: String },
    #[error("state file {path}: {reason}")]
    Io { path: PathBuf, reason: String },
}

/// When an ingest is acknowledged relative to its commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// 2xx only after the alerts are in a committed, fsynced batch.
    Fsync,
    /// Committed within `BATCH_INTERVAL`, acknowledged at once.
    Batch,
    /// Nothing is written: state lives in memory only, as in Alertmanager.
    None,
}

impl std::str::FromStr for Durability {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fsync" => Ok(Durability::Fsync),
            "batch" => Ok(Durability::Batch),
            "none" => Ok(Durability::None),
            other => Err(format!(
                "unknown durability {other:?} (fsync, batch or none)"
            )),
        }
    }
}

const BATCH_INTERVAL: Duration = Duration::from_millis(100);

/// An aggregation group's schedule, so a restart resumes it rather than starting over.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GroupSchedule {
    pub has_flushed: bool,
    pub next_flush: Timestamp,
}

pub enum Write {
    PutAlert(Alert),
    DeleteAlert(u64),
    PutNflog(NflogKey, NflogEntry),
    DeleteNflog(NflogKey),
    PutGroup(String, GroupSchedule),
    DeleteGroup(String),
    /// An incident by id, already encoded.
    PutIncident(String, Vec<u8>),
    DeleteIncident(String),
}

/// Everything read back at start-up.
#[derive(Default)]
pub struct Recovered {
    pub silences: Vec<Silence>,
    pub alerts: Vec<Alert>,
    pub nflog: Vec<(NflogKey, NflogEntry)>,
    pub groups: Vec<(String, GroupSchedule)>,
    /// Encoded incidents, for the escalator to decode.
    pub incidents: Vec<Vec<u8>>,
}

pub struct StateDb {
    db: Database,
    path: PathBuf,
}

impl StateDb {
    /// Opens (or creates) the state file. With `repair`, a file that cannot be opened is
    /// renamed aside and a fresh one created.
    pub fn open(dir: &Path, repair: bool) -> Result<StateDb, StateError> {
        let path = dir.join(STATE_FILE);
        let open_err = |reason: String| StateError::Open {
            path: path.clone(),
            reason,
        };
        std::fs::create_dir_all(dir).map_err(|e| open_err(e.to_string()))?;
        let db = match Database::create(&path) {
            Ok(db) => db,
            Err(e) if repair => {
                let aside = dir.join(format!(
                    "{STATE_FILE}.damaged-{}",
                    chrono::Utc::now().timestamp()
                ));
                tracing::error!(path = %path.display(), moved_to = %aside.display(), error = %e,
                    "state file damaged: moved aside, starting with empty state");
                std::fs::rename(&path, &aside).map_err(|e| open_err(e.to_string()))?;
                Database::create(&path).map_err(|e| open_err(e.to_string()))?
            }
            Err(e) => return Err(open_err(e.to_string())),
        };
        let txn = db.begin_write().map_err(|e| open_err(e.to_string()))?;
        txn.open_table(SILENCES)
            .map_err(|e| open_err(e.to_string()))?;
        txn.open_table(ALERTS)
            .map_err(|e| open_err(e.to_string()))?;
        txn.open_table(NFLOG).map_err(|e| open_err(e.to_string()))?;
        txn.open_table(GROUPS)
            .map_err(|e| open_err(e.to_string()))?;
        txn.open_table(INCIDENTS)
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

    /// Reads every table; rows that no longer decode are logged and skipped.
    pub fn recover(&self) -> Result<Recovered, StateError> {
        let txn = self.db.begin_read().map_err(|e| self.io(e))?;
        let mut out = Recovered::default();
        let silences = txn.open_table(SILENCES).map_err(|e| self.io(e))?;
        for row in silences.iter().map_err(|e| self.io(e))? {
            let (_, v) = row.map_err(|e| self.io(e))?;
            decode_into(v.value(), "silence", &mut out.silences);
        }
        let alerts = txn.open_table(ALERTS).map_err(|e| self.io(e))?;
        for row in alerts.iter().map_err(|e| self.io(e))? {
            let (_, v) = row.map_err(|e| self.io(e))?;
            decode_into(v.value(), "alert", &mut out.alerts);
        }
        let nflog = txn.open_table(NFLOG).map_err(|e| self.io(e))?;
        for row in nflog.iter().map_err(|e| self.io(e))? {
            let (k, v) = row.map_err(|e| self.io(e))?;
            let mut entry = Vec::new();
            decode_into::<NflogEntry>(v.value(), "notification log entry", &mut entry);
            if let (Some(key), Some(entry)) = (NflogKey::decode(k.value()), entry.pop()) {
                out.nflog.push((key, entry));
            }
        }
        let groups = txn.open_table(GROUPS).map_err(|e| self.io(e))?;
        for row in groups.iter().map_err(|e| self.io(e))? {
            let (k, v) = row.map_err(|e| self.io(e))?;
            let mut schedule = Vec::new();
            decode_into::<GroupSchedule>(v.value(), "group schedule", &mut schedule);
            if let Some(s) = schedule.pop() {
                out.groups.push((k.value().to_string(), s));
            }
        }
        let incidents = txn.open_table(INCIDENTS).map_err(|e| self.io(e))?;
        for row in incidents.iter().map_err(|e| self.io(e))? {
            let (_, v) = row.map_err(|e| self.io(e))?;
            out.incidents.push(v.value().to_vec());
        }
        Ok(out)
    }

    fn write_silence(
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

    /// Applies a batch of writes in one committed transaction. Only the last write of each
    /// key counts, so an alert re-sent many times within one batch is written once.
    fn apply(&self, writes: Vec<Write>) -> Result<(), String> {
        let mut alerts: HashMap<u64, Option<Alert>> = HashMap::new();
        let mut nflog: HashMap<String, Option<NflogEntry>> = HashMap::new();
        let mut groups: HashMap<String, Option<GroupSchedule>> = HashMap::new();
        let mut incidents: HashMap<String, Option<Vec<u8>>> = HashMap::new();
        for w in writes {
            match w {
                Write::PutAlert(a) => {
                    alerts.insert(a.fingerprint.0, Some(a));
                }
                Write::DeleteAlert(fp) => {
                    alerts.insert(fp, None);
                }
                Write::PutNflog(k, e) => {
                    nflog.insert(k.encode(), Some(e));
                }
                Write::DeleteNflog(k) => {
                    nflog.insert(k.encode(), None);
                }
                Write::PutGroup(k, s) => {
                    groups.insert(k, Some(s));
                }
                Write::DeleteGroup(k) => {
                    groups.insert(k, None);
                }
                Write::PutIncident(id, json) => {
                    incidents.insert(id, Some(json));
                }
                Write::DeleteIncident(id) => {
                    incidents.insert(id, None);
                }
            }
        }
        let txn = self.db.begin_write().map_err(|e| e.to_string())?;
        {
            let mut table = txn.open_table(ALERTS).map_err(|e| e.to_string())?;
            let mut buf = Vec::new();
            for (fp, alert) in alerts {
                match alert {
                    Some(a) => {
                        buf.clear();
                        serde_json::to_writer(&mut buf, &a).map_err(|e| e.to_string())?;
                        table
                            .insert(fp, buf.as_slice())
                            .map_err(|e| e.to_string())?;
                    }
                    None => {
                        table.remove(fp).map_err(|e| e.to_string())?;
                    }
                }
            }
            let mut table = txn.open_table(NFLOG).map_err(|e| e.to_string())?;
            for (key, entry) in nflog {
                match entry {
                    Some(e) => {
                        let bytes = serde_json::to_vec(&e).map_err(|e| e.to_string())?;
                        table
                            .insert(key.as_str(), bytes.as_slice())
                            .map_err(|e| e.to_string())?;
                    }
                    None => {
                        table.remove(key.as_str()).map_err(|e| e.to_string())?;
                    }
                }
            }
            let mut encoded = Vec::with_capacity(groups.len());
            for (key, schedule) in groups {
                let bytes = match schedule {
                    Some(s) => Some(serde_json::to_vec(&s).map_err(|e| e.to_string())?),
                    None => None,
                };
                encoded.push((key, bytes));
            }
            put_or_remove(&txn, GROUPS, encoded)?;
            put_or_remove(&txn, INCIDENTS, incidents)?;
        }
        txn.commit().map_err(|e| e.to_string())
    }
}

/// Writes each row, or removes it when it is `None`.
fn put_or_remove(
    txn: &redb::WriteTransaction,
    table: TableDefinition<&str, &[u8]>,
    rows: impl IntoIterator<Item = (String, Option<Vec<u8>>)>,
) -> Result<(), String> {
    let mut table = txn.open_table(table).map_err(|e| e.to_string())?;
    for (key, bytes) in rows {
        match bytes {
            Some(b) => table.insert(key.as_str(), b.as_slice()).map(|_| ()),
            None => table.remove(key.as_str()).map(|_| ()),
        }
        .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn decode_into<T: for<'de> Deserialize<'de>>(bytes: &[u8], what: &str, out: &mut Vec<T>) {
    match serde_json::from_slice(bytes) {
        Ok(v) => out.push(v),
        Err(e) => tracing::error!(error = %e, "skipping unreadable {what} in the state file"),
    }
}

impl SilencePersistence for StateDb {
    fn save(&self, silence: &Silence) -> Result<(), String> {
        let bytes = serde_json::to_vec(silence).map_err(|e| e.to_string())?;
        self.write_silence(|t| t.insert(silence.id.as_str(), bytes.as_slice()).map(|_| ()))
    }

    fn delete(&self, id: &str) -> Result<(), String> {
        self.write_silence(|t| t.remove(id).map(|_| ()))
    }
}

type Ack = oneshot::Sender<Result<(), String>>;

/// Writes queued beyond this make `persist` wait (batch mode's backpressure), so a writer that
/// falls behind slows ingest instead of growing memory without bound.
const MAX_QUEUED: usize = 250_000;

/// The writer thread's handle: queue writes, optionally wait for their commit.
#[derive(Clone)]
pub struct Persister {
    queue: mpsc::Sender<(Vec<Write>, Option<Ack>)>,
    durability: Durability,
    queued: Arc<AtomicUsize>,
    drained: Arc<tokio::sync::Notify>,
}

impl Persister {
    /// Starts the writer thread over `db`; it ends when every handle is dropped.
    pub fn start(db: Arc<StateDb>, durability: Durability) -> Persister {
        let (queue, rx) = mpsc::channel::<(Vec<Write>, Option<Ack>)>();
        let queued = Arc::new(AtomicUsize::new(0));
        let drained = Arc::new(tokio::sync::Notify::new());
        let (q, d) = (queued.clone(), drained.clone());
        std::thread::Builder::new()
            .name("state-writer".into())
            .spawn(move || writer_loop(&db, &rx, durability, &q, &d))
            .map(|_| ())
            .unwrap_or_else(|e| tracing::error!(error = %e, "could not start the state writer"));
        Persister {
            queue,
            durability,
            queued,
            drained,
        }
    }

    fn enqueue(&self, writes: Vec<Write>, ack: Option<Ack>) -> Result<(), String> {
        self.queued.fetch_add(writes.len(), Ordering::SeqCst);
        let n = writes.len();
        self.queue.send((writes, ack)).map_err(|_| {
            self.queued.fetch_sub(n, Ordering::SeqCst);
            "state writer has stopped".to_string()
        })
    }

    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// Queues writes without waiting.
    pub fn send(&self, writes: Vec<Write>) {
        if writes.is_empty() {
            return;
        }
        if self.enqueue(writes, None).is_err() {
            tracing::error!("state writer has stopped; state is no longer saved");
        }
    }

    /// Queues writes and waits until they are committed.
    pub async fn commit(&self, writes: Vec<Write>) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.queue
            .send((writes, Some(tx)))
            .map_err(|_| "state writer has stopped".to_string())?;
        rx.await
            .map_err(|_| "state writer has stopped".to_string())?
    }

    /// Queues writes and, in fsync mode, waits for their commit: what an acknowledgement needs.
    pub async fn persist(&self, writes: Vec<Write>) -> Result<(), String> {
        match self.durability {
            Durability::Fsync => self.commit(writes).await,
            _ => {
                while self.queued.load(Ordering::SeqCst) > MAX_QUEUED {
                    let drained = self.drained.notified();
                    if self.queued.load(Ordering::SeqCst) <= MAX_QUEUED {
                        break;
                    }
                    let _ = tokio::time::timeout(Duration::from_millis(100), drained).await;
                }
                self.send(writes);
                Ok(())
            }
        }
    }
}

fn writer_loop(
    db: &StateDb,
    rx: &mpsc::Receiver<(Vec<Write>, Option<Ack>)>,
    durability: Durability,
    queued: &AtomicUsize,
    drained: &tokio::sync::Notify,
) {
    while let Ok(first) = rx.recv() {
        let started = Instant::now();
        let mut writes = first.0;
        let mut acks: Vec<Ack> = first.1.into_iter().collect();
        if durability == Durability::Batch {
            // Gather for a while: fewer, larger commits.
            while let Some(left) = BATCH_INTERVAL.checked_sub(started.elapsed()) {
                match rx.recv_timeout(left) {
                    Ok((w, ack)) => {
                        writes.extend(w);
                        acks.extend(ack);
                    }
                    Err(_) => break,
                }
            }
        }
        // Whatever queued while the last commit ran joins this one.
        while let Ok((w, ack)) = rx.try_recv() {
            writes.extend(w);
            acks.extend(ack);
        }
        let count = writes.len();
        let result = db.apply(writes);
        if let Err(e) = &result {
            tracing::error!(error = %e, writes = count, "state commit failed");
        }
        queued.fetch_sub(count, Ordering::SeqCst);
        drained.notify_waiters();
        metrics::counter!("alert_router_state_commits_total").increment(1);
        metrics::histogram!("alert_router_state_commit_seconds")
            .record(started.elapsed().as_secs_f64());
        for ack in acks {
            let _ = ack.send(result.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::silences::{SilenceMatcher, Silences};
    use chrono::Utc;

    #[test]
    fn silences_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now();
        let id = {
            let db = Arc::new(StateDb::open(dir.path(), false).unwrap());
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
        let db = StateDb::open(dir.path(), false).unwrap();
        let loaded = db.recover().unwrap().silences;
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].id, id);
        assert_eq!(loaded[0].comment, "maintenance");
    }

    #[test]
    fn a_damaged_file_is_a_clear_error_and_repair_moves_it_aside() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(STATE_FILE),
            b"this is not a database, just bytes that are long enough",
        )
        .unwrap();
        let err = StateDb::open(dir.path(), false)
            .err()
            .expect("damaged file refused")
            .to_string();
        assert!(
            err.contains(STATE_FILE) && err.contains("--storage.repair"),
            "{err}"
        );
        let db = StateDb::open(dir.path(), true).expect("repair starts fresh");
        assert!(db.recover().unwrap().alerts.is_empty());
        let aside = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().contains("damaged"));
        assert!(aside, "the damaged file is kept for inspection");
    }

    #[tokio::test]
    async fn group_commit_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(StateDb::open(dir.path(), false).unwrap());
        let persister = Persister::start(db.clone(), Durability::Fsync);
        let now = Utc::now();
        let labels: crate::model::LabelSet = [("a", "b")].into_iter().collect();
        let alert = Alert {
            fingerprint: labels.fingerprint(),
            labels,
            annotations: Default::default(),
            starts_at: now,
            ends_at: now,
            generator_url: "".into(),
            updated_at: now,
            timeout: false,
            values: Default::default(),
        };
        let key = NflogKey {
            group_key: "{}:{a=\"b\"}".into(),
            receiver: "r".into(),
            integration: "webhook",
            index: 0,
        };
        let entry = NflogEntry {
            firing: vec![1],
            resolved: vec![],
            timestamp: now,
            expires_at: now,
        };
        let schedule = GroupSchedule {
            has_flushed: true,
            next_flush: now,
        };
        persister
            .commit(vec![
                Write::PutAlert(alert.clone()),
                Write::PutNflog(key.clone(), entry.clone()),
                Write::PutGroup("g".into(), schedule),
            ])
            .await
            .unwrap();
        let r = db.recover().unwrap();
        assert_eq!(r.alerts, vec![alert.clone()]);
        assert_eq!(r.nflog, vec![(key.clone(), entry)]);
        assert_eq!(r.groups, vec![("g".to_string(), schedule)]);
        persister
            .commit(vec![
                Write::DeleteAlert(alert.fingerprint.0),
                Write::DeleteNflog(key),
                Write::DeleteGroup("g".into()),
            ])
            .await
            .unwrap();
        let r = db.recover().unwrap();
        assert!(r.alerts.is_empty() && r.nflog.is_empty() && r.groups.is_empty());
    }
}
