//! High availability on PostgreSQL (`--cluster.store postgres://…`): replicas that all receive
//! every alert (Prometheus sends to each, as with Alertmanager) share their coordination state
//! in the database every operations team already runs in HA, so each group is notified by
//! exactly one of them and a dead replica's groups are taken over.
//!
//! - **Membership**: each replica upserts a heartbeat row every `--cluster.heartbeat`; the live
//!   replicas are those seen within `--cluster.lease-ttl`.
//! - **Ownership**: group keys hash to [`SHARDS`] shards. Each shard's owner is chosen among
//!   the live replicas by rendezvous hashing, so a join or a leave moves only the shards it
//!   must, and is held under a lease with an epoch (a fencing token) that the owner renews on
//!   every heartbeat. A replica notifies a group, and pages its incident's steps, only while it
//!   holds the group's shard (see [`crate::leases`]); its own view of a lease ends a third of a
//!   TTL before the database's, so a slow replica stops before another may start.
//! - **Notification log**: every entry is written to PostgreSQL only if the writer still holds
//!   the shard at the same epoch, in one statement; a replica taking a shard over loads its
//!   entries first, so it knows what was sent and does not page again.
//! - **Silences and incident actions** (acknowledge, unacknowledge, resolve, and each step
//!   the owner pages) are written through as they happen and announced with NOTIFY; the others
//!   LISTEN and read them at once, and re-read on every heartbeat for what a notification lost.
//! - **Fail open**: when the database cannot be reached for a lease TTL, a replica notifies
//!   every group as if it were alone (a duplicate page is better than none) and says so in its
//!   log, in `/api/v2/status` and in `alert_router_cluster_store_up`; with the database back, it
//!   goes back to its shards.

mod schema;
mod shared;

pub use shared::{IncidentAction, SharedSilences};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use sha2::{Digest, Sha256};
use tokio_postgres::Client;

use crate::leases::Leases;
use crate::notify::{integration_name, NflogEntry, NflogKey, NflogStore, NotificationLog};
use crate::store::{Pending, StoreError};

/// Shards the group keys are spread over: enough that three replicas get even shares and a
/// takeover moves a small part of the groups.
pub const SHARDS: u32 = 128;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("PostgreSQL: {}", describe(.0))]
    Db(#[from] tokio_postgres::Error),
    #[error("connecting to PostgreSQL timed out")]
    ConnectTimeout,
    #[error("--cluster.store: {0}")]
    Url(String),
    #[error("{0}")]
    Settings(String),
}

/// tokio-postgres says only "db error" for what the server answered: its message is inside.
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => e.to_string(),
    }
}

#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// A `postgres://` URL (or key=value connection string).
    pub url: String,
    pub peer_name: String,
    pub advertise_address: String,
    pub lease_ttl: Duration,
    pub heartbeat: Duration,
}

impl ClusterConfig {
    /// Checks the settings before anything starts.
    pub fn validate(&self) -> Result<(), ClusterError> {
        self.url
            .parse::<tokio_postgres::Config>()
            .map_err(|e| ClusterError::Url(e.to_string()))?;
        if self.heartbeat.is_zero() || self.lease_ttl < self.heartbeat * 3 {
            return Err(ClusterError::Settings(format!(
                "--cluster.lease-ttl ({:?}) must be at least three heartbeats ({:?})",
                self.lease_ttl, self.heartbeat
            )));
        }
        Ok(())
    }
}

/// A member of the cluster as `/api/v2/status` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    pub name: String,
    pub address: String,
}

#[derive(Clone, Copy, Debug)]
struct Held {
    epoch: i64,
    valid_until: Instant,
}

#[derive(Default)]
struct View {
    held: HashMap<u32, Held>,
    peers: Vec<Peer>,
    /// When the database last answered a whole heartbeat.
    last_ok: Option<Instant>,
    /// The database has been unreachable for a lease TTL: notify everything.
    fail_open: bool,
    /// At least one heartbeat went through since the start.
    settled: bool,
}

/// What `/api/v2/status` says about the cluster.
#[derive(Clone, Debug)]
pub struct ClusterStatus {
    pub name: String,
    pub peers: Vec<Peer>,
    /// `ready` or `settling`, as Alertmanager says.
    pub status: &'static str,
    /// `ok`, or `unreachable` while failing open.
    pub store: &'static str,
}

