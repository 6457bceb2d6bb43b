//! `telegram_configs`: a Telegram bot's `sendMessage`, with the token and API URL from this
//! block or `global`.

use serde::Deserialize;

use crate::config::{check_http_config, check_http_url, GlobalConfig, HttpClientConfig};
use crate::config::{Secret, SecretSource};
use crate::notify::registry::{BuildEnv, IntegrationConfig, Notify, Registered};
use crate::notify::IntegrationError;

/// The Bot API unless `api_url` (or the global `telegram_api_url`) says otherwise.
pub const DEFAULT_API_URL: &str = "https://api.telegram.org";

const PARSE_MODES: &[&str] = &["", "Markdown", "MarkdownV2", "HTML"];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramConfig {
    pub send_resolved: Option<bool>,
    pub http_config: Option<HttpClientConfig>,
    pub api_url: Option<String>,
    pub bot_token: Option<Secret>,
    pub bot_token_file: Option<String>,
    pub chat_id: Option<i64>,
    pub chat_id_file: Option<String>,
    pub message_thread_id: Option<i64>,
    pub message: Option<String>,
    #[serde(default)]
    pub disable_notifications: bool,
    /// `HTML` unless set; an empty string sends plain text.
    pub parse_mode: Option<String>,
}

/// Where the chat id comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatId {
    Inline(i64),
    File(String),
}

impl TelegramConfig {
    /// The bot token: this block's, else the global one.
    pub fn bot_token(&self, global: &GlobalConfig) -> Result<SecretSource, String> {
        let own = SecretSource::from_pair(
            self.bot_token.clone().filter(|t| !t.is_empty()),
            self.bot_token_file.clone().filter(|f| !f.is_empty()),
            "bot_token",
        )
        .map_err(|e| e.to_string())?;
        let global = SecretSource::from_pair(
            global.telegram_bot_token.clone().filter(|t| !t.is_empty()),
            global
                .telegram_bot_token_file
                .clone()
                .filter(|f| !f.is_empty()),
            "telegram_bot_token",
        )
        .map_err(|e| e.to_string())?;
        own.or(global)
            .ok_or_else(|| "missing bot_token or bot_token_file on telegram_config".into())
    }

    pub fn chat_id(&self) -> Result<ChatId, String> {
        match (self.chat_id.filter(|id| *id != 0), &self.chat_id_file) {
            (Some(_), Some(_)) => {
                Err("at most one of chat_id & chat_id_file must be configured".into())
            }
            (Some(id), None) => Ok(ChatId::Inline(id)),
            (None, Some(file)) if !file.is_empty() => Ok(ChatId::File(file.clone())),
            _ => Err("missing chat_id or chat_id_file on telegram_config".into()),
        }
    }

    pub fn parse_mode(&self) -> &str {
        self.parse_mode.as_deref().unwrap_or("HTML")
    }

    pub fn api_url(&self, global: &GlobalConfig) -> String {
        self.api_url
            .clone()
            .or_else(|| global.telegram_api_url.clone())
            .unwrap_or_else(|| DEFAULT_API_URL.to_string())
    }

    pub fn http<'a>(&'a self, global: &'a GlobalConfig) -> Option<&'a HttpClientConfig> {
        self.http_config.as_ref().or(global.http_config.as_ref())
    }
}

impl IntegrationConfig for TelegramConfig {
    fn check(&self, global: &GlobalConfig) -> Result<(), String> {
        if self.bot_token.as_ref().is_some_and(|t| !t.is_empty())
            && self.bot_token_file.as_ref().is_some_and(|f| !f.is_empty())
        {
            return Err("at most one of bot_token & bot_token_file must be configured".into());
        }
        self.chat_id()?;
        if !PARSE_MODES.contains(&self.parse_mode()) {
            return Err("unknown parse_mode on telegram_config, must be Markdown, MarkdownV2, HTML or empty string".into());
        }
        self.bot_token(global)?;
        for url in [&self.api_url, &global.telegram_api_url]
            .into_iter()
            .flatten()
        {
            check_http_url(url).map_err(|e| format!("telegram api_url: {e}"))?;
        }
        check_http_config(self.http(global))
    }

    fn templated_fields(&self) -> Vec<(&'static str, &str)> {
        self.message
            .as_deref()
            .map(|m| ("telegram message", m))
            .into_iter()
            .collect()
    }

    fn build(&self, env: &BuildEnv) -> Result<Box<dyn Notify>, IntegrationError> {
        Ok(Box::new(super::TelegramNotifier::new(
            self,
            env.global,
            env.templates.clone(),
        )?))
    }
}

impl Registered for TelegramConfig {
    const NAME: &'static str = "telegram";
    const SECRET_KEYS: &'static [&'static str] = &["bot_token"];
    const TEMPLATES: &'static str = include_str!("default.tmpl");
}
