//! `incidentio_configs`: an incident.io HTTP alert source.

use serde::Deserialize;

use crate::config::{check_http_config, check_http_url, GlobalConfig, HttpClientConfig};
use crate::config::{PromDuration, Secret, SecretSource};
use crate::notify::registry::{BuildEnv, IntegrationConfig, Notify, Registered};
use crate::notify::IntegrationError;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentioConfig {
    pub send_resolved: Option<bool>,
    pub http_config: Option<HttpClientConfig>,
    /// The alert source's URL (`https://api.incident.io/v2/alert_events/http/<id>`).
    pub url: Option<String>,
    pub url_file: Option<String>,
    /// Sent as `Authorization: Bearer <token>`, in place of any `http_config` credentials.
    pub alert_source_token: Option<Secret>,
    pub alert_source_token_file: Option<String>,
    #[serde(default)]
    pub max_alerts: u64,
    /// Longest one request may take; none (or 0) leaves only the flush deadline.
    pub timeout: Option<PromDuration>,
}

impl IncidentioConfig {
    pub fn url(&self) -> Result<SecretSource, String> {
        match (
            self.url.clone().filter(|u| !u.is_empty()),
            self.url_file.clone().filter(|f| !f.is_empty()),
        ) {
            (None, None) => Err("one of url or url_file must be configured".into()),
            (Some(_), Some(_)) => Err("at most one of url & url_file must be configured".into()),
            (Some(url), None) => Ok(SecretSource::Inline(Secret::new(url))),
            (None, Some(file)) => Ok(SecretSource::File(file)),
        }
    }

    pub fn token(&self) -> Result<Option<SecretSource>, String> {
        SecretSource::from_pair(
            self.alert_source_token.clone().filter(|t| !t.is_empty()),
            self.alert_source_token_file
                .clone()
                .filter(|f| !f.is_empty()),
            "alert_source_token",
        )
        .map_err(|e| e.to_string())
    }

    /// Alertmanager gives a block without `http_config` the global one.
    pub fn http<'a>(&'a self, global: &'a GlobalConfig) -> Option<&'a HttpClientConfig> {
        self.http_config.as_ref().or(global.http_config.as_ref())
    }
}

impl IntegrationConfig for IncidentioConfig {
    fn check(&self, global: &GlobalConfig) -> Result<(), String> {
        if let SecretSource::Inline(url) = self.url()? {
            check_http_url(url.expose()).map_err(|e| format!("incidentio url: {e}"))?;
        }
        let has_token = self.token()?.is_some();
        // Only the block's own http_config counts here: Alertmanager checks before it
        // fills in the global one.
        if let Some(http) = &self.http_config {
            let has_authorization = http.authorization.is_some();
            if has_authorization && has_token {
                return Err("cannot specify alert_source_token or alert_source_token_file when using http_config.authorization".into());
            }
            if !has_authorization && !has_token {
                return Err("at least one of alert_source_token, alert_source_token_file or http_config.authorization must be configured".into());
            }
        }
        check_http_config(self.http(global))
    }

    fn build(&self, env: &BuildEnv) -> Result<Box<dyn Notify>, IntegrationError> {
        Ok(Box::new(super::IncidentioNotifier::new(self, env.global)?))
    }
}

impl Registered for IncidentioConfig {
    const NAME: &'static str = "incidentio";
    const SECRET_KEYS: &'static [&'static str] = &["alert_source_token"];
}
