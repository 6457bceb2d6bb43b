//! In-memory state: the alerts the router knows, and the notification log that keeps a page from
//! being sent twice.

mod alerts;
mod health;
mod log;
mod manifest;
mod nflog;
mod silences;
mod state;

pub use alerts::{AlertStore, Put};
pub use health::{HealthReport, StorageHealth, StorePart};
pub use nflog::{NflogEntry, NflogKey, NotificationLog};
pub use silences::{
    Silence, SilenceError, SilenceMatcher, SilencePersistence, SilenceState, Silences,
};
pub use state::{
    Durability, GroupSchedule, Persister, Recovered, StateDb, StateError, Write, STATE_FILE,
};

/// How many independently locked shards a map is split into, so concurrent requests rarely
/// wait on each other.
pub(crate) const SHARDS: usize = 32;

pub(crate) fn shard_of(hash: u64) -> usize {
    // Fingerprints are FNV hashes: the high bits are as well mixed as the low ones.
    (hash >> 59) as usize % SHARDS
}
