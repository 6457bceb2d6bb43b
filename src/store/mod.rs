//! In-memory state: the alerts the router knows and the silences, with the ports through which
//! a state backend (`crate::state`) keeps them.

mod alerts;
mod port;
mod silences;

pub use alerts::{AlertStore, Put, Save};
pub use port::{AlertLog, Pending, StoreError};
pub use silences::{
    Silence, SilenceError, SilenceMatcher, SilencePersistence, SilenceState, Silences,
};

/// How many independently locked shards a map is split into, so concurrent requests rarely
/// wait on each other.
pub(crate) const SHARDS: usize = 32;

pub(crate) fn shard_of(hash: u64) -> usize {
    // Fingerprints are FNV hashes: the high bits are as well mixed as the low ones.
    (hash >> 59) as usize % SHARDS
}
