//! alert-router: an Alertmanager-compatible alert router.
//!
//! An alert travels through the modules in this order:
//!
//! - [`ingest`]: decodes Prometheus' `POST /api/v2/alerts`, an upstream Alertmanager's webhook
//!   and Grafana's contact point into one [`model::Alert`] shape, with Alertmanager's defaults;
//!   a re-sent alert shares the unchanged parts of the stored one.
//! - [`store`]: keeps alerts by fingerprint (merging re-sends) and the silences. A re-send
//!   that keeps an alert firing with the same labels stops here: groups read the latest
//!   version from the store when they flush.
//! - [`route`]: the routing tree from `alertmanager.yml`, which decides receivers and grouping.
//! - [`dispatch`]: aggregation groups and their group_wait / group_interval / repeat_interval
//!   timers, driven by one deadline heap.
//! - [`escalate`]: incidents (one per group firing episode) paged step by step by the route's
//!   escalation policy until acknowledged or resolved, on durable deadlines.
//! - [`notify`]: per receiver integration delivery with its own request slots, retries, the
//!   notification log that dedups, and the webhook payload.
//! - [`api`]: Alertmanager's HTTP API v2, health, reload and metrics, over the service handles
//!   of [`app::services`].
//!
//! [`cluster`] shares leases and the notification log between replicas through PostgreSQL.
//! [`classify`] adds runbook severity labels before routing; [`mute`] holds silences,
//! inhibition and time intervals; [`timers`] is the deadline heap groups and escalations share.
//! [`config`] loads and checks the configuration; [`app`] ties the pieces together and owns
//! reloads; [`cli`] holds the command-line commands other than `serve`; [`logging`] writes
//! Alertmanager's log formats; [`web`] secures the HTTP endpoints with Alertmanager's web
//! config file (TLS, basic auth) and alert-router's roles.
//!
//! State crosses one seam. Each aggregate's owner defines the port it needs to keep it across
//! restarts (`store::AlertLog` and `store::SilencePersistence`, `notify::NflogStore`,
//! `escalate::IncidentStore`, `dispatch::ScheduleStore`), and a backend in [`state`]
//! implements them all: the embedded redb file behind a write-ahead log, or memory. Whether
//! this router may notify a group or page an incident now is asked of [`leases`].

#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod classify;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod dispatch;
pub mod escalate;
pub mod ingest;
pub mod leases;
pub mod logging;
pub mod model;
pub mod mute;
pub mod notify;
pub mod route;
pub mod state;
pub mod store;
pub mod template;
pub mod timers;
pub mod ui;
pub mod web;
