//! State backends: where the in-memory state is kept across restarts. Each aggregate's owner
//! defines the port it needs ([`AlertLog`], [`SilencePersistence`], [`NflogStore`],
//! [`IncidentStore`], [`ScheduleStore`]); a backend implements them all:
//!
//! - [`embedded`]: a redb file behind a write-ahead log under `--storage.path`, the default;
//! - [`memory`]: everything in memory, for `--storage.durability none` and tests.
//!
//! One conformance suite (`conformance.rs`) runs against both.

pub mod embedded;
mod health;
pub mod memory;

#[cfg(test)]
mod conformance;

use std::sync::Arc;

use crate::dispatch::{GroupSchedule, ScheduleStore};
use crate::escalate::IncidentStore;
use crate::model::Alert;
use crate::notify::{NflogEntry, NflogKey, NflogStore};
use crate::store::{AlertLog, Pending, Silence, SilencePersistence, StoreError};

pub use health::{HealthReport, StorageHealth, StorePart};

/// Everything a backend hands back at start-up.
#[derive(Default)]
pub struct Recovered {
    pub silences: Vec<Silence>,
    pub alerts: Vec<Alert>,
    pub nflog: Vec<(NflogKey, NflogEntry)>,
    pub groups: Vec<(String, GroupSchedule)>,
    /// Encoded incidents, for the escalator to decode.
    pub incidents: Vec<Vec<u8>>,
}

/// A backend: every port, plus what the router needs of the whole.
pub trait StateBackend:
    AlertLog + SilencePersistence + NflogStore + IncidentStore + ScheduleStore
{
    /// What was kept, read back.
    fn recover(&self) -> Result<Recovered, StoreError>;
    /// Whether writes succeed, for `/-/ready` and `/metrics`.
    fn health(&self) -> Arc<StorageHealth>;
    /// Resolves once everything queued so far is durable (at shutdown).
    fn flush(&self) -> Pending<'_, Result<(), StoreError>>;
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
