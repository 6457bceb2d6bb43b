//! The state file's write-ahead log. The writer thread appends each batch of alerts, log
//! entries, group schedules and incidents to a sequential file and syncs it; a compactor folds
//! full log files into the redb tables in the background. Appending costs a few hundred bytes per
//! alert, where inserting random fingerprints into a B-tree rewrote a 4 KiB page per alert in
//! small batches; folding many batches at once touches each page once.
//!
//! A record is `len: u32 LE`, `check: u64 LE` (FNV-1a of the body), then the body:
//! `table: u8`, `put: u8` (1 put, 0 delete), `key_len: u32 LE`, the key, and for a put the
//! value. Every record checks itself, so the replay skips a damaged one and resynchronises on
//! the next intact record: damage loses the damaged bytes, never the intact records after them.
//! A write that fails (a full disk) is cut back to the last whole record, so the next batch
//! never follows a partial one.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use crate::model::fingerprint::{fnv1a, FNV_OFFSET};

/// A log file this large is handed to the compactor and a new one started (small in unit
/// tests, so they rotate and compact while writing). The compactor holds one file in memory
/// while it folds it, so this bounds its working set.
#[cfg(not(test))]
pub(super) const COMPACT_AT: u64 = 16 * 1024 * 1024;
#[cfg(test)]
pub(super) const COMPACT_AT: u64 = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Table {
    Alerts = 1,
    Nflog = 2,
    Groups = 3,
    Incidents = 4,
}

impl Table {
    fn from_u8(b: u8) -> Option<Table> {
        [Table::Alerts, Table::Nflog, Table::Groups, Table::Incidents]
            .into_iter()
            .find(|t| *t as u8 == b)
    }
}

/// Records encoded one after the other into one buffer, as they are appended: a batch costs
/// one allocation, not one per row and another for the file.
#[derive(Default)]
pub(super) struct Records {
    bytes: Vec<u8>,
    count: usize,
}

impl Records {
    pub fn with_capacity(bytes: usize) -> Records {
        Records {
            bytes: Vec::with_capacity(bytes),
            count: 0,
        }
    }

    /// Encodes a put (`write_value` appends the value) or a delete (`put` false, and
    /// `write_value` appends nothing). A value that fails to encode leaves no record behind.
    pub fn push<E>(
        &mut self,
        table: Table,
        key: &[u8],
        put: bool,
        write_value: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        let head = self.bytes.len();
        self.bytes.extend_from_slice(&[0; HEAD]);
        let body = self.bytes.len();
        self.bytes.push(table as u8);
        self.bytes.push(u8::from(put));
        self.bytes
            .extend_from_slice(&(key.len() as u32).to_le_bytes());
        self.bytes.extend_from_slice(key);
        if let Err(e) = write_value(&mut self.bytes) {
            self.bytes.truncate(head);
            return Err(e);
        }
        let len = (self.bytes.len() - body) as u32;
        let check = fnv(&self.bytes[body..]);
        self.bytes[head..head + 4].copy_from_slice(&len.to_le_bytes());
        self.bytes[head + 4..head + HEAD].copy_from_slice(&check.to_le_bytes());
        self.count += 1;
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// A row as read from a log file held in memory.
#[derive(Debug, Clone, Copy)]
pub(super) struct RowRef<'a> {
    pub table: Table,
    pub key: &'a [u8],
    pub value: Option<&'a [u8]>,
}

/// One row to put (with its encoded value) or delete.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Row {
    pub table: Table,
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

fn fnv(bytes: &[u8]) -> u64 {
    fnv1a(FNV_OFFSET, bytes)
}

pub(super) fn file_name(generation: u64) -> String {
    format!("state-{generation:020}.log")
}

/// The log files in `dir`, oldest first.
pub(super) fn log_files(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let generation = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("state-")?.strip_suffix(".log"))
            .and_then(|g| g.parse::<u64>().ok());
        if let Some(g) = generation {
            out.push((g, path));
        }
    }
    out.sort();
    Ok(out)
}

pub(super) struct LogWriter {
    dir: PathBuf,
    generation: u64,
    file: File,
    size: u64,
}

impl LogWriter {
    /// Starts a new log file after every existing one.
    #[cfg(test)]
    pub fn create(dir: &Path) -> io::Result<LogWriter> {
        let generation = log_files(dir)?.last().map_or(1, |(g, _)| g + 1);
        LogWriter::open(dir, generation)
    }