pub struct PgCluster {
    config: ClusterConfig,
    view: RwLock<View>,
    client: Mutex<Option<Arc<Client>>>,
    nflog: Arc<NotificationLog>,
    /// Silences and incident actions to write, in order; kept while the store is away.
    outbox: Mutex<Vec<shared::Outgoing>>,
    outbox_ready: tokio::sync::Notify,
    /// Silences read from the store, for the local index to follow.
    silence_feed: tokio::sync::broadcast::Sender<crate::store::Silence>,
    silence_cursor: Mutex<Option<chrono::DateTime<chrono::Utc>>>,
    /// The other replicas' incident actions, for the escalator.
    actions_out: tokio::sync::mpsc::UnboundedSender<IncidentAction>,
    actions_in: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<IncidentAction>>>,
    action_cursor: Mutex<i64>,
    /// Another replica announced a change (NOTIFY): read now.
    changes_announced: tokio::sync::Notify,
    reading: std::sync::atomic::AtomicBool,
}

/// The shard of a group key: the same in every replica and every release.
pub fn shard_of(group_key: &str) -> u32 {
    let digest = Sha256::digest(group_key.as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % SHARDS
}

/// Rendezvous hashing: the live member with the highest score owns the shard.
fn owner_of(shard: u32, members: &[Peer]) -> Option<&str> {
    members
        .iter()
        .max_by_key(|m| {
            let mut d = Sha256::new();
            d.update(m.name.as_bytes());
            d.update(shard.to_be_bytes());
            let digest = d.finalize();
            u64::from_be_bytes([
                digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6],
                digest[7],
            ])
        })
        .map(|m| m.name.as_str())
}

impl PgCluster {
    pub fn new(config: ClusterConfig, nflog: Arc<NotificationLog>) -> Arc<PgCluster> {
        metrics::gauge!("alert_router_cluster_store_up").set(0.0);
        let (actions_out, actions_in) = tokio::sync::mpsc::unbounded_channel();
        Arc::new(PgCluster {
            config,
            view: RwLock::new(View::default()),
            client: Mutex::new(None),
            nflog,
            outbox: Mutex::new(Vec::new()),
            outbox_ready: tokio::sync::Notify::new(),
            silence_feed: tokio::sync::broadcast::channel(4096).0,
            silence_cursor: Mutex::new(None),
            actions_out,
            actions_in: Mutex::new(Some(actions_in)),
            action_cursor: Mutex::new(0),
            changes_announced: tokio::sync::Notify::new(),
            reading: std::sync::atomic::AtomicBool::new(false),
        })
    }

    pub fn status(&self) -> ClusterStatus {
        let view = self.view.read();
        let mut peers = view.peers.clone();
        if peers.is_empty() || view.fail_open {
            peers = vec![Peer {
                name: self.config.peer_name.clone(),
                address: self.config.advertise_address.clone(),
            }];
        }
        ClusterStatus {
            name: self.config.peer_name.clone(),
            peers,
            status: if view.settled || view.fail_open {
                "ready"
            } else {
                "settling"
            },
            store: if view.fail_open { "unreachable" } else { "ok" },
        }
    }

    fn holds(&self, group_key: &str) -> bool {
        let view = self.view.read();
        if view.fail_open {
            return true;
        }
        view.held
            .get(&shard_of(group_key))
            .is_some_and(|h| h.valid_until > Instant::now())
    }

    fn epoch_of(&self, shard: u32) -> Option<i64> {
        let view = self.view.read();
        view.held
            .get(&shard)
            .filter(|h| h.valid_until > Instant::now())
            .map(|h| h.epoch)
    }

