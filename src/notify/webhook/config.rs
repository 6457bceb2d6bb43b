//! `webhook_configs`: Alertmanager's webhook, with 0.34's templated `url`, `timeout` and
//! custom `payload`.

use serde::Deserialize;

use crate::config::{check_http_config, check_http_url, GlobalConfig, HttpClientConfig};
use crate::config::{PromDuration, Secret, SECRET_TOKEN};
use crate::notify::registry::{BuildEnv, IntegrationConfig, Notify, Registered};
use crate::notify::IntegrationError;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub send_resolved: Option<bool>,
    pub http_config: Option<HttpClientConfig>,
    /// A template since 0.34; its text is a secret (URLs carry tokens).
    pub url: Option<Secret>,
    pub url_file: Option<String>,
    #[serde(default)]
    pub max_alerts: u64,
    /// Longest one request may take; none (or 0) leaves only the flush deadline.
    pub timeout: Option<PromDuration>,
    /// Replaces the v4 message: every string in it (keys too) is a template, and a string that
    /// renders to YAML structure (a number, list or map) becomes that structure.
    pub payload: Option<serde_yaml_ng::Value>,
}

impl IntegrationConfig for WebhookConfig {
    fn check(&self, _global: &GlobalConfig) -> Result<(), String> {
        match (&self.url, &self.url_file) {
            // Alertmanager 0.25's wording, which amtool 0.25 prints for this config.
            (None, None) => return Err("missing URL in webhook config".into()),
            (Some(_), Some(_)) => {
                return Err("at most one of url & url_file must be configured".into())
            }
            (Some(url), None) if url.expose() != SECRET_TOKEN && !url.expose().contains("{{") => {
                check_http_url(url.expose()).map_err(|e| format!("webhook url: {e}"))?;
            }
            _ => {}
        }
        check_http_config(self.http_config.as_ref())
    }

    fn templated_fields(&self) -> Vec<(&'static str, &str)> {
        let mut fields = Vec::new();
        if let Some(url) = &self.url {
            fields.push(("webhook url", url.expose()));
        }
        if let Some(payload) = &self.payload {
            collect_strings(payload, &mut fields);
        }
        fields
    }

    /// A webhook to a paging provider that calls counts as `phone` when its receiver's name
    /// says so (`phone-oncall`).
    fn channel(&self, name: &'static str, receiver: &str) -> &'static str {
        if receiver.contains("phone") {
            "phone"
        } else {
            name
        }
    }

    fn build(&self, env: &BuildEnv) -> Result<Box<dyn Notify>, IntegrationError> {
        // A block without its own `http_config` uses the global one, as in Alertmanager.
        let mut config = self.clone();
        config.http_config = config
            .http_config
            .or_else(|| env.global.http_config.clone());
        Ok(Box::new(super::WebhookNotifier::new(
            &config,
            env.templates.clone(),
        )?))
    }
}

impl Registered for WebhookConfig {
    const NAME: &'static str = "webhook";
    const SECRET_URL_KEYS: &'static [&'static str] = &["url"];
}

fn collect_strings<'a>(value: &'a serde_yaml_ng::Value, out: &mut Vec<(&'static str, &'a str)>) {
    use serde_yaml_ng::Value;
    match value {
        Value::String(s) => out.push(("webhook payload", s)),
        Value::Sequence(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Mapping(map) => {
            for (k, v) in map {
                collect_strings(k, out);
                collect_strings(v, out);
            }
        }
        Value::Tagged(t) => collect_strings(&t.value, out),
        _ => {}
    }
}
