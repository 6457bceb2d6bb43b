//! The running router: the alert store, the notification log and the config-derived runtime
//! (routes, receivers, dispatcher) that a reload swaps as one piece.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use parking_lot::RwLock;
use thiserror::Error;

use crate::config::{ConfigError, LoadedConfig, TimeIntervalConfig};
use crate::dispatch::Dispatcher;
use crate::ingest::{Decoded, Timeouts};
use crate::model::time::Timestamp;
use crate::mute::{Inhibitor, Muter, TimeIntervals};
use crate::notify::{Notifier, Receivers};
use crate::route::RouteTree;
use crate::store::{
    AlertStore, NotificationLog, SilencePersistence, Silences, StateDb, StateError,
};

#[derive(Debug, Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Receivers(String),
    #[error("no config file to reload from")]
    NoConfigFile,
    #[error(transparent)]
    State(#[from] StateError),
    #[error("{0}")]
    TimeIntervals(String),
}

/// Settings that come from the command line and do not change on reload.
#[derive(Debug, Clone)]
pub struct Settings {
    pub external_url: String,
    /// How long notification log entries (and, later, expired silences) are kept.
    pub retention: Duration,
    pub gc_interval: Duration,
    pub webhook_resolve_timeout: Duration,
    pub max_body_bytes: usize,
    /// Where state is kept; `None` keeps everything in memory.
    pub storage_path: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            external_url: "http://localhost:9093".into(),
            retention: Duration::from_secs(120 * 3600),
            gc_interval: Duration::from_secs(30 * 60),
            webhook_resolve_timeout: Duration::from_secs(5 * 3600),
            max_body_bytes: 16 * 1024 * 1024,
            storage_path: None,
        }
    }
}

/// Everything derived from one loaded config.
pub struct Runtime {
    pub config: LoadedConfig,
    pub routes: Arc<RouteTree>,
    pub dispatcher: Arc<Dispatcher>,
    pub notifier: Arc<Notifier>,
    pub muter: Arc<Muter>,
}

pub struct App {
    pub settings: Settings,
    pub store: Arc<AlertStore>,
    pub nflog: Arc<NotificationLog>,
    pub silences: Arc<Silences>,
    pub started_at: Timestamp,
    runtime: RwLock<Arc<Runtime>>,
    config_path: Option<PathBuf>,
}

impl App {
    /// Builds the router and starts its dispatcher and maintenance; needs a tokio runtime.
    pub fn start(settings: Settings, config: LoadedConfig) -> Result<Arc<App>, AppError> {
        let store = Arc::new(AlertStore::new());
        let nflog = Arc::new(NotificationLog::new());
        let silences = Arc::new(open_silences(&settings)?);
        let config_path = config.path.clone();
        let runtime = build_runtime(&settings, config, &nflog, &silences)?;
        runtime.dispatcher.start();
        let app = Arc::new(App {
            settings,
            store,
            nflog,
            silences,
            started_at: Utc::now(),
            runtime: RwLock::new(Arc::new(runtime)),
            config_path,
        });
        app.clone().spawn_maintenance();
        Ok(app)
    }

    pub fn runtime(&self) -> Arc<Runtime> {
        self.runtime.read().clone()
    }

    pub fn timeouts(&self) -> Timeouts {
        Timeouts {
            resolve: self.runtime.read().config.resolve_timeout,
            webhook: self.settings.webhook_resolve_timeout,
        }
    }

    /// Stores and dispatches decoded alerts; returns how many were accepted.
    pub fn ingest(&self, decoded: &Decoded) -> usize {
        let now = Utc::now();
        // Held for reading so a reload cannot swap dispatchers between store and dispatch,
        // which would leave an alert out of the new dispatcher's groups.
        let runtime = self.runtime.read();
        for alert in &decoded.alerts {
            let status = if alert.resolved_at(now) {
                "resolved"
            } else {
                "firing"
            };
            metrics::counter!("alertmanager_alerts_received_total", "status" => status)
                .increment(1);
            let stored = self.store.put(alert.clone());
            runtime.muter.inhibitor.observe(&stored);
            runtime.dispatcher.process(&stored);
        }
        metrics::counter!("alertmanager_alerts_invalid_total")
            .increment(decoded.errors.len() as u64);
        decoded.alerts.len()
    }

