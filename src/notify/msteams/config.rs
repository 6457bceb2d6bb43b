//! `msteams_configs`: a Microsoft Teams incoming webhook (Office 365 connector).

use serde::Deserialize;

use crate::config::{check_http_config, check_http_url, GlobalConfig, HttpClientConfig};
use crate::config::{Secret, SecretSource, SECRET_TOKEN};
use crate::notify::registry::{BuildEnv, IntegrationConfig, Notify, Registered};
use crate::notify::IntegrationError;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MsteamsConfig {
    pub send_resolved: Option<bool>,
    pub http_config: Option<HttpClientConfig>,
    pub webhook_url: Option<Secret>,
    pub webhook_url_file: Option<String>,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub text: Option<String>,
}

impl MsteamsConfig {
    pub fn webhook(&self) -> Result<SecretSource, String> {
        webhook(&self.webhook_url, &self.webhook_url_file)
    }

    /// Alertmanager gives a block without `http_config` the global one.
    pub fn http<'a>(&'a self, global: &'a GlobalConfig) -> Option<&'a HttpClientConfig> {
        self.http_config.as_ref().or(global.http_config.as_ref())
    }
}

/// The webhook URL, inline or from its file: exactly one of them.
pub(crate) fn webhook(url: &Option<Secret>, file: &Option<String>) -> Result<SecretSource, String> {
    match (url.clone(), file.clone().filter(|f| !f.is_empty())) {
        (None, None) => Err("one of webhook_url or webhook_url_file must be configured".into()),
        (Some(_), Some(_)) => {
            Err("at most one of webhook_url & webhook_url_file must be configured".into())
        }
        (Some(url), None) => Ok(SecretSource::Inline(url)),
        (None, Some(file)) => Ok(SecretSource::File(file)),
    }
}

/// An inline webhook URL must be an http(s) URL; `<secret>` (what the status API shows, and
/// amtool sends back) is let through.
pub(crate) fn check_webhook(source: &SecretSource, name: &str) -> Result<(), String> {
    match source {
        SecretSource::Inline(url) if url.expose() != SECRET_TOKEN => {
            check_http_url(url.expose()).map_err(|e| format!("{name} webhook_url: {e}"))
        }
        _ => Ok(()),
    }
}

impl IntegrationConfig for MsteamsConfig {
    fn check(&self, global: &GlobalConfig) -> Result<(), String> {
        check_webhook(&self.webhook()?, "msteams")?;
        check_http_config(self.http(global))
    }

    fn templated_fields(&self) -> Vec<(&'static str, &str)> {
        [
            ("msteams title", &self.title),
            ("msteams summary", &self.summary),
            ("msteams text", &self.text),
        ]
        .into_iter()
        .filter_map(|(name, v)| v.as_deref().map(|t| (name, t)))
        .collect()
    }

    fn build(&self, env: &BuildEnv) -> Result<Box<dyn Notify>, IntegrationError> {
        Ok(Box::new(super::MsteamsNotifier::new(
            self,
            env.global,
            env.templates.clone(),
        )?))
    }
}

impl Registered for MsteamsConfig {
    const NAME: &'static str = "msteams";
    const SECRET_KEYS: &'static [&'static str] = &["webhook_url"];
    const TEMPLATES: &'static str = include_str!("default.tmpl");
}
