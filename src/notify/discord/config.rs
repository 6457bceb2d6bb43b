//! `discord_configs`: a Discord channel webhook.

use serde::Deserialize;

use crate::config::{check_http_config, check_http_url, GlobalConfig, HttpClientConfig};
use crate::config::{Secret, SecretSource, SECRET_TOKEN};
use crate::notify::registry::{BuildEnv, IntegrationConfig, Notify, Registered};
use crate::notify::IntegrationError;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscordConfig {
    pub send_resolved: Option<bool>,
    pub http_config: Option<HttpClientConfig>,
    pub webhook_url: Option<Secret>,
    pub webhook_url_file: Option<String>,
    pub content: Option<String>,
    pub title: Option<String>,
    pub message: Option<String>,
    /// Sent as written: Alertmanager does not template it.
    pub username: Option<String>,
    /// Sent as written, when it parses as a URL.
    pub avatar_url: Option<String>,
}

impl DiscordConfig {
    pub fn webhook(&self) -> Result<SecretSource, String> {
        let url = self.webhook_url.clone();
        let file = self.webhook_url_file.clone().filter(|f| !f.is_empty());
        match (url, file) {
            (None, None) => Err("one of webhook_url or webhook_url_file must be configured".into()),
            (Some(_), Some(_)) => {
                Err("at most one of webhook_url & webhook_url_file must be configured".into())
            }
            (Some(url), None) => Ok(SecretSource::Inline(url)),
            (None, Some(file)) => Ok(SecretSource::File(file)),
        }
    }

    /// Alertmanager gives a block without `http_config` the global one.
    pub fn http<'a>(&'a self, global: &'a GlobalConfig) -> Option<&'a HttpClientConfig> {
        self.http_config.as_ref().or(global.http_config.as_ref())
    }
}

impl IntegrationConfig for DiscordConfig {
    fn check(&self, global: &GlobalConfig) -> Result<(), String> {
        if let SecretSource::Inline(url) = self.webhook()? {
            // `<secret>` is what the status API shows: amtool sends it back unchanged.
            if url.expose() != SECRET_TOKEN {
                check_http_url(url.expose()).map_err(|e| format!("discord webhook_url: {e}"))?;
            }
        }
        check_http_config(self.http(global))
    }

    fn templated_fields(&self) -> Vec<(&'static str, &str)> {
        [
            ("discord title", &self.title),
            ("discord message", &self.message),
            ("discord content", &self.content),
        ]
        .into_iter()
        .filter_map(|(name, v)| v.as_deref().map(|t| (name, t)))
        .collect()
    }

    fn build(&self, env: &BuildEnv) -> Result<Box<dyn Notify>, IntegrationError> {
        Ok(Box::new(super::DiscordNotifier::new(
            self,
            env.global,
            env.templates.clone(),
        )?))
    }
}

impl Registered for DiscordConfig {
    const NAME: &'static str = "discord";
    const SECRET_KEYS: &'static [&'static str] = &["webhook_url"];
    const TEMPLATES: &'static str = include_str!("default.tmpl");
}
