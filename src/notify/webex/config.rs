//! `webex_configs`: a message to a Webex room, authorised by `http_config.authorization` (the
//! bot's access token).

use serde::Deserialize;

use crate::config::{check_http_config, check_http_url, GlobalConfig, HttpClientConfig};
use crate::notify::registry::{BuildEnv, IntegrationConfig, Notify, Registered};
use crate::notify::IntegrationError;

/// Where messages go unless `api_url` (or the global `webex_api_url`) says otherwise.
pub const DEFAULT_API_URL: &str = "https://webexapis.com/v1/messages";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebexConfig {
    pub send_resolved: Option<bool>,
    pub http_config: Option<HttpClientConfig>,
    pub api_url: Option<String>,
    pub message: Option<String>,
    pub room_id: Option<String>,
}

impl WebexConfig {
    pub fn api_url(&self, global: &GlobalConfig) -> String {
        self.api_url
            .clone()
            .or_else(|| global.webex_api_url.clone())
            .unwrap_or_else(|| DEFAULT_API_URL.to_string())
    }
}

impl IntegrationConfig for WebexConfig {
    fn check(&self, global: &GlobalConfig) -> Result<(), String> {
        if self.room_id.as_deref().unwrap_or("").is_empty() {
            return Err("missing room_id on webex_config".into());
        }
        // The block's own http_config: Alertmanager checks before it would fill in the global
        // one, so the global credentials do not count.
        let Some(http) = self
            .http_config
            .as_ref()
            .filter(|h| h.authorization.is_some())
        else {
            return Err("missing webex_configs.http_config.authorization".into());
        };
        for url in [&self.api_url, &global.webex_api_url].into_iter().flatten() {
            check_http_url(url).map_err(|e| format!("webex api_url: {e}"))?;
        }
        check_http_config(Some(http))
    }

    fn templated_fields(&self) -> Vec<(&'static str, &str)> {
        [
            ("webex message", &self.message),
            ("webex room_id", &self.room_id),
        ]
        .into_iter()
        .filter_map(|(name, v)| v.as_deref().map(|t| (name, t)))
        .collect()
    }

    fn build(&self, env: &BuildEnv) -> Result<Box<dyn Notify>, IntegrationError> {
        Ok(Box::new(super::WebexNotifier::new(
            self,
            env.global,
            env.templates.clone(),
        )?))
    }
}

impl Registered for WebexConfig {
    const NAME: &'static str = "webex";
    const TEMPLATES: &'static str = include_str!("default.tmpl");
}
