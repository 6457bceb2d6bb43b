//! Label names and values are few and repeated: every alert of a job carries the same names,
//! most carry the same values (`job="node"`, `severity="warning"`). Decoding looks each short
//! string up here and shares one copy, so a re-sent alert allocates nothing for its labels and
//! a million stored alerts hold each repeated string a few times rather than a million.
//!
//! Whole annotation sets are shared the same way: the alerts of one rule often carry the same
//! annotations, and they then hold one set.
//!
//! Each thread keeps its own tables: a shared one made every label of every request take the
//! same locks and bounce the same reference counts between cores (15% of ingest CPU in a
//! profile). A string is thus held once per worker thread at most.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use serde::de::{Deserializer, Visitor};
use serde::Deserialize;

use super::fingerprint::{fnv1a, Prehashed, FNV_OFFSET};
use super::labels::{LabelSet, Pair};

/// Longer strings (descriptions, URLs) are rarely repeated: they are not interned.
const MAX_INTERNED_LEN: usize = 64;
/// Per thread. A full table drops the strings no alert uses any more; while it stays full, new
/// strings are allocated without interning, and the next purge waits until another quarter
/// table of them went by, so high-cardinality values (a fresh id per alert) cost amortized
/// constant time rather than a scan per string.
const MAX_PER_THREAD: usize = 1 << 17;
/// A table also drops what nobody uses whenever it has doubled since the last purge (and holds
/// at least this many): as new alerts come, the strings of alerts that left or changed since
/// (the first annotations of one whose annotations change every evaluation) go, instead of
/// staying until the table is full.
const MIN_PURGE_AT: usize = 4096;

/// FNV-1a: a few nanoseconds for a short label string, where SipHash costs several times that.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let start = if self.0 == 0 { FNV_OFFSET } else { self.0 };
        self.0 = fnv1a(start, bytes);
    }
}

#[derive(Default)]
struct Table {
    strings: HashSet<Arc<str>, BuildHasherDefault<Fnv>>,
    growth: Growth,
}

/// When a table purges next.
#[derive(Default)]
struct Growth {
    /// Entries not taken in since the last purge because the table was full.
    overflow: usize,
    /// The length at which the table purges before taking more.
    purge_at: usize,
}

/// Annotation sets by a hash of their content. A hash shared by two sets keeps the later one;
/// lookups compare content, so that only costs sharing.
#[derive(Default)]
struct SetTable {
    sets: HashMap<u64, LabelSet, Prehashed>,
    growth: Growth,
}

thread_local! {
    static TABLE: RefCell<Table> = RefCell::new(Table::default());
    static SETS: RefCell<SetTable> = RefCell::new(SetTable::default());
}

/// Whether a table of `len` entries may take one more. A table drops what nobody else holds
/// (`purge` does, and returns the length left) when it has doubled since its last purge, and
/// a full one at most once per quarter table of entries turned away meanwhile: each purge
/// scans a table that took at least as many entries since the last one.
fn has_room(len: usize, growth: &mut Growth, purge: impl FnOnce() -> usize) -> bool {
    if len < MAX_PER_THREAD && len < growth.purge_at {
        return true;
    }
    if len >= MAX_PER_THREAD {
        growth.overflow += 1;
        if growth.overflow < MAX_PER_THREAD / 4 {
            return false;
        }
        growth.overflow = 0;
    }
    let left = purge();
    growth.purge_at = (left * 2).max(MIN_PURGE_AT);
    left < MAX_PER_THREAD
}

/// The shared copy of `s` (a new allocation for a long string).
pub fn intern(s: &str) -> Arc<str> {
    intern_up_to(s, MAX_INTERNED_LEN)
}

/// Like [`intern`] for longer strings known to repeat, such as the generator URL every alert
/// of one alerting rule carries.
pub fn intern_up_to(s: &str, max_len: usize) -> Arc<str> {
    if s.len() > max_len {
        return Arc::from(s);
    }
    TABLE.with(|table| {
        let mut table = table.borrow_mut();
        if let Some(found) = table.strings.get(s) {
            return found.clone();
        }
        let new: Arc<str> = Arc::from(s);
        let Table { strings, growth } = &mut *table;
        let room = has_room(strings.len(), growth, || {
            strings.retain(|s| Arc::strong_count(s) > 1);
            strings.len()
        });
        if room {
            strings.insert(new.clone());
        }
        new
    })
}

