//! The Alertmanager configuration file, field for field. Every struct rejects unknown fields so a
//! typo is an error naming the field and line rather than a silently ignored setting.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::duration::PromDuration;
use super::matchers::{ConfigMatchers, ConfigRegex, LabelNameString};
use super::secret::Secret;

/// A receiver and its integrations: defined by the integration registry, which owns the list.
pub use crate::notify::registry::ReceiverConfig;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub global: Option<GlobalConfig>,
    pub route: Option<RouteConfig>,
    #[serde(default)]
    pub inhibit_rules: Vec<InhibitRuleConfig>,
    #[serde(default)]
    pub receivers: Vec<ReceiverConfig>,
    #[serde(default)]
    pub templates: Vec<String>,
    #[serde(default)]
    pub time_intervals: Vec<TimeIntervalConfig>,
    /// Deprecated top-level name for `time_intervals`, still accepted by Alertmanager.
    #[serde(default)]
    pub mute_time_intervals: Vec<TimeIntervalConfig>,
    /// alert-router's extension: runbook rule files (paths, directories or `*` patterns,
    /// relative to this file) that classify alerts before routing.
    #[serde(default)]
    pub rule_files: Vec<String>,
    /// alert-router's extension: escalation policies that routes name with `escalation:`.
    #[serde(default)]
    pub escalation_policies: Vec<EscalationPolicyConfig>,
    /// alert-router's extension: which receivers a runbook's escalation role (`on-call`,
    /// `team-lead`, ...) pages. A role not listed pages the receiver of the same name.
    #[serde(default)]
    pub escalation_roles: BTreeMap<String, Vec<String>>,
    /// alert-router's extension: the delays of a runbook's escalation steps, one per step, for
    /// runbooks that give the order of their contacts but no times. Keyed by runbook name.
    #[serde(default)]
    pub escalation_delays: BTreeMap<String, Vec<PromDuration>>,
    /// Alertmanager 0.30's OTLP export of notification spans.
    pub tracing: Option<TracingConfig>,
    /// Alertmanager 0.33's event recorder outputs: loaded so the file is accepted, not used.
    pub event_recorder: Option<serde_yaml_ng::Value>,
}

/// `tracing:`: where spans of notifications are exported (OTLP).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TracingConfig {
    /// `grpc` (the default) or `http`.
    pub client_type: Option<String>,
    pub endpoint: Option<String>,
    pub sampling_fraction: Option<f64>,
    #[serde(default)]
    pub insecure: bool,
    pub tls_config: Option<TlsConfig>,
    /// Prometheus common's `Headers`: name → `values`, `secrets` or `files`.
    #[serde(default)]
    pub headers: BTreeMap<String, TracingHeader>,
    pub compression: Option<String>,
    pub timeout: Option<PromDuration>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TracingHeader {
    #[serde(default)]
    pub values: Vec<String>,
    #[serde(default)]
    pub secrets: Vec<Secret>,
    #[serde(default)]
    pub files: Vec<String>,
}

/// What stops an escalation step from paging: a human's acknowledgement (the default), or
/// only the incident resolving, for runbooks that escalate "if not resolved in 30 minutes".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EscalateUntil {
    #[default]
    Acknowledged,
    Resolved,
}

/// Notify, wait, escalate, repeat: until a human acknowledges or the alerts resolve.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationPolicyConfig {
    pub name: String,
    pub steps: Vec<EscalationStepConfig>,
    pub repeat: Option<EscalationRepeatConfig>,
    /// New alerts joining an acknowledged incident re-arm its escalation.
    #[serde(default)]
    pub reescalate_on_new_alerts: bool,
    /// Slack and email receivers already paged get an "acknowledged by ..." notice.
    #[serde(default)]
    pub notify_acknowledged: bool,
    /// What stops the steps; a step's own `until` overrides it.
    #[serde(default)]
    pub until: EscalateUntil,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationStepConfig {
    /// Delay since the incident opened.
    pub after: PromDuration,
    pub notify: Vec<String>,
    /// The step pages only while one of these intervals is active (skipped otherwise).
    #[serde(default)]
    pub active_time_intervals: Vec<String>,
    /// Overrides the policy's `until` for this step.
    #[serde(default)]
    pub until: Option<EscalateUntil>,
}

