//! Aggregation groups and their timers.
//!
//! Every (route, group labels) pair is one group. Groups do not own a task: one timer loop
//! owns a deadline heap and starts a flush when a group's deadline comes, so 100k groups cost
//! 100k heap entries, not 100k sleeping tasks.

mod group;
mod schedule;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use parking_lot::Mutex;

use crate::escalate::{Escalator, GroupFlush};
use crate::leases::Leases;
use crate::model::{Alert, Fingerprint, LabelSet, Prehashed};
use crate::notify::{FlushContext, Notifier, MIN_FLUSH_TIMEOUT};
use crate::route::{RouteId, RouteTree};
use crate::store::{AlertStore, SHARDS};

pub use crate::model::sort_for_notification;
use crate::timers::DeadlineHeap;
use group::{AggrGroup, Held};
pub use schedule::{GroupSchedule, ScheduleStore};

/// A group is named by its route and the fingerprint of its group labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId {
    pub route: RouteId,
    pub labels: Fingerprint,
}

type Shard = Mutex<HashMap<GroupId, Arc<Mutex<AggrGroup>>, Prehashed>>;

pub struct Dispatcher {
    routes: Arc<RouteTree>,
    /// Where groups read the latest version of the alerts they hold.
    store: Arc<AlertStore>,
    notifier: Arc<Notifier>,
    escalator: Arc<Escalator>,
    schedules: Arc<dyn ScheduleStore>,
    /// Asked before each flush whether this replica may notify the group now.
    leases: Arc<dyn Leases>,
    external_url: String,
    shards: Vec<Shard>,
    timers: DeadlineHeap<GroupId>,
    stopped: AtomicBool,
    group_count: AtomicUsize,
    /// Flushes under way, so shutdown can let them finish.
    in_flight: AtomicUsize,
    idle: tokio::sync::Notify,
}

/// What a dispatcher is built from.
pub struct DispatcherParts {
    pub routes: Arc<RouteTree>,
    /// Where groups read the latest version of the alerts they hold.
    pub store: Arc<AlertStore>,
    pub notifier: Arc<Notifier>,
    pub escalator: Arc<Escalator>,
    pub schedules: Arc<dyn ScheduleStore>,
    pub leases: Arc<dyn Leases>,
    pub external_url: String,
}

/// A read-only view of one group, for `/api/v2/alerts/groups`.
pub struct GroupSnapshot {
    pub labels: LabelSet,
    pub receiver: String,
    pub alerts: Vec<Alert>,
}

impl Dispatcher {
    pub fn new(parts: DispatcherParts) -> Arc<Dispatcher> {
        let DispatcherParts {
            routes,
            store,
            notifier,
            escalator,
            schedules,
            leases,
            external_url,
        } = parts;
        Arc::new(Dispatcher {
            routes,
            store,
            notifier,
            escalator,
            schedules,
            leases,
            external_url,
            shards: (0..SHARDS)
                .map(|_| Mutex::new(HashMap::default()))
                .collect(),
            timers: DeadlineHeap::new(),
            stopped: AtomicBool::new(false),
            group_count: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            idle: tokio::sync::Notify::new(),
        })
    }

