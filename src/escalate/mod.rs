//! Escalation: an incident per aggregation group firing episode, paged step after step by its
//! route's policy until a human acknowledges it or its alerts resolve.
//!
//! The escalator only decides. When a step comes due, or an incident is acknowledged or
//! resolved, it hands an [`Action`] to a channel; `App` delivers it through the receivers of the
//! running config and reports back with [`Escalator::step_done`]. Step deadlines are entries in
//! one deadline heap (100k open incidents are 100k heap entries, no tasks) and are saved with
//! the incident as wall-clock times, so a restart resumes every escalation at its original
//! time, or at once if that time passed while the router was down.

pub mod deliver;
mod incident;
mod link;
mod policy;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use thiserror::Error;
use tokio::sync::mpsc;

use crate::leases::Leases;
use crate::model::time::Timestamp;
use crate::model::{Alert, LabelSet};
use crate::store::{Pending, StoreError};
use crate::timers::DeadlineHeap;

pub use incident::{Incident, IncidentState, TimelineEntry};

/// Where incidents are kept, encoded by the escalator, with their next escalation time. Saves
/// are queued in call order.
pub trait IncidentStore: Send + Sync {
    fn save_incident(&self, id: String, encoded: Vec<u8>);
    fn delete_incidents(&self, ids: Vec<String>);
    /// Resolves once every save queued so far is durable.
    fn incidents_saved(&self) -> Pending<'_, Result<(), StoreError>>;
}
pub use crate::config::EscalateUntil;
pub use link::{AckLinks, LinkError};
pub use policy::{Policies, Policy, PolicyError, Step, StepPosition, RUNBOOK_POLICY_PREFIX};

#[derive(Debug, Error, PartialEq)]
pub enum IncidentError {
    #[error("incident {0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
}

/// Work for the deliverer.
#[derive(Debug, Clone)]
pub enum Action {
    /// Page a step's receivers with the incident's alerts that still fire.
    Page {
        incident: String,
        group_key: String,
        group_labels: LabelSet,
        policy: String,
        position: StepPosition,
        step: Step,
        alerts: Vec<String>,
    },
    /// Tell the receivers paged so far that the incident was acknowledged or resolved:
    /// PagerDuty `acknowledge` / `resolve`, and with `notice` a Slack and email notice.
    Tell {
        update: Update,
        incident: String,
        group_key: String,
        group_labels: LabelSet,
        receivers: Vec<String>,
        /// Who acted; `None` when the incident resolved because its alerts did.
        by: Option<String>,
        comment: Option<String>,
        notice: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Update {
    Acknowledged,
    Resolved,
}

impl Update {
    /// PagerDuty's `event_action`.
    pub fn event_action(self) -> &'static str {
        match self {
            Update::Acknowledged => "acknowledge",
            Update::Resolved => "resolve",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Update::Acknowledged => "acknowledged",
            Update::Resolved => "resolved",
        }
    }
}

/// What became of a paged step.
#[derive(Debug, Clone, PartialEq)]
pub enum StepOutcome {
    Paged {
        delivered: Vec<String>,
        failed: Vec<(String, String)>,
    },
    /// The step's time intervals are not active now.
    Inactive,
    /// Every alert still firing is silenced or inhibited.
    Muted,
    /// None of the incident's alerts fires any more.
    NothingFiring,
}

/// Wall-clock time for incidents and the matching instants for the heap. Tests run it on
/// tokio's paused clock, so hours of escalation pass in milliseconds.
#[derive(Clone, Copy)]
pub enum Clock {
    System,
    /// Wall time advances with tokio's (possibly paused) clock from this base.
    Tokio {
        base: tokio::time::Instant,
        base_wall: Timestamp,
    },
}

impl Clock {
    pub fn tokio() -> Clock {
        Clock::Tokio {
            base: tokio::time::Instant::now(),
            base_wall: chrono::Utc::now(),
        }
    }

    pub fn now(&self) -> Timestamp {
        match self {
            Clock::System => chrono::Utc::now(),
            Clock::Tokio { base, base_wall } => {
                *base_wall
                    + chrono::Duration::from_std(base.elapsed()).unwrap_or(chrono::Duration::MAX)
            }
        }
    }

