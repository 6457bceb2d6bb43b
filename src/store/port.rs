//! The seam between in-memory state and where it is kept. Each aggregate's owner defines the
//! trait it needs (alerts and silences here, the notification log in `notify`, incidents in
//! `escalate`, group schedules in `dispatch`); a state backend (`crate::state`) implements them
//! all. Saves that an acknowledgement depends on return a future that resolves once the save
//! is as durable as the backend promises; the rest are queued in call order.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use thiserror::Error;

use crate::model::{Alert, Fingerprint};

/// A save under way.
pub type Pending<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StoreError {
    /// The backend's writer has stopped (the process is shutting down).
    #[error("the state writer has stopped")]
    Stopped,
    /// The write reached the backend and failed there (a full disk, an I/O error).
    #[error("{0}")]
    Failed(String),
    #[error("encoding {what}: {reason}")]
    Encode { what: &'static str, reason: String },
}

/// Where alerts are kept across restarts.
pub trait AlertLog: Send + Sync {
    /// Saves these versions; resolves once they are durable (what a 2xx needs).
    fn save_alerts(&self, alerts: Vec<Arc<Alert>>) -> Pending<'_, Result<(), StoreError>>;
    /// Queues these versions before it returns, after every write queued before the call and
    /// before every write queued after it, whatever the durability; the future resolves once
    /// they are committed. The deferred writes of [`crate::store::Save::Soon`] go this way,
    /// queued under the store's lock so no later version of an alert can overtake them.
    fn queue_alerts(&self, alerts: Vec<Arc<Alert>>) -> Pending<'static, Result<(), StoreError>>;
    /// Whether saved alerts are kept at all (not with `--storage.durability none`, where
    /// ingest then skips the bookkeeping of what is saved).
    fn keeps_alerts(&self) -> bool {
        true
    }
    /// Forgets alerts the router has dropped.
    fn delete_alerts(&self, fingerprints: Vec<Fingerprint>);
}
