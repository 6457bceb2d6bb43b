//! What an API behind a load balancer needs every replica to agree on: silences, and the
//! acknowledgements, unacknowledgements and resolves of incidents. Both are written through to
//! PostgreSQL as they happen (kept in an outbox while it is unreachable, and merged when it
//! answers again) and re-read by every replica on each heartbeat.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio_postgres::Client;

use super::{ClusterError, PgCluster};
use crate::escalate::StepPosition;
use crate::store::{Silence, SilencePersistence, StoreError};

/// An incident action taken on one replica, for the others to apply to their incident of the
/// same group.
#[derive(Clone, Debug)]
pub struct IncidentAction {
    pub group_key: String,
    /// `ack`, `unack`, `resolve`, or `step` (an escalation step paged).
    pub action: String,
    pub by: String,
    pub comment: Option<String>,
    pub at: DateTime<Utc>,
    /// For `step`: which step, and the receivers it reached.
    pub step: Option<StepPosition>,
    pub receivers: Vec<String>,
}

/// Something to write to the store.
#[derive(Clone, Debug)]
pub(super) enum Outgoing {
    Silence(Box<Silence>),
    DeleteSilence(String),
    Action(IncidentAction),
}

/// The channel replicas announce silence and incident changes on.
const CHANNEL: &str = "alert_router_changes";

/// How far back a replica looks for the others' incident actions when it starts: an
/// acknowledgement made while it was down still stops its escalation.
const ACTIONS_LOOKBACK: &str = "1 day";
/// Re-read silences changed this long before the newest seen, for commits that became visible
/// after a later one.
const SILENCE_OVERLAP: chrono::Duration = chrono::Duration::seconds(2);

impl PgCluster {
    pub(super) fn queue(&self, item: Outgoing) {
        self.outbox.lock().push(item);
        self.outbox_ready.notify_one();
    }

    /// Takes an incident action to the other replicas.
    pub fn publish_incident_action(&self, action: IncidentAction) {
        self.queue(Outgoing::Action(action));
    }

    /// The other replicas' incident actions, in order, for the escalator to apply.
    pub fn incident_actions(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<IncidentAction>> {
        self.actions_in.lock().take()
    }

    /// Writes what is queued; what fails goes back to the front of the queue.
    pub(super) async fn flush_outbox(&self, client: &Client) -> Result<(), ClusterError> {
        let items: Vec<Outgoing> = std::mem::take(&mut *self.outbox.lock());
        if items.is_empty() {
            return Ok(());
        }
        for (done, item) in items.iter().enumerate() {
            if let Err(e) = self.write(client, item).await {
                let mut outbox = self.outbox.lock();
                let rest: Vec<Outgoing> = items[done..].to_vec();
                let later = std::mem::take(&mut *outbox);
                *outbox = rest.into_iter().chain(later).collect();
                return Err(e);
            }
        }
        self.announce(client).await;
        Ok(())
    }

    async fn write(&self, client: &Client, item: &Outgoing) -> Result<(), ClusterError> {
        match item {
            Outgoing::Silence(silence) => {
                let body = serde_json::to_value(silence.as_ref()).unwrap_or_default();
                // The newest version wins, whichever replica wrote it and in whichever order.
                client
                    .execute(
                        "INSERT INTO alert_router_silences (id, body, updated_at, changed_at)
                         VALUES ($1, $2, $3, clock_timestamp())
                         ON CONFLICT (id) DO UPDATE
                           SET body = EXCLUDED.body, updated_at = EXCLUDED.updated_at,
                               changed_at = clock_timestamp()
                           WHERE alert_router_silences.updated_at <= EXCLUDED.updated_at",
                        &[&silence.id, &body, &silence.updated_at],
                    )
                    .await?;
            }
            Outgoing::DeleteSilence(id) => {
                client
                    .execute("DELETE FROM alert_router_silences WHERE id = $1", &[id])
                    .await?;
            }
            Outgoing::Action(a) => {
                client
                    .execute(
                        "INSERT INTO alert_router_incident_actions
                           (group_key, action, by_whom, comment, origin, at,
                            step_round, step_index, receivers)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                        &[
                            &a.group_key,
                            &a.action,
                            &a.by,
                            &a.comment,
                            &self.config.peer_name,
                            &a.at,
                            &a.step.map(|p| i64::from(p.round)),
                            &a.step.map(|p| p.step as i64),
                            &a.receivers,
                        ],
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// Tells the other replicas to read now rather than at their next heartbeat.
    pub(super) async fn announce(&self, client: &Client) {
        if let Err(e) = client.batch_execute(&format!("NOTIFY {CHANNEL}")).await {
            tracing::debug!(error = %e, "NOTIFY failed; the others read on their heartbeat");
        }
    }

    /// Follows the others' changes as PostgreSQL announces them (LISTEN), so silences and
    /// incident actions arrive in milliseconds; the heartbeat's re-read stays, since a
    /// notification sent while this replica was not listening is gone.
    pub(super) fn listen(self: &Arc<PgCluster>) {
        let cluster = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = cluster.listen_once().await {
                    tracing::debug!(error = %e, "cluster change feed closed; reconnecting");
                }
                tokio::time::sleep(cluster.config.heartbeat).await;
            }
        });
        let reader = self.clone();
        tokio::spawn(async move {
            loop {
                reader.changes_announced.notified().await;
                let Ok(client) = reader.connected().await else {
                    continue;
                };
                if let Err(e) = reader.read_changes(&client).await {
                    tracing::debug!(error = %e, "reading announced changes failed; the heartbeat retries");
                }
            }
        });
    }

    async fn listen_once(&self) -> Result<(), ClusterError> {
        let connecting = tokio_postgres::connect(&self.config.url, tokio_postgres::NoTls);
        let (client, mut connection) =
            tokio::time::timeout(std::time::Duration::from_secs(5), connecting)
                .await
                .map_err(|_| ClusterError::ConnectTimeout)??;
        let (heard, mut announcements) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                    Some(Ok(tokio_postgres::AsyncMessage::Notification(_))) => {
                        if heard.send(()).is_err() {
                            return;
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => return,
                }
            }
        });
        client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
        while announcements.recv().await.is_some() {
            self.changes_announced.notify_one();
        }
        Ok(())
    }

