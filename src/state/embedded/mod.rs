//! The embedded state file under `--storage.path`: a redb database holding silences, active
//! alerts, the notification log and aggregation group schedules.
//!
//! Silences are rare and written synchronously. Alerts, log entries, schedules and incidents go
//! through a writer thread that appends whatever has queued up to the write-ahead log (`log.rs`)
//! and syncs it once (group commit): while one sync runs, the next batch gathers, so durability
//! costs one fsync per batch rather than per request. A compactor thread folds full logs into
//! the redb tables; recovery reads the tables and replays the logs over them. `MANIFEST.json`
//! lists the files that must exist, so a deleted one stops the start instead of going unnoticed.
//! A failed write is reported in `health`, and the table file is reopened after one, since redb
//! refuses every later write otherwise; nothing redb does on a damaged file may panic the router.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redb::{Database, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::sync::oneshot;

use parking_lot::{Mutex, RwLock};

use self::log::{
    log_files, replay, replay_bytes, LogWriter, Records, Replayed, RowRef, Table, COMPACT_AT,
};
use self::manifest::Manifest;
use super::health::{StorageHealth, StorePart};
use super::{Durability, Recovered};
use crate::dispatch::GroupSchedule;
use crate::model::{Alert, Prehashed};
use crate::notify::{NflogEntry, NflogKey};
use crate::store::StoreError;

const SILENCES: TableDefinition<&str, &[u8]> = TableDefinition::new("silences");
const ALERTS: TableDefinition<u64, &[u8]> = TableDefinition::new("alerts");
const NFLOG: TableDefinition<&str, &[u8]> = TableDefinition::new("nflog");
const GROUPS: TableDefinition<&str, &[u8]> = TableDefinition::new("groups");
/// Incidents by id, as the escalator encodes them (with their next escalation time).
const INCIDENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("incidents");

mod codec;
mod log;
mod manifest;
mod ports;

pub use ports::Embedded;

pub const STATE_FILE: &str = "alert-router.redb";

#[derive(Debug, Error)]
pub enum StateError {
    #[error("cannot open state file {path}: {reason}. Start with --storage.repair to move the damaged file aside and start with empty state")]
    Open { path: PathBuf, reason: String },
    #[error("state file {path}: {reason}")]
    Io { path: PathBuf, reason: String },
}

const BATCH_INTERVAL: Duration = Duration::from_millis(100);

/// Rows folded from the log into the tables per transaction (a few in unit tests, so they fold
/// in several).
#[cfg(not(test))]
const COMPACT_CHUNK: usize = 5_000;
#[cfg(test)]
const COMPACT_CHUNK: usize = 7;

/// Full logs kept from the compactor until as many later ones are full (see
/// `LogState::held_back`). Two hold more than a deferred-write round (rewriting 100k alerts
/// fills about a log and a half), so an alert rewritten every round is folded only once it
/// settles; a restart replays at most these and the open one.
const HELD_BACK: usize = 2;

