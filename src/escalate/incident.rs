//! One incident: an aggregation group's firing episode, its escalation position and its
//! timeline. Saved as JSON in the state file and shown as JSON by the incidents API.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::policy::StepPosition;
use crate::model::time::Timestamp;
use crate::model::LabelSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IncidentState {
    Triggered,
    Acknowledged,
    Resolved,
}

impl IncidentState {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentState::Triggered => "triggered",
            IncidentState::Acknowledged => "acknowledged",
            IncidentState::Resolved => "resolved",
        }
    }

    pub const ALL: [IncidentState; 3] = [
        IncidentState::Triggered,
        IncidentState::Acknowledged,
        IncidentState::Resolved,
    ];
}

impl std::str::FromStr for IncidentState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        IncidentState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown state {s:?} (triggered, acknowledged or resolved)"))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimelineEntry {
    pub at: Timestamp,
    /// triggered, escalated, step_skipped, step_failed, alerts_joined, acknowledged,
    /// unacknowledged, resolved, exhausted.
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<StepPosition>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub receivers: Vec<String>,
}

impl TimelineEntry {
    pub fn new(at: Timestamp, event: &str) -> TimelineEntry {
        TimelineEntry {
            at,
            event: event.into(),
            by: None,
            comment: None,
            step: None,
            receivers: Vec::new(),
        }
    }
}

/// A long-repeating policy must not grow an incident without bound: the oldest entries after
/// the first go once the timeline holds this many.
const MAX_TIMELINE: usize = 200;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Incident {
    pub id: String,
    pub group_key: String,
    pub group_labels: LabelSet,
    /// The route's own receiver.
    pub receiver: String,
    pub policy: String,
    pub state: IncidentState,
    /// The highest `priority` label (P0 first) among its alerts, if they carry one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    pub opened_at: Timestamp,
    /// Step delays count from here: the opening, or the re-arming after an unacknowledge.
    pub armed_at: Timestamp,
    /// The next step to page, and when; `None` once acknowledged, resolved or exhausted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_step: Option<StepPosition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_escalation_at: Option<Timestamp>,
    /// The last step paged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_step: Option<StepPosition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<Timestamp>,
    /// Fingerprints (hex) of the alerts that fired in this episode.
    pub alerts: BTreeSet<String>,
    /// Receivers paged by a step so far.
    pub notified: BTreeSet<String>,
    /// True while the group's firing episode lasts; a manually resolved incident stays the
    /// group's incident until its alerts resolve, so it is not opened again at once.
    pub episode_open: bool,
    pub timeline: Vec<TimelineEntry>,
}

impl Incident {
    pub fn record(&mut self, entry: TimelineEntry) {
        if self.timeline.len() >= MAX_TIMELINE {
            self.timeline.remove(1);
        }
        self.timeline.push(entry);
    }

    /// Every receiver this incident concerns: the route's and those paged.
    pub fn involves(&self, receiver: &str) -> bool {
        self.receiver == receiver || self.notified.contains(receiver)
    }
}

/// The highest priority (`P0` before `P1`) among the labels, if any carries one.
pub fn highest_priority<'a>(labels: impl Iterator<Item = &'a LabelSet>) -> Option<String> {
    labels
        .filter_map(|l| l.get("priority"))
        .min()
        .map(|p| p.to_string())
}