    pub fn open(dir: &Path, generation: u64) -> io::Result<LogWriter> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(file_name(generation)))?;
        Ok(LogWriter {
            dir: dir.to_path_buf(),
            generation,
            file,
            size: 0,
        })
    }

    /// Appends the rows and syncs them to disk. A failed write or sync is cut back to the end
    /// of the last whole record (or, if even that fails, the log moves on to a new file), so
    /// nothing written later follows a partial record.
    #[cfg(test)]
    pub fn append(&mut self, rows: &[Row]) -> io::Result<()> {
        let mut records = Records::default();
        for row in rows {
            let value = row.value.as_deref().unwrap_or_default();
            records.push(row.table, &row.key, row.value.is_some(), |out| {
                out.extend_from_slice(value);
                Ok::<(), io::Error>(())
            })?;
        }
        self.append_records(&records)
    }

    /// Appends the encoded records and syncs them to disk. A failed write or sync is cut back
    /// to the end of the last whole record (or, if even that fails, the log moves on to a new
    /// file), so nothing written later follows a partial record.
    pub fn append_records(&mut self, records: &Records) -> io::Result<()> {
        let buf = &records.bytes;
        let written = self
            .file
            .write_all(buf)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            self.cut_back();
            return Err(e);
        }
        self.size += buf.len() as u64;
        Ok(())
    }

    /// Drops whatever a failed append left after the last whole record.
    fn cut_back(&mut self) {
        let cut = self
            .file
            .set_len(self.size)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = cut {
            tracing::error!(generation = self.generation, error = %e,
                "could not cut a failed write back; continuing in a new log file");
            if let Ok(next) = LogWriter::open(&self.dir, self.generation + 1) {
                *self = next;
            }
        }
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Closes this file and starts the next; returns the closed file's path.
    #[cfg(test)]
    pub fn rotate(&mut self) -> io::Result<PathBuf> {
        let done = self.dir.join(file_name(self.generation));
        *self = LogWriter::open(&self.dir, self.generation + 1)?;
        Ok(done)
    }
}

/// What a replay read, and what it could not.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Replayed {
    pub records: usize,
    /// Unreadable ranges followed by intact records: `(offset, bytes)`. The records after them
    /// were acknowledged and are kept; the damaged bytes are lost.
    pub damaged: Vec<(u64, u64)>,
    /// An unreadable end of the file, `(offset, bytes)`: a batch a crash cut short (never
    /// acknowledged), or damage at the end.
    pub tail: Option<(u64, u64)>,
    /// The file's size when read.
    pub size: u64,
}

impl Replayed {
    /// Bytes that could not be read, tail included.
    pub fn lost_bytes(&self) -> u64 {
        self.damaged.iter().map(|(_, n)| n).sum::<u64>() + self.tail.map_or(0, |(_, n)| n)
    }
}

/// Header: length and check.
const HEAD: usize = 12;
/// The smallest body: table, put flag and key length.
const MIN_BODY: usize = 6;

/// Calls `apply` with every intact record of the file, in order, skipping damaged ones.
pub(super) fn replay(path: &Path, mut apply: impl FnMut(Row)) -> io::Result<Replayed> {
    let bytes = std::fs::read(path)?;
    Ok(replay_bytes(&bytes, |row| {
        apply(Row {
            table: row.table,
            key: row.key.to_vec(),
            value: row.value.map(<[u8]>::to_vec),
        })
    }))
}

/// Like [`replay`] over a file's bytes, handing out rows that borrow them.
pub(super) fn replay_bytes<'a>(bytes: &'a [u8], mut apply: impl FnMut(RowRef<'a>)) -> Replayed {
    let mut out = Replayed {
        size: bytes.len() as u64,
        ..Replayed::default()
    };
    let mut pos = 0;
    while pos < bytes.len() {
        if let Some((row, next)) = record_at(bytes, pos) {
            apply(row);
            out.records += 1;
            pos = next;
            continue;
        }
        match (pos + 1..bytes.len()).find(|&p| record_at(bytes, p).is_some()) {
            Some(next) => {
                out.damaged.push((pos as u64, (next - pos) as u64));
                pos = next;
            }
            None => {
                out.tail = Some((pos as u64, (bytes.len() - pos) as u64));
                break;
            }
        }
    }
    out
}

/// The intact record starting at `pos`, and where the next one starts. The cheap checks come
/// first, so scanning damaged bytes for the next record rarely computes a check.
fn record_at(bytes: &[u8], pos: usize) -> Option<(RowRef<'_>, usize)> {
    let head = bytes.get(pos..pos.checked_add(HEAD)?)?;
    let len = u32::from_le_bytes(head[..4].try_into().ok()?) as usize;
    if len < MIN_BODY {
        return None;
    }
    let body = bytes.get(pos + HEAD..(pos + HEAD).checked_add(len)?)?;
    if Table::from_u8(body[0]).is_none() || body[1] > 1 {
        return None;
    }
    let check = u64::from_le_bytes(head[4..].try_into().ok()?);
    if fnv(body) != check {
        return None;
    }
    Some((decode(body)?, pos + HEAD + len))
}

