//! The router as the HTTP API (and the web UI) see it: one narrow handle per area, so a
//! handler translates HTTP to a call and back without reaching into the router's parts.

use std::sync::Arc;

use chrono::Utc;
use regex::Regex;

use super::{App, AppError};
use crate::escalate::{AckLinks, Incident, IncidentError, IncidentState};
use crate::ingest::{self, DecodeContext, Decoded, IngestError};
use crate::model::time::Timestamp;
use crate::model::{Alert, LabelSet, Matcher};
use crate::mute::MuteStatus;
use crate::state::HealthReport;
use crate::store::{Silence, SilenceError, SilenceState, StoreError};

/// Every handle, cloned into each request.
#[derive(Clone)]
pub struct Services {
    pub alerts: AlertsService,
    pub silences: SilencesService,
    pub incidents: IncidentsService,
    pub admin: AdminService,
}

impl Services {
    pub fn new(app: &Arc<App>) -> Services {
        Services {
            alerts: AlertsService { app: app.clone() },
            silences: SilencesService { app: app.clone() },
            incidents: IncidentsService { app: app.clone() },
            admin: AdminService { app: app.clone() },
        }
    }
}

/// Where posted alerts come from, and so how their body is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertSource {
    /// `POST /api/v2/alerts`: Prometheus, amtool.
    Api,
    /// An upstream Alertmanager's webhook (v4).
    Alertmanager,
    /// Grafana's webhook contact point.
    Grafana,
}

