//! `opsgenie_configs`: Opsgenie's Alert API v2, with the key and URL from this block or
//! `global`.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::config::{check_http_config, check_http_url, GlobalConfig, HttpClientConfig};
use crate::config::{Secret, SecretSource};
use crate::notify::registry::{BuildEnv, IntegrationConfig, Notify, Registered};
use crate::notify::IntegrationError;

/// Where alerts go unless `api_url` (or the global `opsgenie_api_url`) says otherwise.
pub const DEFAULT_API_URL: &str = "https://api.opsgenie.com/";

/// The responder types Opsgenie knows (`teams` is Alertmanager's list-of-teams shorthand).
const RESPONDER_TYPES: &[&str] = &["team", "teams", "user", "escalation", "schedule"];
const RESPONDER_TYPES_RE: &str = "^(team|teams|user|escalation|schedule)$";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpsgenieConfig {
    pub send_resolved: Option<bool>,
    pub http_config: Option<HttpClientConfig>,
    /// Rendered as a template before it is sent, as Alertmanager does.
    pub api_key: Option<Secret>,
    pub api_key_file: Option<String>,
    pub api_url: Option<String>,
    pub message: Option<String>,
    pub description: Option<String>,
    pub source: Option<String>,
    #[serde(default)]
    pub details: BTreeMap<String, String>,
    pub entity: Option<String>,
    #[serde(default)]
    pub responders: Vec<OpsgenieResponder>,
    /// Comma-separated.
    pub actions: Option<String>,
    /// Comma-separated.
    pub tags: Option<String>,
    pub note: Option<String>,
    pub priority: Option<String>,
    /// Also update the message and description of an alert that is already open.
    #[serde(default)]
    pub update_alerts: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpsgenieResponder {
    pub id: Option<String>,
    pub name: Option<String>,
    pub username: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

impl OpsgenieConfig {
    /// The API key: this block's, else the global one.
    pub fn key(&self, global: &GlobalConfig) -> Result<SecretSource, String> {
        let own =
            SecretSource::from_pair(self.api_key.clone(), self.api_key_file.clone(), "api_key")
                .map_err(|e| e.to_string())?;
        let global = SecretSource::from_pair(
            global.opsgenie_api_key.clone(),
            global.opsgenie_api_key_file.clone(),
            "opsgenie_api_key",
        )
        .map_err(|e| e.to_string())?;
        own.or(global)
            .ok_or_else(|| "no global OpsGenie API Key set either inline or in a file".into())
    }

    /// The API's base URL, ending in `/` (paths are appended to it).
    pub fn base_url(&self, global: &GlobalConfig) -> String {
        let mut url = self
            .api_url
            .clone()
            .or_else(|| global.opsgenie_api_url.clone())
            .unwrap_or_else(|| DEFAULT_API_URL.to_string());
        super::ensure_trailing_slash(&mut url);
        url
    }

    pub fn http<'a>(&'a self, global: &'a GlobalConfig) -> Option<&'a HttpClientConfig> {
        self.http_config.as_ref().or(global.http_config.as_ref())
    }
}

impl IntegrationConfig for OpsgenieConfig {
    fn check(&self, global: &GlobalConfig) -> Result<(), String> {
        self.key(global)?;
        for url in [&self.api_url, &global.opsgenie_api_url]
            .into_iter()
            .flatten()
        {
            check_http_url(url).map_err(|e| format!("opsgenie api_url: {e}"))?;
        }
        for r in &self.responders {
            let empty = |v: &Option<String>| v.as_deref().unwrap_or("").is_empty();
            if empty(&r.id) && empty(&r.username) && empty(&r.name) {
                return Err(format!(
                    "opsGenieConfig responder {} has to have at least one of id, username or name specified",
                    r.describe()
                ));
            }
            let kind = r.kind.as_deref().unwrap_or("");
            // A templated type is only known at send time.
            if !kind.contains("{{") && !RESPONDER_TYPES.contains(&kind.to_lowercase().as_str()) {
                return Err(format!(
                    "opsGenieConfig responder {} type does not match valid options {RESPONDER_TYPES_RE}",
                    r.describe()
                ));
            }
        }
        check_http_config(self.http(global))
    }

    fn templated_fields(&self) -> Vec<(&'static str, &str)> {
        let fields = [
            ("opsgenie message", &self.message),
            ("opsgenie description", &self.description),
            ("opsgenie source", &self.source),
            ("opsgenie entity", &self.entity),
            ("opsgenie actions", &self.actions),
            ("opsgenie tags", &self.tags),
            ("opsgenie note", &self.note),
            ("opsgenie priority", &self.priority),
        ];
        let mut out: Vec<(&'static str, &str)> = fields
            .into_iter()
            .filter_map(|(name, v)| v.as_deref().map(|t| (name, t)))
            .collect();
        if let Some(key) = &self.api_key {
            out.push(("opsgenie api_key", key.expose()));
        }
        out.extend(
            self.details
                .values()
                .map(|v| ("opsgenie details", v.as_str())),
        );
        for r in &self.responders {
            let parts = [
                ("opsgenie responder id", &r.id),
                ("opsgenie responder name", &r.name),
                ("opsgenie responder username", &r.username),
                ("opsgenie responder type", &r.kind),
            ];
            out.extend(
                parts
                    .into_iter()
                    .filter_map(|(name, v)| v.as_deref().map(|t| (name, t))),
            );
        }
        out
    }

    fn build(&self, env: &BuildEnv) -> Result<Box<dyn Notify>, IntegrationError> {
        Ok(Box::new(super::OpsgenieNotifier::new(
            self,
            env.global,
            env.templates.clone(),
        )?))
    }
}

impl OpsgenieResponder {
    fn describe(&self) -> String {
        format!(
            "{{id: {:?}, name: {:?}, username: {:?}, type: {:?}}}",
            self.id.as_deref().unwrap_or(""),
            self.name.as_deref().unwrap_or(""),
            self.username.as_deref().unwrap_or(""),
            self.kind.as_deref().unwrap_or("")
        )
    }
}

impl Registered for OpsgenieConfig {
    const NAME: &'static str = "opsgenie";
    const SECRET_KEYS: &'static [&'static str] = &["api_key"];
    const TEMPLATES: &'static str = include_str!("default.tmpl");
}