    /// The heap instant of a wall-clock time (now for a past one).
    fn instant_of(&self, at: Timestamp) -> Instant {
        let wait = (at - self.now()).to_std().unwrap_or_default();
        tokio::time::Instant::now().into_std() + wait
    }
}

fn after(at: Timestamp, d: Duration) -> Timestamp {
    at + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[derive(Default)]
struct Book {
    incidents: HashMap<String, Incident>,
    /// The incident of each group's current firing episode.
    by_group: HashMap<String, String>,
}

/// The flush a group just made, as the escalator sees it.
pub struct GroupFlush<'a> {
    pub group_key: &'a str,
    pub group_labels: &'a LabelSet,
    pub receiver: &'a str,
    /// The route's policy, if it has one.
    pub policy: Option<&'a str>,
    /// Firing alerts that no silence, inhibition or time interval mutes.
    pub firing: &'a [Alert],
    /// Whether any alert of the group fires, muted or not.
    pub any_firing: bool,
}

pub struct Escalator {
    policies: RwLock<Arc<Policies>>,
    book: Mutex<Book>,
    /// Keyed by the incident id read as a number (the heap needs `Copy` items).
    timers: DeadlineHeap<u64>,
    clock: Clock,
    saved: Arc<dyn IncidentStore>,
    leases: Arc<dyn Leases>,
    actions: mpsc::UnboundedSender<Action>,
    links: Option<AckLinks>,
}

impl Escalator {
    pub fn new(
        clock: Clock,
        saved: Arc<dyn IncidentStore>,
        leases: Arc<dyn Leases>,
        links: Option<AckLinks>,
    ) -> (Arc<Escalator>, mpsc::UnboundedReceiver<Action>) {
        let (actions, rx) = mpsc::unbounded_channel();
        let escalator = Arc::new(Escalator {
            policies: RwLock::new(Arc::new(Policies::default())),
            book: Mutex::new(Book::default()),
            timers: DeadlineHeap::new(),
            clock,
            saved,
            leases,
            actions,
            links,
        });
        for state in IncidentState::ALL {
            metrics::gauge!("alert_router_incidents", "state" => state.as_str()).set(0.0);
        }
        (escalator, rx)
    }

    pub fn set_policies(&self, policies: Arc<Policies>) {
        *self.policies.write() = policies;
    }

