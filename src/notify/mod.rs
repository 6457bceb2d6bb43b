//! Delivery: for each flushed aggregation group, every integration of its receiver decides from
//! the notification log whether anything changed, sends with retries until the flush deadline,
//! and logs what it sent so no page goes out twice.

pub mod discord;
pub mod email;
pub(crate) mod http;
pub mod incidentio;
pub mod jira;
pub mod mattermost;
pub mod msteams;
pub mod msteamsv2;
mod nflog;
mod oauth2;
pub mod opsgenie;
pub mod otlp;
pub mod pagerduty;
pub mod pushover;
pub mod registry;
mod render;
mod retry;
pub mod rocketchat;
pub mod slack;
pub mod sns;
pub mod telegram;
pub mod victorops;
pub mod webex;
pub mod webhook;
pub mod wechat;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::config::LoadedConfig;
use crate::model::time::Timestamp;
use crate::model::{Alert, LabelSet};
use crate::mute::Muter;
pub use nflog::{NflogEntry, NflogKey, NflogStore, NotificationLog};

pub use crate::template::NotificationData;
pub use retry::Backoff;

/// Alertmanager gives a flush at least this long to deliver, even with a short group_interval.
pub const MIN_FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Error)]
pub enum NotifyError {
    #[error("{integration} answered {status}: {body}")]
    Status {
        integration: &'static str,
        status: u16,
        body: String,
    },
    /// 429: retried after the `Retry-After` the provider asked for, else with backoff.
    #[error("{integration} rate limited (429): {body}")]
    RateLimited {
        integration: &'static str,
        retry_after: Option<Duration>,
        body: String,
    },
    /// A success status with a body that says otherwise (Slack answers `ok`).
    #[error("{integration} answered {status} with unexpected body: {body}")]
    UnexpectedBody {
        integration: &'static str,
        status: u16,
        body: String,
    },
    /// A permanent refusal (SMTP 5xx, such as bad credentials): retrying will not help.
    #[error("{integration} refused: {reason}")]
    Refused {
        integration: &'static str,
        reason: String,
    },
    #[error("request failed: {0}")]
    Transport(String),
    #[error("reading secret file: {0}")]
    Secret(String),
    #[error("building notification: {0}")]
    Build(String),
    #[error("gave up after {attempts} attempts: {last}")]
    DeadlineExceeded {
        attempts: u32,
        last: Box<NotifyError>,
    },
    /// Not sent: the endpoint asked (429 with `Retry-After`) not to be called before then.
    #[error("not sent: the endpoint asked to wait {wait:?} more (Retry-After)")]
    Deferred { wait: Duration },
    /// Not sent: every request slot of this receiver integration stayed busy until the flush
    /// deadline (its earlier requests hang or are slow).
    #[error("not sent: all {slots} request slots stayed busy until the flush deadline")]
    NoFreeSlot { slots: usize },
}