    /// Re-reads the config file. An invalid file leaves the running config in place.
    pub fn reload(&self) -> Result<(), AppError> {
        let path = self.config_path.as_ref().ok_or(AppError::NoConfigFile)?;
        let result = LoadedConfig::load_file(path)
            .map_err(AppError::from)
            .and_then(|config| build_runtime(&self.settings, config, &self.nflog, &self.silences));
        let runtime = match result {
            Ok(r) => r,
            Err(e) => {
                metrics::counter!("alertmanager_config_last_reload_successful_total", "result" => "failure").increment(1);
                metrics::gauge!("alertmanager_config_last_reload_successful").set(0.0);
                tracing::error!(error = %e, "config reload failed, keeping the running config");
                return Err(e);
            }
        };
        let mut current = self.runtime.write();
        current.dispatcher.stop();
        // The new dispatcher regroups every known alert; the notification log carries over,
        // so regrouping re-sends nothing already delivered.
        for alert in self.store.list() {
            runtime.muter.inhibitor.observe(&alert);
            runtime.dispatcher.process(&alert);
        }
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
                let alerts = app.store.collect_resolved(now);
                let entries = app.nflog.collect_expired(now);
                let silences = app.silences.collect_expired(now);
                app.runtime().muter.inhibitor.collect_resolved(now);
                tracing::debug!(alerts, entries, silences, "garbage collection");
            }
        });
    }

    pub fn shutdown(&self) {
        self.runtime.read().dispatcher.stop();
    }
}

/// Silences from the state file (when there is one), kept across reloads.
fn open_silences(settings: &Settings) -> Result<Silences, AppError> {
    let Some(dir) = &settings.storage_path else {
        return Ok(Silences::new(settings.retention, None));
    };
    let db = Arc::new(StateDb::open(dir)?);
    let stored = db.load_silences()?;
    let persistence: Arc<dyn SilencePersistence> = db;
    let silences = Silences::new(settings.retention, Some(persistence));
    let count = stored.len();
    for problem in silences.restore(stored) {
        tracing::error!(%problem, "skipping a stored silence");
    }
    tracing::info!(silences = count, path = %dir.display(), "state loaded");
    Ok(silences)
}

fn build_runtime(
    settings: &Settings,
    config: LoadedConfig,
    nflog: &Arc<NotificationLog>,
    silences: &Arc<Silences>,
) -> Result<Runtime, AppError> {
    let routes = Arc::new(RouteTree::build(config.route()));
    let receivers = Receivers::build(&config).map_err(AppError::Receivers)?;
    let intervals: Vec<TimeIntervalConfig> = config
        .config
        .time_intervals
        .iter()
        .chain(&config.config.mute_time_intervals)
        .cloned()
        .collect();
    let intervals =
        TimeIntervals::build(&intervals).map_err(|e| AppError::TimeIntervals(e.to_string()))?;
    let muter = Arc::new(Muter {
        silences: silences.clone(),
        inhibitor: Arc::new(Inhibitor::new(&config.config.inhibit_rules)),
        intervals: Arc::new(intervals),
    });
    let notifier = Arc::new(Notifier {
        receivers,
        nflog: nflog.clone(),
        retention: settings.retention,
        muter: muter.clone(),
    });
    let dispatcher = Dispatcher::new(
        routes.clone(),
        notifier.clone(),
        settings.external_url.clone(),
    );
    Ok(Runtime {
        config,
        routes,
        dispatcher,
        notifier,
        muter,
    })
}
