//! Delivery: for each flushed aggregation group, every integration of its receiver decides from
//! the notification log whether anything changed, sends with retries until the flush deadline,
//! and logs what it sent so no page goes out twice.

pub mod data;
pub mod email;
pub(crate) mod http;
pub mod pagerduty;
mod render;
mod retry;
pub mod slack;
pub mod webhook;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::config::LoadedConfig;
use crate::model::time::Timestamp;
use crate::model::{Alert, LabelSet};
use crate::mute::Muter;
use crate::store::{NflogEntry, NflogKey, NotificationLog, Persister, Write};

pub use data::NotificationData;
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
}

impl NotifyError {
    fn secret(e: std::io::Error) -> NotifyError {
        NotifyError::Secret(e.to_string())
    }

    /// 5xx and transport errors are worth another try; a 4xx will not change by retrying.
    pub fn is_retryable(&self) -> bool {
        match self {
            NotifyError::Status { status, .. } => *status >= 500 || *status == 429,
            NotifyError::RateLimited { .. } => true,
            NotifyError::Transport(_) | NotifyError::Secret(_) => true,
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
            _ => "other",
        }
    }
}

/// The static name of an integration, for keys read back from storage.
pub fn integration_name(name: &str) -> Option<&'static str> {
    ["webhook", "slack", "pagerduty", "email"]
        .into_iter()
        .find(|n| *n == name)
}

/// One configured integration of a receiver.
pub enum Integration {
    Webhook(webhook::WebhookNotifier),
    Slack(slack::SlackNotifier),
    Pagerduty(pagerduty::PagerdutyNotifier),
    Email(email::EmailNotifier),
}

impl Integration {
    pub fn name(&self) -> &'static str {
        match self {
            Integration::Webhook(_) => "webhook",
            Integration::Slack(_) => "slack",
            Integration::Pagerduty(_) => "pagerduty",
            Integration::Email(_) => "email",
        }
    }

    pub fn send_resolved(&self) -> bool {
        match self {
            Integration::Webhook(w) => w.send_resolved,
            Integration::Slack(s) => s.send_resolved,
            Integration::Pagerduty(p) => p.send_resolved,
            Integration::Email(e) => e.send_resolved,
        }
    }

    async fn send(&self, ctx: &FlushContext, alerts: &[Alert]) -> Result<(), NotifyError> {
        match self {
            Integration::Webhook(w) => w.send(ctx, alerts).await,
            Integration::Slack(s) => s.send(ctx, alerts).await,
            Integration::Pagerduty(p) => p.send(ctx, alerts).await,
            Integration::Email(e) => e.send(ctx, alerts).await,
        }
    }
}

/// Requests in flight at once per integration kind, so a provider that hangs holds only its
/// own slots: Slack timing out does not hold PagerDuty or email back.
const CONCURRENCY_PER_INTEGRATION: usize = 32;

/// Every receiver's integrations, built once per loaded config.
pub struct Receivers {
    by_name: HashMap<String, Vec<Arc<Integration>>>,
    limits: HashMap<&'static str, Arc<tokio::sync::Semaphore>>,
}

impl Receivers {
    pub fn build(config: &LoadedConfig) -> Result<Receivers, String> {
        let mut templates =
            crate::template::Templates::with_defaults().map_err(|e| e.to_string())?;
        templates
            .add_globs(&config.template_globs)
            .map_err(|e| e.to_string())?;
        let templates = Arc::new(templates);
        let global = &config.global;
        let mut by_name = HashMap::new();
        for r in &config.config.receivers {
            let mut list = Vec::new();
            let at = |kind: &str, e: String| format!("receiver {:?}: {kind}: {e}", r.name);
            for w in &r.webhook_configs {
                let notifier = webhook::WebhookNotifier::new(w).map_err(|e| at("webhook", e))?;
                list.push(Arc::new(Integration::Webhook(notifier)));
            }
            for c in &r.slack_configs {
                let notifier = slack::SlackNotifier::new(
                    c,
                    global.slack_api_url.as_ref(),
                    global.slack_api_url_file.as_ref(),
                    templates.clone(),
                )
                .map_err(|e| at("slack", e))?;
                list.push(Arc::new(Integration::Slack(notifier)));
            }
            for c in &r.pagerduty_configs {
                let notifier = pagerduty::PagerdutyNotifier::new(
                    c,
                    global.pagerduty_url.as_deref(),
                    templates.clone(),
                )
                .map_err(|e| at("pagerduty", e))?;
                list.push(Arc::new(Integration::Pagerduty(notifier)));
            }
            for c in &r.email_configs {
                let notifier = email::EmailNotifier::new(c, global, templates.clone())
                    .map_err(|e| at("email", e))?;
                list.push(Arc::new(Integration::Email(notifier)));
            }
            by_name.insert(r.name.clone(), list);
        }
        let limits = ["webhook", "slack", "pagerduty", "email"]
            .into_iter()
            .map(|k| {
                (
                    k,
                    Arc::new(tokio::sync::Semaphore::new(CONCURRENCY_PER_INTEGRATION)),
                )
            })
            .collect();
        Ok(Receivers { by_name, limits })
    }

