//! The configuration: Alertmanager's `alertmanager.yml`, loaded unchanged, checked as strictly
//! as Alertmanager checks it, with errors that name the field and the line. A plain data leaf:
//! the checks that need other modules (templates that parse, time intervals that compile) run
//! in `app::load_config`, which every command loads through.

mod duration;
pub mod glob;
mod matchers;
pub mod model;
mod redact;
mod secret;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

pub use duration::PromDuration;
pub use matchers::{ConfigMatchers, ConfigRegex, LabelNameString};
pub use model::*;
pub use secret::{BothSecretForms, Secret, SecretSource, SECRET_TOKEN};

use crate::model::{MatchType, Matcher};

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A syntax, type or unknown-field error; the parser's message carries path and line.
    #[error("{0}")]
    Parse(String),
    #[error("{message}{}", line.map(|l| format!(" (line {l})")).unwrap_or_default())]
    Invalid {
        message: String,
        line: Option<usize>,
    },
    /// Every problem found, in file order as checked: one per receiver, route, policy or
    /// setting, so a config is fixed in one pass rather than one error per run.
    #[error("{} problems in the configuration:{}", .0.len(), .0.iter().map(|e| format!("\n  - {e}")).collect::<String>())]
    Several(Vec<ConfigError>),
}

/// Escalation policies named `runbook:<name>` are the runbooks' escalation paths.
pub const RUNBOOK_POLICY_PREFIX: &str = "runbook:";

pub const DEFAULT_RESOLVE_TIMEOUT: Duration = Duration::from_secs(5 * 60);
pub const DEFAULT_PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// A configuration that parsed and passed every check, with the text it came from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    pub global: GlobalConfig,
    pub resolve_timeout: Duration,
    /// The file as written; `/api/v2/status` shows it with secrets replaced.
    pub source: String,
    pub path: Option<PathBuf>,
    /// `templates:` globs made absolute against the config file's folder.
    pub template_globs: Vec<String>,
    /// The folder relative paths in the file are resolved against.
    pub base_dir: PathBuf,
    /// The root route: a config without one does not load.
    root: RouteConfig,
}

impl LoadedConfig {
    pub fn load_file(path: &Path) -> Result<LoadedConfig, ConfigError> {
        let source = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut loaded = LoadedConfig::parse(&source)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        loaded.template_globs = loaded
            .config
            .templates
            .iter()
            .map(|t| {
                if Path::new(t).is_absolute() {
                    t.clone()
                } else {
                    dir.join(t).to_string_lossy().into_owned()
                }
            })
            .collect();
        loaded.path = Some(path.to_path_buf());
        loaded.base_dir = dir.to_path_buf();
        Ok(loaded)
    }

    pub fn parse(source: &str) -> Result<LoadedConfig, ConfigError> {
        let config: Config = if source.trim().is_empty() {
            Config::default()
        } else {
            serde_yaml_ng::from_str(source)
                .map_err(|e| ConfigError::Parse(refine_parse_error(source, &e)))?
        };
        let validator = Validator { source };
        let global = validator.check(&config)?;
        let root = config.route.clone().ok_or_else(|| ConfigError::Invalid {
            message: "no routes provided".into(),
            line: None,
        })?;
        let resolve_timeout = global
            .resolve_timeout
            .map(|d| d.0)
            .unwrap_or(DEFAULT_RESOLVE_TIMEOUT);
        Ok(LoadedConfig {
            template_globs: config.templates.clone(),
            config,
            global,
            resolve_timeout,
            source: source.to_string(),
            path: None,
            base_dir: PathBuf::from("."),
            root,
        })
    }

    /// Best-effort line of `key: value` in the file, for problems found after loading.
    pub fn line_of(&self, key: &str, value: &str) -> Option<usize> {
        find_line(&self.source, key, value)
    }

    /// The config as `/api/v2/status` shows it: valid Alertmanager YAML, secrets as `<secret>`.
    pub fn redacted_yaml(&self) -> String {
        redact::redacted_yaml(&self.source)
    }

    /// Every `time_intervals` and `mute_time_intervals` entry, in that order.
    pub fn time_interval_configs(&self) -> Vec<TimeIntervalConfig> {
        self.config
            .time_intervals
            .iter()
            .chain(&self.config.mute_time_intervals)
            .cloned()
            .collect()
    }