pub(super) enum Write {
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

pub struct StateDb {
    /// `None` only while a reopen after a failed write has not succeeded yet.
    db: RwLock<Option<Database>>,
    path: PathBuf,
    /// The folder that holds the redb file and the write-ahead log files.
    dir: PathBuf,
    manifest: Mutex<Manifest>,
    /// For each alert written since this start and not yet folded, the log generation of its
    /// latest row. Compaction skips a row a later log supersedes: that log stays until it is
    /// folded itself, so the newer row is what recovery and the tables get. An alert re-sent
    /// with changes every second thus costs the tables nothing until it settles.
    unfolded_alerts: Mutex<HashMap<u64, u64, Prehashed>>,
    /// Held by a compaction and by recovery: a log folded and deleted between recovery's read
    /// of the tables and its listing of the logs would be in neither.
    folding: Mutex<()>,
    pub health: Arc<StorageHealth>,
}

/// What went wrong inside the state directory.
#[derive(Debug, Error)]
pub enum DbError {
    /// Boxed: redb's error is large, and this travels on every state call's result.
    #[error(transparent)]
    Engine(Box<redb::Error>),
    #[error("the file is damaged (the storage engine could not read it)")]
    Unreadable,
    #[error("the storage engine failed on a damaged file")]
    Panicked,
    #[error("the state file is closed after an earlier failure")]
    Closed,
    #[error("{first}; reopening failed: {reopen}")]
    Reopen {
        first: Box<DbError>,
        reopen: Box<DbError>,
    },
    #[error("{0} (after reopening)")]
    AfterReopen(Box<DbError>),
    #[error("{}: {source}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("encoding {what}: {source}")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

macro_rules! from_engine {
    ($($error:ty),*) => {
        $(impl From<$error> for DbError {
            fn from(e: $error) -> Self {
                DbError::Engine(Box::new(e.into()))
            }
        })*
    };
}

from_engine!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// redb's page cache. Its default (a gigabyte) filled with the pages every compaction touched
/// and stayed resident; reads are rare (recovery, compaction's lookups), so a small cache costs
/// little.
const CACHE_BYTES: usize = 8 * 1024 * 1024;

/// Opens the redb file; a panic inside redb (it asserts on some damaged files) becomes an error.
fn open_database(path: &Path) -> Result<Database, DbError> {
    match std::panic::catch_unwind(|| Database::builder().set_cache_size(CACHE_BYTES).create(path))
    {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(DbError::Unreadable),
    }
}

/// Runs `f` so that a panic inside redb becomes an error.
fn guarded<T>(f: impl FnOnce() -> Result<T, DbError>) -> Result<T, DbError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(Err(DbError::Panicked))
}

impl StateDb {
    /// Opens (or creates) the state directory: checks that every file its manifest lists is
    /// there, opens the redb file and reads it through once. A missing, truncated or damaged
    /// file stops the start with a message naming it; with `repair`, the router starts from
    /// what remains and logs what was lost (a damaged table file is moved aside, not deleted).
    pub fn open(dir: &Path, repair: bool) -> Result<StateDb, StateError> {
        let path = dir.join(STATE_FILE);
        let open_err = |path: &Path, reason: String| StateError::Open {
            path: path.to_path_buf(),
            reason,
        };
        std::fs::create_dir_all(dir).map_err(|e| open_err(dir, e.to_string()))?;
        let logs_on_disk: HashMap<u64, PathBuf> = log_files(dir)
            .map_err(|e| open_err(dir, e.to_string()))?
            .into_iter()
            .collect();
        let manifest = match Manifest::load(dir) {
            Ok(m) => m,
            Err(e) if repair => {
                tracing::error!(error = %e, "state manifest unreadable: rebuilding it from the files present");
                None
            }
            Err(e) => return Err(open_err(&Manifest::path(dir), e)),
        };
        let table_file_exists = path.exists();
        match &manifest {
            None if !table_file_exists && logs_on_disk.is_empty() => {
                tracing::info!(dir = %dir.display(), "new state directory");
            }
            None => {
                tracing::info!(dir = %dir.display(), "state directory without a manifest (written by an earlier release): writing one");
            }
            Some(m) => {
                if !table_file_exists {
                    let reason = "the state file is missing (the manifest says it exists): silences and folded alerts, log entries, schedules and incidents would be lost".to_string();
                    if !repair {
                        return Err(open_err(&path, reason));
                    }
                    tracing::error!(path = %path.display(), "{reason}; --storage.repair: starting with empty tables");
                }
                for (generation, size) in &m.logs {
                    let Some(log) = logs_on_disk.get(generation) else {
                        let missing = dir.join(log::file_name(*generation));
                        let reason = "a state log the manifest lists is missing: the alerts, log entries, schedules and incidents written to it would be lost".to_string();
                        if !repair {
                            return Err(open_err(&missing, reason));
                        }
                        tracing::error!(path = %missing.display(), "{reason}; --storage.repair: starting without it");
                        continue;
                    };
                    let actual = std::fs::metadata(log).map(|m| m.len()).unwrap_or(0);
                    if let Some(expected) = size.filter(|s| actual < *s) {
                        let reason = format!(
                            "the state log is truncated: {actual} of its {expected} bytes are left"
                        );
                        if !repair {
                            return Err(open_err(log, reason));
                        }
                        tracing::error!(path = %log.display(), "{reason}; --storage.repair: replaying what remains");
                    }
                }
            }
        }
        let db = match open_database(&path)
            .and_then(|db| guarded(|| check_tables(&db)).map(|()| db))
        {
            Ok(db) => db,
            Err(e) if repair => {
                let aside = dir.join(format!(
                    "{STATE_FILE}.damaged-{}",
                    chrono::Utc::now().timestamp()
                ));
                tracing::error!(path = %path.display(), moved_to = %aside.display(), error = %e,
                    "state file damaged: moved aside; its silences, and the alerts, log entries, schedules and incidents folded into it, are lost; the state logs are replayed over empty tables");
                std::fs::rename(&path, &aside).map_err(|e| open_err(&path, e.to_string()))?;
                open_database(&path).map_err(|e| open_err(&path, e.to_string()))?
            }
            Err(e) => return Err(open_err(&path, e.to_string())),
        };
        let txn = db
            .begin_write()
            .map_err(|e| open_err(&path, e.to_string()))?;
        for table in [SILENCES, NFLOG, GROUPS, INCIDENTS] {
            txn.open_table(table)
                .map_err(|e| open_err(&path, e.to_string()))?;
        }
        txn.open_table(ALERTS)
            .map_err(|e| open_err(&path, e.to_string()))?;
        txn.commit().map_err(|e| open_err(&path, e.to_string()))?;
        // The manifest lists what is there now (a log not listed before is listed from now on).
        let mut listed = manifest.unwrap_or_default();
        listed.logs.retain(|g, _| logs_on_disk.contains_key(g));
        for generation in logs_on_disk.keys() {
            listed.logs.entry(*generation).or_insert(None);
        }
        let health = Arc::new(StorageHealth::default());
        // A full disk must not keep the router from starting: it routes alerts from memory
        // and reports that the state is not writable until space returns.
        if let Err(e) = listed.save(dir) {
            health.failed(
                StorePart::Log,
                &format!("{}: {e}", Manifest::path(dir).display()),
            );
        }
        Ok(StateDb {
            db: RwLock::new(Some(db)),
            path,
            dir: dir.to_path_buf(),
            manifest: Mutex::new(listed),
            unfolded_alerts: Mutex::default(),
            folding: Mutex::new(()),
            health,
        })
    }

