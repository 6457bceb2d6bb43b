//! `wechat_configs`: WeChat Work (WeCom) application messages, with the secret, corp id and
//! URL from this block or `global`.

use serde::Deserialize;

use crate::config::{check_http_config, check_http_url, GlobalConfig, HttpClientConfig};
use crate::config::{Secret, SecretSource};
use crate::notify::registry::{BuildEnv, IntegrationConfig, Notify, Registered};
use crate::notify::IntegrationError;

/// Where the API lives unless `api_url` (or the global `wechat_api_url`) says otherwise.
pub const DEFAULT_API_URL: &str = "https://qyapi.weixin.qq.com/cgi-bin/";

const MESSAGE_TYPES_RE: &str = "^(text|markdown)$";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WechatConfig {
    pub send_resolved: Option<bool>,
    pub http_config: Option<HttpClientConfig>,
    pub api_secret: Option<Secret>,
    pub api_secret_file: Option<String>,
    pub corp_id: Option<String>,
    pub message: Option<String>,
    pub api_url: Option<String>,
    pub to_user: Option<String>,
    pub to_party: Option<String>,
    pub to_tag: Option<String>,
    pub agent_id: Option<String>,
    /// `text` (the default) or `markdown`.
    pub message_type: Option<String>,
}

impl WechatConfig {
    /// The API secret: this block's, else the global one.
    pub fn secret(&self, global: &GlobalConfig) -> Result<SecretSource, String> {
        let own = SecretSource::from_pair(
            self.api_secret.clone(),
            self.api_secret_file.clone(),
            "api_secret",
        )
        .map_err(|e| e.to_string())?;
        let global = SecretSource::from_pair(
            global.wechat_api_secret.clone(),
            global.wechat_api_secret_file.clone(),
            "wechat_api_secret",
        )
        .map_err(|e| e.to_string())?;
        own.or(global)
            .ok_or_else(|| "no global Wechat Api Secret set either inline or in a file".into())
    }

    pub fn corp_id(&self, global: &GlobalConfig) -> Result<String, String> {
        self.corp_id
            .clone()
            .filter(|c| !c.is_empty())
            .or_else(|| global.wechat_api_corp_id.clone())
            .filter(|c| !c.is_empty())
            .ok_or_else(|| "no global Wechat CorpID set".into())
    }

    pub fn message_type(&self) -> &str {
        match self.message_type.as_deref() {
            None | Some("") => "text",
            Some(t) => t,
        }
    }

    /// The API's base URL, ending in `/` (`gettoken` and `message/send` are appended to it).
    pub fn base_url(&self, global: &GlobalConfig) -> String {
        let mut url = self
            .api_url
            .clone()
            .or_else(|| global.wechat_api_url.clone())
            .unwrap_or_else(|| DEFAULT_API_URL.to_string());
        super::ensure_trailing_slash(&mut url);
        url
    }

    pub fn http<'a>(&'a self, global: &'a GlobalConfig) -> Option<&'a HttpClientConfig> {
        self.http_config.as_ref().or(global.http_config.as_ref())
    }
}

impl IntegrationConfig for WechatConfig {
    fn check(&self, global: &GlobalConfig) -> Result<(), String> {
        let kind = self.message_type();
        if kind != "text" && kind != "markdown" {
            return Err(format!(
                "weChat message type {kind:?} does not match valid options {MESSAGE_TYPES_RE}"
            ));
        }
        self.secret(global)?;
        self.corp_id(global)?;
        for url in [&self.api_url, &global.wechat_api_url]
            .into_iter()
            .flatten()
        {
            check_http_url(url).map_err(|e| format!("wechat api_url: {e}"))?;
        }
        check_http_config(self.http(global))
    }

    fn templated_fields(&self) -> Vec<(&'static str, &str)> {
        let fields = [
            ("wechat message", &self.message),
            ("wechat to_user", &self.to_user),
            ("wechat to_party", &self.to_party),
            ("wechat to_tag", &self.to_tag),
            ("wechat agent_id", &self.agent_id),
            ("wechat corp_id", &self.corp_id),
        ];
        let mut out: Vec<(&'static str, &str)> = fields
            .into_iter()
            .filter_map(|(name, v)| v.as_deref().map(|t| (name, t)))
            .collect();
        if let Some(secret) = &self.api_secret {
            out.push(("wechat api_secret", secret.expose()));
        }
        out
    }

    fn build(&self, env: &BuildEnv) -> Result<Box<dyn Notify>, IntegrationError> {
        Ok(Box::new(super::WechatNotifier::new(
            self,
            env.global,
            env.templates.clone(),
        )?))
    }
}

impl Registered for WechatConfig {
    const NAME: &'static str = "wechat";
    const SECRET_KEYS: &'static [&'static str] = &["api_secret"];
    const TEMPLATES: &'static str = include_str!("default.tmpl");
}