    /// Starts the timer loop; it ends after `stop`.
    pub fn start(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move { me.run().await })
    }

    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.timers.wake();
    }

    pub fn group_count(&self) -> usize {
        self.group_count.load(Ordering::Relaxed)
    }

    fn shard(&self, id: &GroupId) -> &Shard {
        let mixed = id.labels.0 ^ (id.route as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        &self.shards[crate::store::shard_of(mixed)]
    }

    /// Puts a (merged) alert into the group of every route it matches.
    pub fn process(&self, alert: &Arc<Alert>) {
        self.process_replacing(alert, None);
    }

    /// Like `process`, for an alert whose labels changed from `replaced`'s: the groups that
    /// held the replaced version keep it as it was (see [`Held::Retired`]) unless the new
    /// version belongs to them too.
    pub fn process_replacing(&self, alert: &Arc<Alert>, replaced: Option<&Arc<Alert>>) {
        if let Some(old) = replaced {
            self.retire(old);
        }
        for route_id in self.routes.match_labels(&alert.labels) {
            let route = self.routes.get(route_id);
            let id = GroupId {
                route: route_id,
                labels: route.group_fingerprint(&alert.labels),
            };
            let mut shard = self.shard(&id).lock();
            let group = shard.entry(id).or_insert_with(|| {
                self.group_count.fetch_add(1, Ordering::Relaxed);
                let labels = route.group_labels(&alert.labels);
                let key = format!("{}:{}", route.key, labels);
                let first_flush = Instant::now() + route.group_wait;
                self.timers.push(first_flush, id);
                Arc::new(Mutex::new(AggrGroup::new(labels, key, first_flush)))
            });
            let mut g = group.lock();
            g.alerts
                .insert(alert.fingerprint, Held::Live(alert.labels.clone()));
            // An alert that started more than group_wait ago has waited long enough: a group
            // that has not flushed yet flushes now rather than delaying a known-old alert.
            if !g.has_flushed && g.next_flush.is_some() {
                let waited =
                    chrono::Duration::from_std(route.group_wait).unwrap_or(chrono::Duration::MAX);
                if alert.starts_at + waited < Utc::now() {
                    let now = Instant::now();
                    g.next_flush = Some(now);
                    self.timers.push(now, id);
                }
            }
        }
    }

    fn retire(&self, old: &Arc<Alert>) {
        for route_id in self.routes.match_labels(&old.labels) {
            let id = GroupId {
                route: route_id,
                labels: self.routes.get(route_id).group_fingerprint(&old.labels),
            };
            let Some(group) = self.shard(&id).lock().get(&id).cloned() else {
                continue;
            };
            let mut g = group.lock();
            if let Some(held) = g.alerts.get_mut(&old.fingerprint) {
                if matches!(held, Held::Live(labels) if *labels == old.labels) {
                    *held = Held::Retired(old.clone());
                }
            }
        }
    }

    async fn run(self: Arc<Self>) {
        loop {
            if self.stopped.load(Ordering::SeqCst) {
                return;
            }
            let due = self.timers.wait_due().await;
            if self.stopped.load(Ordering::SeqCst) {
                return;
            }
            for (at, id) in due {
                self.fire(id, at);
            }
        }
    }

    fn fire(self: &Arc<Self>, id: GroupId, at: Instant) {
        let Some(group) = self.shard(&id).lock().get(&id).cloned() else {
            return;
        };
        let route = self.routes.get(id.route);
        let now = Utc::now();
        let (ctx, alerts) = {
            let mut g = group.lock();
            // A deadline replaced by an earlier one, or a group already flushing, is stale.
            if g.next_flush != Some(at) {
                return;
            }
            g.next_flush = None;
            g.has_flushed = true;
            let started = Instant::now();
            let ctx = FlushContext {
                group_key: g.key.clone(),
                group_labels: g.labels.clone(),
                receiver: route.receiver.clone(),
                repeat_interval: route.repeat_interval,
                now,
                deadline: started + route.group_interval.max(MIN_FLUSH_TIMEOUT),
                external_url: self.external_url.clone(),
                mute_time_intervals: route.mute_time_intervals.clone(),
                active_time_intervals: route.active_time_intervals.clone(),
                route_labels: route.labels.clone(),
                ack_url: None,
            };
            (ctx, self.snapshot(&g))
        };
        let me = self.clone();
        let next_flush = Instant::now() + route.group_interval;
        let policy = route.escalation.clone();
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            let mut ctx = ctx;
            let unmuted = me.notifier.unmuted(&ctx, &alerts);
            let firing: Vec<Alert> = unmuted
                .iter()
                .filter(|a| !a.resolved_at(ctx.now))
                .cloned()
                .collect();
            let incident = me.escalator.observe(&GroupFlush {
                group_key: &ctx.group_key,
                group_labels: &ctx.group_labels,
                receiver: &ctx.receiver,
                policy: policy.as_deref(),
                firing: &firing,
                any_firing: alerts.iter().any(|a| !a.resolved_at(ctx.now)),
            });
            // Every replica keeps the group's incident (its escalation timers are taken over
            // with the group, and it can be acknowledged on any replica); only the group's
            // owner notifies, and pages its steps.
            if !me.leases.may_notify_group(&ctx.group_key) {
                // Another replica notifies this group: keep its rhythm and its alerts, so it
                // can be taken over where it stands.
                me.finish_flush(id, &group, None, next_flush);
                me.flush_done();
                return;
            }
            ctx.ack_url = incident.and_then(|id| me.escalator.ack_link(&id, &ctx.receiver));
            let ctx = Arc::new(ctx);
            let delivery = me.notifier.notify(ctx.clone(), unmuted).await;
            // An endpoint that asked to be called again before the group interval ends (its
            // Retry-After) gets the group's latest state then, not a whole interval later.
            let next_flush = delivery
                .retry_at
                .filter(|_| !delivery.delivered)
                .map_or(next_flush, |at| at.min(next_flush));
            me.finish_flush(
                id,
                &group,
                delivery.delivered.then_some((&ctx, &alerts[..])),
                next_flush,
            );
            me.flush_done();
        });
    }

    fn flush_done(&self) {
        if self.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }

    /// After a flush: forget resolved alerts that were delivered (unless re-sent since), then
    /// either schedule the next flush or drop the group if nothing is left in it.
    fn finish_flush(
        &self,
        id: GroupId,
        group: &Arc<Mutex<AggrGroup>>,
        delivered: Option<(&Arc<FlushContext>, &[Alert])>,
        next_flush: Instant,
    ) {
        let mut shard = self.shard(&id).lock();
        let mut g = group.lock();
        if let Some((ctx, sent)) = delivered {
            for a in sent.iter().filter(|a| a.resolved_at(ctx.now)) {
                let latest = g
                    .alerts
                    .get(&a.fingerprint)
                    .map(|held| self.latest(a.fingerprint, held));
                if latest.is_some_and(|latest| latest.is_none_or(|l| l.updated_at == a.updated_at))
                {
                    g.alerts.remove(&a.fingerprint);
                }
            }
        }
        if g.alerts.is_empty() {
            if shard.get(&id).is_some_and(|cur| Arc::ptr_eq(cur, group)) {
                shard.remove(&id);
                self.group_count.fetch_sub(1, Ordering::Relaxed);
                self.schedules.delete_schedule(g.key.clone());
            }
            return;
        }
        g.next_flush = Some(next_flush);
        let key = g.key.clone();
        drop(g);
        drop(shard);
        self.timers.push(next_flush, id);
        let at = Utc::now()
            + chrono::Duration::from_std(next_flush.saturating_duration_since(Instant::now()))
                .unwrap_or_default();
        self.schedules.save_schedule(
            key,
            GroupSchedule {
                has_flushed: true,
                next_flush: at,
            },
        );
    }

    /// Puts groups rebuilt after a restart back on their saved schedules: a group that had
    /// flushed keeps its rhythm (flushing at once if its time passed while down) instead of
    /// waiting group_wait again. Call before `start`.
    pub fn restore_schedules(&self, saved: &[(String, GroupSchedule)]) {
        let saved: HashMap<&str, &GroupSchedule> =
            saved.iter().map(|(k, s)| (k.as_str(), s)).collect();
        let now = Instant::now();
        let now_utc = Utc::now();
        for shard in &self.shards {
            let shard = shard.lock();
            for (id, group) in shard.iter() {
                let mut g = group.lock();
                let Some(schedule) = saved.get(g.key.as_str()).filter(|s| s.has_flushed) else {
                    continue;
                };
                let wait = (schedule.next_flush - now_utc).to_std().unwrap_or_default();
                g.has_flushed = true;
                g.next_flush = Some(now + wait);
                self.timers.push(now + wait, *id);
            }
        }
    }

    /// Fingerprints of every alert some group still holds.
    pub fn fingerprints_in_groups(&self) -> std::collections::HashSet<Fingerprint> {
        let mut out = std::collections::HashSet::new();
        for shard in &self.shards {
            for group in shard.lock().values() {
                out.extend(group.lock().alerts.keys().copied());
            }
        }
        out
    }

    /// Waits until no flush is under way, or `grace` passed.
    pub async fn wait_idle(&self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let idle = self.idle.notified();
            if self.in_flight.load(Ordering::SeqCst) == 0 {
                return;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                tracing::warn!(
                    in_flight = self.in_flight.load(Ordering::SeqCst),
                    "shutdown grace ended with notifications under way"
                );
                return;
            }
        }
    }

    /// The latest version of an alert a group holds. A re-send that changes neither the labels
    /// nor whether the alert fires goes to the store only (see `AlertStore::put_tracked`), so
    /// the store has the newest version. `None` when the store no longer has the alert with
    /// the labels the group took it in with and the group has no retired version: only for
    /// the instant between a label change in the store and `process_replacing`, or for a
    /// dispatcher a reload replaced, whose groups garbage collection no longer keeps.
    fn latest(&self, fingerprint: Fingerprint, held: &Held) -> Option<Arc<Alert>> {
        match held {
            Held::Retired(alert) => Some(alert.clone()),
            Held::Live(labels) => self
                .store
                .get(fingerprint)
                .filter(|stored| stored.labels == *labels),
        }
    }

    /// A group's alerts at their latest, sorted for a notification.
    fn snapshot(&self, group: &AggrGroup) -> Vec<Alert> {
        let mut alerts: Vec<Alert> = group
            .alerts
            .iter()
            .filter_map(|(fp, held)| self.latest(*fp, held))
            .map(|alert| (*alert).clone())
            .collect();
        sort_for_notification(&mut alerts);
        alerts
    }

    /// Every group with its alerts, sorted as Alertmanager sorts them.
    pub fn groups(&self) -> Vec<GroupSnapshot> {
        let mut out = Vec::new();
        for shard in &self.shards {
            let shard = shard.lock();
            for (id, group) in shard.iter() {
                let g = group.lock();
                out.push(GroupSnapshot {
                    labels: g.labels.clone(),
                    receiver: self.routes.get(id.route).receiver.clone(),
                    alerts: self.snapshot(&g),
                });
            }
        }
        out.sort_by(|a, b| {
            if a.labels == b.labels {
                a.receiver.cmp(&b.receiver)
            } else if a.labels.before(&b.labels) {
                std::cmp::Ordering::Less
            } else {
                std::cmp::Ordering::Greater
            }
        });
        out
    }
}
