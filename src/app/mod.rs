//! The running router: the alert store, the notification log and the config-derived runtime
//! (routes, receivers, dispatcher) that a reload swaps as one piece. The API reaches it through
//! the handles in [`services`].

pub mod channels;
mod load;
pub mod services;
mod settle;

pub use load::{load_config, parse_config};

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use parking_lot::RwLock;
use thiserror::Error;

use crate::classify::Classifier;
use crate::config::{ConfigError, LoadedConfig, TimeIntervalConfig};
use crate::dispatch::{Dispatcher, DispatcherParts};
use crate::escalate::{AckLinks, Clock, Escalator, Policies};
use crate::ingest::{Decoded, Timeouts};
use crate::leases::{Leases, SingleNode};
use crate::model::time::Timestamp;
use crate::model::Alert;
use crate::mute::{Inhibitor, Muter, TimeIntervals};
use crate::notify::{NflogStore, NotificationLog};
use crate::notify::{Notifier, Receivers};
use crate::route::RouteTree;
use crate::state::embedded::{Embedded, StateError};
use crate::state::memory::Memory;
use crate::state::{Durability, StateBackend, StorageHealth};
use crate::store::{AlertStore, Save, Silences, StoreError, SHARDS};

#[derive(Debug, Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Receivers(#[from] crate::notify::BuildError),
    #[error("no config file to reload from")]
    NoConfigFile,
    #[error(transparent)]
    State(#[from] StateError),
    #[error("reading the state back: {0}")]
    Recovery(String),
    #[error(transparent)]
    TimeIntervals(#[from] crate::mute::TimeIntervalError),
    #[error(transparent)]
    Rules(#[from] crate::classify::RulesError),
    #[error(transparent)]
    Escalation(#[from] crate::escalate::PolicyError),
}

/// Settings that come from the command line and do not change on reload.
#[derive(Debug, Clone)]
pub struct Settings {
    pub external_url: String,
    /// The path the API is served under: `/`, or `/am` without a trailing slash.
    pub route_prefix: String,
    /// This instance as `/api/v2/status` reports it; `None`: cluster disabled.
    pub cluster_peer: Option<ClusterPeer>,
    /// The HA store (`--cluster.store`): replicas share leases and the notification log.
    pub cluster_store: Option<crate::cluster::ClusterConfig>,
    /// How long notification log entries (and, later, expired silences) are kept.
    pub retention: Duration,
    pub gc_interval: Duration,
    pub webhook_resolve_timeout: Duration,
    /// When set, Grafana webhooks must carry a valid `X-Grafana-Alerting-Signature`.
    pub grafana_signing_secret: Option<crate::config::Secret>,
    pub max_body_bytes: usize,
    /// Where state is kept; `None` keeps everything in memory.
    pub storage_path: Option<PathBuf>,
    pub durability: Durability,
    /// Move a damaged state file aside instead of refusing to start.
    pub storage_repair: bool,
    /// Runbook rule files to load besides the config's `rule_files` (`--rules.dir`).
    pub rules_dir: Option<PathBuf>,
    /// Signs incident acknowledge links; without it notifications carry none.
    pub ack_secret: Option<crate::config::Secret>,
    pub ack_link_ttl: Duration,
}

/// A cluster member's name and address, as Alertmanager's status lists its peers.
#[derive(Debug, Clone)]
pub struct ClusterPeer {
    pub name: String,
    pub address: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            external_url: "http://localhost:9093".into(),
            route_prefix: "/".into(),
            cluster_peer: None,
            cluster_store: None,
            retention: Duration::from_secs(120 * 3600),
            gc_interval: Duration::from_secs(30 * 60),
            webhook_resolve_timeout: Duration::from_secs(5 * 3600),
            grafana_signing_secret: None,
            max_body_bytes: 16 * 1024 * 1024,
            storage_path: None,
            durability: Durability::Fsync,
            storage_repair: false,
            rules_dir: None,
            ack_secret: None,
            ack_link_ttl: Duration::from_secs(24 * 3600),
        }
    }
}

/// Everything derived from one loaded config.
pub struct Generation {
    pub config: LoadedConfig,
    pub routes: Arc<RouteTree>,
    pub dispatcher: Arc<Dispatcher>,
    pub notifier: Arc<Notifier>,
    pub muter: Arc<Muter>,
    pub classifier: Arc<Classifier>,
    /// The escalation policies, handed to the escalator when this generation takes over.
    pub policies: Arc<Policies>,
}

/// The composition root: it builds the parts, recovers their state, runs maintenance and
/// reloads, and hands the API narrow handles ([`services::Services`]) rather than its fields.
pub struct App {
    settings: Settings,
    store: Arc<AlertStore>,
    nflog: Arc<NotificationLog>,
    silences: Arc<Silences>,
    /// Where state is kept: the embedded store, or memory with `--storage.durability none`.
    backend: Arc<dyn StateBackend>,
    /// The HA cluster this replica is part of, if any.
    cluster: Option<Arc<crate::cluster::PgCluster>>,
    nflog_store: Arc<dyn NflogStore>,
    /// Who may notify which group: this router alone, or the cluster's shard leases.
    leases: Arc<dyn Leases>,
    escalator: Arc<Escalator>,
    /// Whether the state directory takes writes (always, without one).
    storage_health: Arc<StorageHealth>,
    started_at: Timestamp,
    generation: RwLock<Arc<Generation>>,
    config_path: Option<PathBuf>,
    /// Alerts to classify again when their rule's `for` window ends.
    settling: settle::Settling,
}

impl App {
    /// Builds the router and starts its dispatcher and maintenance; needs a tokio runtime.
    pub fn start(settings: Settings, config: LoadedConfig) -> Result<Arc<App>, AppError> {
        let store = Arc::new(AlertStore::new());
        let nflog = Arc::new(NotificationLog::new());
        let backend = open_state(&settings)?;
        let recovered = backend
            .recover()
            .map_err(|e| AppError::Recovery(e.to_string()))?;
        if let Some(dir) = &settings.storage_path {
            tracing::info!(
                path = %dir.display(),
                alerts = recovered.alerts.len(),
                silences = recovered.silences.len(),
                log_entries = recovered.nflog.len(),
                groups = recovered.groups.len(),
                "state recovered"
            );
        }
        let storage_health = backend.health();
        metrics::gauge!("alert_router_storage_writable").set(1.0);
        let cluster = settings
            .cluster_store
            .clone()
            .map(|c| crate::cluster::PgCluster::new(c, nflog.clone()));
        let (leases, nflog_store): (Arc<dyn Leases>, Arc<dyn NflogStore>) = match &cluster {
            Some(cluster) => (
                cluster.clone(),
                Arc::new(crate::cluster::SharedNflog {
                    local: backend.clone(),
                    cluster: cluster.clone(),
                }),
            ),
            None => (Arc::new(SingleNode), backend.clone()),
        };
        let silence_store: Arc<dyn crate::store::SilencePersistence> = match &cluster {
            Some(cluster) => Arc::new(crate::cluster::SharedSilences {
                local: backend.clone(),
                cluster: cluster.clone(),
            }),
            None => backend.clone(),
        };
        let silences = Arc::new(Silences::new(settings.retention, Some(silence_store)));
        for problem in silences.restore(recovered.silences) {
            tracing::error!(%problem, "skipping a stored silence");
        }
        for (key, entry) in recovered.nflog {
            nflog.log(key, entry);
        }
        let links = settings.ack_secret.as_ref().map(|s| {
            AckLinks::new(
                s.expose().as_bytes().to_vec(),
                settings.ack_link_ttl,
                &settings.external_url,
            )
        });
        let (escalator, actions) =
            Escalator::new(Clock::System, backend.clone(), leases.clone(), links);
        escalator.restore(recovered.incidents);
        let config_path = config.path.clone();
        let shared = Shared {
            store: &store,
            nflog: &nflog,
            silences: &silences,
            escalator: &escalator,
            backend: &backend,
            leases: &leases,
            nflog_store: &nflog_store,
        };
        let runtime = build_runtime(&settings, config, &shared)?;
        escalator.set_policies(runtime.policies.clone());
        // Regroup the recovered alerts and put each group back on its saved schedule before
        // the timers run, so nothing flushes early and nothing starts over.
        let settling = settle::Settling::default();
        let now = Utc::now();
        for alert in recovered.alerts {
            // A `for` window that ended while the router was down is classified at once.
            if let Some(at) = runtime.classifier.settles_at(&alert) {
                settling.schedule(alert.fingerprint, at.max(now), now);
            }
            // Already saved: only later changes need writing.
            let put = store.put_tracked(alert, Some(chrono::Duration::MAX));
            store.mark_saved(&put.alert);
            runtime.muter.inhibitor.observe(&put.alert);
            runtime.dispatcher.process(&put.alert);
        }
        runtime.dispatcher.restore_schedules(&recovered.groups);
        runtime.dispatcher.start();
        escalator.start();
        silences.follow_changes();
        if let Some(cluster) = &cluster {
            cluster.start();
        }
        let app = Arc::new(App {
            settings,
            store,
            nflog,
            silences,
            backend,
            leases,
            nflog_store,
            cluster,
            escalator,
            storage_health,
            started_at: Utc::now(),
            generation: RwLock::new(Arc::new(runtime)),
            config_path,
            settling,
        });
        app.clone().spawn_maintenance();
        app.clone().spawn_settler();
        app.clone().spawn_soon_writer();
        app.clone().spawn_deliverer(actions);
        app.clone().spawn_remote_incident_actions();
        Ok(app)
    }

    /// Applies the acknowledgements, unacknowledgements and resolves made on other replicas to
    /// this replica's incident of the same group, so escalation stops (or re-arms) wherever
    /// the action was taken.
    fn spawn_remote_incident_actions(self: Arc<Self>) {
        let Some(mut actions) = self.cluster.as_ref().and_then(|c| c.incident_actions()) else {
            return;
        };
        let escalator = self.escalator.clone();
        tokio::spawn(async move {
            while let Some(a) = actions.recv().await {
                let Some(incident) = escalator.of_group(&a.group_key) else {
                    continue;
                };
                // Replicas open a group's incident within a flush of each other; an action
                // from well before this one opened was about an earlier episode.
                if a.at + chrono::Duration::seconds(30) < incident.opened_at {
                    continue;
                }
                let done = match a.action.as_str() {
                    "ack" => escalator.acknowledge(&incident.id, &a.by, a.comment).await,
                    "unack" => {
                        escalator
                            .unacknowledge(&incident.id, &a.by, a.comment)
                            .await
                    }
                    "resolve" => escalator.resolve(&incident.id, &a.by, a.comment).await,
                    "step" => {
                        if let Some(position) = a.step {
                            escalator
                                .step_paged_elsewhere(&incident.id, position, a.receivers)
                                .await;
                        }
                        continue;
                    }
                    _ => continue,
                };
                if let Err(e) = done {
                    tracing::debug!(error = %e, group_key = %a.group_key, "another replica's incident action not applied");
                }
            }
        });
    }

    /// Carries out the escalator's actions with the receivers of the config running then.
    fn spawn_deliverer(
        self: Arc<Self>,
        mut actions: tokio::sync::mpsc::UnboundedReceiver<crate::escalate::Action>,
    ) {
        let weak = Arc::downgrade(&self);
        drop(self);
        tokio::spawn(async move {
            while let Some(action) = actions.recv().await {
                let Some(app) = weak.upgrade() else { return };
                let deliverer = crate::escalate::deliver::Deliverer {
                    notifier: app.current().notifier.clone(),
                    store: app.store.clone(),
                    escalator: app.escalator.clone(),
                    external_url: app.settings.external_url.clone(),
                    cluster: app.cluster.clone(),
                };
                tokio::spawn(deliverer.run(action));
            }
        });
    }

    /// The cluster as `/api/v2/status` reports it: the HA store's live replicas, a one-member
    /// cluster, or none.
    pub fn cluster_status(&self) -> Option<crate::cluster::ClusterStatus> {
        if let Some(cluster) = &self.cluster {
            return Some(cluster.status());
        }
        self.settings
            .cluster_peer
            .as_ref()
            .map(|p| crate::cluster::ClusterStatus {
                name: p.name.clone(),
                peers: vec![crate::cluster::Peer {
                    name: p.name.clone(),
                    address: p.address.clone(),
                }],
                // One member, ready at once: there is no gossip to settle.
                status: "ready",
                store: "none",
            })
    }

    fn current(&self) -> Arc<Generation> {
        self.generation.read().clone()
    }

    fn timeouts(&self) -> Timeouts {
        Timeouts {
            resolve: self.generation.read().config.resolve_timeout,
            webhook: self.settings.webhook_resolve_timeout,
        }
    }

    /// Stores and dispatches decoded alerts; returns how many were accepted. In fsync mode it
    /// returns only once every new alert, resolve, label change and start is in a committed
    /// batch, so a 2xx means they survive a crash; changes to annotations and renewed ends of
    /// alerts already saved are written within [`SOON`] instead (see [`Save::Soon`]).
    async fn ingest(&self, decoded: Decoded) -> Result<usize, StoreError> {
        let now = Utc::now();
        let accepted = decoded.alerts.len();
        let mut writes = Vec::with_capacity(accepted);
        let mut resolved = 0;
        {
            // Held for reading so a reload cannot swap dispatchers between store and dispatch,
            // which would leave an alert out of the new dispatcher's groups. Not held across
            // the commit below.
            let runtime = self.generation.read();
            let slack = self.write_slack(&runtime);
            for mut alert in decoded.alerts {
                resolved += usize::from(alert.resolved_at(now));
                let (_, settles_at) = runtime.classifier.apply_settling(&mut alert, now);
                if let Some(at) = settles_at {
                    self.settling.schedule(alert.fingerprint, at, now);
                }
                self.put_classified(&runtime, alert, slack, &mut writes);
            }
        }
        metrics::counter!("alertmanager_alerts_received_total", "status" => "firing")
            .increment((accepted - resolved) as u64);
        metrics::counter!("alertmanager_alerts_received_total", "status" => "resolved")
            .increment(resolved as u64);
        metrics::counter!("alertmanager_alerts_invalid_total")
            .increment(decoded.errors.len() as u64);
        self.save_now(writes).await?;
        Ok(accepted)
    }

    /// How much later a renewed end may be than the saved one before it must be written (see
    /// [`AlertStore::put_tracked`]); `None` when the backend keeps no alerts (nothing is
    /// written).
    fn write_slack(&self, runtime: &Generation) -> Option<chrono::Duration> {
        self.backend
            .keeps_alerts()
            .then(|| renewal_slack(runtime.config.resolve_timeout))
    }

    /// Stores a classified alert and (re)groups it; collects it in `writes` when it must be
    /// committed before the answer.
    fn put_classified(
        &self,
        runtime: &Generation,
        alert: Alert,
        slack: Option<chrono::Duration>,
        writes: &mut Vec<Arc<Alert>>,
    ) {
        let put = self.store.put_tracked(alert, slack);
        runtime.muter.inhibitor.observe(&put.alert);
        if put.regroup {
            runtime
                .dispatcher
                .process_replacing(&put.alert, put.relabelled.as_ref());
        }
        if put.save == Save::BeforeAnswer && slack.is_some() {
            writes.push(put.alert);
        }
    }

    /// Commits alert writes and marks them saved.
    async fn save_now(&self, writes: Vec<Arc<Alert>>) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        // Saved only once committed: if the commit fails, the sender's re-send (it got no
        // 2xx) must be written, not taken for one already saved.
        let written = writes.clone();
        match self.backend.save_alerts(writes).await {
            Ok(()) => {
                written.iter().for_each(|a| self.store.mark_saved(a));
                Ok(())
            }
            Err(e) => {
                written
                    .iter()
                    .for_each(|a| self.store.mark_unsaved(a.fingerprint));
                Err(e)
            }
        }
    }

    /// Classifies alerts again as their `for` windows end.
    fn spawn_settler(self: Arc<Self>) {
        let weak = Arc::downgrade(&self);
        drop(self);
        tokio::spawn(async move {
            loop {
                let Some(app) = weak.upgrade() else { return };
                // The wait is bounded so that a dropped app ends the loop.
                let due = app.settling.due_within(Duration::from_secs(5)).await;
                if !due.is_empty() {
                    app.settle(due).await;
                }
            }
        });
    }

    /// Classifies the stored versions of these alerts again, now that their windows ended, and
    /// regroups those whose labels change.
    async fn settle(&self, due: Vec<crate::model::Fingerprint>) {
        let now = Utc::now();
        let mut writes = Vec::new();
        {
            let runtime = self.generation.read();
            let slack = self.write_slack(&runtime);
            for fingerprint in due {
                let Some(stored) = self.store.get(fingerprint) else {
                    continue;
                };
                if stored.resolved_at(now) {
                    continue;
                }
                let mut alert = Alert::clone(&stored);
                // The newer version, so the store takes its labels.
                alert.updated_at = now.max(stored.updated_at + chrono::Duration::milliseconds(1));
                let (_, again) = runtime.classifier.apply_settling(&mut alert, now);
                if let Some(at) = again {
                    self.settling.schedule(fingerprint, at, now);
                }
                if alert.labels == stored.labels {
                    continue;
                }
                tracing::debug!(%fingerprint, labels = %alert.labels, "classified again at the end of its for window");
                metrics::counter!("alert_router_alerts_reclassified_total").increment(1);
                self.put_classified(&runtime, alert, slack, &mut writes);
            }
        }
        if let Err(e) = self.save_now(writes).await {
            // Stored and grouped already: the write is retried with the alert's next change.
            tracing::error!(error = %e, "saving alerts classified at the end of their for window failed");
        }
    }

    /// Re-reads the config file. An invalid file leaves the running config in place.
    pub fn reload(&self) -> Result<(), AppError> {
        let path = self.config_path.as_ref().ok_or(AppError::NoConfigFile)?;
        let result = load_config(path)
            .map_err(AppError::from)
            .and_then(|config| {
                let shared = Shared {
                    store: &self.store,
                    nflog: &self.nflog,
                    silences: &self.silences,
                    escalator: &self.escalator,
                    backend: &self.backend,
                    leases: &self.leases,
                    nflog_store: &self.nflog_store,
                };
                build_runtime(&self.settings, config, &shared)
            });
        let runtime = match result {
            Ok(r) => r,
            Err(e) => {
                metrics::counter!("alertmanager_config_last_reload_successful_total", "result" => "failure").increment(1);
                metrics::gauge!("alertmanager_config_last_reload_successful").set(0.0);
                tracing::error!(error = %e, "config reload failed, keeping the running config");
                return Err(e);
            }
        };
        let mut current = self.generation.write();
        current.dispatcher.stop();
        // The new dispatcher regroups every known alert; the notification log carries over,
        // so regrouping re-sends nothing already delivered.
        // The new rules' windows too: a changed `for` applies to the alerts already waiting,
        // and an alert whose window the new rules end (or drop) is classified again at once.
        let now = Utc::now();
        for alert in self.store.list() {
            runtime.muter.inhibitor.observe(&alert);
            runtime.dispatcher.process(&alert);
            match runtime.classifier.settles_at(&alert) {
                Some(at) => self.settling.schedule(alert.fingerprint, at.max(now), now),
                None if self.settling.is_waiting(alert.fingerprint) => {
                    self.settling.schedule(alert.fingerprint, now, now)
                }
                None => {}
            }
        }
        self.escalator.set_policies(runtime.policies.clone());
        runtime.dispatcher.start();
        *current = Arc::new(runtime);
        metrics::gauge!("alertmanager_config_last_reload_successful").set(1.0);
        metrics::gauge!("alertmanager_config_last_reload_success_timestamp_seconds")
            .set(Utc::now().timestamp() as f64);
        tracing::info!("configuration reloaded");
        Ok(())
    }

    fn spawn_maintenance(self: Arc<Self>) {
        let weak = Arc::downgrade(&self);
        let every = self.settings.gc_interval;
        drop(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(app) = weak.upgrade() else { return };
                let now = Utc::now();
                let runtime = app.current();
                // An alert still in a group may owe its receivers a resolved notification.
                let in_groups = runtime.dispatcher.fingerprints_in_groups();
                let gone = app.store.collect_resolved(now, &in_groups);
                let expired = app.nflog.take_expired(now);
                let expiring = app.silences.clone();
                let silences = tokio::task::spawn_blocking(move || expiring.collect_expired(now))
                    .await
                    .unwrap_or(0);
                runtime.muter.inhibitor.collect_resolved(now);
                let incidents = app.escalator.collect_resolved(app.settings.retention);
                let (alerts, entries) = (gone.len(), expired.len());
                app.backend.delete_alerts(gone);
                app.backend.delete_entries(expired);
                tracing::debug!(alerts, entries, silences, incidents, "garbage collection");
            }
        });
    }

    /// Writes the latest version of every alert owed a deferred write, and waits for the
    /// commits.
    ///
    /// A round (a whole second of changes, up to every alert) goes out a store shard at a time,
    /// at most [`SOON_IN_FLIGHT`] shards queued at once: the writer never holds a whole round
    /// and the versions it supersedes, and a commit that an answer waits for never waits
    /// behind a whole round's encoding and write. Each shard is a short loop (a 32nd of the
    /// alerts). Every failed batch is owed again, whatever the others did.
    async fn write_soon(&self) -> Result<usize, StoreError> {
        let mut in_flight = std::collections::VecDeque::with_capacity(SOON_IN_FLIGHT + 1);
        let (mut count, mut first_error) = (0, None);
        for shard in 0..SHARDS {
            let mut queued = None;
            count += self.store.take_soon_in(shard, |batch| {
                queued = Some((self.backend.queue_alerts(batch.clone()), batch));
            });
            in_flight.extend(queued);
            while in_flight.len() > SOON_IN_FLIGHT || (shard + 1 == SHARDS && !in_flight.is_empty())
            {
                if let Some((commit, batch)) = in_flight.pop_front() {
                    let result: Result<(), StoreError> = commit.await;
                    match result {
                        Ok(()) => self.store.mark_saved_soon(&batch),
                        Err(e) => {
                            self.store.retry_soon(&batch);
                            first_error.get_or_insert(e);
                        }
                    }
                }
            }
        }
        first_error.map_or(Ok(count), Err)
    }

    /// Every [`SOON`], writes what re-sends changed without needing it before their answers.
    fn spawn_soon_writer(self: Arc<Self>) {
        let weak = Arc::downgrade(&self);
        drop(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SOON);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(app) = weak.upgrade() else { return };
                let started = std::time::Instant::now();
                let written = app.write_soon().await;
                metrics::histogram!("alert_router_deferred_round_seconds")
                    .record(started.elapsed().as_secs_f64());
                match written {
                    Ok(n) => {
                        metrics::counter!("alert_router_deferred_alert_writes_total")
                            .increment(n as u64);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "deferred alert writes failed; retrying");
                    }
                }
            }
        });
    }

    /// Stops the timers, lets flushes under way finish (up to `grace`), and commits every
    /// queued write, the deferred ones included.
    pub async fn shutdown(&self, grace: Duration) {
        let dispatcher = self.current().dispatcher.clone();
        dispatcher.stop();
        dispatcher.wait_idle(grace).await;
        if let Err(e) = self.write_soon().await {
            tracing::error!(error = %e, "final deferred alert writes failed");
        }
        if let Err(e) = self.backend.flush().await {
            tracing::error!(error = %e, "final state commit failed");
        }
    }
}

