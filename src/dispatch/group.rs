use std::cmp::Ordering;
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

/// Alertmanager's alert order in notifications: by `job`, then `instance` (alerts with the
/// label first), then by the whole label set.
pub fn sort_for_notification(alerts: &mut [Alert]) {
    alerts.sort_by(|a, b| {
        for key in ["job", "instance"] {
            match (a.labels.get(key), b.labels.get(key)) {
                (None, None) => continue,
                (None, Some(_)) => return Ordering::Greater,
                (Some(_), None) => return Ordering::Less,
                (Some(x), Some(y)) if x != y => return x.cmp(y),
                _ => {}
            }
        }
        if a.labels.before(&b.labels) {
            Ordering::Less
        } else if b.labels.before(&a.labels) {
            Ordering::Greater
        } else {
            Ordering::Equal
        }
    });
}