    pub fn route(&self) -> &RouteConfig {
        &self.root
    }
}

/// Legacy `match` / `match_re` maps and `matchers` lists merged into one matcher list.
pub fn merge_matchers(
    equal: &BTreeMap<LabelNameString, String>,
    regex: &BTreeMap<LabelNameString, ConfigRegex>,
    matchers: &ConfigMatchers,
) -> Vec<Matcher> {
    let mut out = Vec::with_capacity(equal.len() + regex.len() + matchers.0.len());
    for (name, value) in equal {
        if let Ok(m) = Matcher::new(MatchType::Equal, name.0.clone(), value.clone()) {
            out.push(m);
        }
    }
    for (name, re) in regex {
        // Alertmanager keeps a legacy `match_re` pattern in its anchored form, which then shows
        // in route keys (and so group keys) and in amtool's trees; do the same.
        // Compiled once already while parsing, so this cannot fail here.
        let anchored = format!("^(?:{})$", re.0);
        if let Ok(m) = Matcher::new(MatchType::Regex, name.0.clone(), anchored) {
            out.push(m);
        }
    }
    out.extend(matchers.0.iter().cloned());
    out
}

struct Validator<'a> {
    source: &'a str,
}

impl Validator<'_> {
    fn invalid(&self, message: String, key: &str, value: &str) -> ConfigError {
        ConfigError::Invalid {
            line: find_line(self.source, key, value),
            message,
        }
    }

    fn check(&self, config: &Config) -> Result<GlobalConfig, ConfigError> {
        let mut problems = Vec::new();
        let global = self.check_all(config, &mut problems);
        match problems.len() {
            0 => Ok(global),
            1 => Err(problems.remove(0)),
            _ => Err(ConfigError::Several(problems)),
        }
    }

    /// Runs every check, collecting each problem rather than stopping at the first.
    fn check_all(&self, config: &Config, problems: &mut Vec<ConfigError>) -> GlobalConfig {
        let mut global = config.global.clone().unwrap_or_default();
        global.smtp_hello.get_or_insert_with(|| "localhost".into());
        global.smtp_require_tls.get_or_insert(true);
        global
            .pagerduty_url
            .get_or_insert_with(|| DEFAULT_PAGERDUTY_URL.into());
        if let Err(m) = SecretSource::from_pair(
            global.slack_api_url.clone(),
            global.slack_api_url_file.clone(),
            "slack_api_url",
        ) {
            problems.push(self.invalid(m.to_string(), "slack_api_url_file", ""));
        }
        let pairs = [
            (
                &global.smtp_auth_password,
                &global.smtp_auth_password_file,
                "smtp_auth_password",
            ),
            (
                &global.smtp_auth_secret,
                &global.smtp_auth_secret_file,
                "smtp_auth_secret",
            ),
            (
                &global.slack_app_token,
                &global.slack_app_token_file,
                "slack_app_token",
            ),
            (
                &global.opsgenie_api_key,
                &global.opsgenie_api_key_file,
                "opsgenie_api_key",
            ),
            (
                &global.wechat_api_secret,
                &global.wechat_api_secret_file,
                "wechat_api_secret",
            ),
            (
                &global.victorops_api_key,
                &global.victorops_api_key_file,
                "victorops_api_key",
            ),
            (
                &global.telegram_bot_token,
                &global.telegram_bot_token_file,
                "telegram_bot_token",
            ),
            (
                &global.rocketchat_token,
                &global.rocketchat_token_file,
                "rocketchat_token",
            ),
            (
                &global.rocketchat_token_id,
                &global.rocketchat_token_id_file,
                "rocketchat_token_id",
            ),
            (
                &global.mattermost_webhook_url,
                &global.mattermost_webhook_url_file,
                "mattermost_webhook_url",
            ),
        ];
        for (inline, file, name) in pairs {
            if let Err(m) = SecretSource::from_pair(inline.clone(), file.clone(), name) {
                problems.push(self.invalid(m.to_string(), &format!("{name}_file"), ""));
            }
        }
        if (global.slack_api_url.is_some() || global.slack_api_url_file.is_some())
            && (global.slack_app_token.is_some() || global.slack_app_token_file.is_some())
        {
            problems.push(self.invalid(
                "at most one of slack_api_url/slack_api_url_file & slack_app_token/slack_app_token_file must be configured".into(),
                "slack_app_token",
                "",
            ));
        }
        if let Some(tracing) = &config.tracing {
            if let Err(m) = check_tracing(tracing) {
                problems.push(self.invalid(m, "tracing", ""));
            }
        }

        let mut names = BTreeSet::new();
        for receiver in &config.receivers {
            if let Err(e) = self.check_receiver(receiver, &global) {
                problems.push(e);
            }
            if !names.insert(receiver.name.as_str()) {
                problems.push(self.invalid(
                    format!("notification config name {:?} is not unique", receiver.name),
                    "name",
                    &receiver.name,
                ));
            }
        }

        let mut interval_names = BTreeSet::new();
        for interval in config
            .time_intervals
            .iter()
            .chain(&config.mute_time_intervals)
        {
            if interval.name.is_empty() {
                problems.push(self.invalid("missing name in time interval".into(), "name", ""));
            } else if !interval_names.insert(interval.name.as_str()) {
                problems.push(self.invalid(
                    format!("time interval {:?} is not unique", interval.name),
                    "name",
                    &interval.name,
                ));
            }
        }

        let policies = self.check_escalation(config, &names, &interval_names, problems);
        match &config.route {
            None => problems.push(ConfigError::Invalid {
                message: "no routes provided".into(),
                line: None,
            }),
            Some(root) => {
                if let Err(e) = self.check_root(root) {
                    problems.push(e);
                }
                self.check_route(root, &names, &interval_names, &policies, problems);
            }
        }

        for rule in &config.inhibit_rules {
            let source = merge_matchers(
                &rule.source_match,
                &rule.source_match_re,
                &rule.source_matchers,
            );
            let target = merge_matchers(
                &rule.target_match,
                &rule.target_match_re,
                &rule.target_matchers,
            );
            if source.is_empty() || target.is_empty() {
                // Alertmanager accepts this; an empty side matches every alert, which is rarely
                // meant, so say so in the log rather than refuse a working config.
                tracing::warn!(
                    "an inhibit rule has no source or no target matchers: it matches every alert"
                );
            }
        }
        global
    }

    /// What only the root route must satisfy.
    fn check_root(&self, root: &RouteConfig) -> Result<(), ConfigError> {
        if root.receiver.as_deref().unwrap_or("").is_empty() {
            return Err(self.invalid(
                "root route must specify a default receiver".into(),
                "route",
                "",
            ));
        }
        if !root.matchers.0.is_empty() || !root.match_equal.is_empty() || !root.match_re.is_empty()
        {
            return Err(self.invalid("root route must not have any matchers".into(), "route", ""));
        }
        if !root.mute_time_intervals.is_empty() {
            return Err(self.invalid(
                "root route must not have any mute time intervals".into(),
                "mute_time_intervals",
                "",
            ));
        }
        if !root.active_time_intervals.is_empty() {
            return Err(self.invalid(
                "root route must not have any active time intervals".into(),
                "active_time_intervals",
                "",
            ));
        }
        Ok(())
    }

    /// Checks `escalation_policies` and `escalation_roles`; returns the policy names.
    fn check_escalation<'c>(
        &self,
        config: &'c Config,
        receivers: &BTreeSet<&str>,
        intervals: &BTreeSet<&str>,
        problems: &mut Vec<ConfigError>,
    ) -> BTreeSet<&'c str> {
        let mut names = BTreeSet::new();
        for policy in &config.escalation_policies {
            let name = policy.name.as_str();
            if name.is_empty() {
                problems.push(self.invalid(
                    "missing name in escalation policy".into(),
                    "escalation_policies",
                    "",
                ));
                continue;
            }
            if !names.insert(name) {
                problems.push(self.invalid(
                    format!("escalation policy {name:?}: name is not unique"),
                    "name",
                    name,
                ));
                continue;
            }
            if let Err(m) = check_policy(policy, receivers, intervals) {
                problems.push(self.invalid(
                    format!("escalation policy {name:?}: {m}"),
                    "name",
                    name,
                ));
            }
        }
        for (role, list) in &config.escalation_roles {
            if let Some(r) = list.iter().find(|r| !receivers.contains(r.as_str())) {
                problems.push(self.invalid(
                    format!("escalation role {role:?} names undefined receiver {r:?}"),
                    "",
                    r,
                ));
            }
        }
        names
    }

    /// Checks a route and every route under it.
    fn check_route(
        &self,
        route: &RouteConfig,
        receivers: &BTreeSet<&str>,
        intervals: &BTreeSet<&str>,
        policies: &BTreeSet<&str>,
        problems: &mut Vec<ConfigError>,
    ) {
        if let Err(e) = self.check_route_node(route, receivers, intervals, policies) {
            problems.push(e);
        }
        for child in &route.routes {
            self.check_route(child, receivers, intervals, policies, problems);
        }
    }

    fn check_route_node(
        &self,
        route: &RouteConfig,
        receivers: &BTreeSet<&str>,
        intervals: &BTreeSet<&str>,
        policies: &BTreeSet<&str>,
    ) -> Result<(), ConfigError> {
        if let Some(p) = route.escalation.as_deref() {
            if !policies.contains(p) && !p.starts_with(RUNBOOK_POLICY_PREFIX) {
                return Err(self.invalid(
                    format!("undefined escalation policy {p:?} used in route"),
                    "escalation",
                    p,
                ));
            }
        }
        if let Some(r) = route.receiver.as_deref() {
            if !r.is_empty() && !receivers.contains(r) {
                return Err(self.invalid(
                    format!("undefined receiver {r:?} used in route"),
                    "receiver",
                    r,
                ));
            }
        }
        if let Some(name) = route.labels.keys().find(|n| n.is_empty()) {
            return Err(self.invalid(
                format!("invalid label name {name:?} in route labels"),
                "labels",
                "",
            ));
        }
        if let Some(group_by) = &route.group_by {
            let mut seen = BTreeSet::new();
            let has_all = group_by.iter().any(|l| l == "...");
            for label in group_by {
                if label == "..." {
                    continue;
                }
                if !crate::model::is_valid_label_name(label) {
                    return Err(self.invalid(
                        format!("invalid label name {label:?} in group_by list"),
                        "group_by",
                        "",
                    ));
                }
                if !seen.insert(label) {
                    return Err(self.invalid(
                        format!("duplicated label {label:?} in group_by"),
                        "group_by",
                        "",
                    ));
                }
            }
            if has_all && group_by.len() > 1 {
                return Err(self.invalid(
                    "cannot have wildcard group_by (`...`) and other other labels at the same time"
                        .into(),
                    "group_by",
                    "",
                ));
            }
        }
        if route.group_interval.is_some_and(|d| d.0.is_zero()) {
            return Err(self.invalid(
                "group_interval cannot be zero".into(),
                "group_interval",
                "0",
            ));
        }
        if route.repeat_interval.is_some_and(|d| d.0.is_zero()) {
            return Err(self.invalid(
                "repeat_interval cannot be zero".into(),
                "repeat_interval",
                "0",
            ));
        }
        for name in route
            .mute_time_intervals
            .iter()
            .chain(&route.active_time_intervals)
        {
            if !intervals.contains(name.as_str()) {
                return Err(self.invalid(
                    format!("undefined time interval {name:?} used in route"),
                    "",
                    name,
                ));
            }
        }
        Ok(())
    }

    fn check_receiver(&self, r: &ReceiverConfig, global: &GlobalConfig) -> Result<(), ConfigError> {
        let at = |m: String| self.invalid(format!("receiver {:?}: {m}", r.name), "name", &r.name);
        if r.name.is_empty() {
            return Err(self.invalid("missing name in receiver".into(), "receivers", ""));
        }
        if let Some(v) = r.labels.get("name").filter(|v| **v != r.name) {
            return Err(at(format!(
                "receiver label \"name\" must match receiver name {:?}, got {v:?}",
                r.name
            )));
        }
        for (_, block) in r.integrations() {
            block.check(global).map_err(|e| at(e.to_string()))?;
        }
        Ok(())
    }
}