    pub fn links(&self) -> Option<&AckLinks> {
        self.links.as_ref()
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Starts the timer loop; it runs for the life of the process.
    pub fn start(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(me) = weak.upgrade() else { return };
                // Do not keep the escalator alive only for the wait.
                let due = me.timers.wait_due_within(Duration::from_secs(60)).await;
                for (_, key) in due {
                    me.fire(key);
                }
            }
        })
    }

    fn schedule(&self, id: &str, at: Timestamp) {
        match u64::from_str_radix(id, 16) {
            Ok(key) => self.timers.push(self.clock.instant_of(at), key),
            Err(_) => tracing::error!(
                incident = id,
                "incident id is not 16 hex digits; its escalation cannot be scheduled"
            ),
        }
    }

    /// Saves an incident (call under the book lock, so saves reach the writer in order).
    fn save(&self, incident: &Incident) {
        match serde_json::to_vec(incident) {
            Ok(json) => self.saved.save_incident(incident.id.clone(), json),
            Err(e) => tracing::error!(error = %e, "could not encode incident"),
        }
    }

    /// Waits until what was saved so far is durable.
    async fn saved(&self) {
        if let Err(e) = self.saved.incidents_saved().await {
            tracing::error!(error = %e, "could not save incidents");
        }
    }

    fn send(&self, action: Action) {
        if self.actions.send(action).is_err() {
            tracing::error!("incident deliverer has stopped");
        }
    }

    /// Opens, updates or ends the group's incident after a flush; returns the incident id
    /// while it is open, for the acknowledge link in the flush's notifications.
    pub fn observe(&self, flush: &GroupFlush) -> Option<String> {
        let now = self.clock.now();
        let policies = self.policies.read().clone();
        let mut book = self.book.lock();
        if let Some(id) = book.by_group.get(flush.group_key).cloned() {
            let Book {
                incidents,
                by_group,
            } = &mut *book;
            let incident = incidents.get_mut(&id)?;
            if !flush.any_firing {
                by_group.remove(flush.group_key);
                incident.episode_open = false;
                if incident.state != IncidentState::Resolved {
                    let mut entry = TimelineEntry::new(now, "resolved");
                    entry.comment = Some("every alert resolved".into());
                    let action = self.resolve_locked(incident, entry, None, None);
                    self.send(action);
                }
                self.save(incident);
                return None;
            }
            let new: Vec<String> = flush
                .firing
                .iter()
                .map(|a| a.fingerprint.to_string())
                .filter(|fp| !incident.alerts.contains(fp))
                .collect();
            if !new.is_empty() {
                incident.alerts.extend(new.iter().cloned());
                let fresh = incident::highest_priority(flush.firing.iter().map(|a| &a.labels));
                incident.priority = incident.priority.take().into_iter().chain(fresh).min();
                let mut entry = TimelineEntry::new(now, "alerts_joined");
                entry.comment = Some(format!("{} new alert(s)", new.len()));
                incident.record(entry);
                let reescalate = policies
                    .get(&incident.policy)
                    .is_some_and(|p| p.reescalate_on_new_alerts);
                if incident.state == IncidentState::Acknowledged && reescalate {
                    self.rearm(incident, now, "new alerts joined", None);
                }
                self.save(incident);
            }
            return (incident.state != IncidentState::Resolved).then_some(id);
        }
        let policy = policies.get(flush.policy?)?;
        if flush.firing.is_empty() {
            return None;
        }
        // The same id on every replica that opens this episode (HA): the group and the start
        // of its earliest firing alert, both the same wherever Prometheus sent them.
        let mut id = episode_id(flush.group_key, flush.firing);
        if book.incidents.contains_key(&id) {
            id = new_incident_id();
        }
        let first = StepPosition { round: 0, step: 0 };
        let due = after(now, policy.offset(first).unwrap_or_default());
        let mut incident = Incident {
            id: id.clone(),
            group_key: flush.group_key.to_string(),
            group_labels: flush.group_labels.clone(),
            receiver: flush.receiver.to_string(),
            policy: policy.name.clone(),
            state: IncidentState::Triggered,
            priority: incident::highest_priority(flush.firing.iter().map(|a| &a.labels)),
            opened_at: now,
            armed_at: now,
            next_step: Some(first),
            next_escalation_at: Some(due),
            last_step: None,
            acknowledged_at: None,
            acknowledged_by: None,
            resolved_at: None,
            alerts: flush
                .firing
                .iter()
                .map(|a| a.fingerprint.to_string())
                .collect(),
            notified: BTreeSet::new(),
            episode_open: true,
            timeline: Vec::new(),
        };
        incident.record(TimelineEntry::new(now, "triggered"));
        self.save(&incident);
        count_state(None, Some(IncidentState::Triggered));
        book.by_group
            .insert(flush.group_key.to_string(), id.clone());
        book.incidents.insert(id.clone(), incident);
        drop(book);
        self.schedule(&id, due);
        tracing::info!(incident = %id, group_key = flush.group_key, policy = %policy.name, "incident opened");
        Some(id)
    }

    /// A step deadline came: page the step and move the incident on to the next one.
    fn fire(&self, key: u64) {
        let id = format!("{key:016x}");
        let now = self.clock.now();
        let policies = self.policies.read().clone();
        let mut book = self.book.lock();
        let Some(incident) = book.incidents.get_mut(&id) else {
            return;
        };
        let (Some(position), Some(due)) = (incident.next_step, incident.next_escalation_at) else {
            return;
        };
        // A deadline moved later (re-armed) leaves its old heap entry behind: not due yet.
        if incident.state == IncidentState::Resolved || due > now {
            return;
        }
        let acknowledged = incident.state == IncidentState::Acknowledged;
        if acknowledged
            && policies
                .get(&incident.policy)
                .and_then(|p| p.steps.get(position.step))
                .is_none_or(|s| s.until != EscalateUntil::Resolved)
        {
            return;
        }
        if !self.leases.may_escalate(&incident.group_key) {
            // Another replica pages this incident; look again later, in case it is gone.
            self.schedule(&id, now + chrono::Duration::seconds(LEASE_RECHECK_SECS));
            return;
        }
        let Some(policy) = policies.get(&incident.policy) else {
            let mut entry = TimelineEntry::new(now, "exhausted");
            entry.comment = Some(format!(
                "policy {:?} is no longer configured",
                incident.policy
            ));
            incident.record(entry);
            incident.next_step = None;
            incident.next_escalation_at = None;
            self.save(incident);
            return;
        };
        let Some(step) = policy.steps.get(position.step).cloned() else {
            incident.next_step = None;
            incident.next_escalation_at = None;
            self.save(incident);
            return;
        };
        incident.last_step = Some(position);
        incident.next_step = policy.next(position);
        if acknowledged {
            incident.next_step = policy.next_despite_ack(incident.next_step);
        }
        incident.next_escalation_at = incident
            .next_step
            .and_then(|n| policy.offset(n))
            .map(|d| after(incident.armed_at, d));
        metrics::counter!("alert_router_escalation_steps_total", "policy" => policy.name.clone())
            .increment(1);
        let action = Action::Page {
            incident: id.clone(),
            group_key: incident.group_key.clone(),
            group_labels: incident.group_labels.clone(),
            policy: policy.name.clone(),
            position,
            step,
            alerts: incident.alerts.iter().cloned().collect(),
        };
        let next = incident.next_escalation_at;
        // Not saved here: the advance is saved once the page is out (`step_done`), so a crash
        // while paging pages again after the restart rather than never.
        drop(book);
        if let Some(at) = next {
            self.schedule(&id, at);
        }
        self.send(action);
    }

    /// Records what a page did, and saves the incident's advance.
    pub async fn step_done(&self, incident: &str, position: StepPosition, outcome: StepOutcome) {
        let now = self.clock.now();
        let mut resolved = None;
        {
            let mut book = self.book.lock();
            let Some(inc) = book.incidents.get_mut(incident) else {
                return;
            };
            let mut entry = TimelineEntry::new(now, "escalated");
            entry.step = Some(position);
            match outcome {
                StepOutcome::Paged { delivered, failed } => {
                    inc.notified.extend(delivered.iter().cloned());
                    entry.receivers = delivered;
                    if !failed.is_empty() {
                        let mut failure = TimelineEntry::new(now, "step_failed");
                        failure.step = Some(position);
                        failure.comment = Some(
                            failed
                                .iter()
                                .map(|(r, e)| format!("{r}: {e}"))
                                .collect::<Vec<_>>()
                                .join("; "),
                        );
                        failure.receivers = failed.into_iter().map(|(r, _)| r).collect();
                        if !entry.receivers.is_empty() {
                            inc.record(entry);
                        }
                        inc.record(failure);
                    } else {
                        inc.record(entry);
                    }
                }
                StepOutcome::Inactive | StepOutcome::Muted => {
                    entry.event = "step_skipped".into();
                    entry.comment = Some(
                        if outcome == StepOutcome::Inactive {
                            "outside the step's active time intervals"
                        } else {
                            "every firing alert is muted"
                        }
                        .into(),
                    );
                    inc.record(entry);
                }
                StepOutcome::NothingFiring => {
                    if inc.state != IncidentState::Resolved {
                        let mut entry = TimelineEntry::new(now, "resolved");
                        entry.comment = Some("no alert fires any more".into());
                        resolved = Some(self.resolve_locked(inc, entry, None, None));
                    }
                }
            }
            if inc.state == IncidentState::Triggered && inc.next_step.is_none() {
                inc.record(TimelineEntry::new(now, "exhausted"));
            }
            self.save(inc);
        }
        if let Some(action) = resolved {
            self.send(action);
        }
        self.saved().await;
    }

    /// Marks an incident resolved and returns what to tell the receivers.
    fn resolve_locked(
        &self,
        incident: &mut Incident,
        mut entry: TimelineEntry,
        by: Option<String>,
        comment: Option<String>,
    ) -> Action {
        count_state(Some(incident.state), Some(IncidentState::Resolved));
        incident.state = IncidentState::Resolved;
        incident.resolved_at = Some(entry.at);
        incident.next_step = None;
        incident.next_escalation_at = None;
        entry.by = by.clone();
        if comment.is_some() {
            entry.comment = comment.clone();
        }
        incident.record(entry);
        let notice = by.is_some()
            && self
                .policies
                .read()
                .get(&incident.policy)
                .is_some_and(|p| p.notify_acknowledged);
        let receivers = if by.is_some() {
            // Alerts resolving reach the route's receiver through its own flush; a human
            // resolving does not.
            everyone_paged(incident)
        } else {
            let mut paged: Vec<String> = incident.notified.iter().cloned().collect();
            paged.retain(|r| *r != incident.receiver);
            paged
        };
        Action::Tell {
            update: Update::Resolved,
            incident: incident.id.clone(),
            group_key: incident.group_key.clone(),
            group_labels: incident.group_labels.clone(),
            receivers,
            by,
            comment,
            notice,
        }
    }

    /// Re-arms a stopped escalation: the next step comes after the gap the policy puts between
    /// it and the last step paged.
    fn rearm(&self, incident: &mut Incident, now: Timestamp, why: &str, by: Option<String>) {
        count_state(Some(incident.state), Some(IncidentState::Triggered));
        incident.state = IncidentState::Triggered;
        incident.acknowledged_at = None;
        incident.acknowledged_by = None;
        let policies = self.policies.read().clone();
        let mut entry = TimelineEntry::new(now, "unacknowledged");
        entry.by = by;
        entry.comment = Some(why.into());
        incident.record(entry);
        let Some(policy) = policies.get(&incident.policy) else {
            return;
        };
        let (armed, next) = match incident.last_step {
            Some(last) => {
                let elapsed = policy.offset(last).unwrap_or_default();
                (
                    now - chrono::Duration::from_std(elapsed).unwrap_or_default(),
                    policy.next(last),
                )
            }
            None => (now, Some(StepPosition { round: 0, step: 0 })),
        };
        incident.armed_at = armed;
        incident.next_step = next;
        incident.next_escalation_at = next.and_then(|n| policy.offset(n)).map(|d| after(armed, d));
        if let Some(at) = incident.next_escalation_at {
            self.schedule(&incident.id, at);
        }
    }

    /// A human's change: applied to the incident under the book lock and saved; in fsync mode
    /// the answer waits for the commit. Returns the incident as it now is.
    async fn change(
        &self,
        id: &str,
        apply: impl FnOnce(&mut Incident, Timestamp) -> Result<Option<Action>, IncidentError>,
    ) -> Result<Incident, IncidentError> {
        let now = self.clock.now();
        let (snapshot, action) = {
            let mut book = self.book.lock();
            let incident = book
                .incidents
                .get_mut(id)
                .ok_or_else(|| IncidentError::NotFound(id.into()))?;
            let action = apply(incident, now)?;
            self.save(incident);
            (incident.clone(), action)
        };
        self.saved().await;
        if let Some(action) = action {
            self.send(action);
        }
        Ok(snapshot)
    }

    pub async fn acknowledge(
        &self,
        id: &str,
        by: &str,
        comment: Option<String>,
    ) -> Result<Incident, IncidentError> {
        let incident = self
            .change(id, |incident, now| {
                match incident.state {
                    IncidentState::Triggered => {}
                    IncidentState::Acknowledged => {
                        return Err(IncidentError::Conflict(format!(
                            "incident {id} is already acknowledged by {}",
                            incident.acknowledged_by.as_deref().unwrap_or("someone")
                        )))
                    }
                    IncidentState::Resolved => {
                        return Err(IncidentError::Conflict(format!(
                            "incident {id} is resolved"
                        )))
                    }
                }
                count_state(Some(incident.state), Some(IncidentState::Acknowledged));
                incident.state = IncidentState::Acknowledged;
                incident.acknowledged_at = Some(now);
                incident.acknowledged_by = Some(by.into());
                // Steps that escalate "if not resolved" still page; the others stop here.
                let policy = self.policies.read().get(&incident.policy).cloned();
                incident.next_step = policy
                    .as_ref()
                    .and_then(|p| p.next_despite_ack(incident.next_step));
                incident.next_escalation_at = match (&policy, incident.next_step) {
                    (Some(p), Some(n)) => p.offset(n).map(|d| after(incident.armed_at, d)),
                    _ => None,
                };
                if let Some(at) = incident.next_escalation_at {
                    self.schedule(&incident.id, at);
                }
                let mut entry = TimelineEntry::new(now, "acknowledged");
                entry.by = Some(by.into());
                entry.comment = comment.clone();
                incident.record(entry);
                metrics::histogram!("alert_router_incident_time_to_acknowledge_seconds",
                    "policy" => incident.policy.clone())
                .record((now - incident.opened_at).num_milliseconds().max(0) as f64 / 1000.0);
                let notice = self
                    .policies
                    .read()
                    .get(&incident.policy)
                    .is_some_and(|p| p.notify_acknowledged);
                Ok(Some(Action::Tell {
                    update: Update::Acknowledged,
                    incident: id.into(),
                    group_key: incident.group_key.clone(),
                    group_labels: incident.group_labels.clone(),
                    receivers: everyone_paged(incident),
                    by: Some(by.into()),
                    comment,
                    notice,
                }))
            })
            .await?;
        tracing::info!(incident = %id, by, "incident acknowledged");
        Ok(incident)
    }

    pub async fn unacknowledge(
        &self,
        id: &str,
        by: &str,
        comment: Option<String>,
    ) -> Result<Incident, IncidentError> {
        self.change(id, |incident, now| {
            if incident.state != IncidentState::Acknowledged {
                return Err(IncidentError::Conflict(format!(
                    "incident {id} is {}, not acknowledged",
                    incident.state.as_str()
                )));
            }
            let why = comment.as_deref().unwrap_or("unacknowledged");
            self.rearm(incident, now, why, Some(by.into()));
            Ok(None)
        })
        .await
    }

    pub async fn resolve(
        &self,
        id: &str,
        by: &str,
        comment: Option<String>,
    ) -> Result<Incident, IncidentError> {
        self.change(id, |incident, now| {
            if incident.state == IncidentState::Resolved {
                return Err(IncidentError::Conflict(format!(
                    "incident {id} is already resolved"
                )));
            }
            let entry = TimelineEntry::new(now, "resolved");
            Ok(Some(self.resolve_locked(
                incident,
                entry,
                Some(by.into()),
                comment,
            )))
        })
        .await
    }

    pub fn get(&self, id: &str) -> Option<Incident> {
        self.book.lock().incidents.get(id).cloned()
    }

    /// Another replica paged this step of the incident: move on as if this one had, so a
    /// takeover pages the next step at its time and not this one again.
    pub async fn step_paged_elsewhere(
        &self,
        id: &str,
        position: StepPosition,
        receivers: Vec<String>,
    ) {
        let now = self.clock.now();
        let policies = self.policies.read().clone();
        let next = {
            let mut book = self.book.lock();
            let Some(incident) = book.incidents.get_mut(id) else {
                return;
            };
            let behind = incident
                .next_step
                .is_some_and(|n| (n.round, n.step) <= (position.round, position.step));
            let Some(policy) = policies.get(&incident.policy) else {
                return;
            };
            if incident.state == IncidentState::Resolved || !behind {
                return;
            }
            incident.last_step = Some(position);
            incident.next_step = policy.next(position);
            if incident.state == IncidentState::Acknowledged {
                incident.next_step = policy.next_despite_ack(incident.next_step);
            }
            incident.next_escalation_at = incident
                .next_step
                .and_then(|n| policy.offset(n))
                .map(|d| after(incident.armed_at, d));
            incident.notified.extend(receivers.iter().cloned());
            let mut entry = TimelineEntry::new(now, "escalated");
            entry.step = Some(position);
            entry.receivers = receivers;
            entry.comment = Some("paged by another replica".into());
            incident.record(entry);
            self.save(incident);
            incident.next_escalation_at
        };
        if let Some(at) = next {
            self.schedule(id, at);
        }
        self.saved().await;
    }

    /// The incident of a group's current firing episode, if it has one.
    pub fn of_group(&self, group_key: &str) -> Option<Incident> {
        let book = self.book.lock();
        book.by_group
            .get(group_key)
            .and_then(|id| book.incidents.get(id))
            .cloned()
    }

    /// Incidents matching the filters, newest first.
    pub fn list(
        &self,
        state: Option<IncidentState>,
        receiver: Option<&str>,
        priority: Option<&str>,
    ) -> Vec<Incident> {
        let book = self.book.lock();
        let mut out: Vec<Incident> = book
            .incidents
            .values()
            .filter(|i| state.is_none_or(|s| i.state == s))
            .filter(|i| receiver.is_none_or(|r| i.involves(r)))
            .filter(|i| priority.is_none_or(|p| i.priority.as_deref() == Some(p)))
            .cloned()
            .collect();
        out.sort_by(|a, b| b.opened_at.cmp(&a.opened_at).then(a.id.cmp(&b.id)));
        out
    }

    /// The acknowledge link for an incident as sent to `receiver`, when links are configured.
    pub fn ack_link(&self, incident: &str, receiver: &str) -> Option<String> {
        self.links
            .as_ref()
            .map(|l| l.link(incident, receiver, self.clock.now().timestamp()))
    }

    /// Puts incidents read from the state file back, with their timers. Call before `start`.
    pub fn restore(&self, saved: Vec<Vec<u8>>) {
        let mut book = self.book.lock();
        let mut timers = Vec::new();
        for bytes in saved {
            let incident: Incident = match serde_json::from_slice(&bytes) {
                Ok(i) => i,
                Err(e) => {
                    tracing::error!(error = %e, "skipping an unreadable incident in the state file");
                    continue;
                }
            };
            count_state(None, Some(incident.state));
            if incident.episode_open {
                book.by_group
                    .insert(incident.group_key.clone(), incident.id.clone());
            }
            // An acknowledged incident may still have steps that page until it resolves.
            if let (false, Some(at)) = (
                incident.state == IncidentState::Resolved,
                incident.next_escalation_at,
            ) {
                timers.push((incident.id.clone(), at));
            }
            book.incidents.insert(incident.id.clone(), incident);
        }
        drop(book);
        for (id, at) in timers {
            self.schedule(&id, at);
        }
    }

    /// Forgets resolved incidents older than `retention`; returns the writes that delete them.
    pub fn collect_resolved(&self, retention: Duration) -> usize {
        let cutoff = self.clock.now()
            - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
        let mut book = self.book.lock();
        let old: Vec<String> = book
            .incidents
            .values()
            .filter(|i| {
                i.state == IncidentState::Resolved
                    && !i.episode_open
                    && i.resolved_at.is_some_and(|t| t < cutoff)
            })
            .map(|i| i.id.clone())
            .collect();
        for id in &old {
            book.incidents.remove(id);
            count_state(Some(IncidentState::Resolved), None);
        }
        let count = old.len();
        self.saved.delete_incidents(old);
        count
    }
}