fn decode(body: &[u8]) -> Option<RowRef<'_>> {
    let table = Table::from_u8(*body.first()?)?;
    let put = *body.get(1)? == 1;
    let key_len = u32::from_le_bytes(body.get(2..6)?.try_into().ok()?) as usize;
    let key = body.get(6..6usize.checked_add(key_len)?)?;
    if !put && body.len() != 6 + key_len {
        return None;
    }
    let value = put.then(|| &body[6 + key_len..]);
    Some(RowRef { table, key, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(table: Table, key: &str, value: Option<&str>) -> Row {
        Row {
            table,
            key: key.as_bytes().to_vec(),
            value: value.map(|v| v.as_bytes().to_vec()),
        }
    }

    fn replayed(path: &Path) -> (Vec<Row>, Replayed) {
        let mut got = Vec::new();
        let report = replay(path, |r| got.push(r)).unwrap();
        (got, report)
    }

    #[test]
    fn rows_replay_in_order_and_a_torn_tail_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = LogWriter::create(dir.path()).unwrap();
        let rows = vec![
            row(Table::Alerts, "a", Some("1")),
            row(Table::Nflog, "b", None),
            row(Table::Incidents, "c", Some("")),
        ];
        log.append(&rows).unwrap();
        log.append(&[row(Table::Groups, "d", Some("4"))]).unwrap();
        let path = log.rotate().unwrap();
        assert_eq!(log_files(dir.path()).unwrap().len(), 2);
        // A crash in the middle of the next record.
        let mut bytes = std::fs::read(&path).unwrap();
        let whole = bytes.len() as u64;
        bytes.extend_from_slice(&[40, 0, 0, 0, 1, 2, 3]);
        std::fs::write(&path, &bytes).unwrap();
        let (got, report) = replayed(&path);
        assert_eq!(got[..3], rows[..]);
        assert_eq!(got[3], row(Table::Groups, "d", Some("4")));
        assert_eq!(report.records, 4);
        assert_eq!(report.tail, Some((whole, 7)));
        assert!(report.damaged.is_empty());
    }

    #[test]
    fn a_damaged_record_loses_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = LogWriter::create(dir.path()).unwrap();
        let rows: Vec<Row> = (0..50)
            .map(|i| {
                row(
                    Table::Alerts,
                    &format!("k{i:02}"),
                    Some(&format!("value {i:02}")),
                )
            })
            .collect();
        for r in &rows {
            log.append(std::slice::from_ref(r)).unwrap();
        }
        let path = dir.path().join(file_name(log.generation()));
        let clean = std::fs::read(&path).unwrap();
        let record = clean.len() / rows.len();
        assert_eq!(record * rows.len(), clean.len(), "records of one size");
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..300 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let at = (seed % clean.len() as u64) as usize;
            let mut bytes = clean.clone();
            bytes[at] ^= 1 << (seed % 8);
            std::fs::write(&path, &bytes).unwrap();
            let (got, report) = replayed(&path);
            let damaged = at / record;
            let expected: Vec<Row> = rows
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != damaged)
                .map(|(_, r)| r.clone())
                .collect();
            assert_eq!(got, expected, "flipped byte {at}");
            assert_eq!(report.lost_bytes(), record as u64, "flipped byte {at}");
        }
    }

    #[test]
    fn zeroed_ranges_and_truncations_lose_only_the_bytes_they_touch() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = LogWriter::create(dir.path()).unwrap();
        let rows: Vec<Row> = (0..20)
            .map(|i| row(Table::Nflog, &format!("key{i:02}"), Some("v")))
            .collect();
        log.append(&rows).unwrap();
        let path = dir.path().join(file_name(log.generation()));
        let clean = std::fs::read(&path).unwrap();
        let record = clean.len() / rows.len();
        // Records 5..8 zeroed.
        let mut bytes = clean.clone();
        bytes[5 * record..8 * record].fill(0);
        std::fs::write(&path, &bytes).unwrap();
        let (got, report) = replayed(&path);
        assert_eq!(got.len(), 17);
        assert_eq!(
            report.damaged,
            vec![((5 * record) as u64, (3 * record) as u64)]
        );
        // Truncated in the middle of record 12: the records before it stay.
        std::fs::write(&path, &clean[..12 * record + 3]).unwrap();
        let (got, report) = replayed(&path);
        assert_eq!(got[..], rows[..12]);
        assert_eq!(report.tail, Some(((12 * record) as u64, 3)));
    }

    #[test]
    fn a_failed_append_leaves_no_partial_record_for_the_next_to_follow() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = LogWriter::create(dir.path()).unwrap();
        log.append(&[row(Table::Alerts, "before", Some("1"))])
            .unwrap();
        // What a write cut short by a full disk leaves behind.
        let path = dir.path().join(file_name(log.generation()));
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&[200, 0, 0, 0, 9, 9]).unwrap();
        log.cut_back();
        log.append(&[row(Table::Alerts, "after", Some("2"))])
            .unwrap();
        let (got, report) = replayed(&path);
        assert_eq!(
            got,
            vec![
                row(Table::Alerts, "before", Some("1")),
                row(Table::Alerts, "after", Some("2"))
            ]
        );
        assert_eq!(report.lost_bytes(), 0);
    }
}