    /// Heartbeats until the process ends, and writes silences and incident actions as they
    /// come.
    pub fn start(self: &Arc<PgCluster>) {
        self.listen();
        let writer = self.clone();
        tokio::spawn(async move {
            loop {
                writer.outbox_ready.notified().await;
                // A failure leaves the items queued; the heartbeat retries them.
                if let Ok(client) = writer.connected().await {
                    if let Err(e) = writer.flush_outbox(&client).await {
                        tracing::debug!(error = %e, "cluster outbox not written yet");
                    }
                }
            }
        });
        let cluster = self.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(cluster.config.heartbeat);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut reported_down = false;
            loop {
                ticker.tick().await;
                let started = Instant::now();
                match cluster.heartbeat(started).await {
                    Ok(()) => {
                        let mut view = cluster.view.write();
                        if view.fail_open || reported_down {
                            tracing::info!("PostgreSQL reachable again: notifying only the groups of this replica's shards");
                        }
                        view.fail_open = false;
                        view.last_ok = Some(started);
                        view.settled = true;
                        reported_down = false;
                        metrics::gauge!("alert_router_cluster_store_up").set(1.0);
                    }
                    Err(e) => {
                        *cluster.client.lock() = None;
                        metrics::gauge!("alert_router_cluster_store_up").set(0.0);
                        let mut view = cluster.view.write();
                        let down_for = view.last_ok.map(|t| started.duration_since(t));
                        if !reported_down {
                            tracing::error!(error = %e, "cluster store unreachable; keeping the leases held until they run out");
                            reported_down = true;
                        }
                        if !view.fail_open && down_for.is_none_or(|d| d >= cluster.config.lease_ttl)
                        {
                            tracing::warn!("cluster store unreachable for a lease TTL: failing open, this replica notifies every group as if alone");
                            view.fail_open = true;
                            view.held.clear();
                        }
                    }
                }
            }
        });
    }

    async fn connected(&self) -> Result<Arc<Client>, ClusterError> {
        if let Some(client) = self.client.lock().clone() {
            if !client.is_closed() {
                return Ok(client);
            }
        }
        let connecting = tokio_postgres::connect(&self.config.url, tokio_postgres::NoTls);
        let (client, connection) = tokio::time::timeout(Duration::from_secs(5), connecting)
            .await
            .map_err(|_| ClusterError::ConnectTimeout)??;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "cluster store connection closed");
            }
        });
        schema::migrate(&client).await?;
        let client = Arc::new(client);
        *self.client.lock() = Some(client.clone());
        Ok(client)
    }

    /// One round: say we are alive, read who else is, claim and renew our shards, let go of
    /// those another live replica should own, and load the log of the shards we just got.
    async fn heartbeat(&self, started: Instant) -> Result<(), ClusterError> {
        let client = self.connected().await?;
        let ttl = self.config.lease_ttl.as_secs_f64();
        let me = self.config.peer_name.as_str();
        client
            .execute(
                "INSERT INTO alert_router_members (name, address, heartbeat_at, started_at)
                 VALUES ($1, $2, now(), now())
                 ON CONFLICT (name) DO UPDATE SET address = $2, heartbeat_at = now()",
                &[&me, &self.config.advertise_address],
            )
            .await?;
        let members: Vec<Peer> = client
            .query(
                "SELECT name, address FROM alert_router_members
                 WHERE heartbeat_at > now() - make_interval(secs => $1) ORDER BY name",
                &[&ttl],
            )
            .await?
            .iter()
            .map(|r| Peer {
                name: r.get(0),
                address: r.get(1),
            })
            .collect();
        let desired: Vec<i32> = (0..SHARDS)
            .filter(|&s| owner_of(s, &members) == Some(me))
            .map(|s| s as i32)
            .collect();
        let claimed = client
            .query(
                "UPDATE alert_router_shards SET
                   epoch = CASE WHEN owner = $1 AND expires_at > now() THEN epoch ELSE epoch + 1 END,
                   owner = $1,
                   expires_at = now() + make_interval(secs => $2)
                 WHERE shard = ANY($3) AND (owner = $1 OR owner IS NULL OR expires_at < now())
                 RETURNING shard, epoch",
                &[&me, &ttl, &desired],
            )
            .await?;
        let previously: HashMap<u32, Held> = self.view.read().held.clone();
        let release: Vec<i32> = previously
            .keys()
            .map(|&s| s as i32)
            .filter(|s| !desired.contains(s))
            .collect();
        if !release.is_empty() {
            client
                .execute(
                    "UPDATE alert_router_shards SET owner = NULL, expires_at = now()
                     WHERE shard = ANY($2) AND owner = $1",
                    &[&me, &release],
                )
                .await?;
        }
        // Our view of a lease ends before the database's: a third of a TTL spare for a send
        // that started just before it.
        let valid_until = started + self.config.lease_ttl - self.config.lease_ttl / 3;
        let mut held = HashMap::new();
        let mut taken_over = Vec::new();
        for row in &claimed {
            let (shard, epoch): (i32, i64) = (row.get(0), row.get(1));
            let shard = shard as u32;
            if previously.get(&shard).is_none_or(|h| h.epoch != epoch) {
                taken_over.push(shard as i32);
            }
            held.insert(shard, Held { epoch, valid_until });
        }
        if !taken_over.is_empty() {
            // Before the shards count as ours: what their previous owners sent.
            self.load_nflog(&client, &taken_over).await?;
            tracing::info!(
                shards = taken_over.len(),
                held = held.len(),
                peers = members.len(),
                "cluster shards taken"
            );
        }
        if !release.is_empty() {
            tracing::info!(
                shards = release.len(),
                held = held.len(),
                peers = members.len(),
                "cluster shards handed to other replicas"
            );
        }
        {
            let mut view = self.view.write();
            view.held = held;
            view.peers = members;
        }
        self.flush_outbox(&client).await?;
        self.read_changes(&client).await
    }

    async fn load_nflog(&self, client: &Client, shards: &[i32]) -> Result<(), ClusterError> {
        let rows = client
            .query(
                "SELECT group_key, receiver, integration, idx, entry FROM alert_router_nflog
                 WHERE shard = ANY($1)",
                &[&shards],
            )
            .await?;
        for row in rows {
            let integration: String = row.get(2);
            let Some(integration) = integration_name(&integration) else {
                continue;
            };
            let index: i32 = row.get(3);
            let key = NflogKey {
                group_key: row.get(0),
                receiver: row.get(1),
                integration,
                index: index.max(0) as usize,
            };
            let Ok(entry) = serde_json::from_value::<NflogEntry>(row.get(4)) else {
                continue;
            };
            let newer = self
                .nflog
                .get(&key)
                .is_none_or(|local| local.timestamp < entry.timestamp);
            if newer {
                self.nflog.log(key, entry);
            }
        }
        Ok(())
    }

    /// Writes a notification log entry if this replica still holds its group's shard at the
    /// epoch it notified under. Returns whether it was written.
    async fn share_entry(&self, key: &NflogKey, entry: &NflogEntry) -> Result<bool, ClusterError> {
        let shard = shard_of(&key.group_key);
        let Some(epoch) = self.epoch_of(shard) else {
            return Ok(false);
        };
        let client = self.connected().await?;
        let value = serde_json::to_value(entry).unwrap_or_default();
        let index = i32::try_from(key.index).unwrap_or(i32::MAX);
        let written = client
            .execute(
                "INSERT INTO alert_router_nflog (shard, group_key, receiver, integration, idx, entry, epoch)
                 SELECT $1, $2, $3, $4, $5, $6, $7
                 WHERE EXISTS (SELECT 1 FROM alert_router_shards
                               WHERE shard = $1 AND owner = $8 AND epoch = $7)
                 ON CONFLICT (group_key, receiver, integration, idx)
                 DO UPDATE SET entry = EXCLUDED.entry, epoch = EXCLUDED.epoch, shard = EXCLUDED.shard",
                &[
                    &(shard as i32),
                    &key.group_key,
                    &key.receiver,
                    &key.integration,
                    &index,
                    &value,
                    &epoch,
                    &self.config.peer_name,
                ],
            )
            .await?;
        Ok(written == 1)
    }
}