/// How often a replica that may not page an incident looks whether it may now.
const LEASE_RECHECK_SECS: i64 = 5;

/// The route's receiver and every receiver a step paged, sorted.
fn everyone_paged(incident: &Incident) -> Vec<String> {
    let mut receivers: Vec<String> = incident.notified.iter().cloned().collect();
    receivers.push(incident.receiver.clone());
    receivers.sort();
    receivers.dedup();
    receivers
}

fn count_state(from: Option<IncidentState>, to: Option<IncidentState>) {
    if let Some(s) = from {
        metrics::gauge!("alert_router_incidents", "state" => s.as_str()).decrement(1.0);
    }
    if let Some(s) = to {
        metrics::gauge!("alert_router_incidents", "state" => s.as_str()).increment(1.0);
    }
}

/// Incident ids are 16 random hex digits, so an id is also its timer's key.
fn episode_id(group_key: &str, firing: &[Alert]) -> String {
    use sha2::{Digest, Sha256};
    let mut digest = Sha256::new();
    digest.update(group_key.as_bytes());
    if let Some(start) = firing.iter().map(|a| a.starts_at).min() {
        digest.update(
            start
                .timestamp_nanos_opt()
                .unwrap_or_default()
                .to_be_bytes(),
        );
    }
    hex::encode(&digest.finalize()[..8])
}

fn new_incident_id() -> String {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    hex::encode(&bytes[..8])
}
