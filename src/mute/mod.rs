//! Everything that keeps an alert from being notified: silences (stored in `store`), inhibit
//! rules and time intervals. The notification pipeline asks here before any integration runs,
//! and the API asks here to show an alert's state.

mod inhibit;
pub mod time_interval;

use std::sync::Arc;

use crate::model::time::Timestamp;
use crate::model::{Fingerprint, LabelSet};
use crate::store::Silences;

pub use inhibit::Inhibitor;
pub use time_interval::{SpecError, TimeIntervalError, TimeIntervals};

/// Why an alert is muted right now; empty lists mean it is active.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MuteStatus {
    pub silenced_by: Vec<String>,
    pub inhibited_by: Vec<Fingerprint>,
}

impl MuteStatus {
    pub fn is_suppressed(&self) -> bool {
        !self.silenced_by.is_empty() || !self.inhibited_by.is_empty()
    }
}

/// The three mute sources of one loaded config.
pub struct Muter {
    pub silences: Arc<Silences>,
    pub inhibitor: Arc<Inhibitor>,
    pub intervals: Arc<TimeIntervals>,
}

impl Muter {
    pub fn status(&self, labels: &LabelSet, now: Timestamp) -> MuteStatus {
        MuteStatus {
            silenced_by: self.silences.mutes(labels, now),
            inhibited_by: self.inhibitor.mutes(labels, now).into_iter().collect(),
        }
    }

    /// Whether a route's time intervals mute its groups at `now`: inside any of its
    /// `mute_time_intervals`, or outside all of its `active_time_intervals`.
    pub fn route_muted(&self, mute: &[String], active: &[String], now: Timestamp) -> bool {
        if !active.is_empty() && !active.iter().any(|name| self.intervals.contains(name, now)) {
            return true;
        }
        mute.iter().any(|name| self.intervals.contains(name, now))
    }
}