/// Run the steps again `count` more times, each round `interval` after the one before.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationRepeatConfig {
    pub count: u32,
    pub interval: PromDuration,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalConfig {
    pub resolve_timeout: Option<PromDuration>,
    pub http_config: Option<HttpClientConfig>,
    pub smtp_from: Option<String>,
    pub smtp_hello: Option<String>,
    pub smtp_smarthost: Option<String>,
    pub smtp_auth_username: Option<String>,
    pub smtp_auth_password: Option<Secret>,
    pub smtp_auth_password_file: Option<String>,
    pub smtp_auth_secret: Option<Secret>,
    pub smtp_auth_secret_file: Option<String>,
    pub smtp_auth_identity: Option<String>,
    pub smtp_require_tls: Option<bool>,
    pub smtp_tls_config: Option<TlsConfig>,
    pub smtp_force_implicit_tls: Option<bool>,
    pub slack_api_url: Option<Secret>,
    pub slack_api_url_file: Option<String>,
    pub slack_app_token: Option<Secret>,
    pub slack_app_token_file: Option<String>,
    pub slack_app_url: Option<String>,
    pub pagerduty_url: Option<String>,
    pub opsgenie_api_url: Option<String>,
    pub opsgenie_api_key: Option<Secret>,
    pub opsgenie_api_key_file: Option<String>,
    pub wechat_api_url: Option<String>,
    pub wechat_api_secret: Option<Secret>,
    pub wechat_api_secret_file: Option<String>,
    pub wechat_api_corp_id: Option<String>,
    pub victorops_api_url: Option<String>,
    pub victorops_api_key: Option<Secret>,
    pub victorops_api_key_file: Option<String>,
    pub telegram_api_url: Option<String>,
    pub telegram_bot_token: Option<Secret>,
    pub telegram_bot_token_file: Option<String>,
    pub webex_api_url: Option<String>,
    pub rocketchat_api_url: Option<String>,
    pub rocketchat_token: Option<Secret>,
    pub rocketchat_token_file: Option<String>,
    pub rocketchat_token_id: Option<Secret>,
    pub rocketchat_token_id_file: Option<String>,
    pub mattermost_webhook_url: Option<Secret>,
    pub mattermost_webhook_url_file: Option<String>,
    pub jira_api_url: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    pub receiver: Option<String>,
    pub group_by: Option<Vec<String>>,
    #[serde(rename = "continue", default)]
    pub continue_matching: bool,
    #[serde(default)]
    pub matchers: ConfigMatchers,
    #[serde(rename = "match", default)]
    pub match_equal: BTreeMap<LabelNameString, String>,
    #[serde(default)]
    pub match_re: BTreeMap<LabelNameString, ConfigRegex>,
    #[serde(default)]
    pub mute_time_intervals: Vec<String>,
    #[serde(default)]
    pub active_time_intervals: Vec<String>,
    pub group_wait: Option<PromDuration>,
    pub group_interval: Option<PromDuration>,
    pub repeat_interval: Option<PromDuration>,
    /// alert-router's extension: the escalation policy of this route's incidents, inherited
    /// by child routes. `runbook:<name>` names a runbook's escalation path.
    pub escalation: Option<String>,
    /// Alertmanager 0.34: labels attached to the route's groups, inherited by child routes.
    /// Values are templates rendered against the group's data (`.RouteLabels`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InhibitRuleConfig {
    /// Alertmanager 0.30: a name for logs and metrics.
    pub name: Option<String>,
    #[serde(default)]
    pub source_match: BTreeMap<LabelNameString, String>,
    #[serde(default)]
    pub source_match_re: BTreeMap<LabelNameString, ConfigRegex>,
    #[serde(default)]
    pub source_matchers: ConfigMatchers,
    #[serde(default)]
    pub target_match: BTreeMap<LabelNameString, String>,
    #[serde(default)]
    pub target_match_re: BTreeMap<LabelNameString, ConfigRegex>,
    #[serde(default)]
    pub target_matchers: ConfigMatchers,
    #[serde(default)]
    pub equal: Vec<LabelNameString>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpClientConfig {
    pub basic_auth: Option<BasicAuth>,
    pub authorization: Option<Authorization>,
    pub bearer_token: Option<Secret>,
    pub bearer_token_file: Option<String>,
    pub oauth2: Option<OAuth2Config>,
    pub proxy_url: Option<String>,
    pub tls_config: Option<TlsConfig>,
    pub follow_redirects: Option<bool>,
    pub enable_http2: Option<bool>,
}

/// Prometheus common's `oauth2`: the client-credentials grant, its token sent as a Bearer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2Config {
    #[serde(default)]
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub client_secret_file: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub token_url: String,
    #[serde(default)]
    pub endpoint_params: BTreeMap<String, String>,
    pub tls_config: Option<TlsConfig>,
    pub proxy_url: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub username: String,
    pub password: Option<Secret>,
    pub password_file: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub credentials: Option<Secret>,
    pub credentials_file: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub ca_file: Option<String>,
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    pub server_name: Option<String>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
    pub min_version: Option<String>,
    pub max_version: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeIntervalConfig {
    pub name: String,
    #[serde(default)]
    pub time_intervals: Vec<TimeIntervalSpec>,
}

/// One entry of a named time interval. Each list is kept as written; `time_interval.rs`
/// parses and checks it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeIntervalSpec {
    #[serde(default)]
    pub times: Vec<TimeRangeSpec>,
    #[serde(default)]
    pub weekdays: Vec<String>,
    #[serde(default)]
    pub days_of_month: Vec<String>,
    #[serde(default)]
    pub months: Vec<String>,
    #[serde(default)]
    pub years: Vec<String>,
    pub location: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeRangeSpec {
    pub start_time: String,
    pub end_time: String,
}
