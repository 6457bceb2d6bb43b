//! `sns_configs`: AWS SNS `Publish` to a topic, a phone number (SMS) or a platform endpoint,
//! signed with SigV4.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::config::{check_http_config, check_http_url, GlobalConfig, HttpClientConfig, Secret};
use crate::notify::registry::{BuildEnv, IntegrationConfig, Notify, Registered};
use crate::notify::IntegrationError;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnsConfig {
    pub send_resolved: Option<bool>,
    pub http_config: Option<HttpClientConfig>,
    /// A template; unset, the regional endpoint `https://sns.<region>.amazonaws.com`.
    pub api_url: Option<String>,
    #[serde(default)]
    pub sigv4: Sigv4Config,
    pub topic_arn: Option<String>,
    pub phone_number: Option<String>,
    pub target_arn: Option<String>,
    /// Unset, `sns.default.subject`; set to `""`, no subject is sent.
    pub subject: Option<String>,
    pub message: Option<String>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Alertmanager's switch to the AWS SDK's own HTTP client; we have only one client.
    pub use_aws_http_client: Option<bool>,
}

/// The `sigv4` block of prometheus/sigv4.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sigv4Config {
    pub region: Option<String>,
    pub access_key: Option<String>,
    pub secret_key: Option<Secret>,
    pub profile: Option<String>,
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    pub use_fips_sts_endpoint: Option<bool>,
    /// Used by remote write; SNS always signs for the `sns` service, as the SDK does.
    pub service_name: Option<String>,
}

fn set(v: &Option<String>) -> bool {
    v.as_deref().is_some_and(|s| !s.is_empty())
}

impl SnsConfig {
    /// Alertmanager gives a block without `http_config` the global one.
    pub fn http<'a>(&'a self, global: &'a GlobalConfig) -> Option<&'a HttpClientConfig> {
        self.http_config.as_ref().or(global.http_config.as_ref())
    }
}

impl Sigv4Config {
    pub fn check(&self) -> Result<(), String> {
        let secret_set = self.secret_key.as_ref().is_some_and(|s| !s.is_empty());
        if set(&self.access_key) != secret_set {
            return Err("must provide a AWS SigV4 Access key and Secret Key if credentials are specified in the SigV4 config".into());
        }
        if set(&self.external_id) && !set(&self.role_arn) {
            return Err("external_id can only be used with role_arn".into());
        }
        if set(&self.role_arn) {
            return Err("sigv4.role_arn (STS AssumeRole) is not supported by alert-router: give sigv4.access_key and sigv4.secret_key, or a profile with static keys".into());
        }
        Ok(())
    }
}

impl IntegrationConfig for SnsConfig {
    fn check(&self, global: &GlobalConfig) -> Result<(), String> {
        let targets = [&self.topic_arn, &self.phone_number, &self.target_arn];
        if targets.iter().filter(|t| set(t)).count() != 1 {
            return Err(
                "must provide either a Target ARN, Topic ARN, or Phone Number for SNS config"
                    .into(),
            );
        }
        self.sigv4.check()?;
        if let Some(url) = self.api_url.as_deref().filter(|u| !u.is_empty()) {
            if !url.contains("{{") {
                check_http_url(url).map_err(|e| format!("sns api_url: {e}"))?;
            }
        }
        check_http_config(self.http(global))
    }

    fn templated_fields(&self) -> Vec<(&'static str, &str)> {
        let mut out: Vec<(&'static str, &str)> = [
            ("sns api_url", &self.api_url),
            ("sns topic_arn", &self.topic_arn),
            ("sns phone_number", &self.phone_number),
            ("sns target_arn", &self.target_arn),
            ("sns subject", &self.subject),
            ("sns message", &self.message),
        ]
        .into_iter()
        .filter_map(|(name, v)| v.as_deref().map(|t| (name, t)))
        .collect();
        for (k, v) in &self.attributes {
            out.push(("sns attribute name", k));
            out.push(("sns attribute value", v));
        }
        out
    }

    fn channel(&self, name: &'static str, _receiver: &str) -> &'static str {
        if set(&self.phone_number) {
            "phone"
        } else {
            name
        }
    }

    fn build(&self, env: &BuildEnv) -> Result<Box<dyn Notify>, IntegrationError> {
        Ok(Box::new(super::SnsNotifier::new(
            self,
            env.global,
            env.templates.clone(),
            &super::credentials::process_env,
        )?))
    }
}

impl Registered for SnsConfig {
    const NAME: &'static str = "sns";
    const SECRET_KEYS: &'static [&'static str] = &["secret_key"];
    const TEMPLATES: &'static str = include_str!("default.tmpl");
}
