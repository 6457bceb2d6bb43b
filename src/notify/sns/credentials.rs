//! Where SNS's credentials and region come from: the `sigv4` block, the standard `AWS_*`
//! environment variables, or a profile of the shared credentials and config files. These are
//! the static sources of the AWS SDK's default chain; the dynamic ones (instance roles, SSO,
//! `credential_process`, `role_arn` assume-role) are refused at load with a message saying so.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::sigv4::Credentials;
use super::Sigv4Config;
use crate::config::Secret;

/// Reads an environment variable; tests pass their own.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, empty values counting as unset (as the SDK does).
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// A credential source, resolved again at each send so rotated keys apply without a reload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialSource {
    Static {
        access_key: String,
        secret_key: Secret,
    },
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`.
    Environment,
    /// A profile of the shared credentials file (or the config file).
    Profile(String),
}

impl CredentialSource {
    /// The source the `sigv4` block names or, without keys or a profile, the first of the
    /// default chain's static sources that has credentials now.
    pub fn choose(sigv4: &Sigv4Config, env: EnvLookup) -> Result<CredentialSource, String> {
        if let Some(access_key) = sigv4.access_key.clone().filter(|k| !k.is_empty()) {
            let secret_key = sigv4.secret_key.clone().unwrap_or_default();
            return Ok(CredentialSource::Static {
                access_key,
                secret_key,
            });
        }
        if let Some(profile) = sigv4.profile.clone().filter(|p| !p.is_empty()) {
            let source = CredentialSource::Profile(profile);
            source.resolve(env)?;
            return Ok(source);
        }
        if env("AWS_ACCESS_KEY_ID").is_some() && env("AWS_SECRET_ACCESS_KEY").is_some() {
            return Ok(CredentialSource::Environment);
        }
        let profile = env("AWS_PROFILE").unwrap_or_else(|| "default".into());
        let source = CredentialSource::Profile(profile);
        source.resolve(env).map_err(|e| {
            format!(
                "no AWS credentials for SNS: set sigv4.access_key and sigv4.secret_key, \
                 AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile with static keys ({e})"
            )
        })?;
        Ok(source)
    }

    pub fn resolve(&self, env: EnvLookup) -> Result<Credentials, String> {
        match self {
            CredentialSource::Static {
                access_key,
                secret_key,
            } => Ok(Credentials {
                access_key: access_key.clone(),
                secret_key: secret_key.clone(),
                session_token: None,
            }),
            CredentialSource::Environment => {
                let (Some(access_key), Some(secret)) =
                    (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"))
                else {
                    return Err(
                        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are no longer set".into(),
                    );
                };
                Ok(Credentials {
                    access_key,
                    secret_key: Secret::new(secret),
                    session_token: env("AWS_SESSION_TOKEN").map(Secret::new),
                })
            }
            CredentialSource::Profile(name) => profile_credentials(name, env),
        }
    }
}

/// The signing region: `sigv4.region`, `AWS_REGION`, `AWS_DEFAULT_REGION`, or the profile's
/// `region` in the config file.
pub fn region(sigv4: &Sigv4Config, env: EnvLookup) -> Result<String, String> {
    if let Some(region) = sigv4.region.clone().filter(|r| !r.is_empty()) {
        return Ok(region);
    }
    if let Some(region) = env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")) {
        return Ok(region);
    }
    let profile = sigv4
        .profile
        .clone()
        .filter(|p| !p.is_empty())
        .or_else(|| env("AWS_PROFILE"))
        .unwrap_or_else(|| "default".into());
    config_section(&profile, env)
        .and_then(|s| s.get("region").cloned())
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            "region not configured in sns.sigv4.region or in default credentials chain".into()
        })
}

fn home_file(env: EnvLookup, var: &str, name: &str) -> Option<PathBuf> {
    if let Some(path) = env(var) {
        return Some(PathBuf::from(path));
    }
    let home = env("HOME").or_else(|| env("USERPROFILE"))?;
    Some(PathBuf::from(home).join(".aws").join(name))
}

type Section = BTreeMap<String, String>;

/// The profile's section of the credentials file (`[name]`).
fn credentials_section(profile: &str, env: EnvLookup) -> Option<Section> {
    let path = home_file(env, "AWS_SHARED_CREDENTIALS_FILE", "credentials")?;
    let text = std::fs::read_to_string(path).ok()?;
    parse_ini(&text).remove(profile)
}

/// The profile's section of the config file (`[default]` or `[profile name]`).
fn config_section(profile: &str, env: EnvLookup) -> Option<Section> {
    let path = home_file(env, "AWS_CONFIG_FILE", "config")?;
    let text = std::fs::read_to_string(path).ok()?;
    let mut sections = parse_ini(&text);
    let named = sections.remove(&format!("profile {profile}"));
    if profile == "default" {
        named.or_else(|| sections.remove("default"))
    } else {
        named
    }
}

fn profile_credentials(profile: &str, env: EnvLookup) -> Result<Credentials, String> {
    let from_credentials = credentials_section(profile, env);
    let from_config = config_section(profile, env);
    for section in [&from_credentials, &from_config].into_iter().flatten() {
        if let (Some(access_key), Some(secret)) = (
            section.get("aws_access_key_id").filter(|v| !v.is_empty()),
            section
                .get("aws_secret_access_key")
                .filter(|v| !v.is_empty()),
        ) {
            return Ok(Credentials {
                access_key: access_key.clone(),
                secret_key: Secret::new(secret.clone()),
                session_token: section
                    .get("aws_session_token")
                    .filter(|v| !v.is_empty())
                    .map(|t| Secret::new(t.clone())),
            });
        }
    }
    let dynamic = [&from_credentials, &from_config]
        .into_iter()
        .flatten()
        .flat_map(|s| s.keys())
        .find(|k| {
            matches!(
                k.as_str(),
                "role_arn" | "source_profile" | "credential_process" | "web_identity_token_file"
            ) || k.starts_with("sso_")
        });
    match (dynamic, from_credentials.is_some() || from_config.is_some()) {
        (Some(key), _) => Err(format!(
            "AWS profile {profile:?} gets its credentials through {key}, which alert-router cannot resolve; give it aws_access_key_id and aws_secret_access_key"
        )),
        (None, true) => Err(format!(
            "AWS profile {profile:?} has no aws_access_key_id and aws_secret_access_key"
        )),
        (None, false) => Err(format!(
            "AWS profile {profile:?} not found in the shared credentials or config file"
        )),
    }
}

/// The shared files' INI dialect: `[section]`, `key = value`, `#` and `;` comments.
fn parse_ini(text: &str) -> BTreeMap<String, Section> {
    let mut sections: BTreeMap<String, Section> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
            sections.entry(name.clone()).or_default();
            current = Some(name);
            continue;
        }
        let (Some(section), Some((key, value))) = (&current, line.split_once('=')) else {
            continue;
        };
        if let Some(s) = sections.get_mut(section) {
            s.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    sections
}
