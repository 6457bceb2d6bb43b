//! Carries out the escalator's actions through the running config's receivers: pages a step's
//! receivers, sends PagerDuty `acknowledge` / `resolve`, and posts the acknowledged notices.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Action, Escalator, StepOutcome};
use crate::model::{Alert, Fingerprint, LabelSet};
use crate::notify::registry::IncidentUpdate;
use crate::notify::{FlushContext, Notifier};
use crate::store::AlertStore;

/// How long one step's pages (with retries) may take.
const STEP_DEADLINE: Duration = Duration::from_secs(60);

/// What a delivery needs from the running router.
pub struct Deliverer {
    pub notifier: Arc<Notifier>,
    pub store: Arc<AlertStore>,
    pub escalator: Arc<Escalator>,
    pub external_url: String,
    /// The HA cluster, told of each step paged so the other replicas move on too.
    pub cluster: Option<Arc<crate::cluster::PgCluster>>,
}

impl Deliverer {
    fn context(&self, group_key: &str, group_labels: &LabelSet, receiver: &str) -> FlushContext {
        FlushContext {
            group_key: group_key.to_string(),
            group_labels: group_labels.clone(),
            receiver: receiver.to_string(),
            repeat_interval: Duration::ZERO,
            now: self.escalator.now(),
            deadline: Instant::now() + STEP_DEADLINE,
            external_url: self.external_url.clone(),
            mute_time_intervals: Vec::new(),
            active_time_intervals: Vec::new(),
            route_labels: Vec::new(),
            ack_url: None,
        }
    }

    pub async fn run(self, action: Action) {
        match action {
            Action::Page {
                incident,
                group_key,
                group_labels,
                policy,
                position,
                step,
                alerts,
            } => {
                let outcome = self
                    .page(&incident, &group_key, &group_labels, &step, &alerts)
                    .await;
                tracing::info!(%incident, %policy, round = position.round, step = position.step,
                    outcome = ?outcome, "escalation step");
                let delivered = match &outcome {
                    StepOutcome::Paged { delivered, .. } => delivered.clone(),
                    _ => Vec::new(),
                };
                self.escalator.step_done(&incident, position, outcome).await;
                if let (Some(cluster), false) = (&self.cluster, delivered.is_empty()) {
                    cluster.publish_incident_action(crate::cluster::IncidentAction {
                        group_key: group_key.clone(),
                        action: "step".into(),
                        by: String::new(),
                        comment: None,
                        at: chrono::Utc::now(),
                        step: Some(position),
                        receivers: delivered,
                    });
                }
            }
            Action::Tell {
                update,
                incident,
                group_key,
                group_labels,
                receivers,
                by,
                comment,
                notice,
            } => {
                let text = notice_text(
                    &incident,
                    &group_labels,
                    update.as_str(),
                    by.as_deref(),
                    &comment,
                );
                let tag = update.as_str().to_uppercase();
                // A human's change reaches every PagerDuty integration paged; alerts resolving
                // reach those that send resolved notifications.
                self.tell(
                    &group_key,
                    &group_labels,
                    &receivers,
                    update.event_action(),
                    by.is_some(),
                    notice.then_some((tag.as_str(), text.as_str())),
                )
                .await;
            }
        }
    }

    async fn page(
        &self,
        incident: &str,
        group_key: &str,
        group_labels: &LabelSet,
        step: &super::Step,
        fingerprints: &[String],
    ) -> StepOutcome {
        let now = self.escalator.now();
        let firing: Vec<Alert> = fingerprints
            .iter()
            .filter_map(|fp| Fingerprint::parse(fp))
            .filter_map(|fp| self.store.get(fp))
            .filter(|a| !a.resolved_at(now))
            .map(|a| (*a).clone())
            .collect();
        if firing.is_empty() {
            return StepOutcome::NothingFiring;
        }
        if self
            .notifier
            .muter
            .route_muted(&[], &step.active_time_intervals, now)
        {
            return StepOutcome::Inactive;
        }
        let mut firing = self
            .notifier
            .unmuted(&self.context(group_key, group_labels, ""), &firing);
        if firing.is_empty() {
            return StepOutcome::Muted;
        }
        crate::model::sort_for_notification(&mut firing);
        let alerts = Arc::new(firing);
        let mut tasks = tokio::task::JoinSet::new();
        for receiver in &step.receivers {
            let mut ctx = self.context(group_key, group_labels, receiver);
            ctx.ack_url = self.escalator.ack_link(incident, receiver);
            let ctx = Arc::new(ctx);
            for integration in self.notifier.receivers.integrations(receiver) {
                let (notifier, ctx, alerts, integration) = (
                    self.notifier.clone(),
                    ctx.clone(),
                    alerts.clone(),
                    integration.clone(),
                );
                tasks.spawn(async move {
                    let result = notifier
                        .send_with_retries(&ctx, &alerts, &integration)
                        .await;
                    (ctx.receiver.clone(), integration.name(), result)
                });
            }
        }
        let mut failed: Vec<(String, String)> = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let Ok((receiver, integration, result)) = joined else {
                continue;
            };
            if let Err(e) = result {
                metrics::counter!("alertmanager_notifications_failed_total",
                    "integration" => integration, "reason" => e.reason())
                .increment(1);
                tracing::error!(%incident, %receiver, integration, error = %e, "escalation page failed");
                failed.push((receiver, format!("{integration}: {e}")));
            }
        }
        let delivered = step
            .receivers
            .iter()
            .filter(|r| !failed.iter().any(|(f, _)| f == *r))
            .cloned()
            .collect();
        StepOutcome::Paged { delivered, failed }
    }

    /// Sends PagerDuty `event_action` (to integrations that send resolved notifications unless
    /// `always`) and, with `notice`, the notice to Slack and email.
    async fn tell(
        &self,
        group_key: &str,
        group_labels: &LabelSet,
        receivers: &[String],
        event_action: &'static str,
        always: bool,
        notice: Option<(&str, &str)>,
    ) {
        for receiver in receivers {
            let ctx = self.context(group_key, group_labels, receiver);
            let update = IncidentUpdate {
                group_key,
                group_labels,
                event_action,
                always,
                notice,
            };
            for integration in self.notifier.receivers.integrations(receiver) {
                let result = match integration.notifier.tell(&ctx, &update) {
                    Some(_) => {
                        self.notifier
                            .with_retries(integration, &ctx, || {
                                integration
                                    .notifier
                                    .tell(&ctx, &update)
                                    .unwrap_or_else(|| Box::pin(async { Ok(()) }))
                            })
                            .await
                    }
                    None => Ok(()),
                };
                if let Err(e) = result {
                    tracing::error!(%receiver, integration = integration.name(), error = %e,
                        event_action, "incident update failed");
                }
            }
        }
    }
}

fn notice_text(
    incident: &str,
    group_labels: &LabelSet,
    what: &str,
    by: Option<&str>,
    comment: &Option<String>,
) -> String {
    let mut text = format!("Incident {incident} {group_labels} {what}");
    if let Some(by) = by {
        text.push_str(&format!(" by {by}"));
    }
    if let Some(c) = comment.as_deref().filter(|c| !c.is_empty()) {
        text.push_str(&format!(": {c}"));
    }
    text
}
