use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use crate::model::{Alert, Fingerprint, LabelSet, Prehashed};

pub struct AggrGroup {
    pub labels: LabelSet,
    /// `<route key>:<group labels>`, Alertmanager's groupKey.
    pub key: String,
    pub alerts: HashMap<Fingerprint, Held, Prehashed>,
    pub has_flushed: bool,
    /// The deadline in the heap that counts; `None` while a flush is under way.
    pub next_flush: Option<Instant>,
}

/// What a group holds of one of its alerts.
///
/// The store has the latest version of every alert a group holds (garbage collection keeps
/// them), so a group keeps only the labels it took the alert in with. Holding the version
/// itself would keep every superseded version alive: an alert whose annotations change on
/// every evaluation would cost its memory twice.
pub enum Held {
    /// The store's version counts while it carries these labels.
    Live(LabelSet),
    /// The alert's labels changed since (classification moved it to other groups): this
    /// group keeps the last version it had, which it still notifies (until it resolves).
    Retired(Arc<Alert>),
}

impl AggrGroup {
    pub fn new(labels: LabelSet, key: String, first_flush: Instant) -> AggrGroup {
        AggrGroup {
            labels,
            key,
            alerts: HashMap::default(),
            has_flushed: false,
            next_flush: Some(first_flush),
        }
    }
}