/// Why a receiver's integration could not be built from its config.
#[derive(Debug, Error)]
pub enum IntegrationError {
    #[error(transparent)]
    Secret(#[from] crate::config::BothSecretForms),
    /// A setting the integration needs, given neither here nor in `global`.
    #[error("{0}")]
    Missing(&'static str),
    #[error("smarthost {0:?} must be host:port")]
    Smarthost(String),
    #[error("reading ca_file {path}: {source}")]
    CaFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("parsing ca_file {path}: {source}")]
    Certificate {
        path: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("proxy_url: {0}")]
    Proxy(#[source] reqwest::Error),
    #[error("building the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// A setting the config checks let through but the integration cannot use.
    #[error("{0}")]
    Invalid(String),
}

/// Why a config's receivers could not be built.
#[derive(Debug, Error)]
pub enum BuildError {
    #[error(transparent)]
    Templates(#[from] crate::template::TemplateError),
    #[error("receiver {receiver:?}: {integration}: {source}")]
    Integration {
        receiver: String,
        integration: &'static str,
        #[source]
        source: IntegrationError,
    },
}

impl NotifyError {
    fn secret(e: std::io::Error) -> NotifyError {
        NotifyError::Secret(e.to_string())
    }

    /// When the failed integration may be tried again, if the endpoint said (`Retry-After`).
    fn retry_at(&self) -> Option<Instant> {
        match self {
            NotifyError::Deferred { wait }
            | NotifyError::RateLimited {
                retry_after: Some(wait),
                ..
            } => Some(Instant::now() + *wait),
            NotifyError::DeadlineExceeded { last, .. } => last.retry_at(),
            _ => None,
        }
    }

    /// 5xx and transport errors are worth another try; a 4xx will not change by retrying.
    pub fn is_retryable(&self) -> bool {
        match self {
            NotifyError::Status { status, .. } => *status >= 500 || *status == 429,
            NotifyError::RateLimited { .. } => true,
            NotifyError::Transport(_) | NotifyError::Secret(_) => true,
            NotifyError::Deferred { .. } => true,
            _ => false,
        }
    }

    /// The `reason` label of the failure metric, as Alertmanager names them.
    pub fn reason(&self) -> &'static str {
        match self {
            NotifyError::Status { status, .. } if *status >= 500 => "serverError",
            NotifyError::Status { .. }
            | NotifyError::RateLimited { .. }
            | NotifyError::UnexpectedBody { .. }
            | NotifyError::Refused { .. } => "clientError",
            NotifyError::DeadlineExceeded { last, .. } => last.reason(),
            NotifyError::Deferred { .. } => "clientError",
            _ => "other",
        }
    }
}

pub use registry::integration_name;

/// `s` cut to `max` characters, the last replaced by `…` when it was longer (Alertmanager's
/// `TruncateInRunes`, which most providers' limits are counted in).
pub fn truncate_runes(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Requests in flight at once per receiver integration (`receiver × integration index`, the
/// unit the notification log keys on). Each has its own slots, so a receiver that hangs holds
/// only its own: another receiver of the same kind is never kept waiting behind it.
pub const SLOTS_PER_INTEGRATION: usize = 32;

/// One configured integration of one receiver, with its own request slots.
pub struct Integration {
    pub notifier: Box<dyn registry::Notify>,
    name: &'static str,
    pub receiver: String,
    pub index: usize,
    slots: tokio::sync::Semaphore,
}

impl Integration {
    fn new(
        name: &'static str,
        notifier: Box<dyn registry::Notify>,
        receiver: &str,
        index: usize,
    ) -> Integration {
        Integration {
            notifier,
            name,
            receiver: receiver.to_string(),
            index,
            slots: tokio::sync::Semaphore::new(SLOTS_PER_INTEGRATION),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn send_resolved(&self) -> bool {
        self.notifier.send_resolved()
    }

    async fn send(&self, ctx: &FlushContext, alerts: &[Alert]) -> Result<(), NotifyError> {
        self.notifier.send(ctx, alerts).await
    }
}

/// Every receiver's integrations, built once per loaded config.
pub struct Receivers {
    by_name: HashMap<String, Vec<Arc<Integration>>>,
    /// The config's templates, for what is rendered outside an integration (route labels).
    templates: Arc<crate::template::Templates>,
    /// The `tracing:` exporter of this config, if it exports.
    spans: Option<otlp::SpanExporter>,
}

impl Receivers {
    pub fn build(config: &LoadedConfig) -> Result<Receivers, BuildError> {
        let mut templates = crate::template::Templates::with_defaults()?;
        templates.add_globs(&config.template_globs)?;
        let templates = Arc::new(templates);
        let env = registry::BuildEnv {
            global: &config.global,
            templates: templates.clone(),
        };
        let mut by_name = HashMap::new();
        for r in &config.config.receivers {
            let mut list = Vec::new();
            for (index, (name, block)) in r.integrations().into_iter().enumerate() {
                let notifier = block
                    .build(&env)
                    .map_err(|source| BuildError::Integration {
                        receiver: r.name.clone(),
                        integration: name,
                        source,
                    })?;
                list.push(Arc::new(Integration::new(name, notifier, &r.name, index)));
            }
            by_name.insert(r.name.clone(), list);
        }
        let spans = config
            .config
            .tracing
            .as_ref()
            .and_then(otlp::SpanExporter::start);
        Ok(Receivers {
            by_name,
            templates,
            spans,
        })
    }

    pub fn integrations(&self, receiver: &str) -> &[Arc<Integration>] {
        self.by_name.get(receiver).map_or(&[], Vec::as_slice)
    }

    /// The flush's route labels rendered against its data, with the config's templates; a
    /// label whose template fails keeps its text.
    fn render_route_labels(&self, ctx: &FlushContext, alerts: &[Alert]) -> Vec<(String, String)> {
        let mut plain = ctx.clone();
        plain.route_labels = Vec::new();
        let value = crate::template::data_value(&plain.data(alerts));
        ctx.route_labels
            .iter()
            .map(|(name, text)| {
                let rendered = self.templates.render(text, &value).unwrap_or_else(|e| {
                    tracing::error!(label = %name, error = %e, "route label template failed");
                    text.clone()
                });
                (name.clone(), rendered)
            })
            .collect()
    }
}

/// What a flush knows about the group it notifies for.
#[derive(Clone, Debug)]
pub struct FlushContext {
    pub group_key: String,
    pub group_labels: LabelSet,
    pub receiver: String,
    pub repeat_interval: Duration,
    /// The one "now" the whole flush uses, so every stage agrees on what is resolved.
    pub now: Timestamp,
    pub deadline: Instant,
    pub external_url: String,
    /// The route's time intervals (not inherited, as in Alertmanager).
    pub mute_time_intervals: Vec<String>,
    pub active_time_intervals: Vec<String>,
    /// The route's labels: as configured until `Notifier::notify` renders them once for the
    /// flush, then as rendered (templates see them as `.RouteLabels`).
    pub route_labels: Vec<(String, String)>,
    /// A signed link that acknowledges the group's incident (templates see `.AckURL`).
    pub ack_url: Option<String>,
}

impl FlushContext {
    /// The notification data for these alerts under this flush.
    pub fn data(&self, alerts: &[Alert]) -> NotificationData {
        let mut data = NotificationData::new(
            &self.receiver,
            &self.group_labels,
            alerts,
            self.now,
            &self.external_url,
        );
        data.ack_url = self.ack_url.clone().unwrap_or_default();
        data.route_labels = self
            .route_labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        data
    }
}

/// The notification pipeline shared by all aggregation groups.
pub struct Notifier {
    pub receivers: Receivers,
    pub nflog: Arc<NotificationLog>,
    /// Notification log entries live at least this long (`--data.retention`).
    pub retention: Duration,
    pub muter: Arc<Muter>,
    /// Where notification log entries are saved.
    pub saved: Arc<dyn NflogStore>,
}

impl Notifier {
    /// Notifies every integration of the group's receiver. `delivered` when all succeeded (or
    /// had nothing new to say), which lets the group forget the resolved alerts it reported.
    pub async fn notify(self: &Arc<Self>, ctx: Arc<FlushContext>, alerts: Vec<Alert>) -> Delivery {
        let integrations = self.receivers.integrations(&ctx.receiver);
        if integrations.is_empty() || alerts.is_empty() {
            return Delivery::default_delivered();
        }
        // Rendered once here, not by every integration that builds its data.
        let ctx = if ctx.route_labels.is_empty() {
            ctx
        } else {
            let mut rendered = (*ctx).clone();
            rendered.route_labels = self.receivers.render_route_labels(&ctx, &alerts);
            Arc::new(rendered)
        };
        let alerts = Arc::new(alerts);
        let mut tasks = tokio::task::JoinSet::new();
        for integration in integrations {
            let (me, ctx, alerts, integration) = (
                self.clone(),
                ctx.clone(),
                alerts.clone(),
                integration.clone(),
            );
            tasks.spawn(async move { me.notify_one(&ctx, &alerts, &integration).await });
        }
        let mut delivery = Delivery::default_delivered();
        while let Some(result) = tasks.join_next().await {
            match result {
                Ok(Ok(())) => {}
                Ok(Err(retry_at)) => {
                    delivery.delivered = false;
                    delivery.retry_at = match (delivery.retry_at, retry_at) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                }
                Err(_) => delivery.delivered = false,
            }
        }
        delivery
    }

    /// The alerts no inhibition, route time interval or silence mutes (Alertmanager's order).
    /// What is left out is not logged as notified, so it goes out at the first flush after
    /// the mute ends.
    pub fn unmuted(&self, ctx: &FlushContext, alerts: &[Alert]) -> Vec<Alert> {
        let muter = &self.muter;
        if muter.route_muted(
            &ctx.mute_time_intervals,
            &ctx.active_time_intervals,
            ctx.now,
        ) {
            return Vec::new();
        }
        alerts
            .iter()
            .filter(|a| muter.inhibitor.mutes(&a.labels, ctx.now).is_none())
            .filter(|a| muter.silences.mutes(&a.labels, ctx.now).is_empty())
            .cloned()
            .collect()
    }

    /// Notifies one integration if the log says it has something new to hear. An error carries
    /// when the integration may be tried again sooner than the group's next flush (an endpoint's
    /// `Retry-After`), if it asked.
    async fn notify_one(
        &self,
        ctx: &FlushContext,
        alerts: &[Alert],
        integration: &Integration,
    ) -> Result<(), Option<Instant>> {
        let key = NflogKey {
            group_key: ctx.group_key.clone(),
            receiver: ctx.receiver.clone(),
            integration: integration.name(),
            index: integration.index,
        };
        let (mut firing, mut resolved) = (Vec::new(), Vec::new());
        for a in alerts {
            if a.resolved_at(ctx.now) {
                resolved.push(a.fingerprint.0);
            } else {
                firing.push(a.fingerprint.0);
            }
        }
        let previous = self.nflog.get(&key);
        if !needs_update(
            previous.as_ref(),
            &firing,
            &resolved,
            integration.send_resolved(),
            ctx,
        ) {
            return Ok(());
        }

        let to_send: Vec<Alert> = if integration.send_resolved() {
            alerts.to_vec()
        } else {
            alerts
                .iter()
                .filter(|a| !a.resolved_at(ctx.now))
                .cloned()
                .collect()
        };
        let expiry = self.retention.max(ctx.repeat_interval * 2);
        let expires_at =
            ctx.now + chrono::Duration::from_std(expiry).unwrap_or(chrono::Duration::MAX);
        // With send_resolved off and nothing firing there is nothing to say, but the log must
        // still learn that those alerts resolved.
        if !to_send.is_empty() {
            self.save_intent(&key, previous.as_ref(), &firing, expires_at, ctx)
                .await;
            if let Err(e) = self.send_with_retries(ctx, &to_send, integration).await {
                metrics::counter!("alertmanager_notifications_failed_total",
                    "integration" => integration.name(), "reason" => e.reason())
                .increment(1);
                tracing::error!(group_key = %ctx.group_key, receiver = %ctx.receiver,
                    integration = integration.name(), error = %e, "notify failed");
                return Err(e.retry_at());
            }
        }
        let entry = self.nflog.log(
            key.clone(),
            NflogEntry {
                firing,
                resolved,
                timestamp: ctx.now,
                expires_at,
                in_flight: false,
            },
        );
        // In fsync mode the flush waits for the commit, so a restart right after a page does
        // not send it again.
        if let Err(e) = self.saved.save_entry(key, entry).await {
            tracing::error!(error = %e, "could not save the notification log entry");
        }
        Ok(())
    }

    /// Saves, before a request leaves, that a send is in flight: if the process dies before
    /// the answer, the restarted router treats these alerts as possibly notified, so it still
    /// sends the resolved notification when they resolve (and re-sends the firing one: a
    /// repeat is better than a receiver left showing them firing for ever). The in-memory log
    /// keeps its entry until the send succeeds.
    async fn save_intent(
        &self,
        key: &NflogKey,
        previous: Option<&NflogEntry>,
        firing: &[u64],
        expires_at: Timestamp,
        ctx: &FlushContext,
    ) {
        let mut possibly_firing = firing.to_vec();
        if let Some(prev) = previous {
            possibly_firing.extend_from_slice(&prev.firing);
        }
        possibly_firing.sort_unstable();
        possibly_firing.dedup();
        let intent = NflogEntry {
            firing: possibly_firing,
            // Only what the receiver surely heard: a resolved notification in flight may be lost.
            resolved: previous.map(|p| p.resolved.clone()).unwrap_or_default(),
            timestamp: previous.map_or(ctx.now, |p| p.timestamp),
            expires_at,
            in_flight: true,
        };
        if let Err(e) = self.saved.save_entry(key.clone(), intent).await {
            tracing::error!(error = %e, receiver = %ctx.receiver,
                "could not save the notification intent; sending anyway");
        }
    }

    /// Sends the alerts to one integration, retrying until the context's deadline.
    pub(crate) async fn send_with_retries(
        &self,
        ctx: &FlushContext,
        alerts: &[Alert],
        integration: &Integration,
    ) -> Result<(), NotifyError> {
        self.with_retries(integration, ctx, || integration.send(ctx, alerts))
            .await
    }

    /// Runs `send` in one of the integration's request slots until it succeeds, fails for good,
    /// or the next try would pass the context's deadline.
    pub(crate) async fn with_retries<F, Fut>(
        &self,
        integration: &Integration,
        ctx: &FlushContext,
        send: F,
    ) -> Result<(), NotifyError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<(), NotifyError>>,
    {
        let started = std::time::SystemTime::now();
        let result = self.retrying(integration, ctx, send).await;
        if let Some(spans) = &self.receivers.spans {
            spans.record(otlp::Span {
                name: "notify",
                start: started,
                end: std::time::SystemTime::now(),
                attributes: vec![
                    ("integration", integration.name().to_string()),
                    ("receiver", ctx.receiver.clone()),
                    ("group_key", ctx.group_key.clone()),
                ],
                error: result.as_ref().err().map(ToString::to_string),
            });
        }
        result
    }

    async fn retrying<F, Fut>(
        &self,
        integration: &Integration,
        ctx: &FlushContext,
        send: F,
    ) -> Result<(), NotifyError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<(), NotifyError>>,
    {
        let name = integration.name();
        metrics::counter!("alertmanager_notifications_total", "integration" => name).increment(1);
        let mut backoff = Backoff::new();
        let mut attempts = 0;
        loop {
            let deadline = tokio::time::Instant::from_std(ctx.deadline);
            let Ok(Ok(_slot)) =
                tokio::time::timeout_at(deadline, integration.slots.acquire()).await
            else {
                metrics::counter!("alert_router_notification_slot_timeouts_total",
                    "integration" => name, "receiver" => integration.receiver.clone())
                .increment(1);
                return Err(NotifyError::NoFreeSlot {
                    slots: SLOTS_PER_INTEGRATION,
                });
            };
            let started = Instant::now();
            let result = tokio::time::timeout_at(deadline, send())
                .await
                .unwrap_or_else(|_| {
                    Err(NotifyError::Transport(
                        "timed out at the flush deadline".into(),
                    ))
                });
            drop(_slot);
            let err = match result {
                Ok(()) => {
                    count_request(name, started, false);
                    return Ok(());
                }
                // Nothing left: the endpoint's Retry-After has not passed yet.
                Err(NotifyError::Deferred { wait }) => {
                    if Instant::now() + wait >= ctx.deadline {
                        return Err(NotifyError::Deferred { wait });
                    }
                    tracing::debug!(integration = name, receiver = %ctx.receiver, ?wait,
                        "endpoint asked to wait (Retry-After); holding the notification");
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Err(e) => e,
            };
            attempts += 1;
            count_request(name, started, true);
            if !err.is_retryable() {
                return Err(err);
            }
            let delay = match &err {
                NotifyError::RateLimited {
                    retry_after: Some(wait),
                    ..
                } => *wait,
                _ => backoff.next_delay(),
            };
            if Instant::now() + delay >= ctx.deadline {
                return Err(NotifyError::DeadlineExceeded {
                    attempts,
                    last: Box::new(err),
                });
            }
            tracing::warn!(integration = name, receiver = %ctx.receiver, attempt = attempts,
                error = %err, retry_in = ?delay, "notify attempt failed, retrying");
            metrics::counter!("alert_router_notification_retries_total", "integration" => name)
                .increment(1);
            tokio::time::sleep(delay).await;
        }
    }
}

/// Counts one request that left (Alertmanager's request metrics).
fn count_request(name: &'static str, started: Instant, failed: bool) {
    metrics::counter!("alertmanager_notification_requests_total", "integration" => name)
        .increment(1);
    metrics::histogram!("alertmanager_notification_latency_seconds", "integration" => name)
        .record(started.elapsed().as_secs_f64());
    if failed {
        metrics::counter!("alertmanager_notification_requests_failed_total", "integration" => name)
            .increment(1);
    }
}

/// How a group's flush went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// Every integration succeeded or had nothing new to say.
    pub delivered: bool,
    /// The earliest an integration that failed may be tried again, when that is sooner than a
    /// group interval would bring (an endpoint's `Retry-After`).
    pub retry_at: Option<Instant>,
}

impl Delivery {
    fn default_delivered() -> Delivery {
        Delivery {
            delivered: true,
            retry_at: None,
        }
    }
}

/// Alertmanager's dedup rule: is there anything the receiver has not been told?
fn needs_update(
    previous: Option<&NflogEntry>,
    firing: &[u64],
    resolved: &[u64],
    send_resolved: bool,
    ctx: &FlushContext,
) -> bool {
    let Some(entry) = previous else {
        return !firing.is_empty();
    };
    if entry.in_flight && !firing.is_empty() {
        // A send that may not have arrived before a crash: say it again.
        return true;
    }
    if !entry.is_firing_subset(firing) {
        return true;
    }
    if firing.is_empty() {
        // Everything resolved: tell the receiver once (this also clears the log's firing set),
        // unless it never heard of any of them.
        return !entry.firing.is_empty();
    }
    if send_resolved && !entry.is_resolved_subset(resolved) {
        return true;
    }
    let repeat = chrono::Duration::from_std(ctx.repeat_interval).unwrap_or(chrono::Duration::MAX);
    entry.timestamp < ctx.now - repeat
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn ctx(repeat_secs: u64) -> FlushContext {
        FlushContext {
            group_key: "{}:{}".into(),
            group_labels: LabelSet::new(),
            receiver: "r".into(),
            repeat_interval: Duration::from_secs(repeat_secs),
            now: Utc::now(),
            deadline: Instant::now(),
            external_url: String::new(),
            mute_time_intervals: Vec::new(),
            active_time_intervals: Vec::new(),
            route_labels: Vec::new(),
            ack_url: None,
        }
    }

    fn entry(firing: &[u64], resolved: &[u64], age_secs: i64) -> NflogEntry {
        NflogEntry {
            firing: firing.to_vec(),
            resolved: resolved.to_vec(),
            timestamp: Utc::now() - chrono::Duration::seconds(age_secs),
            expires_at: Utc::now(),
            in_flight: false,
        }
    }

    #[test]
    fn dedup_rules() {
        let c = ctx(3600);
        assert!(needs_update(None, &[1], &[], false, &c));
        assert!(
            !needs_update(None, &[], &[1], true, &c),
            "only resolved, never notified"
        );
        let e = entry(&[1, 2], &[], 10);
        assert!(
            !needs_update(Some(&e), &[1], &[], false, &c),
            "firing subset, before repeat"
        );
        assert!(
            needs_update(Some(&e), &[1, 3], &[], false, &c),
            "new firing alert"
        );
        assert!(
            needs_update(Some(&e), &[], &[1, 2], false, &c),
            "all resolved"
        );
        assert!(!needs_update(
            Some(&entry(&[], &[1], 10)),
            &[],
            &[1],
            true,
            &c
        ));
        assert!(
            needs_update(Some(&e), &[1], &[2], true, &c),
            "newly resolved with send_resolved"
        );
        assert!(
            !needs_update(Some(&e), &[1], &[2], false, &c),
            "newly resolved without send_resolved"
        );
        assert!(
            needs_update(Some(&entry(&[1], &[], 3601)), &[1], &[], false, &c),
            "repeat due"
        );
    }

    #[test]
    fn a_send_in_flight_at_a_crash_counts_for_resolving_and_is_repeated_while_firing() {
        let c = ctx(3600);
        let in_flight = NflogEntry {
            in_flight: true,
            ..entry(&[1, 2], &[], 10)
        };
        assert!(
            needs_update(Some(&in_flight), &[], &[1, 2], false, &c),
            "resolved while down: the receiver may have heard them firing"
        );
        assert!(
            needs_update(Some(&in_flight), &[1, 2], &[], false, &c),
            "still firing: the firing notification may never have arrived"
        );
    }
}