impl Leases for PgCluster {
    fn may_notify_group(&self, group_key: &str) -> bool {
        self.holds(group_key)
    }

    fn may_escalate(&self, group_key: &str) -> bool {
        self.holds(group_key)
    }
}

/// The notification log port with the cluster behind the local store: entries are kept
/// locally as before and shared, fenced by the shard's epoch.
pub struct SharedNflog {
    pub local: Arc<dyn NflogStore>,
    pub cluster: Arc<PgCluster>,
}

impl NflogStore for SharedNflog {
    fn save_entry(&self, key: NflogKey, entry: NflogEntry) -> Pending<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let shared = tokio::time::timeout(
                self.cluster.config.lease_ttl / 3,
                self.cluster.share_entry(&key, &entry),
            )
            .await;
            match shared {
                Ok(Ok(true)) => {}
                Ok(Ok(false)) if !self.cluster.view.read().fail_open => {
                    tracing::warn!(group_key = %key.group_key, receiver = %key.receiver,
                        "notification log entry not shared: this replica no longer holds the group's shard");
                }
                Ok(Ok(false)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "notification log entry not shared with the cluster")
                }
                Err(_) => tracing::warn!("sharing a notification log entry timed out"),
            }
            self.local.save_entry(key, entry).await
        })
    }

    fn delete_entries(&self, keys: Vec<NflogKey>) {
        self.local.delete_entries(keys);
    }
}

/// How many shards each member would own.
#[cfg(test)]
fn spread(members: &[&str]) -> std::collections::BTreeMap<String, usize> {
    let peers: Vec<Peer> = members
        .iter()
        .map(|m| Peer {
            name: m.to_string(),
            address: String::new(),
        })
        .collect();
    let mut counts = std::collections::BTreeMap::new();
    for s in 0..SHARDS {
        if let Some(owner) = owner_of(s, &peers) {
            *counts.entry(owner.to_string()).or_insert(0) += 1;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_spread_over_members_and_a_leave_moves_only_its_own() {
        let three = spread(&["a", "b", "c"]);
        assert_eq!(three.values().sum::<usize>(), SHARDS as usize);
        assert!(three.values().all(|&n| n > 25), "{three:?}");
        let peers = |names: &[&str]| -> Vec<Peer> {
            names
                .iter()
                .map(|n| Peer {
                    name: n.to_string(),
                    address: String::new(),
                })
                .collect()
        };
        let (all, without_c) = (peers(&["a", "b", "c"]), peers(&["a", "b"]));
        for s in 0..SHARDS {
            let before = owner_of(s, &all);
            let after = owner_of(s, &without_c);
            if before != Some("c") {
                assert_eq!(before, after, "shard {s} moved though its owner stayed");
            }
        }
        assert_eq!(
            shard_of("{}:{alertname=\"x\"}"),
            shard_of("{}:{alertname=\"x\"}")
        );
    }
}