/// One escalation policy's own checks (its name is checked by the caller).
fn check_policy(
    policy: &EscalationPolicyConfig,
    receivers: &BTreeSet<&str>,
    intervals: &BTreeSet<&str>,
) -> Result<(), String> {
    if policy.name.starts_with(RUNBOOK_POLICY_PREFIX) {
        return Err(format!(
            "names starting with {:?} are reserved for runbook escalation paths",
            RUNBOOK_POLICY_PREFIX
        ));
    }
    if policy.steps.is_empty() {
        return Err("needs at least one step".into());
    }
    for (i, step) in policy.steps.iter().enumerate() {
        if step.notify.is_empty() {
            return Err(format!("step {} notifies no receiver", i + 1));
        }
        if let Some(r) = step.notify.iter().find(|r| !receivers.contains(r.as_str())) {
            return Err(format!("step {} notifies undefined receiver {r:?}", i + 1));
        }
        if let Some(t) = step
            .active_time_intervals
            .iter()
            .find(|t| !intervals.contains(t.as_str()))
        {
            return Err(format!("step {} uses undefined time interval {t:?}", i + 1));
        }
    }
    if let Some(pair) = policy.steps.windows(2).find(|w| w[1].after < w[0].after) {
        return Err(format!(
            "step after {} comes before a step after {}: steps are in increasing order",
            pair[1].after, pair[0].after
        ));
    }
    if let Some(repeat) = policy.repeat {
        let last = policy.steps.last().map(|s| s.after.0).unwrap_or_default();
        if repeat.interval.0 <= last {
            return Err(format!(
                "repeat interval {} must be longer than the last step's after ({})",
                repeat.interval,
                PromDuration(last)
            ));
        }
    }
    Ok(())
}

