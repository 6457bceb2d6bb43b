//! Integration tests: the real `alert-router` binary on 127.0.0.1:0, real HTTP receivers, a
//! real SMTP server, and Alertmanager's own `amtool` and Prometheus, all in one test binary so
//! the crate is linked once. Each module is one area of the product; `common` holds the
//! shared harness.

mod common;

mod amtool;
mod api;
mod aws_jira_incidentio;
mod classification;
mod crash;
mod delivery_faults;
mod dropin;
mod email;
mod escalation;
mod golden;
mod grouping;
mod ha;
mod ingest;
mod integrations;
mod mute;
mod oncall_chat;
mod prometheus;
mod receivers_034;
mod runbooks;
mod security;
mod silences;
mod storage_faults;
mod team_chat;
mod ui;
mod utf8;
mod webhook_retry;