/// The shared set of `pairs`, which must be sorted by name with each name once; `hash` is any
/// hash of their content. A set this thread has not seen is built from interned strings and
/// kept for the next time.
pub fn shared_set<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)], hash: u64) -> LabelSet {
    SETS.with(|table| {
        let mut table = table.borrow_mut();
        if let Some(found) = table.sets.get(&hash).filter(|set| set.equals_pairs(pairs)) {
            return found.clone();
        }
        let set = interned_set(pairs);
        let SetTable { sets, growth } = &mut *table;
        let room = has_room(sets.len(), growth, || {
            sets.retain(|_, set| set.is_shared());
            sets.len()
        });
        if room {
            sets.insert(hash, set.clone());
        }
        set
    })
}

/// A new set of `pairs` (sorted by name, each name once), its strings interned.
pub fn interned_set<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> LabelSet {
    let built: Vec<Pair> = pairs
        .iter()
        .map(|(k, v)| (intern(k.as_ref()), intern(v.as_ref())))
        .collect();
    LabelSet::from_sorted_unique(built)
}

/// A string deserialized through the interner.
pub struct Str(pub Arc<str>);

impl<'de> Deserialize<'de> for Str {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Interned;
        impl Visitor<'_> for Interned {
            type Value = Str;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Str, E> {
                Ok(Str(intern(s)))
            }
        }
        deserializer.deserialize_str(Interned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_short_strings_share_one_copy() {
        let a = intern("interning-test-value");
        let b = intern("interning-test-value");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(Arc::strong_count(&a), 3, "a, b and the table");
        let long = "x".repeat(MAX_INTERNED_LEN + 1);
        assert!(!Arc::ptr_eq(&intern(&long), &intern(&long)));
    }

    #[test]
    fn equal_annotations_share_one_set() {
        let decode = |json| serde_json::from_str::<super::super::PostedPairs>(json).unwrap();
        let a = decode(r#"{"summary":"SetTest","runbook":"x"}"#).to_set(None);
        let b = decode(r#"{"runbook":"x","summary":"SetTest"}"#).to_set(None);
        assert_eq!(a, b);
        assert!(a.is_shared(), "held by a, b and the table");
        let c = decode(r#"{"summary":"SetTest","runbook":"y"}"#).to_set(None);
        assert_ne!(a, c);
        assert_eq!(c.get("runbook"), Some("y"));
    }

    #[test]
    fn a_full_set_table_keeps_working_and_purges_what_is_unused() {
        for i in 0..MAX_PER_THREAD + MAX_PER_THREAD / 2 {
            shared_set(&[("unique_set", i.to_string())], i as u64);
        }
        let kept = shared_set(&[("kept", "after-purge")], 1);
        assert_eq!(kept, shared_set(&[("kept", "after-purge")], 1));
        assert!(kept.is_shared());
        SETS.with(|t| assert!(t.borrow().sets.len() < MAX_PER_THREAD, "purged"));
    }

    #[test]
    fn a_full_table_keeps_working_and_purges_what_is_unused() {
        // Fill this thread's table with strings nobody keeps, then go past it.
        for i in 0..MAX_PER_THREAD + MAX_PER_THREAD / 2 {
            intern(&format!("unique-{i}"));
        }
        let kept = intern("kept-after-purge");
        assert!(Arc::ptr_eq(&kept, &intern("kept-after-purge")));
        TABLE.with(|t| assert!(t.borrow().strings.len() < MAX_PER_THREAD, "purged"));
    }

    #[test]
    fn strings_nobody_holds_are_dropped_long_before_the_table_is_full() {
        // On a thread of its own: the table starts empty.
        std::thread::spawn(|| {
            let held: Vec<Arc<str>> = (0..100).map(|i| intern(&format!("held-{i}"))).collect();
            for i in 0..MIN_PURGE_AT * 8 {
                intern(&format!("dropped-{i}"));
            }
            let len = TABLE.with(|t| t.borrow().strings.len());
            assert!(
                len <= MIN_PURGE_AT * 2,
                "{len} strings kept, most held by nobody"
            );
            for s in &held {
                assert!(Arc::ptr_eq(s, &intern(s)), "a string in use stays shared");
            }
        })
        .join()
        .unwrap();
    }
}