/// Every receiver field that is a template, with its name for error messages.
pub fn templated_fields(r: &ReceiverConfig) -> Vec<(&'static str, &str)> {
    r.integrations()
        .into_iter()
        .flat_map(|(_, block)| block.templated_fields())
        .collect()
}

/// Alertmanager's checks of the `tracing:` block.
fn check_tracing(t: &TracingConfig) -> Result<(), String> {
    match t.client_type.as_deref() {
        None | Some("grpc") | Some("http") => {}
        Some(other) => {
            return Err(format!(
                "expected tracing client type to be to be http or grpc, but got {other}"
            ))
        }
    }
    if t.endpoint.as_deref().unwrap_or("").is_empty() {
        return Err("tracing endpoint must be set".into());
    }
    if let Some(c) = t
        .compression
        .as_deref()
        .filter(|c| !c.is_empty() && *c != "gzip")
    {
        return Err(format!(
            "invalid compression type {c} provided, valid options: gzip"
        ));
    }
    if let Some(f) = t.sampling_fraction.filter(|f| !(0.0..=1.0).contains(f)) {
        return Err(format!(
            "tracing sampling_fraction {f} must be between 0 and 1"
        ));
    }
    Ok(())
}

pub fn check_http_url(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("invalid URL {url:?}: {e}"))?;
    match parsed.scheme() {
        "http" | "https" => Ok(()),
        other => Err(format!("unsupported scheme {other:?} for URL")),
    }
}