/// How often the changes answers do not wait for ([`Save::Soon`]) are written: each is
/// committed within this plus the time its round takes (`alert_router_deferred_round_seconds`). Each alert is written once per round however
/// often it changed, which keeps a rule whose annotations change every evaluation from
/// costing a write per re-send.
pub const SOON: Duration = Duration::from_secs(1);

/// Store shards of a deferred-write round queued to the writer at once.
const SOON_IN_FLIGHT: usize = 2;

/// How far a re-send may push an alert's end past the saved copy before it is written again: a
/// quarter of resolve_timeout (at least 30s). Prometheus re-sends every minute with an end four
/// re-send intervals ahead (or none, which gives a timeout end), so most re-sends cost no write,
/// and a crash shortens an alert's end by at most this.
fn renewal_slack(resolve_timeout: Duration) -> chrono::Duration {
    chrono::Duration::from_std((resolve_timeout / 4).max(Duration::from_secs(30)))
        .unwrap_or(chrono::Duration::MAX)
}

/// The state backend: the state directory, or memory with `--storage.durability none` (or no
/// `--storage.path`).
fn open_state(settings: &Settings) -> Result<Arc<dyn StateBackend>, AppError> {
    let Some(dir) = settings
        .storage_path
        .as_ref()
        .filter(|_| settings.durability != Durability::None)
    else {
        return Ok(Arc::new(Memory::without_alerts()));
    };
    Ok(Arc::new(Embedded::open(
        dir,
        settings.durability,
        settings.storage_repair,
    )?))
}

