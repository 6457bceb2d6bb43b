//! `email_configs`: SMTP, with 0.32's `force_implicit_tls` and 0.34's `threading`.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::config::{GlobalConfig, Secret, SecretSource, TlsConfig};
use crate::notify::registry::{BuildEnv, IntegrationConfig, Notify, Registered};
use crate::notify::IntegrationError;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    pub send_resolved: Option<bool>,
    pub to: Option<String>,
    pub from: Option<String>,
    pub hello: Option<String>,
    pub smarthost: Option<String>,
    pub auth_username: Option<String>,
    pub auth_password: Option<Secret>,
    pub auth_password_file: Option<String>,
    pub auth_secret: Option<Secret>,
    pub auth_secret_file: Option<String>,
    pub auth_identity: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub html: Option<String>,
    pub text: Option<String>,
    pub require_tls: Option<bool>,
    pub tls_config: Option<TlsConfig>,
    /// TLS from the first byte; unset means "on port 465" (0.32+).
    pub force_implicit_tls: Option<bool>,
    #[serde(default)]
    pub threading: ThreadingConfig,
}

/// 0.34: thread a group's mails together with `References`/`In-Reply-To` to a root id.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThreadingConfig {
    #[serde(default)]
    pub enabled: bool,
    /// `daily` (the default) starts a new thread every day; `none` keeps one thread.
    pub thread_by_date: Option<String>,
}

impl IntegrationConfig for EmailConfig {
    fn check(&self, global: &GlobalConfig) -> Result<(), String> {
        if self.to.as_deref().unwrap_or("").is_empty() {
            return Err("missing to address in email config".into());
        }
        if self.smarthost.is_none() && global.smtp_smarthost.is_none() {
            return Err("no global SMTP smarthost set".into());
        }
        if self.from.is_none() && global.smtp_from.is_none() {
            return Err("no global SMTP from set".into());
        }
        for (inline, file, name) in [
            (
                &self.auth_password,
                &self.auth_password_file,
                "auth_password",
            ),
            (&self.auth_secret, &self.auth_secret_file, "auth_secret"),
        ] {
            SecretSource::from_pair(inline.clone(), file.clone(), name)
                .map_err(|e| e.to_string())?;
        }
        for header in self.headers.keys() {
            let same = self
                .headers
                .keys()
                .filter(|h| h.eq_ignore_ascii_case(header))
                .count();
            if same > 1 {
                return Err(format!("duplicate header {header:?} in email config"));
            }
        }
        if self.threading.enabled {
            for conflicting in ["References", "In-Reply-To"] {
                if self
                    .headers
                    .keys()
                    .any(|h| h.eq_ignore_ascii_case(conflicting))
                {
                    return Err(format!(
                        "conflicting configuration: threading.enabled conflicts with custom {conflicting} header"
                    ));
                }
            }
        }
        match self.threading.thread_by_date.as_deref() {
            None | Some("none") | Some("daily") => Ok(()),
            Some(_) => Err("threading.thread_by_date must be either 'none' or 'daily'".into()),
        }
    }

    fn templated_fields(&self) -> Vec<(&'static str, &str)> {
        let mut out: Vec<(&'static str, &str)> =
            [("email html", &self.html), ("email text", &self.text)]
                .into_iter()
                .filter_map(|(name, v)| v.as_deref().map(|t| (name, t)))
                .collect();
        out.extend(self.headers.values().map(|v| ("email header", v.as_str())));
        out
    }

    fn build(&self, env: &BuildEnv) -> Result<Box<dyn Notify>, IntegrationError> {
        Ok(Box::new(super::EmailNotifier::new(
            self,
            env.global,
            env.templates.clone(),
        )?))
    }
}

impl Registered for EmailConfig {
    const NAME: &'static str = "email";
    const SECRET_KEYS: &'static [&'static str] = &["auth_password", "auth_secret"];
    const TEMPLATES: &'static str = include_str!("default.tmpl");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(yaml: &str) -> Result<(), String> {
        let block: EmailConfig = serde_yaml_ng::from_str(yaml).expect("block");
        let global = GlobalConfig {
            smtp_smarthost: Some("smtp:25".into()),
            smtp_from: Some("a@b".into()),
            ..GlobalConfig::default()
        };
        block.check(&global)
    }

    #[test]
    fn threading_is_checked_as_alertmanager_checks_it() {
        assert!(check("to: x@y\nthreading: {enabled: true}").is_ok());
        assert!(check("to: x@y\nthreading: {enabled: true, thread_by_date: none}").is_ok());
        assert_eq!(
            check("to: x@y\nthreading: {enabled: true, thread_by_date: weekly}").unwrap_err(),
            "threading.thread_by_date must be either 'none' or 'daily'"
        );
        assert_eq!(
            check("to: x@y\nthreading: {enabled: true}\nheaders: {References: '<x@y>'}")
                .unwrap_err(),
            "conflicting configuration: threading.enabled conflicts with custom References header"
        );
        assert_eq!(
            check("to: x@y\nauth_secret: s\nauth_secret_file: /f").unwrap_err(),
            "at most one of auth_secret & auth_secret_file must be configured"
        );
    }
}