pub fn check_http_config(http: Option<&HttpClientConfig>) -> Result<(), String> {
    let Some(http) = http else { return Ok(()) };
    let auth_kinds = [
        http.basic_auth.is_some(),
        http.authorization.is_some(),
        http.bearer_token.is_some() || http.bearer_token_file.is_some(),
        http.oauth2.is_some(),
    ];
    if auth_kinds.iter().filter(|set| **set).count() > 1 {
        return Err(
            "at most one of basic_auth, oauth2, bearer_token & bearer_token_file, authorization must be configured"
                .into(),
        );
    }
    if let Some(oauth2) = &http.oauth2 {
        if oauth2.token_url.is_empty() {
            return Err("oauth2 token_url must be configured".into());
        }
        check_http_url(&oauth2.token_url).map_err(|e| format!("oauth2 token_url: {e}"))?;
        SecretSource::from_pair(
            oauth2.client_secret.clone(),
            oauth2.client_secret_file.clone(),
            "client_secret",
        )
        .map_err(|e| e.to_string())?;
    }
    if let Some(basic) = &http.basic_auth {
        SecretSource::from_pair(
            basic.password.clone(),
            basic.password_file.clone(),
            "password",
        )
        .map_err(|e| e.to_string())?;
    }
    if let Some(proxy) = &http.proxy_url {
        url::Url::parse(proxy).map_err(|e| format!("invalid proxy_url {proxy:?}: {e}"))?;
    }
    Ok(())
}

