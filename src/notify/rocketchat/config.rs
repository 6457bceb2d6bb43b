//! `rocketchat_configs`: Rocket.Chat's `chat.postMessage` REST API, authenticated by a personal
//! access token (`token`) and its user id (`token_id`), from this block or `global`.

use serde::Deserialize;

use crate::config::{check_http_config, check_http_url, GlobalConfig, HttpClientConfig};
use crate::config::{Secret, SecretSource};
use crate::notify::registry::{BuildEnv, IntegrationConfig, Notify, Registered};
use crate::notify::IntegrationError;

/// The server unless `api_url` (or the global `rocketchat_api_url`) says otherwise.
pub const DEFAULT_API_URL: &str = "https://open.rocket.chat/";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RocketchatConfig {
    pub send_resolved: Option<bool>,
    pub http_config: Option<HttpClientConfig>,
    pub api_url: Option<String>,
    pub token_id: Option<Secret>,
    pub token_id_file: Option<String>,
    pub token: Option<Secret>,
    pub token_file: Option<String>,
    /// `#channel` or `@user`; the token's default when empty.
    pub channel: Option<String>,
    pub color: Option<String>,
    pub title: Option<String>,
    pub title_link: Option<String>,
    pub text: Option<String>,
    #[serde(default)]
    pub fields: Vec<RocketchatField>,
    #[serde(default)]
    pub short_fields: bool,
    pub emoji: Option<String>,
    pub icon_url: Option<String>,
    pub image_url: Option<String>,
    pub thumb_url: Option<String>,
    /// Accepted for compatibility: Alertmanager reads it but never sends it.
    #[serde(default)]
    pub link_names: bool,
    #[serde(default)]
    pub actions: Vec<RocketchatAction>,
}

/// Alertmanager reads these with its YAML library's default keys, the lowercased Go field
/// names.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RocketchatField {
    pub short: Option<bool>,
    pub title: Option<String>,
    pub value: Option<String>,
}

/// A button. Only `text`, `url` and `msg` reach Rocket.Chat; the type is always `button`, and
/// the other keys Alertmanager's struct has are accepted and, as there, not sent.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RocketchatAction {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub text: Option<String>,
    pub url: Option<String>,
    pub msg: Option<String>,
    pub imageurl: Option<String>,
    pub iswebview: Option<bool>,
    pub webviewheightratio: Option<String>,
    pub msginchatwindow: Option<bool>,
    pub msgprocessingtype: Option<String>,
}

/// The access token and the id of the user it belongs to.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub token: SecretSource,
    pub token_id: SecretSource,
}

impl RocketchatConfig {
    /// This block's token and user id, each falling back to the global one.
    pub fn credentials(&self, global: &GlobalConfig) -> Result<Credentials, String> {
        let pick = |own: (Option<Secret>, Option<String>),
                    global: (Option<Secret>, Option<String>),
                    field: &str,
                    global_field: &str,
                    missing: &str| {
            let own = SecretSource::from_pair(own.0, own.1.filter(|f| !f.is_empty()), field)
                .map_err(|e| e.to_string())?;
            let global =
                SecretSource::from_pair(global.0, global.1.filter(|f| !f.is_empty()), global_field)
                    .map_err(|e| e.to_string())?;
            own.or(global).ok_or_else(|| missing.to_string())
        };
        let token_id = pick(
            (self.token_id.clone(), self.token_id_file.clone()),
            (
                global.rocketchat_token_id.clone(),
                global.rocketchat_token_id_file.clone(),
            ),
            "token_id",
            "rocketchat_token_id",
            "no global Rocketchat TokenID set either inline or in a file",
        )?;
        let token = pick(
            (self.token.clone(), self.token_file.clone()),
            (
                global.rocketchat_token.clone(),
                global.rocketchat_token_file.clone(),
            ),
            "token",
            "rocketchat_token",
            "no global Rocketchat Token set either inline or in a file",
        )?;
        Ok(Credentials { token, token_id })
    }

    pub fn api_url(&self, global: &GlobalConfig) -> String {
        self.api_url
            .clone()
            .or_else(|| global.rocketchat_api_url.clone())
            .unwrap_or_else(|| DEFAULT_API_URL.to_string())
    }

    /// Alertmanager gives a block without `http_config` the global one.
    pub fn http<'a>(&'a self, global: &'a GlobalConfig) -> Option<&'a HttpClientConfig> {
        self.http_config.as_ref().or(global.http_config.as_ref())
    }
}

impl IntegrationConfig for RocketchatConfig {
    fn check(&self, global: &GlobalConfig) -> Result<(), String> {
        // The block's own pairs first, as Alertmanager checks them when it reads the block.
        for (inline, file, field) in [
            (self.token.is_some(), &self.token_file, "token"),
            (self.token_id.is_some(), &self.token_id_file, "token_id"),
        ] {
            if inline && file.as_ref().is_some_and(|f| !f.is_empty()) {
                return Err(format!(
                    "at most one of {field} & {field}_file must be configured"
                ));
            }
        }
        self.credentials(global)?;
        for url in [&self.api_url, &global.rocketchat_api_url]
            .into_iter()
            .flatten()
        {
            check_http_url(url).map_err(|e| format!("rocketchat api_url: {e}"))?;
        }
        check_http_config(self.http(global))
    }

    fn templated_fields(&self) -> Vec<(&'static str, &str)> {
        let fields = [
            ("rocketchat channel", &self.channel),
            ("rocketchat color", &self.color),
            ("rocketchat title", &self.title),
            ("rocketchat title_link", &self.title_link),
            ("rocketchat text", &self.text),
            ("rocketchat emoji", &self.emoji),
            ("rocketchat icon_url", &self.icon_url),
            ("rocketchat image_url", &self.image_url),
            ("rocketchat thumb_url", &self.thumb_url),
        ];
        let mut out: Vec<(&'static str, &str)> = fields
            .into_iter()
            .filter_map(|(name, v)| v.as_deref().map(|t| (name, t)))
            .collect();
        for f in &self.fields {
            out.extend(f.title.as_deref().map(|t| ("rocketchat field title", t)));
            out.extend(f.value.as_deref().map(|t| ("rocketchat field value", t)));
        }
        for a in &self.actions {
            out.extend(a.text.as_deref().map(|t| ("rocketchat action text", t)));
            out.extend(a.url.as_deref().map(|t| ("rocketchat action url", t)));
            out.extend(a.msg.as_deref().map(|t| ("rocketchat action msg", t)));
        }
        out
    }

    fn build(&self, env: &BuildEnv) -> Result<Box<dyn Notify>, IntegrationError> {
        Ok(Box::new(super::RocketchatNotifier::new(
            self,
            env.global,
            env.templates.clone(),
        )?))
    }
}

impl Registered for RocketchatConfig {
    const NAME: &'static str = "rocketchat";
    const SECRET_KEYS: &'static [&'static str] = &["token", "token_id"];
    const TEMPLATES: &'static str = include_str!("default.tmpl");
}
