use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use crate::model::{Alert, Fingerprint, LabelSet, Prehashed};

pub struct AggrGroup {
    pub labels: LabelSet,
    /// `<route key>:<group labels>`, Alertmanager's groupKey.
    pub key: String,
    /// Shared with the store: a group holds a reference, not a copy. The store may have a newer
    /// version (see `Dispatcher::latest`).
    pub alerts: HashMap<Fingerprint, Arc<Alert>, Prehashed>,
    pub has_flushed: bool,
    /// The deadline in the heap that counts; `None` while a flush is under way.
    pub next_flush: Option<Instant>,
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
