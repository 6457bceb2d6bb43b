//! The cluster's tables, created and migrated by the router itself. Replicas starting together
//! take an advisory lock, so two never create the same table at once.

use tokio_postgres::Client;

use super::SHARDS;

/// Bumped when a migration is added below.
const VERSION: i32 = 2;

pub async fn migrate(client: &Client) -> Result<(), tokio_postgres::Error> {
    client
        .batch_execute(&format!(
            "SET client_min_messages = warning;
             BEGIN;
             SELECT pg_advisory_xact_lock(726173001);
             CREATE TABLE IF NOT EXISTS alert_router_schema (version integer NOT NULL);
             CREATE TABLE IF NOT EXISTS alert_router_members (
               name text PRIMARY KEY,
               address text NOT NULL,
               heartbeat_at timestamptz NOT NULL,
               started_at timestamptz NOT NULL);
             CREATE TABLE IF NOT EXISTS alert_router_shards (
               shard integer PRIMARY KEY,
               owner text,
               epoch bigint NOT NULL DEFAULT 0,
               expires_at timestamptz NOT NULL DEFAULT 'epoch');
             INSERT INTO alert_router_shards (shard)
               SELECT generate_series(0, {last}) ON CONFLICT DO NOTHING;
             CREATE TABLE IF NOT EXISTS alert_router_nflog (
               shard integer NOT NULL,
               group_key text NOT NULL,
               receiver text NOT NULL,
               integration text NOT NULL,
               idx integer NOT NULL,
               entry jsonb NOT NULL,
               epoch bigint NOT NULL,
               PRIMARY KEY (group_key, receiver, integration, idx));
             CREATE INDEX IF NOT EXISTS alert_router_nflog_by_shard ON alert_router_nflog (shard);
             CREATE TABLE IF NOT EXISTS alert_router_silences (
               id text PRIMARY KEY,
               body jsonb NOT NULL,
               updated_at timestamptz NOT NULL,
               changed_at timestamptz NOT NULL);
             CREATE INDEX IF NOT EXISTS alert_router_silences_by_change
               ON alert_router_silences (changed_at);
             CREATE TABLE IF NOT EXISTS alert_router_incident_actions (
               seq bigserial PRIMARY KEY,
               group_key text NOT NULL,
               action text NOT NULL,
               by_whom text NOT NULL,
               comment text,
               origin text NOT NULL,
               at timestamptz NOT NULL,
               step_round bigint,
               step_index bigint,
               receivers text[] NOT NULL DEFAULT '{{}}');
             DELETE FROM alert_router_schema;
             INSERT INTO alert_router_schema (version) VALUES ({VERSION});
             COMMIT;",
            last = SHARDS - 1
        ))
        .await
}