/// What every runtime generation shares: the state that outlives a reload.
struct Shared<'a> {
    store: &'a Arc<AlertStore>,
    nflog: &'a Arc<NotificationLog>,
    silences: &'a Arc<Silences>,
    escalator: &'a Arc<Escalator>,
    backend: &'a Arc<dyn StateBackend>,
    leases: &'a Arc<dyn Leases>,
    /// Where notification log entries are saved: the backend, shared with the cluster if any.
    nflog_store: &'a Arc<dyn NflogStore>,
}

/// Everything one config builds that can fail, before anything live is touched. `serve`,
/// reload and `check-config` build the same, so a config that passes the check starts.
pub struct Blueprint {
    pub config: LoadedConfig,
    routes: Arc<RouteTree>,
    receivers: Receivers,
    intervals: TimeIntervals,
    pub classifier: Arc<Classifier>,
    pub policies: Arc<Policies>,
}

impl Blueprint {
    pub fn build(
        config: LoadedConfig,
        rules_dir: Option<&std::path::Path>,
    ) -> Result<Blueprint, AppError> {
        let routes = Arc::new(RouteTree::build(config.route()));
        let receivers = Receivers::build(&config)?;
        let intervals: Vec<TimeIntervalConfig> = config.time_interval_configs();
        let intervals = TimeIntervals::build(&intervals)?;
        let classifier = Arc::new(load_classifier(&config, rules_dir)?);
        let policies = Arc::new(Policies::build(&config, &classifier)?);
        Ok(Blueprint {
            config,
            routes,
            receivers,
            intervals,
            classifier,
            policies,
        })
    }
}