/// The YAML parser reports a value rejected by our own checks (a bad duration, matcher or
/// regex) at the start of the enclosing mapping. When the message quotes the bad value, point at
/// the line that holds it instead, and name the key written there.
fn refine_parse_error(source: &str, e: &serde_yaml_ng::Error) -> String {
    let message = e.to_string();
    let Some(location) = e.location() else {
        return message;
    };
    let Some(quoted) = message.split('"').nth(1).filter(|q| !q.is_empty()) else {
        return message;
    };
    // The quoted text is Rust-escaped; the first line of it is enough to find the source line.
    let needle = quoted
        .split("\\")
        .next()
        .unwrap_or(quoted)
        .split("\\\"")
        .next()
        .unwrap_or(quoted);
    let found = source
        .lines()
        .enumerate()
        .skip(location.line().saturating_sub(1))
        .find(|(_, line)| line.contains(needle));
    let Some((index, line)) = found else {
        return message;
    };
    let suffix = format!(" at line {} column {}", location.line(), location.column());
    let body = message.strip_suffix(&suffix).unwrap_or(&message);
    let trimmed = line.trim_start().trim_start_matches("- ");
    let key = trimmed.split(':').next().unwrap_or("");
    let key_note = if trimmed.contains(':')
        && !key.is_empty()
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        format!(" (field `{key}`)")
    } else {
        String::new()
    };
    format!("{body}{key_note} at line {}", index + 1)
}