    pub fn integrations(&self, receiver: &str) -> &[Arc<Integration>] {
        self.by_name.get(receiver).map_or(&[], Vec::as_slice)
    }

    fn limit(&self, integration: &'static str) -> Option<Arc<tokio::sync::Semaphore>> {
        self.limits.get(integration).cloned()
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
    /// Where notification log entries and group schedules are saved, if anywhere.
    pub persister: Option<Persister>,
}

impl Notifier {
    /// Notifies every integration of the group's receiver; true when all succeeded (or had
    /// nothing new to say), which lets the group forget the resolved alerts it reported.
    pub async fn notify(self: &Arc<Self>, ctx: Arc<FlushContext>, alerts: Vec<Alert>) -> bool {
        let integrations = self.receivers.integrations(&ctx.receiver);
        if integrations.is_empty() || alerts.is_empty() {
            return true;
        }
        let alerts = Arc::new(alerts);
        let mut tasks = tokio::task::JoinSet::new();
        for (index, integration) in integrations.iter().enumerate() {
            let (me, ctx, alerts, integration) = (
                self.clone(),
                ctx.clone(),
                alerts.clone(),
                integration.clone(),
            );
            tasks.spawn(async move { me.notify_one(&ctx, &alerts, &integration, index).await });
        }
        let mut all_ok = true;
        while let Some(result) = tasks.join_next().await {
            all_ok &= result.unwrap_or(false);
        }
        all_ok
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

    async fn notify_one(
        &self,
        ctx: &FlushContext,
        alerts: &[Alert],
        integration: &Integration,
        index: usize,
    ) -> bool {
        let key = NflogKey {
            group_key: ctx.group_key.clone(),
            receiver: ctx.receiver.clone(),
            integration: integration.name(),
            index,
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
            return true;
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
        // With send_resolved off and nothing firing there is nothing to say, but the log must
        // still learn that those alerts resolved.
        if !to_send.is_empty() {
            if let Err(e) = self.send_with_retries(ctx, &to_send, integration).await {
                metrics::counter!("alertmanager_notifications_failed_total",
                    "integration" => integration.name(), "reason" => e.reason())
                .increment(1);
                tracing::error!(group_key = %ctx.group_key, receiver = %ctx.receiver,
                    integration = integration.name(), error = %e, "notify failed");
                return false;
            }
        }
        let expiry = self.retention.max(ctx.repeat_interval * 2);
        let expires_at =
            ctx.now + chrono::Duration::from_std(expiry).unwrap_or(chrono::Duration::MAX);
        let entry = self.nflog.log(
            key.clone(),
            NflogEntry {
                firing,
                resolved,
                timestamp: ctx.now,
                expires_at,
            },
        );
        if let Some(p) = &self.persister {
            // In fsync mode the flush waits for the commit, so a restart right after a page
            // does not send it again.
            if let Err(e) = p.persist(vec![Write::PutNflog(key, entry)]).await {
                tracing::error!(error = %e, "could not save the notification log entry");
            }
        }
        true
    }

    /// Sends the alerts to one integration, retrying until the context's deadline.
    pub(crate) async fn send_with_retries(
        &self,
        ctx: &FlushContext,
        alerts: &[Alert],
        integration: &Integration,
    ) -> Result<(), NotifyError> {
        self.with_retries(integration.name(), ctx, || integration.send(ctx, alerts))
            .await
    }

    /// Runs `send` under the integration's concurrency limit until it succeeds, fails for good,
    /// or the next try would pass the context's deadline.
    pub(crate) async fn with_retries<F, Fut>(
        &self,
        name: &'static str,
        ctx: &FlushContext,
        send: F,
    ) -> Result<(), NotifyError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<(), NotifyError>>,
    {
        metrics::counter!("alertmanager_notifications_total", "integration" => name).increment(1);
        let mut backoff = Backoff::new();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let started = Instant::now();
            metrics::counter!("alertmanager_notification_requests_total", "integration" => name)
                .increment(1);
            let limit = self.receivers.limit(name);
            let attempt = async {
                let _permit = match &limit {
                    Some(l) => l.acquire().await.ok(),
                    None => None,
                };
                send().await
            };
            let result = tokio::time::timeout_at(ctx.deadline.into(), attempt)
                .await
                .unwrap_or_else(|_| {
                    Err(NotifyError::Transport(
                        "timed out at the flush deadline".into(),
                    ))
                });
            metrics::histogram!("alertmanager_notification_latency_seconds", "integration" => name)
                .record(started.elapsed().as_secs_f64());
            let err = match result {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            metrics::counter!("alertmanager_notification_requests_failed_total", "integration" => name).increment(1);
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
            ack_url: None,
        }
    }

    fn entry(firing: &[u64], resolved: &[u64], age_secs: i64) -> NflogEntry {
        NflogEntry {
            firing: firing.to_vec(),
            resolved: resolved.to_vec(),
            timestamp: Utc::now() - chrono::Duration::seconds(age_secs),
            expires_at: Utc::now(),
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
}