fn build_runtime(
    settings: &Settings,
    config: LoadedConfig,
    shared: &Shared<'_>,
) -> Result<Generation, AppError> {
    let blueprint = Blueprint::build(config, settings.rules_dir.as_deref())?;
    Ok(assemble(settings, blueprint, shared))
}

/// Puts a built config to work over the shared state. Nothing here can fail, and nothing
/// live changes until the generation is installed.
fn assemble(settings: &Settings, blueprint: Blueprint, shared: &Shared<'_>) -> Generation {
    let Blueprint {
        config,
        routes,
        receivers,
        intervals,
        classifier,
        policies,
    } = blueprint;
    let muter = Arc::new(Muter {
        silences: shared.silences.clone(),
        inhibitor: Arc::new(Inhibitor::new(&config.config.inhibit_rules)),
        intervals: Arc::new(intervals),
    });
    let notifier = Arc::new(Notifier {
        receivers,
        nflog: shared.nflog.clone(),
        retention: settings.retention,
        muter: muter.clone(),
        saved: shared.nflog_store.clone(),
    });
    let dispatcher = Dispatcher::new(DispatcherParts {
        routes: routes.clone(),
        store: shared.store.clone(),
        notifier: notifier.clone(),
        escalator: shared.escalator.clone(),
        schedules: shared.backend.clone(),
        leases: shared.leases.clone(),
        external_url: settings.external_url.clone(),
    });
    Generation {
        config,
        routes,
        dispatcher,
        notifier,
        muter,
        classifier,
        policies,
    }
}

/// The runbook rules named by the config's `rule_files` and by `--rules.dir`.
pub fn load_classifier(
    config: &LoadedConfig,
    rules_dir: Option<&std::path::Path>,
) -> Result<Classifier, AppError> {
    let mut paths =
        crate::classify::rules::expand_patterns(&config.config.rule_files, &config.base_dir)?;
    if let Some(dir) = rules_dir {
        paths.extend(crate::classify::rules::files_in_dir(dir)?);
    }
    Ok(Classifier::load(&paths)?)
}