    fn io(&self, e: impl std::fmt::Display) -> StateError {
        StateError::Io {
            path: self.path.clone(),
            reason: e.to_string(),
        }
    }

    /// Runs `f` on the database. After a failure (redb refuses every later write once one
    /// I/O error happened, until it is reopened) the file is reopened and `f` tried once more,
    /// so a disk that was full for a while does not leave the tables unwritable until a restart.
    fn with_db<T>(&self, f: impl Fn(&Database) -> Result<T, DbError>) -> Result<T, DbError> {
        let first = {
            let db = self.db.read();
            match db.as_ref() {
                Some(db) => guarded(|| f(db)),
                None => Err(DbError::Closed),
            }
        };
        let Err(first_error) = first else {
            return first;
        };
        if let Err(reopen) = self.reopen() {
            return Err(DbError::Reopen {
                first: Box::new(first_error),
                reopen: Box::new(reopen),
            });
        }
        let db = self.db.read();
        match db.as_ref() {
            Some(db) => guarded(|| f(db)).map_err(|e| DbError::AfterReopen(Box::new(e))),
            None => Err(first_error),
        }
    }

    fn reopen(&self) -> Result<(), DbError> {
        let mut db = self.db.write();
        // redb allows one open handle per file: the old one must go first.
        drop(db.take());
        let reopened = open_database(&self.path)?;
        *db = Some(reopened);
        tracing::info!(path = %self.path.display(), "state file reopened");
        Ok(())
    }

    fn note_manifest(&self, change: impl FnOnce(&mut Manifest)) -> std::io::Result<()> {
        let mut manifest = self.manifest.lock();
        let mut next = manifest.clone();
        change(&mut next);
        next.save(&self.dir)?;
        *manifest = next;
        Ok(())
    }

    /// Starts a log file, listed in the manifest before it exists.
    fn start_log(&self, generation: u64) -> std::io::Result<LogWriter> {
        self.note_manifest(|m| {
            m.logs.insert(generation, None);
        })?;
        LogWriter::open(&self.dir, generation)
    }