/// Why posted alerts were not taken.
#[derive(Debug, thiserror::Error)]
pub enum IngestFailure {
    /// The body could not be decoded at all.
    #[error(transparent)]
    Invalid(#[from] IngestError),
    /// Decoded but not saved: nothing is acknowledged, the sender retries.
    #[error("alerts not saved: {0}")]
    NotSaved(#[source] StoreError),
}

/// The filters of `/alerts` and `/alerts/groups`: what to keep.
pub struct AlertFilter {
    pub active: bool,
    pub silenced: bool,
    pub inhibited: bool,
    pub unprocessed: bool,
    pub matchers: Vec<Matcher>,
    pub receiver: Option<Regex>,
}

impl Default for AlertFilter {
    fn default() -> Self {
        AlertFilter {
            active: true,
            silenced: true,
            inhibited: true,
            unprocessed: true,
            matchers: Vec::new(),
            receiver: None,
        }
    }
}

impl AlertFilter {
    /// The alert's mute status when the filters keep it.
    fn keeps(
        &self,
        alert: &Alert,
        receivers: &[&str],
        muter: &crate::mute::Muter,
        now: Timestamp,
    ) -> Option<MuteStatus> {
        if let Some(re) = &self.receiver {
            if !receivers.iter().any(|r| re.is_match(r)) {
                return None;
            }
        }
        if !self.matchers.iter().all(|m| m.matches(&alert.labels)) || alert.resolved_at(now) {
            return None;
        }
        let status = muter.status(&alert.labels, now);
        let keep = (self.active || status.is_suppressed())
            && (self.silenced || status.silenced_by.is_empty())
            && (self.inhibited || status.inhibited_by.is_empty());
        keep.then_some(status)
    }
}

/// One alert as listed: its receivers and whether it is muted.
pub struct AlertView {
    pub alert: Arc<Alert>,
    pub receivers: Vec<String>,
    pub status: MuteStatus,
}

/// One aggregation group as listed.
pub struct GroupView {
    pub labels: LabelSet,
    pub receiver: String,
    pub alerts: Vec<AlertView>,
}

/// Counts of current state, for `/metrics`.
pub struct Gauges {
    pub active_alerts: usize,
    pub suppressed_alerts: usize,
    pub silences: [(SilenceState, usize); 3],
    pub groups: usize,
    pub nflog_entries: usize,
}

#[derive(Clone)]
pub struct AlertsService {
    app: Arc<App>,
}

impl AlertsService {
    /// Decodes and takes posted alerts; returns the decode's message about the alerts it
    /// refused, if any (the others are taken).
    pub async fn post(
        &self,
        body: &[u8],
        source: AlertSource,
    ) -> Result<Option<String>, IngestFailure> {
        let cx = DecodeContext {
            now: Utc::now(),
            timeouts: self.app.timeouts(),
            known: &*self.app.store,
        };
        let decode: fn(&[u8], DecodeContext) -> Result<Decoded, IngestError> = match source {
            AlertSource::Api => ingest::decode_postable_alerts,
            AlertSource::Alertmanager => ingest::decode_alertmanager_webhook,
            AlertSource::Grafana => ingest::decode_grafana_webhook,
        };
        let decoded = decode(body, cx)?;
        let rejected = decoded.error_message();
        self.app
            .ingest(decoded)
            .await
            .map_err(IngestFailure::NotSaved)?;
        Ok(rejected)
    }

    /// Whether a Grafana webhook is signed as `--grafana.signing-secret-file` requires (always,
    /// without a secret).
    pub fn grafana_signature_ok(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> bool {
        let Some(secret) = &self.app.settings.grafana_signing_secret else {
            return true;
        };
        signature.is_some_and(|sig| {
            ingest::signature::verify(secret.expose().as_bytes(), timestamp, body, sig)
        })
    }

    /// Every alert the filter keeps, by fingerprint.
    pub fn list(&self, filter: &AlertFilter) -> Vec<AlertView> {
        let runtime = self.app.current();
        let now = Utc::now();
        let mut alerts = self.app.store.list();
        alerts.sort_by_key(|a| a.fingerprint.to_string());
        alerts
            .iter()
            .filter_map(|a| {
                let receivers = runtime.routes.receivers_for(&a.labels);
                let status = filter.keeps(a, &receivers, &runtime.muter, now)?;
                Some(AlertView {
                    alert: a.clone(),
                    receivers: receivers.iter().map(|r| r.to_string()).collect(),
                    status,
                })
            })
            .collect()
    }

    /// Every aggregation group with the alerts the filter keeps; groups left empty are left out.
    pub fn groups(&self, filter: &AlertFilter) -> Vec<GroupView> {
        let runtime = self.app.current();
        let now = Utc::now();
        let mut out = Vec::new();
        for group in runtime.dispatcher.groups() {
            if filter
                .receiver
                .as_ref()
                .is_some_and(|re| !re.is_match(&group.receiver))
            {
                continue;
            }
            let alerts: Vec<AlertView> = group
                .alerts
                .into_iter()
                .filter_map(|a| {
                    let status =
                        filter.keeps(&a, &[group.receiver.as_str()], &runtime.muter, now)?;
                    let receivers = runtime
                        .routes
                        .receivers_for(&a.labels)
                        .iter()
                        .map(|r| r.to_string())
                        .collect();
                    Some(AlertView {
                        alert: Arc::new(a),
                        receivers,
                        status,
                    })
                })
                .collect();
            if alerts.is_empty() {
                continue;
            }
            out.push(GroupView {
                labels: group.labels,
                receiver: group.receiver,
                alerts,
            });
        }
        out
    }
}

#[derive(Clone)]
pub struct SilencesService {
    app: Arc<App>,
}

impl SilencesService {
    /// Creates or updates a silence; returns its id. The write syncs to disk, so it runs off
    /// the async executor.
    pub async fn set(&self, silence: Silence) -> Result<String, SilenceError> {
        let silences = self.app.silences.clone();
        tokio::task::spawn_blocking(move || silences.set(silence, Utc::now()))
            .await
            .unwrap_or_else(|e| Err(SilenceError::Storage(StoreError::Failed(e.to_string()))))
    }

    pub async fn expire(&self, id: String) -> Result<(), SilenceError> {
        let silences = self.app.silences.clone();
        tokio::task::spawn_blocking(move || silences.expire(&id, Utc::now()))
            .await
            .unwrap_or_else(|e| Err(SilenceError::Storage(StoreError::Failed(e.to_string()))))
    }

    pub fn get(&self, id: &str) -> Option<Silence> {
        self.app.silences.get(id)
    }

    pub fn query(&self, filters: &[Matcher]) -> Vec<Silence> {
        self.app.silences.query(filters, Utc::now())
    }
}

#[derive(Clone)]
pub struct IncidentsService {
    app: Arc<App>,
}

impl IncidentsService {
    pub fn list(
        &self,
        state: Option<IncidentState>,
        receiver: Option<&str>,
        priority: Option<&str>,
    ) -> Vec<Incident> {
        self.app.escalator.list(state, receiver, priority)
    }

    pub fn get(&self, id: &str) -> Option<Incident> {
        self.app.escalator.get(id)
    }

    pub async fn acknowledge(
        &self,
        id: &str,
        by: &str,
        comment: Option<String>,
    ) -> Result<Incident, IncidentError> {
        let incident = self
            .app
            .escalator
            .acknowledge(id, by, comment.clone())
            .await?;
        self.share("ack", &incident, by, comment);
        Ok(incident)
    }

    pub async fn unacknowledge(
        &self,
        id: &str,
        by: &str,
        comment: Option<String>,
    ) -> Result<Incident, IncidentError> {
        let incident = self
            .app
            .escalator
            .unacknowledge(id, by, comment.clone())
            .await?;
        self.share("unack", &incident, by, comment);
        Ok(incident)
    }

    pub async fn resolve(
        &self,
        id: &str,
        by: &str,
        comment: Option<String>,
    ) -> Result<Incident, IncidentError> {
        let incident = self.app.escalator.resolve(id, by, comment.clone()).await?;
        self.share("resolve", &incident, by, comment);
        Ok(incident)
    }

    /// Tells the other replicas, whose incident of the group must follow.
    fn share(&self, action: &str, incident: &Incident, by: &str, comment: Option<String>) {
        if let Some(cluster) = &self.app.cluster {
            cluster.publish_incident_action(crate::cluster::IncidentAction {
                group_key: incident.group_key.clone(),
                action: action.to_string(),
                by: by.to_string(),
                comment,
                at: Utc::now(),
                step: None,
                receivers: Vec::new(),
            });
        }
    }

    /// The signer of acknowledge links, when `--incidents.ack-secret-file` is set.
    pub fn links(&self) -> Option<&AckLinks> {
        self.app.escalator.links()
    }

    pub fn now(&self) -> Timestamp {
        self.app.escalator.now()
    }
}

#[derive(Clone)]
pub struct AdminService {
    app: Arc<App>,
}

impl AdminService {
    /// The running config as YAML, secrets masked.
    pub fn config_yaml(&self) -> String {
        self.app.current().config.redacted_yaml()
    }

    pub fn receivers(&self) -> Vec<String> {
        self.app
            .current()
            .config
            .config
            .receivers
            .iter()
            .map(|r| r.name.clone())
            .collect()
    }

    /// `routes test --tree` and `rules test` for these labels on the running config, as the
    /// commands print them.
    pub fn route_test(&self, labels: &[String]) -> Result<(String, String), String> {
        let generation = self.app.current();
        let (routes, _) = crate::cli::routes_test_on(&generation.routes, labels, true, None)
            .map_err(|e| e.to_string())?;
        let rules = crate::cli::rules_test_on(&generation.config, &generation.classifier, labels)
            .map_err(|e| e.to_string())?;
        Ok((routes, rules))
    }

    /// The running routing tree and escalation policies, for the web UI.
    pub fn routing(&self) -> serde_json::Value {
        use crate::config::PromDuration;
        fn node(tree: &crate::route::RouteTree, route: &crate::route::Route) -> serde_json::Value {
            serde_json::json!({
                "receiver": route.receiver,
                "matchers": route.matchers.0.iter().map(|m| m.to_string()).collect::<Vec<_>>(),
                "group_by": route.group_by,
                "group_by_all": route.group_by_all,
                "group_wait": PromDuration(route.group_wait).to_string(),
                "group_interval": PromDuration(route.group_interval).to_string(),
                "repeat_interval": PromDuration(route.repeat_interval).to_string(),
                "continue": route.continue_matching,
                "escalation": route.escalation,
                "mute_time_intervals": route.mute_time_intervals,
                "active_time_intervals": route.active_time_intervals,
                "routes": route.children.iter().map(|&c| node(tree, tree.get(c))).collect::<Vec<_>>(),
            })
        }
        let generation = self.app.current();
        let policies: Vec<serde_json::Value> = generation
            .policies
            .iter()
            .map(|p| {
                serde_json::json!({
                    "name": p.name,
                    "steps": p.steps.iter().map(|s| serde_json::json!({
                        "after": PromDuration(s.after).to_string(),
                        "notify": s.receivers,
                    })).collect::<Vec<_>>(),
                    "repeat": p.repeat_count > 0,
                })
            })
            .collect();
        serde_json::json!({
            "route": node(&generation.routes, generation.routes.root()),
            "escalation_policies": policies,
        })
    }

    pub fn started_at(&self) -> Timestamp {
        self.app.started_at
    }

    pub fn reload(&self) -> Result<(), AppError> {
        self.app.reload()
    }

    pub fn storage(&self) -> HealthReport {
        self.app.storage_health.report()
    }

    /// The path the API is served under (`/` or `/prefix`).
    pub fn route_prefix(&self) -> &str {
        &self.app.settings.route_prefix
    }

    /// The cluster as `/api/v2/status` reports it; `None` when the cluster is disabled.
    pub fn cluster_status(&self) -> Option<crate::cluster::ClusterStatus> {
        self.app.cluster_status()
    }

    /// Largest request body accepted.
    pub fn max_body_bytes(&self) -> usize {
        self.app.settings.max_body_bytes
    }

    pub fn gauges(&self) -> Gauges {
        let runtime = self.app.current();
        let now = Utc::now();
        let (mut active, mut suppressed) = (0usize, 0usize);
        for alert in self.app.store.list().iter().filter(|a| !a.resolved_at(now)) {
            if runtime.muter.status(&alert.labels, now).is_suppressed() {
                suppressed += 1;
            } else {
                active += 1;
            }
        }
        Gauges {
            active_alerts: active,
            suppressed_alerts: suppressed,
            silences: self.app.silences.count_by_state(now),
            groups: runtime.dispatcher.group_count(),
            nflog_entries: self.app.nflog.len(),
        }
    }
}
