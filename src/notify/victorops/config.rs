//! `victorops_configs`: Splunk On-Call's (VictorOps) REST endpoint, with the key and URL from
//! this block or `global`.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::config::{check_http_config, check_http_url, GlobalConfig, HttpClientConfig};
use crate::config::{Secret, SecretSource};
use crate::notify::registry::{BuildEnv, IntegrationConfig, Notify, Registered};
use crate::notify::IntegrationError;

/// Where alerts go unless `api_url` (or the global `victorops_api_url`) says otherwise.
pub const DEFAULT_API_URL: &str =
    "https://alert.victorops.com/integrations/generic/20131114/alert/";

/// Keys of the message the fixed fields own; a custom field may not replace them.
const RESERVED_FIELDS: &[&str] = &[
    "routing_key",
    "message_type",
    "state_message",
    "entity_display_name",
    "monitoring_tool",
    "entity_id",
    "entity_state",
];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VictoropsConfig {
    pub send_resolved: Option<bool>,
    pub http_config: Option<HttpClientConfig>,
    pub api_key: Option<Secret>,
    pub api_key_file: Option<String>,
    pub api_url: Option<String>,
    pub routing_key: Option<String>,
    pub message_type: Option<String>,
    pub state_message: Option<String>,
    pub entity_display_name: Option<String>,
    pub monitoring_tool: Option<String>,
    #[serde(default)]
    pub custom_fields: BTreeMap<String, String>,
}

impl VictoropsConfig {
    /// The API key: this block's, else the global one.
    pub fn key(&self, global: &GlobalConfig) -> Result<SecretSource, String> {
        let own =
            SecretSource::from_pair(self.api_key.clone(), self.api_key_file.clone(), "api_key")
                .map_err(|e| e.to_string())?;
        let global = SecretSource::from_pair(
            global.victorops_api_key.clone(),
            global.victorops_api_key_file.clone(),
            "victorops_api_key",
        )
        .map_err(|e| e.to_string())?;
        own.or(global)
            .ok_or_else(|| "no global VictorOps API Key set".into())
    }

    /// The API's base URL, ending in `/` (the key and routing key are appended to it).
    pub fn base_url(&self, global: &GlobalConfig) -> String {
        let mut url = self
            .api_url
            .clone()
            .or_else(|| global.victorops_api_url.clone())
            .unwrap_or_else(|| DEFAULT_API_URL.to_string());
        super::ensure_trailing_slash(&mut url);
        url
    }

    pub fn http<'a>(&'a self, global: &'a GlobalConfig) -> Option<&'a HttpClientConfig> {
        self.http_config.as_ref().or(global.http_config.as_ref())
    }
}

impl IntegrationConfig for VictoropsConfig {
    fn check(&self, global: &GlobalConfig) -> Result<(), String> {
        if self.routing_key.as_deref().unwrap_or("").is_empty() {
            return Err("missing Routing key in VictorOps config".into());
        }
        self.key(global)?;
        if let Some(reserved) = RESERVED_FIELDS
            .iter()
            .find(|f| self.custom_fields.contains_key(**f))
        {
            return Err(format!(
                "victorOps config contains custom field {reserved} which cannot be used as it conflicts with the fixed/static fields"
            ));
        }
        for url in [&self.api_url, &global.victorops_api_url]
            .into_iter()
            .flatten()
        {
            check_http_url(url).map_err(|e| format!("victorops api_url: {e}"))?;
        }
        check_http_config(self.http(global))
    }

    fn templated_fields(&self) -> Vec<(&'static str, &str)> {
        let fields = [
            ("victorops routing_key", &self.routing_key),
            ("victorops message_type", &self.message_type),
            ("victorops state_message", &self.state_message),
            ("victorops entity_display_name", &self.entity_display_name),
            ("victorops monitoring_tool", &self.monitoring_tool),
        ];
        let mut out: Vec<(&'static str, &str)> = fields
            .into_iter()
            .filter_map(|(name, v)| v.as_deref().map(|t| (name, t)))
            .collect();
        out.extend(
            self.custom_fields
                .values()
                .map(|v| ("victorops custom_fields", v.as_str())),
        );
        out
    }

    fn build(&self, env: &BuildEnv) -> Result<Box<dyn Notify>, IntegrationError> {
        Ok(Box::new(super::VictoropsNotifier::new(
            self,
            env.global,
            env.templates.clone(),
        )?))
    }
}

impl Registered for VictoropsConfig {
    const NAME: &'static str = "victorops";
    const SECRET_KEYS: &'static [&'static str] = &["api_key"];
    const TEMPLATES: &'static str = include_str!("default.tmpl");
}
