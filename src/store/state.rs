//! The embedded state file under `--storage.path`: a redb database holding silences, active
//! alerts, the notification log and aggregation group schedules.
//!
//! Silences are rare and written synchronously. Alerts, log entries, schedules and incidents go
//! through a writer thread that appends whatever has queued up to the write-ahead log (`log.rs`)
//! and syncs it once (group commit): while one sync runs, the next batch gathers, so durability
//! costs one fsync per batch rather than per request. A compactor thread folds full logs into
//! the redb tables; recovery reads the tables and replays the logs over them.

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

use super::log::{log_files, replay, LogWriter, Row, Table, COMPACT_AT};
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

/// Rows folded from the log into the tables per transaction (a few in unit tests, so they fold
/// in several).
#[cfg(not(test))]
const COMPACT_CHUNK: usize = 20_000;
#[cfg(test)]
const COMPACT_CHUNK: usize = 7;

/// An aggregation group's schedule, so a restart resumes it rather than starting over.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GroupSchedule {
    pub has_flushed: bool,
    pub next_flush: Timestamp,
}

pub enum Write {
    PutAlert(Arc<Alert>),
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
    /// The folder that holds the redb file and the write-ahead log files.
    dir: PathBuf,
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
        Ok(StateDb {
            db,
            path,
            dir: dir.to_path_buf(),
        })
    }

    fn io(&self, e: impl std::fmt::Display) -> StateError {
        StateError::Io {
            path: self.path.clone(),
            reason: e.to_string(),
        }
    }

    /// Reads every table, then replays the log files over it; rows that no longer decode are
    /// logged and skipped.
    pub fn recover(&self) -> Result<Recovered, StateError> {
        let txn = self.db.begin_read().map_err(|e| self.io(e))?;
        let mut out = Recovered::default();
        let silences = txn.open_table(SILENCES).map_err(|e| self.io(e))?;
        for row in silences.iter().map_err(|e| self.io(e))? {
            let (_, v) = row.map_err(|e| self.io(e))?;
            decode_into(v.value(), "silence", &mut out.silences);
        }
        let mut rows: HashMap<(Table, Vec<u8>), Vec<u8>> = HashMap::new();
        let alerts = txn.open_table(ALERTS).map_err(|e| self.io(e))?;
        for row in alerts.iter().map_err(|e| self.io(e))? {
            let (k, v) = row.map_err(|e| self.io(e))?;
            rows.insert(
                (Table::Alerts, k.value().to_le_bytes().to_vec()),
                v.value().to_vec(),
            );
        }
        for (table, definition) in [
            (Table::Nflog, NFLOG),
            (Table::Groups, GROUPS),
            (Table::Incidents, INCIDENTS),
        ] {
            let t = txn.open_table(definition).map_err(|e| self.io(e))?;
            for row in t.iter().map_err(|e| self.io(e))? {
                let (k, v) = row.map_err(|e| self.io(e))?;
                rows.insert((table, k.value().as_bytes().to_vec()), v.value().to_vec());
            }
        }
        for (_, path) in log_files(&self.dir).map_err(|e| self.io(e))? {
            replay(&path, |row| match row.value {
                Some(v) => {
                    rows.insert((row.table, row.key), v);
                }
                None => {
                    rows.remove(&(row.table, row.key));
                }
            })
            .map_err(|e| self.io(format!("{}: {e}", path.display())))?;
        }
        for ((table, key), value) in rows {
            match table {
                Table::Alerts => decode_into(&value, "alert", &mut out.alerts),
                Table::Nflog => {
                    let mut entry = Vec::new();
                    decode_into::<NflogEntry>(&value, "notification log entry", &mut entry);
                    let key = std::str::from_utf8(&key).ok().and_then(NflogKey::decode);
                    if let (Some(key), Some(entry)) = (key, entry.pop()) {
                        out.nflog.push((key, entry));
                    }
                }
                Table::Groups => {
                    let mut schedule = Vec::new();
                    decode_into::<GroupSchedule>(&value, "group schedule", &mut schedule);
                    if let (Ok(key), Some(s)) = (String::from_utf8(key), schedule.pop()) {
                        out.groups.push((key, s));
                    }
                }
                Table::Incidents => out.incidents.push(value),
            }
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

    /// Folds rows into the redb tables in one committed transaction.
    fn fold(&self, rows: impl IntoIterator<Item = Row>) -> Result<(), String> {
        let txn = self.db.begin_write().map_err(|e| e.to_string())?;
        {
            let mut alerts = txn.open_table(ALERTS).map_err(|e| e.to_string())?;
            let mut nflog = txn.open_table(NFLOG).map_err(|e| e.to_string())?;
            let mut groups = txn.open_table(GROUPS).map_err(|e| e.to_string())?;
            let mut incidents = txn.open_table(INCIDENTS).map_err(|e| e.to_string())?;
            for row in rows {
                let result = match row.table {
                    Table::Alerts => {
                        let Ok(fp) = <[u8; 8]>::try_from(row.key.as_slice()) else {
                            continue;
                        };
                        let fp = u64::from_le_bytes(fp);
                        match &row.value {
                            Some(v) => alerts.insert(fp, v.as_slice()).map(|_| ()),
                            None => alerts.remove(fp).map(|_| ()),
                        }
                    }
                    table => {
                        let t = match table {
                            Table::Nflog => &mut nflog,
                            Table::Groups => &mut groups,
                            _ => &mut incidents,
                        };
                        let Ok(key) = std::str::from_utf8(&row.key) else {
                            continue;
                        };
                        match &row.value {
                            Some(v) => t.insert(key, v.as_slice()).map(|_| ()),
                            None => t.remove(key).map(|_| ()),
                        }
                    }
                };
                result.map_err(|e| e.to_string())?;
            }
        }
        txn.commit().map_err(|e| e.to_string())
    }

    /// Folds a closed log file into the tables, then removes it.
    fn compact(&self, path: &Path) -> Result<usize, String> {
        let mut rows: HashMap<(Table, Vec<u8>), Option<Vec<u8>>> = HashMap::new();
        let count = replay(path, |row| {
            rows.insert((row.table, row.key), row.value);
        })
        .map_err(|e| format!("{}: {e}", path.display()))?;
        // In several transactions, so a silence written meanwhile (straight to the tables)
        // waits for one chunk, not the whole file. A crash between chunks replays the file
        // again at the next start, which puts the same final values.
        let mut rows = rows
            .into_iter()
            .map(|((table, key), value)| Row { table, key, value })
            .peekable();
        while rows.peek().is_some() {
            self.fold(rows.by_ref().take(COMPACT_CHUNK))?;
        }
        std::fs::remove_file(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(count)
    }
}

fn json<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    serde_json::to_vec(value).map_err(|e| e.to_string())
}

/// A batch of writes as log rows; only the last write of each key counts, so an alert re-sent
/// many times within one batch is written once.
fn rows(writes: Vec<Write>) -> Result<Vec<Row>, String> {
    let mut last: HashMap<(Table, Vec<u8>), Option<Vec<u8>>> = HashMap::new();
    for w in writes {
        let (table, key, value) = match w {
            Write::PutAlert(a) => (
                Table::Alerts,
                a.fingerprint.0.to_le_bytes().to_vec(),
                Some(json(&a)?),
            ),
            Write::DeleteAlert(fp) => (Table::Alerts, fp.to_le_bytes().to_vec(), None),
            Write::PutNflog(k, e) => (Table::Nflog, k.encode().into_bytes(), Some(json(&e)?)),
            Write::DeleteNflog(k) => (Table::Nflog, k.encode().into_bytes(), None),
            Write::PutGroup(k, s) => (Table::Groups, k.into_bytes(), Some(json(&s)?)),
            Write::DeleteGroup(k) => (Table::Groups, k.into_bytes(), None),
            Write::PutIncident(id, bytes) => (Table::Incidents, id.into_bytes(), Some(bytes)),
            Write::DeleteIncident(id) => (Table::Incidents, id.into_bytes(), None),
        };
        last.insert((table, key), value);
    }
    Ok(last
        .into_iter()
        .map(|((table, key), value)| Row { table, key, value })
        .collect())
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
    /// Starts the writer thread over `db` (it ends when every handle is dropped) and the
    /// compactor, which first folds any log files a previous run left.
    pub fn start(db: Arc<StateDb>, durability: Durability) -> Persister {
        let (queue, rx) = mpsc::channel::<(Vec<Write>, Option<Ack>)>();
        let queued = Arc::new(AtomicUsize::new(0));
        let drained = Arc::new(tokio::sync::Notify::new());
        let (to_compact, compact_rx) = mpsc::channel::<PathBuf>();
        for (_, path) in log_files(&db.dir).unwrap_or_default() {
            let _ = to_compact.send(path);
        }
        let log = LogWriter::create(&db.dir).map_err(|e| {
            tracing::error!(dir = %db.dir.display(), error = %e, "cannot create the state log; state is not saved");
            e.to_string()
        });
        let compactor = db.clone();
        std::thread::Builder::new()
            .name("state-compactor".into())
            .spawn(move || {
                for path in compact_rx {
                    let started = Instant::now();
                    match compactor.compact(&path) {
                        Ok(rows) => tracing::debug!(rows, took = ?started.elapsed(), "state log compacted"),
                        Err(e) => {
                            // Later files must not be folded over this one: they stay, and the
                            // next start replays them all in order.
                            tracing::error!(error = %e, "state log compaction failed; the logs are replayed at the next start");
                            return;
                        }
                    }
                }
            })
            .map(|_| ())
            .unwrap_or_else(|e| tracing::error!(error = %e, "could not start the state compactor"));
        let (q, d) = (queued.clone(), drained.clone());
        std::thread::Builder::new()
            .name("state-writer".into())
            .spawn(move || writer_loop(log, &to_compact, &rx, durability, &q, &d))
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
    ///
    /// A request with nothing to write is acknowledged at once, even while another request's
    /// write of the same alert is still being committed: that other request is not acknowledged
    /// until its commit, so if the process dies first its sender sends the alert again.
    pub async fn persist(&self, writes: Vec<Write>) -> Result<(), String> {
        match self.durability {
            Durability::Fsync if writes.is_empty() => Ok(()),
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
    mut log: Result<LogWriter, String>,
    to_compact: &mpsc::Sender<PathBuf>,
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
        let result = match &mut log {
            Ok(log) => rows(writes).and_then(|rows| {
                if rows.is_empty() {
                    return Ok(());
                }
                log.append(&rows).map_err(|e| e.to_string())?;
                if log.size() >= COMPACT_AT {
                    let full = log.rotate().map_err(|e| e.to_string())?;
                    let _ = to_compact.send(full);
                }
                Ok(())
            }),
            Err(e) => Err(format!("state log unavailable: {e}")),
        };
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
    async fn logs_left_by_a_previous_run_are_folded_into_the_tables() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(StateDb::open(dir.path(), false).unwrap());
        let schedule = GroupSchedule {
            has_flushed: true,
            next_flush: Utc::now(),
        };
        // What a run that crashed left: a log nobody compacted.
        let mut log = LogWriter::create(dir.path()).unwrap();
        log.append(
            &rows(vec![
                Write::PutGroup("g1".into(), schedule),
                Write::PutGroup("g2".into(), schedule),
            ])
            .unwrap(),
        )
        .unwrap();
        log.append(&rows(vec![Write::DeleteGroup("g1".into())]).unwrap())
            .unwrap();
        drop(log);
        let recovered = db.recover().unwrap();
        assert_eq!(recovered.groups, vec![("g2".to_string(), schedule)]);
        let persister = Persister::start(db.clone(), Durability::Fsync);
        persister
            .commit(vec![Write::PutGroup("g3".into(), schedule)])
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while log_files(dir.path()).unwrap().len() > 1 {
            assert!(Instant::now() < deadline, "old log not compacted");
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut groups: Vec<String> = db
            .recover()
            .unwrap()
            .groups
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        groups.sort();
        assert_eq!(groups, vec!["g2", "g3"]);
        // g2 now lives in the table itself, g3 still in the new log.
        let txn = db.db.begin_read().unwrap();
        let table = txn.open_table(GROUPS).unwrap();
        assert!(table.get("g2").unwrap().is_some());
        assert!(table.get("g1").unwrap().is_none());
    }

    fn stored_alert(labels: crate::model::LabelSet, now: chrono::DateTime<Utc>) -> Alert {
        Alert {
            fingerprint: labels.fingerprint(),
            labels,
            annotations: Default::default(),
            starts_at: now,
            ends_at: now,
            generator_url: "".into(),
            updated_at: now,
            timeout: false,
            values: Default::default(),
        }
    }

    #[tokio::test]
    async fn full_logs_rotate_and_compact_while_writes_go_on() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(StateDb::open(dir.path(), false).unwrap());
        let persister = Persister::start(db.clone(), Durability::Fsync);
        let now = Utc::now();
        let alert = |i: usize| {
            stored_alert(
                [("alertname", "A".to_string()), ("i", i.to_string())]
                    .into_iter()
                    .collect(),
                now,
            )
        };
        for batch in 0..40 {
            let writes = (batch * 50..(batch + 1) * 50)
                .map(|i| Write::PutAlert(Arc::new(alert(i))))
                .collect();
            persister.commit(writes).await.unwrap();
        }
        let deleted = (0..1000)
            .map(|i| Write::DeleteAlert(alert(i).fingerprint.0))
            .collect();
        persister.commit(deleted).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while log_files(dir.path()).unwrap().len() > 1 {
            assert!(Instant::now() < deadline, "logs not compacted");
            std::thread::sleep(Duration::from_millis(20));
        }
        let recovered = db.recover().unwrap();
        assert_eq!(recovered.alerts.len(), 1000);
        assert!(recovered.alerts.iter().all(|a| a
            .labels
            .get("i")
            .unwrap()
            .parse::<usize>()
            .unwrap()
            >= 1000));
        let txn = db.db.begin_read().unwrap();
        assert!(
            redb::ReadableTableMetadata::len(&txn.open_table(ALERTS).unwrap()).unwrap() >= 900,
            "most rows are folded into the table"
        );
    }

    #[tokio::test]
    async fn group_commit_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(StateDb::open(dir.path(), false).unwrap());
        let persister = Persister::start(db.clone(), Durability::Fsync);
        let now = Utc::now();
        let alert = stored_alert([("a", "b")].into_iter().collect(), now);
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
            in_flight: false,
        };
        let schedule = GroupSchedule {
            has_flushed: true,
            next_flush: now,
        };
        persister
            .commit(vec![
                Write::PutAlert(Arc::new(alert.clone())),
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
