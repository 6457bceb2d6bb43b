//! `msteamsv2_configs`: a Teams channel reached through a Power Automate workflow webhook
//! (the successor of the retired Office 365 connectors).

use serde::Deserialize;

use crate::config::{check_http_config, GlobalConfig, HttpClientConfig, Secret, SecretSource};
use crate::notify::msteams::{check_webhook, webhook};
use crate::notify::registry::{BuildEnv, IntegrationConfig, Notify, Registered};
use crate::notify::IntegrationError;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Msteamsv2Config {
    pub send_resolved: Option<bool>,
    pub http_config: Option<HttpClientConfig>,
    pub webhook_url: Option<Secret>,
    pub webhook_url_file: Option<String>,
    pub title: Option<String>,
    pub text: Option<String>,
}

impl Msteamsv2Config {
    pub fn webhook(&self) -> Result<SecretSource, String> {
        webhook(&self.webhook_url, &self.webhook_url_file)
    }

    /// Alertmanager gives a block without `http_config` the global one, and a block with its
    /// own but no `proxy_url` the global proxy (workflows are often reached through one).
    pub fn http(&self, global: &GlobalConfig) -> Option<HttpClientConfig> {
        match (&self.http_config, &global.http_config) {
            (None, global) => global.clone(),
            (Some(own), Some(global)) if own.proxy_url.is_none() => Some(HttpClientConfig {
                proxy_url: global.proxy_url.clone(),
                ..own.clone()
            }),
            (Some(own), _) => Some(own.clone()),
        }
    }
}

impl IntegrationConfig for Msteamsv2Config {
    fn check(&self, global: &GlobalConfig) -> Result<(), String> {
        check_webhook(&self.webhook()?, "msteamsv2")?;
        check_http_config(self.http(global).as_ref())
    }

    fn templated_fields(&self) -> Vec<(&'static str, &str)> {
        [
            ("msteamsv2 title", &self.title),
            ("msteamsv2 text", &self.text),
        ]
        .into_iter()
        .filter_map(|(name, v)| v.as_deref().map(|t| (name, t)))
        .collect()
    }

    fn build(&self, env: &BuildEnv) -> Result<Box<dyn Notify>, IntegrationError> {
        Ok(Box::new(super::Msteamsv2Notifier::new(
            self,
            env.global,
            env.templates.clone(),
        )?))
    }
}

impl Registered for Msteamsv2Config {
    const NAME: &'static str = "msteamsv2";
    const SECRET_KEYS: &'static [&'static str] = &["webhook_url"];
    const TEMPLATES: &'static str = include_str!("default.tmpl");
}
