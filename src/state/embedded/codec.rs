//! The binary encoding of an alert in the state log and the alerts table. JSON cost a third of
//! the writer's time and twice the bytes: every deferred or acknowledged write of an alert
//! encodes it, and every compaction reads it back. Rows written by earlier releases are JSON
//! objects; they start with `{`, which no binary row does, so both still decode.
//!
//! Layout: the marker byte, the fingerprint (u64 LE), the labels and the annotations (each a
//! count, then name and value of each pair), start, end and update time (each i64 LE seconds
//! and u32 LE nanoseconds), the generator URL, the timeout flag (one byte), and the values
//! (a count, then name and f64 LE of each). Counts and string lengths are LEB128 varints.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::model::intern::intern;
use crate::model::{Alert, Fingerprint, LabelSet};

/// The first byte of a binary alert row (version 1).
const MARKER: u8 = 0xA1;

pub(super) fn encode_alert(alert: &Alert, out: &mut Vec<u8>) {
    out.push(MARKER);
    out.extend_from_slice(&alert.fingerprint.0.to_le_bytes());
    for set in [&alert.labels, &alert.annotations] {
        varint(set.len() as u64, out);
        for (name, value) in set.iter() {
            string(name, out);
            string(value, out);
        }
    }
    for t in [alert.starts_at, alert.ends_at, alert.updated_at] {
        out.extend_from_slice(&t.timestamp().to_le_bytes());
        out.extend_from_slice(&t.timestamp_subsec_nanos().to_le_bytes());
    }
    string(&alert.generator_url, out);
    out.push(u8::from(alert.timeout));
    varint(alert.values.len() as u64, out);
    for (name, value) in &alert.values {
        string(name, out);
        out.extend_from_slice(&value.to_le_bytes());
    }
}

/// Why a stored alert could not be read back.
#[derive(Debug, thiserror::Error)]
pub(super) enum DecodeError {
    #[error("a JSON alert row: {0}")]
    Json(#[from] serde_json::Error),
    #[error("a binary alert row is cut short or damaged")]
    Binary,
}

/// Decodes a row of either encoding.
pub(super) fn decode_alert(bytes: &[u8]) -> Result<Alert, DecodeError> {
    match bytes.first() {
        Some(&MARKER) => Reader(&bytes[1..]).alert().ok_or(DecodeError::Binary),
        _ => Ok(serde_json::from_slice(bytes)?),
    }
}

fn varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn string(s: &str, out: &mut Vec<u8>) {
    varint(s.len() as u64, out);
    out.extend_from_slice(s.as_bytes());
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn varint(&mut self) -> Option<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.take(1)?[0];
            n |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(n);
            }
        }
        None
    }

    fn string(&mut self) -> Option<&'a str> {
        let len = usize::try_from(self.varint()?).ok()?;
        std::str::from_utf8(self.take(len)?).ok()
    }

    fn set(&mut self) -> Option<LabelSet> {
        let count = self.varint()?;
        let mut pairs = Vec::new();
        for _ in 0..count {
            let name = self.string()?;
            let value = self.string()?;
            pairs.push((intern(name), intern(value)));
        }
        Some(LabelSet::from_pairs(pairs))
    }

    fn time(&mut self) -> Option<DateTime<Utc>> {
        let secs = i64::from_le_bytes(self.array()?);
        let nanos = u32::from_le_bytes(self.array()?);
        DateTime::from_timestamp(secs, nanos)
    }

    fn alert(&mut self) -> Option<Alert> {
        let fingerprint = Fingerprint(u64::from_le_bytes(self.array()?));
        let labels = self.set()?;
        let annotations = self.set()?;
        let (starts_at, ends_at, updated_at) = (self.time()?, self.time()?, self.time()?);
        let generator_url: Arc<str> = Arc::from(self.string()?);
        let timeout = match self.take(1)?[0] {
            0 => false,
            1 => true,
            _ => return None,
        };
        let mut values = BTreeMap::new();
        for _ in 0..self.varint()? {
            let name = self.string()?.to_string();
            values.insert(name, f64::from_le_bytes(self.array()?));
        }
        if !self.0.is_empty() {
            return None;
        }
        Some(Alert {
            labels,
            annotations,
            starts_at,
            ends_at,
            generator_url,
            updated_at,
            timeout,
            values,
            fingerprint,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert() -> Alert {
        let labels: LabelSet = [("alertname", "CPU"), ("instance", "host-1:9100")]
            .into_iter()
            .collect();
        let now = Utc::now();
        Alert {
            fingerprint: labels.fingerprint(),
            labels,
            annotations: [("summary", "CPU at 93.5% — ünïcode"), ("value", "93.5")]
                .into_iter()
                .collect(),
            starts_at: now - chrono::Duration::seconds(600),
            ends_at: now + chrono::Duration::seconds(240),
            generator_url: "http://prometheus:9090/graph?g0.expr=up".into(),
            updated_at: now,
            timeout: true,
            values: [("A".to_string(), 0.93), ("B".to_string(), -1e300)]
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn binary_rows_round_trip_and_are_smaller_than_json() {
        let a = alert();
        let mut bytes = Vec::new();
        encode_alert(&a, &mut bytes);
        assert_eq!(decode_alert(&bytes).unwrap(), a);
        let json = serde_json::to_vec(&a).unwrap();
        assert!(
            bytes.len() * 3 < json.len() * 2,
            "{} vs {}",
            bytes.len(),
            json.len()
        );
    }

    #[test]
    fn rows_written_as_json_by_earlier_releases_still_decode() {
        let a = alert();
        let json = serde_json::to_vec(&a).unwrap();
        assert_eq!(decode_alert(&json).unwrap(), a);
    }

    #[test]
    fn every_cut_or_damaged_row_is_an_error_not_a_panic() {
        let mut bytes = Vec::new();
        encode_alert(&alert(), &mut bytes);
        for cut in 0..bytes.len() {
            assert!(decode_alert(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_alert(&longer).is_err(), "trailing bytes");
        for i in 1..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0xff;
            let _ = decode_alert(&damaged);
        }
    }
}