    /// Reads silences and incident actions, one reader at a time: a read asked for while
    /// another runs is left to the next heartbeat's.
    pub(super) async fn read_changes(&self, client: &Client) -> Result<(), ClusterError> {
        use std::sync::atomic::Ordering;
        if self.reading.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let silences = self.read_silences(client).await;
        let actions = self.read_actions(client).await;
        self.reading.store(false, Ordering::Release);
        silences.and(actions)
    }

    /// Silences changed since the last read, into the local index.
    pub(super) async fn read_silences(&self, client: &Client) -> Result<(), ClusterError> {
        let since = self
            .silence_cursor
            .lock()
            .map_or(DateTime::<Utc>::UNIX_EPOCH, |c| c - SILENCE_OVERLAP);
        let rows = client
            .query(
                "SELECT body, changed_at FROM alert_router_silences
                 WHERE changed_at > $1 ORDER BY changed_at",
                &[&since],
            )
            .await?;
        for row in rows {
            let changed: DateTime<Utc> = row.get(1);
            if let Ok(silence) = serde_json::from_value::<Silence>(row.get(0)) {
                let _ = self.silence_feed.send(silence);
            }
            let mut cursor = self.silence_cursor.lock();
            *cursor = Some(cursor.map_or(changed, |c| c.max(changed)));
        }
        Ok(())
    }

    /// The other replicas' incident actions since the last read.
    pub(super) async fn read_actions(&self, client: &Client) -> Result<(), ClusterError> {
        let after = *self.action_cursor.lock();
        let rows = client
            .query(
                &format!(
                    "SELECT seq, group_key, action, by_whom, comment, at,
                            step_round, step_index, receivers
                     FROM alert_router_incident_actions
                     WHERE seq > $1 AND origin <> $2 AND at > now() - interval '{ACTIONS_LOOKBACK}'
                     ORDER BY seq LIMIT 1000"
                ),
                &[&after, &self.config.peer_name],
            )
            .await?;
        for row in rows {
            let seq: i64 = row.get(0);
            {
                let mut cursor = self.action_cursor.lock();
                *cursor = (*cursor).max(seq);
            }
            let (round, index): (Option<i64>, Option<i64>) = (row.get(6), row.get(7));
            let step = round.zip(index).map(|(round, step)| StepPosition {
                round: u32::try_from(round).unwrap_or(0),
                step: usize::try_from(step).unwrap_or(0),
            });
            let action = IncidentAction {
                group_key: row.get(1),
                action: row.get(2),
                by: row.get(3),
                comment: row.get(4),
                at: row.get(5),
                step,
                receivers: row.get(8),
            };
            let _ = self.actions_out.send(action);
        }
        Ok(())
    }
}

/// The silence port with the cluster behind the local store: saved locally (so the answer
/// waits for the local commit, as before) and queued for the store at once.
pub struct SharedSilences {
    pub local: Arc<dyn SilencePersistence>,
    pub cluster: Arc<PgCluster>,
}

impl SilencePersistence for SharedSilences {
    fn save_silence(&self, silence: &Silence) -> Result<(), StoreError> {
        self.local.save_silence(silence)?;
        self.cluster
            .queue(Outgoing::Silence(Box::new(silence.clone())));
        Ok(())
    }

    fn delete_silence(&self, id: &str) -> Result<(), StoreError> {
        self.local.delete_silence(id)?;
        self.cluster.queue(Outgoing::DeleteSilence(id.to_string()));
        Ok(())
    }

    fn silence_changes(&self) -> Option<tokio::sync::broadcast::Receiver<Silence>> {
        Some(self.cluster.silence_feed.subscribe())
    }
}
