//! The state file's write-ahead log. The writer thread appends each batch of alerts, log
//! entries, group schedules and incidents to a sequential file and syncs it; a compactor folds
//! full log files into the redb tables in the background. Appending costs a few hundred bytes per
//! alert, where inserting random fingerprints into a B-tree rewrote a 4 KiB page per alert in
//! small batches; folding many batches at once touches each page once.
//!
//! A record is `len: u32 LE`, `check: u64 LE` (FNV-1a of the body), then the body:
//! `table: u8`, `put: u8` (1 put, 0 delete), `key_len: u32 LE`, the key, and for a put the
//! value. A record cut short by a crash, or one whose check does not match, ends the replay of
//! its file: it belongs to a batch that was never acknowledged.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Write as _};
use std::path::{Path, PathBuf};

use crate::model::fingerprint::{fnv1a, FNV_OFFSET};

/// A log file this large is handed to the compactor and a new one started (small in unit
/// tests, so they rotate and compact while writing).
#[cfg(not(test))]
pub(super) const COMPACT_AT: u64 = 64 * 1024 * 1024;
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

fn file_name(generation: u64) -> String {
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
    pub fn create(dir: &Path) -> io::Result<LogWriter> {
        let generation = log_files(dir)?.last().map_or(1, |(g, _)| g + 1);
        LogWriter::open(dir, generation)
    }

    fn open(dir: &Path, generation: u64) -> io::Result<LogWriter> {
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

    /// Appends the rows and syncs them to disk.
    pub fn append(&mut self, rows: &[Row]) -> io::Result<()> {
        let mut buf = Vec::with_capacity(rows.len() * 256);
        let mut body = Vec::new();
        for row in rows {
            body.clear();
            body.push(row.table as u8);
            body.push(u8::from(row.value.is_some()));
            body.extend_from_slice(&(row.key.len() as u32).to_le_bytes());
            body.extend_from_slice(&row.key);
            if let Some(v) = &row.value {
                body.extend_from_slice(v);
            }
            buf.extend_from_slice(&(body.len() as u32).to_le_bytes());
            buf.extend_from_slice(&fnv(&body).to_le_bytes());
            buf.extend_from_slice(&body);
        }
        self.file.write_all(&buf)?;
        self.file.sync_data()?;
        self.size += buf.len() as u64;
        Ok(())
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Closes this file and starts the next; returns the closed file's path.
    pub fn rotate(&mut self) -> io::Result<PathBuf> {
        let done = self.dir.join(file_name(self.generation));
        *self = LogWriter::open(&self.dir, self.generation + 1)?;
        Ok(done)
    }
}

/// Calls `apply` with every intact record of the file, in order; returns how many.
pub(super) fn replay(path: &Path, mut apply: impl FnMut(Row)) -> io::Result<usize> {
    let mut reader = BufReader::new(File::open(path)?);
    let mut count = 0;
    loop {
        let mut head = [0u8; 12];
        match reader.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(count),
            Err(e) => return Err(e),
        }
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let check = u64::from_le_bytes([
            head[4], head[5], head[6], head[7], head[8], head[9], head[10], head[11],
        ]);
        let mut body = vec![0u8; len];
        let intact = reader.read_exact(&mut body).is_ok() && fnv(&body) == check;
        let row = intact.then(|| decode(&body)).flatten();
        let Some(row) = row else {
            tracing::warn!(path = %path.display(), records = count,
                "state log ends in a record cut short by a crash; it was never acknowledged");
            return Ok(count);
        };
        apply(row);
        count += 1;
    }
}

fn decode(body: &[u8]) -> Option<Row> {
    let table = Table::from_u8(*body.first()?)?;
    let put = *body.get(1)? == 1;
    let key_len = u32::from_le_bytes(body.get(2..6)?.try_into().ok()?) as usize;
    let key = body.get(6..6 + key_len)?.to_vec();
    let value = put.then(|| body[6 + key_len..].to_vec());
    Some(Row { table, key, value })
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
        let whole = bytes.len();
        bytes.extend_from_slice(&[40, 0, 0, 0, 1, 2, 3]);
        std::fs::write(&path, &bytes).unwrap();
        let mut got = Vec::new();
        assert_eq!(replay(&path, |r| got.push(r)).unwrap(), 4);
        assert_eq!(got[..3], rows[..]);
        assert_eq!(got[3], row(Table::Groups, "d", Some("4")));
        // A flipped bit stops the replay at that record.
        bytes.truncate(whole);
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(replay(&path, |_| {}).unwrap(), 3);
    }
}