    /// Reads every table, then replays the log files over it; rows that no longer decode are
    /// logged and skipped, and so are damaged log records (each loss reported).
    pub fn recover(&self) -> Result<Recovered, StateError> {
        let _no_compaction = self.folding.lock();
        let (mut out, mut rows) = self.with_db(read_tables).map_err(|e| self.io(e))?;
        let files = log_files(&self.dir).map_err(|e| self.io(e))?;
        let newest = files.last().map(|(g, _)| *g);
        for (generation, path) in &files {
            let report = replay(path, |row| match row.value {
                Some(v) => {
                    rows.insert((row.table, row.key), v);
                }
                None => {
                    rows.remove(&(row.table, row.key));
                }
            })
            .map_err(|e| self.io(format!("{}: {e}", path.display())))?;
            let closed_size = self.manifest.lock().logs.get(generation).copied().flatten();
            report_damage(
                path,
                &report,
                Some(*generation) == newest && closed_size.is_none(),
            );
        }
        for ((table, key), value) in rows {
            match table {
                Table::Alerts => match codec::decode_alert(&value) {
                    Ok(alert) => out.alerts.push(alert),
                    Err(e) => {
                        tracing::error!(error = %e, "skipping unreadable alert in the state file")
                    }
                },
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
        f: impl Fn(&mut redb::Table<&str, &[u8]>) -> Result<(), redb::StorageError>,
    ) -> Result<(), DbError> {
        let result = self.with_db(|db| {
            let txn = db.begin_write()?;
            {
                let mut table = txn.open_table(SILENCES)?;
                f(&mut table)?;
            }
            Ok(txn.commit()?)
        });
        match &result {
            Ok(()) => self.health.succeeded(StorePart::Tables),
            Err(e) => self
                .health
                .failed(StorePart::Tables, &format!("silence: {e}")),
        }
        result
    }

    /// Folds rows into the redb tables in one committed transaction.
    fn fold(&self, rows: &[RowRef]) -> Result<(), DbError> {
        self.with_db(|db| fold_into(db, rows))
    }

    /// Folds a closed log file into the tables, then removes it (or, if any of it could not be
    /// read, keeps it aside as `<name>.damaged` for inspection).
    ///
    /// The file is read whole (a log is at most [`COMPACT_AT`] and a batch), and the rows
    /// borrow it: the last row of each key is found first, and only those are folded.
    fn compact(&self, generation: u64, path: &Path) -> Result<usize, DbError> {
        let _no_recovery = self.folding.lock();
        let bytes = std::fs::read(path).map_err(|source| DbError::File {
            path: path.to_path_buf(),
            source,
        })?;
        let mut last: HashMap<(Table, &[u8]), RowRef, Prehashed> = HashMap::default();
        let report = replay_bytes(&bytes, |row| {
            last.insert((row.table, row.key), row);
        });
        // In several transactions, so a silence written meanwhile (straight to the tables)
        // waits for one chunk, not the whole file. A crash between chunks replays the file
        // again at the next start, which puts the same final values.
        let rows: Vec<RowRef> = {
            let mut unfolded = self.unfolded_alerts.lock();
            last.into_values()
                .filter(|row| {
                    let Some(fp) = alert_key(row) else {
                        return true;
                    };
                    match unfolded.get(&fp) {
                        Some(&later) if later > generation => false,
                        Some(_) => {
                            unfolded.remove(&fp);
                            true
                        }
                        None => true,
                    }
                })
                .collect()
        };
        for chunk in rows.chunks(COMPACT_CHUNK) {
            self.fold(chunk)?;
        }
        // Unlisted before it goes, so the manifest never names a file that is not there.
        self.note_manifest(|m| {
            m.logs.remove(&generation);
        })
        .map_err(|source| DbError::File {
            path: Manifest::path(&self.dir),
            source,
        })?;
        if report.lost_bytes() > 0 {
            let aside = path.with_extension("log.damaged");
            std::fs::rename(path, &aside).map_err(|source| DbError::File {
                path: path.to_path_buf(),
                source,
            })?;
            tracing::warn!(path = %aside.display(), "the folded state log had unreadable bytes; kept for inspection");
        } else {
            std::fs::remove_file(path).map_err(|source| DbError::File {
                path: path.to_path_buf(),
                source,
            })?;
        }
        Ok(report.records)
    }
}

/// The fingerprint of an alerts-table row.
fn alert_key(row: &RowRef) -> Option<u64> {
    if row.table != Table::Alerts {
        return None;
    }
    <[u8; 8]>::try_from(row.key).ok().map(u64::from_le_bytes)
}

/// Logs what a replay could not read. The tail of the newest log is where a crash cuts a batch
/// short, and such a batch was never acknowledged; anywhere else, lost bytes held acknowledged
/// records.
fn report_damage(path: &Path, report: &Replayed, open_log: bool) {
    if !report.damaged.is_empty() {
        let bytes: u64 = report.damaged.iter().map(|(_, n)| n).sum();
        tracing::error!(path = %path.display(), ranges = ?report.damaged, bytes,
            records_kept = report.records,
            "state log damaged: the records in these byte ranges are lost; every intact record after them was kept");
        metrics::counter!("alert_router_state_log_lost_bytes_total").increment(bytes);
    }
    if let Some((offset, bytes)) = report.tail {
        if open_log {
            tracing::warn!(path = %path.display(), offset, bytes,
                "state log ends in a record cut short, as a crash during a write leaves it (such a batch was never acknowledged), or damaged there");
        } else {
            tracing::error!(path = %path.display(), offset, bytes,
                "state log damaged at its end: the records in those bytes are lost");
        }
        metrics::counter!("alert_router_state_log_lost_bytes_total").increment(bytes);
    }
}

type Rows = HashMap<(Table, Vec<u8>), Vec<u8>>;

/// Opens every table once, so damage shows at start rather than at the first write.
fn check_tables(db: &Database) -> Result<(), DbError> {
    read_tables(db).map(|_| ())
}

/// The silences, and every other table's rows by key.
fn read_tables(db: &Database) -> Result<(Recovered, Rows), DbError> {
    let txn = db.begin_read()?;
    let mut out = Recovered::default();
    // A table missing from a file that has never been written is empty.
    if let Ok(silences) = txn.open_table(SILENCES) {
        for row in silences.iter()? {
            let (_, v) = row?;
            decode_into(v.value(), "silence", &mut out.silences);
        }
    }
    let mut rows: Rows = HashMap::new();
    if let Ok(alerts) = txn.open_table(ALERTS) {
        for row in alerts.iter()? {
            let (k, v) = row?;
            rows.insert(
                (Table::Alerts, k.value().to_le_bytes().to_vec()),
                v.value().to_vec(),
            );
        }
    }
    for (table, definition) in [
        (Table::Nflog, NFLOG),
        (Table::Groups, GROUPS),
        (Table::Incidents, INCIDENTS),
    ] {
        let Ok(t) = txn.open_table(definition) else {
            continue;
        };
        for row in t.iter()? {
            let (k, v) = row?;
            rows.insert((table, k.value().as_bytes().to_vec()), v.value().to_vec());
        }
    }
    Ok((out, rows))
}

fn fold_into(db: &Database, rows: &[RowRef]) -> Result<(), DbError> {
    let txn = db.begin_write()?;
    {
        let mut alerts = txn.open_table(ALERTS)?;
        let mut nflog = txn.open_table(NFLOG)?;
        let mut groups = txn.open_table(GROUPS)?;
        let mut incidents = txn.open_table(INCIDENTS)?;
        for row in rows {
            let result = match row.table {
                Table::Alerts => {
                    let Some(fp) = alert_key(row) else {
                        continue;
                    };
                    match row.value {
                        Some(v) => alerts.insert(fp, v).map(|_| ()),
                        None => alerts.remove(fp).map(|_| ()),
                    }
                }
                table => {
                    let t = match table {
                        Table::Nflog => &mut nflog,
                        Table::Groups => &mut groups,
                        _ => &mut incidents,
                    };
                    let Ok(key) = std::str::from_utf8(row.key) else {
                        continue;
                    };
                    match row.value {
                        Some(v) => t.insert(key, v).map(|_| ()),
                        None => t.remove(key).map(|_| ()),
                    }
                }
            };
            result?;
        }
    }
    Ok(txn.commit()?)
}

fn json_into<T: Serialize>(
    out: &mut Vec<u8>,
    value: &T,
    what: &'static str,
) -> Result<(), DbError> {
    serde_json::to_writer(out, value).map_err(|source| DbError::Encode { what, source })
}

/// A batch of writes encoded as log records, and the alerts it writes.
struct Batch {
    records: Records,
    alerts: Vec<u64>,
}

/// About the size of an alert row: a batch's buffer starts at this per write, so a large one
/// is not copied over as it grows.
const TYPICAL_ROW: usize = 384;

/// The row a write puts or deletes. Alerts, nearly every write, are keyed by fingerprint
/// without an allocation.
#[derive(PartialEq, Eq, Hash)]
enum RowKey {
    Alert(u64),
    Other(Table, Vec<u8>),
}

impl RowKey {
    fn table(&self) -> Table {
        match self {
            RowKey::Alert(_) => Table::Alerts,
            RowKey::Other(table, _) => *table,
        }
    }
}

/// Encodes a batch of writes; only the last write of each key counts (and only it is
/// encoded), so an alert re-sent many times within one batch is written once.
fn encode(writes: Vec<Write>) -> Result<Batch, DbError> {
    let keyed: Vec<(RowKey, Write)> = writes.into_iter().map(|w| (w.key(), w)).collect();
    let mut last: HashMap<&RowKey, usize, Prehashed> =
        HashMap::with_capacity_and_hasher(keyed.len(), Prehashed::default());
    for (i, (key, _)) in keyed.iter().enumerate() {
        last.insert(key, i);
    }
    let mut keep = vec![false; keyed.len()];
    for i in last.into_values() {
        keep[i] = true;
    }
    let mut batch = Batch {
        records: Records::with_capacity(keyed.len() * TYPICAL_ROW),
        alerts: Vec::with_capacity(keyed.len()),
    };
    for ((key, write), keep) in keyed.into_iter().zip(keep) {
        if !keep {
            continue;
        }
        let put = write.is_put();
        let table = key.table();
        match key {
            RowKey::Alert(fp) => {
                batch.alerts.push(fp);
                batch
                    .records
                    .push(table, &fp.to_le_bytes(), put, |out| write.encode_value(out))?;
            }
            RowKey::Other(_, bytes) => {
                batch
                    .records
                    .push(table, &bytes, put, |out| write.encode_value(out))?;
            }
        }
    }
    Ok(batch)
}

impl Write {
    fn key(&self) -> RowKey {
        match self {
            Write::PutAlert(a) => RowKey::Alert(a.fingerprint.0),
            Write::DeleteAlert(fp) => RowKey::Alert(*fp),
            Write::PutNflog(k, _) | Write::DeleteNflog(k) => {
                RowKey::Other(Table::Nflog, k.encode().into_bytes())
            }
            Write::PutGroup(k, _) | Write::DeleteGroup(k) => {
                RowKey::Other(Table::Groups, k.as_bytes().to_vec())
            }
            Write::PutIncident(id, _) | Write::DeleteIncident(id) => {
                RowKey::Other(Table::Incidents, id.as_bytes().to_vec())
            }
        }
    }

    fn is_put(&self) -> bool {
        matches!(
            self,
            Write::PutAlert(_) | Write::PutNflog(..) | Write::PutGroup(..) | Write::PutIncident(..)
        )
    }

    /// Appends the row value of a put (nothing for a delete).
    fn encode_value(self, out: &mut Vec<u8>) -> Result<(), DbError> {
        match self {
            Write::PutAlert(a) => codec::encode_alert(&a, out),
            Write::PutNflog(_, e) => json_into(out, &e, "notification log entry")?,
            Write::PutGroup(_, s) => json_into(out, &s, "group schedule")?,
            Write::PutIncident(_, bytes) => out.extend_from_slice(&bytes),
            Write::DeleteAlert(_)
            | Write::DeleteNflog(_)
            | Write::DeleteGroup(_)
            | Write::DeleteIncident(_) => {}
        }
        Ok(())
    }
}

fn decode_into<T: for<'de> Deserialize<'de>>(bytes: &[u8], what: &str, out: &mut Vec<T>) {
    match serde_json::from_slice(bytes) {
        Ok(v) => out.push(v),
        Err(e) => tracing::error!(error = %e, "skipping unreadable {what} in the state file"),
    }
}

type Ack = oneshot::Sender<Result<(), StoreError>>;

/// Writes queued beyond this make `persist` wait (batch mode's backpressure), so a writer that
/// falls behind slows ingest instead of growing memory without bound.
const MAX_QUEUED: usize = 250_000;

/// The writer thread's handle: queue writes, optionally wait for their commit.
#[derive(Clone)]
pub(super) struct Persister {
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
        let (to_compact, compact_rx) = mpsc::channel::<(u64, PathBuf)>();
        let left = log_files(&db.dir).unwrap_or_default();
        let next_generation = left.last().map_or(1, |(g, _)| g + 1);
        for log in left {
            let _ = to_compact.send(log);
        }
        let compactor = db.clone();
        std::thread::Builder::new()
            .name("state-compactor".into())
            .spawn(move || compact_loop(&compactor, &compact_rx))
            .map(|_| ())
            .unwrap_or_else(|e| tracing::error!(error = %e, "could not start the state compactor"));
        let (q, d) = (queued.clone(), drained.clone());
        std::thread::Builder::new()
            .name("state-writer".into())
            .spawn(move || {
                let mut writer = LogState {
                    db,
                    log: None,
                    next_generation,
                    held_back: VecDeque::with_capacity(HELD_BACK + 1),
                    to_compact,
                };
                writer_loop(&mut writer, &rx, durability, &q, &d)
            })
            .map(|_| ())
            .unwrap_or_else(|e| tracing::error!(error = %e, "could not start the state writer"));
        Persister {
            queue,
            durability,
            queued,
            drained,
        }
    }

    fn enqueue(&self, writes: Vec<Write>, ack: Option<Ack>) -> Result<(), StoreError> {
        self.queued.fetch_add(writes.len(), Ordering::SeqCst);
        let n = writes.len();
        self.queue.send((writes, ack)).map_err(|_| {
            self.queued.fetch_sub(n, Ordering::SeqCst);
            StoreError::Stopped
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
    pub async fn commit(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.queue
            .send((writes, Some(tx)))
            .map_err(|_| StoreError::Stopped)?;
        rx.await.map_err(|_| StoreError::Stopped)?
    }

    /// Queues writes at once and returns a future of their commit.
    pub fn queue_now(
        &self,
        writes: Vec<Write>,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + 'static {
        let (tx, rx) = oneshot::channel();
        let queued = self.enqueue(writes, Some(tx));
        async move {
            queued?;
            rx.await.map_err(|_| StoreError::Stopped)?
        }
    }

    /// Queues writes and, in fsync mode, waits for their commit: what an acknowledgement needs.
    ///
    /// A request with nothing to write is acknowledged at once, even while another request's
    /// write of the same alert is still being committed: that other request is not acknowledged
    /// until its commit, so if the process dies first its sender sends the alert again.
    pub async fn persist(&self, writes: Vec<Write>) -> Result<(), StoreError> {
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

/// Folds each closed log into the tables in order. A fold that fails (a full disk, an I/O
/// error) is retried with the file reopened until it succeeds: later files must not be folded
/// over an earlier one, and until then they all stay and a start replays them in order.
fn compact_loop(db: &StateDb, logs: &mpsc::Receiver<(u64, PathBuf)>) {
    for (generation, path) in logs {
        let mut wait = Duration::from_secs(1);
        loop {
            let started = Instant::now();
            match db.compact(generation, &path) {
                Ok(rows) => {
                    db.health.succeeded(StorePart::Tables);
                    tracing::debug!(rows, took = ?started.elapsed(), "state log compacted");
                    break;
                }
                Err(e) => {
                    db.health.failed(
                        StorePart::Tables,
                        &format!("folding {}: {e}", path.display()),
                    );
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}

/// The writer thread's log: the current file (opened again after a failure) and where full
/// files go.
struct LogState {
    db: Arc<StateDb>,
    log: Option<LogWriter>,
    next_generation: u64,
    /// The last [`HELD_BACK`] full logs, held back from the compactor until as many later
    /// ones are full too: their rows that a later one supersedes (an alert changing every
    /// second) are then skipped rather than folded.
    held_back: VecDeque<(u64, PathBuf)>,
    to_compact: mpsc::Sender<(u64, PathBuf)>,
}

impl LogState {
    fn append(&mut self, batch: &Batch) -> Result<(), DbError> {
        let generation = self.next_generation;
        let file = |source| DbError::File {
            path: self.db.dir.join(log::file_name(generation)),
            source,
        };
        let log = match self.log.as_mut() {
            Some(log) => log,
            None => {
                let started = self.db.start_log(generation).map_err(file)?;
                self.next_generation += 1;
                self.log.insert(started)
            }
        };
        log.append_records(&batch.records)
            .map_err(|source| DbError::File {
                path: self.db.dir.join(log::file_name(log.generation())),
                source,
            })?;
        {
            let written_to = log.generation();
            let mut unfolded = self.db.unfolded_alerts.lock();
            for fp in &batch.alerts {
                unfolded.insert(*fp, written_to);
            }
        }
        if log.size() >= COMPACT_AT {
            self.rotate();
        }
        Ok(())
    }

    /// Hands the oldest full file held back to the compactor (see `held_back`) and starts the next. If the next cannot be
    /// started, writing goes on in this one and rotation is tried again after the next batch.
    fn rotate(&mut self) {
        let Some(full) = self.log.as_ref() else {
            return;
        };
        let (generation, size) = (full.generation(), full.size());
        let next = match self.db.start_log(generation + 1) {
            Ok(next) => next,
            Err(e) => {
                self.db
                    .health
                    .failed(StorePart::Log, &format!("starting the next state log: {e}"));
                return;
            }
        };
        self.next_generation = generation + 2;
        self.log = Some(next);
        if let Err(e) = self.db.note_manifest(|m| {
            m.logs.insert(generation, Some(size));
        }) {
            tracing::warn!(error = %e, "could not record the closed state log's size");
        }
        let path = self.db.dir.join(log::file_name(generation));
        self.held_back.push_back((generation, path));
        while self.held_back.len() > HELD_BACK {
            if let Some(oldest) = self.held_back.pop_front() {
                let _ = self.to_compact.send(oldest);
            }
        }
    }
}

fn writer_loop(
    log: &mut LogState,
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
        let result = encode(writes)
            .and_then(|batch| {
                if batch.records.is_empty() {
                    return Ok(());
                }
                log.append(&batch)
            })
            .map_err(|e| StoreError::Failed(e.to_string()));
        match &result {
            Ok(()) => log.db.health.succeeded(StorePart::Log),
            Err(e) => log
                .db
                .health
                .failed(StorePart::Log, &format!("commit of {count} writes: {e}")),
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
    use crate::dispatch::GroupSchedule;
    use chrono::Utc;

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
        log.append_records(
            &encode(vec![
                Write::PutGroup("g1".into(), schedule),
                Write::PutGroup("g2".into(), schedule),
            ])
            .unwrap()
            .records,
        )
        .unwrap();
        log.append_records(
            &encode(vec![Write::DeleteGroup("g1".into())])
                .unwrap()
                .records,
        )
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
        let txn = db.db.read().as_ref().unwrap().begin_read().unwrap();
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
        // The open log and those held back stay.
        while log_files(dir.path()).unwrap().len() > HELD_BACK + 1 {
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
        let txn = db.db.read().as_ref().unwrap().begin_read().unwrap();
        assert!(
            redb::ReadableTableMetadata::len(&txn.open_table(ALERTS).unwrap()).unwrap() >= 900,
            "most rows are folded into the table"
        );
    }

    #[tokio::test]
    async fn a_row_a_later_log_supersedes_is_not_folded_and_recovery_gets_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(StateDb::open(dir.path(), false).unwrap());
        let persister = Persister::start(db.clone(), Durability::Fsync);
        let now = Utc::now();
        let changing = |version: &str| {
            let mut a = stored_alert([("alertname", "Changing")].into_iter().collect(), now);
            a.annotations = [("value", version)].into_iter().collect();
            a
        };
        let filler = |from: usize| -> Vec<Write> {
            (from..from + 200)
                .map(|i| {
                    let labels = [("alertname", "Filler".to_string()), ("i", i.to_string())];
                    Write::PutAlert(Arc::new(stored_alert(labels.into_iter().collect(), now)))
                })
                .collect()
        };
        // Each round writes the changing alert and enough others to fill a log: the log of
        // one round is folded once the next is full, and by then holds a superseded version.
        for round in 0..4 {
            let mut writes = vec![Write::PutAlert(Arc::new(changing(&round.to_string())))];
            writes.extend(filler(round * 1000));
            persister.commit(writes).await.unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let txn = db.db.read().as_ref().unwrap().begin_read().unwrap();
            let folded =
                redb::ReadableTableMetadata::len(&txn.open_table(ALERTS).unwrap()).unwrap();
            if folded >= 400 {
                break;
            }
            assert!(Instant::now() < deadline, "older logs not folded");
            std::thread::sleep(Duration::from_millis(20));
        }
        let fp = changing("0").fingerprint.0;
        let txn = db.db.read().as_ref().unwrap().begin_read().unwrap();
        assert!(
            txn.open_table(ALERTS).unwrap().get(fp).unwrap().is_none(),
            "the superseded versions were skipped, not folded"
        );
        let recovered = db.recover().unwrap();
        let newest = recovered
            .alerts
            .iter()
            .find(|a| a.fingerprint.0 == fp)
            .expect("the changing alert is recovered");
        assert_eq!(newest.annotations.get("value"), Some("3"));
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
