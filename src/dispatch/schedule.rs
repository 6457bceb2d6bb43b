//! Aggregation group schedules, kept so a restart resumes each group's rhythm instead of
//! waiting `group_wait` again.

use serde::{Deserialize, Serialize};

use crate::model::time::Timestamp;

/// An aggregation group's schedule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GroupSchedule {
    pub has_flushed: bool,
    pub next_flush: Timestamp,
}

/// Where group schedules are kept. Saves are queued in call order; a lost one only makes a
/// group wait its group_wait or group_interval again.
pub trait ScheduleStore: Send + Sync {
    fn save_schedule(&self, group_key: String, schedule: GroupSchedule);
    fn delete_schedule(&self, group_key: String);
}