/// Best-effort line of `key: value` in the source, for errors found after parsing.
fn find_line(source: &str, key: &str, value: &str) -> Option<usize> {
    source.lines().enumerate().find_map(|(i, line)| {
        let line = line.trim_start().trim_start_matches("- ").trim();
        let rest = if key.is_empty() {
            line
        } else {
            line.strip_prefix(key)?.strip_prefix(':')?.trim()
        };
        let rest = rest.trim_matches(|c| c == '"' || c == '\'' || c == '[' || c == ']');
        let hit = if value.is_empty() {
            !key.is_empty()
        } else if key.is_empty() {
            rest.contains(value)
        } else {
            rest == value
        };
        hit.then_some(i + 1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(yaml: &str) -> String {
        LoadedConfig::parse(yaml).unwrap_err().to_string()
    }

    #[test]
    fn minimal_config_gets_alertmanager_defaults() {
        let c = LoadedConfig::parse("route:\n  receiver: a\nreceivers:\n  - name: a\n").unwrap();
        assert_eq!(c.resolve_timeout, Duration::from_secs(300));
        assert_eq!(c.global.smtp_require_tls, Some(true));
        assert_eq!(
            c.global.pagerduty_url.as_deref(),
            Some(DEFAULT_PAGERDUTY_URL)
        );
    }

    #[test]
    fn unknown_field_names_field_and_line() {
        let e = err("route:\n  receiver: a\n  group_wiat: 1s\nreceivers:\n  - name: a\n");
        assert!(e.contains("group_wiat") && e.contains("line 3"), "{e}");
    }

    #[test]
    fn bad_values_name_the_line() {
        let e = err("route:\n  receiver: a\n  group_wait: 5 minutes\nreceivers:\n  - name: a\n");
        assert!(
            e.contains("not a valid duration") && e.contains("line 3"),
            "{e}"
        );
        let e = err("route:\n  receiver: a\n  routes:\n    - matchers: ['a=\"b']\nreceivers:\n  - name: a\n");
        assert!(
            e.contains("unescaped double quote") && e.contains("line 4"),
            "{e}"
        );
        let e = err("route:\n  receiver: a\n  routes:\n    - match_re: {a: '(('}\nreceivers:\n  - name: a\n");
        assert!(
            e.contains("regular expression") && e.contains("line 4"),
            "{e}"
        );
    }

    #[test]
    fn every_problem_is_reported_at_once_with_its_line() {
        let e = err("route:
  receiver: a
  routes:
    - receiver: nope
    - receiver: a
      group_interval: 0s
receivers:
  - name: a
    webhook_configs: [{}]
  - name: b
    webhook_configs:
      - url: 'ftp://x'
");
        assert!(e.starts_with("4 problems in the configuration:"), "{e}");
        for expected in [
            "receiver \"a\": missing URL in webhook config (line 8)",
            "receiver \"b\": webhook url: unsupported scheme",
            "undefined receiver \"nope\" used in route (line 4)",
            "group_interval cannot be zero",
        ] {
            assert!(e.contains(expected), "{expected} in {e}");
        }
    }

    #[test]
    fn alertmanager_0_34_keys_are_checked_as_alertmanager_checks_them() {
        let base = "route: {receiver: a}\nreceivers:\n  - name: a\n";
        for (extra, expected) in [
            (
                "tracing: {client_type: http}\n",
                "tracing endpoint must be set",
            ),
            (
                "tracing: {client_type: udp, endpoint: 'x:1'}\n",
                "expected tracing client type to be to be http or grpc, but got udp",
            ),
            (
                "tracing: {endpoint: 'x:1', compression: zstd}\n",
                "invalid compression type zstd provided, valid options: gzip",
            ),
        ] {
            let e = err(&format!("{base}{extra}"));
            assert!(e.contains(expected), "{extra}: {e}");
        }
        let e = err("route: {receiver: a}\nreceivers:\n  - name: a\n    webhook_configs: [{url: 'http://h/', http_config: {oauth2: {client_id: c}}}]\n");
        assert!(e.contains("oauth2 token_url must be configured"), "{e}");
        let e = err("route: {receiver: a}\nreceivers:\n  - name: a\n    labels: {name: b}\n");
        assert!(
            e.contains("receiver label \"name\" must match receiver name \"a\", got \"b\""),
            "{e}"
        );
        let ok = LoadedConfig::parse(
            "route: {receiver: a, labels: {team: x}}\ninhibit_rules: [{name: n, equal: [a]}]\nreceivers:\n  - name: a\n    labels: {name: a, tier: t}\ntracing: {endpoint: 'x:1'}\nevent_recorder: {stdout_outputs: [{}]}\n",
        );
        assert!(ok.is_ok(), "{:?}", ok.err());
    }

    #[test]
    fn semantic_errors_match_alertmanager_wording() {
        let e = err(
            "route:\n  receiver: a\n  routes:\n    - receiver: nope\nreceivers:\n  - name: a\n",
        );
        assert_eq!(e, "undefined receiver \"nope\" used in route (line 4)");
        assert!(err("receivers:\n  - name: a\n").contains("no routes provided"));
        assert!(err("route: {}\nreceivers:\n  - name: a\n")
            .contains("root route must specify a default receiver"));
        assert!(
            err("route: {receiver: a, matchers: [x=y]}\nreceivers:\n  - name: a\n")
                .contains("root route must not have any matchers")
        );
        assert!(
            err("route: {receiver: a}\nreceivers:\n  - name: a\n  - name: a\n")
                .contains("is not unique")
        );
        assert!(
            err("route: {receiver: a, group_by: ['...', x]}\nreceivers:\n  - name: a\n")
                .contains("wildcard group_by")
        );
        assert!(err(
            "route: {receiver: a, routes: [{group_interval: 0s}]}\nreceivers:\n  - name: a\n"
        )
        .contains("group_interval cannot be zero"));
        assert!(
            err("route: {receiver: a}\nreceivers:\n  - name: a\n    webhook_configs: [{}]\n")
                .contains("missing URL in webhook config")
        );
        assert!(err(
            "route: {receiver: a}\nreceivers:\n  - name: a\n    slack_configs: [{channel: x}]\n"
        )
        .contains("no global Slack API URL set"));
        assert!(err(
            "route: {receiver: a}\nreceivers:\n  - name: a\n    carrier_pigeon_configs: [{}]\n"
        )
        .contains("unknown field `carrier_pigeon_configs`"));
        assert!(err(
            "route: {receiver: a, routes: [{mute_time_intervals: [x]}]}\nreceivers:\n  - name: a\n"
        )
        .contains("undefined time interval \"x\""));
    }
}
