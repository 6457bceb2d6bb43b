//! `pagerduty_configs`: Events API v2 with `routing_key`, v1 with `service_key`.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::config::{check_http_config, check_http_url, GlobalConfig, HttpClientConfig};
use crate::config::{PromDuration, Secret, SecretSource};
use crate::notify::registry::{BuildEnv, IntegrationConfig, Notify, Registered};
use crate::notify::IntegrationError;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerdutyConfig {
    pub send_resolved: Option<bool>,
    pub http_config: Option<HttpClientConfig>,
    pub service_key: Option<Secret>,
    pub service_key_file: Option<String>,
    pub routing_key: Option<Secret>,
    pub routing_key_file: Option<String>,
    pub url: Option<String>,
    pub client: Option<String>,
    pub client_url: Option<String>,
    pub description: Option<String>,
    #[serde(default)]
    pub details: BTreeMap<String, serde_yaml_ng::Value>,
    #[serde(default)]
    pub images: Vec<PagerdutyImage>,
    #[serde(default)]
    pub links: Vec<PagerdutyLink>,
    pub source: Option<String>,
    pub severity: Option<String>,
    pub class: Option<String>,
    pub component: Option<String>,
    pub group: Option<String>,
    pub timeout: Option<PromDuration>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerdutyImage {
    pub src: Option<String>,
    pub alt: Option<String>,
    pub href: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerdutyLink {
    pub href: Option<String>,
    pub text: Option<String>,
}

impl IntegrationConfig for PagerdutyConfig {
    fn check(&self, _global: &GlobalConfig) -> Result<(), String> {
        let routing = SecretSource::from_pair(
            self.routing_key.clone(),
            self.routing_key_file.clone(),
            "routing_key",
        )
        .map_err(|e| e.to_string())?;
        let service = SecretSource::from_pair(
            self.service_key.clone(),
            self.service_key_file.clone(),
            "service_key",
        )
        .map_err(|e| e.to_string())?;
        if routing.is_none() && service.is_none() {
            return Err("missing service or routing key in PagerDuty config".into());
        }
        if let Some(url) = &self.url {
            check_http_url(url).map_err(|e| format!("pagerduty url: {e}"))?;
        }
        check_http_config(self.http_config.as_ref())
    }

    fn templated_fields(&self) -> Vec<(&'static str, &str)> {
        let fields = [
            ("pagerduty description", &self.description),
            ("pagerduty client", &self.client),
            ("pagerduty client_url", &self.client_url),
            ("pagerduty severity", &self.severity),
            ("pagerduty source", &self.source),
            ("pagerduty class", &self.class),
            ("pagerduty component", &self.component),
            ("pagerduty group", &self.group),
        ];
        let mut out: Vec<(&'static str, &str)> = fields
            .into_iter()
            .filter_map(|(name, v)| v.as_deref().map(|t| (name, t)))
            .collect();
        out.extend(
            self.details
                .values()
                .filter_map(|v| v.as_str())
                .map(|v| ("pagerduty details", v)),
        );
        out
    }

    fn build(&self, env: &BuildEnv) -> Result<Box<dyn Notify>, IntegrationError> {
        // A block without its own `http_config` uses the global one, as in Alertmanager.
        let mut config = self.clone();
        config.http_config = config
            .http_config
            .or_else(|| env.global.http_config.clone());
        Ok(Box::new(super::PagerdutyNotifier::new(
            &config,
            env.global.pagerduty_url.as_deref(),
            env.templates.clone(),
        )?))
    }
}

impl Registered for PagerdutyConfig {
    const NAME: &'static str = "pagerduty";
    const SECRET_KEYS: &'static [&'static str] = &["routing_key", "service_key"];
    const TEMPLATES: &'static str = include_str!("default.tmpl");
}
