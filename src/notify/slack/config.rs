//! `slack_configs`: an incoming webhook (`api_url`) or, since 0.30, a bot token (`app_token`)
//! posting to `chat.postMessage`, with 0.34's `message_text`, `update_message` and `timeout`.

use serde::Deserialize;

use crate::config::SecretSource;
use crate::config::{check_http_config, GlobalConfig, HttpClientConfig, PromDuration, Secret};
use crate::notify::registry::{BuildEnv, IntegrationConfig, Notify, Registered};
use crate::notify::IntegrationError;

/// Where a bot token posts unless `app_url` (or the global `slack_app_url`) says otherwise.
pub const DEFAULT_APP_URL: &str = "https://slack.com/api/chat.postMessage";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    pub send_resolved: Option<bool>,
    pub http_config: Option<HttpClientConfig>,
    pub api_url: Option<Secret>,
    pub api_url_file: Option<String>,
    pub app_token: Option<Secret>,
    pub app_token_file: Option<String>,
    pub app_url: Option<String>,
    pub channel: Option<String>,
    pub username: Option<String>,
    pub color: Option<String>,
    pub title: Option<String>,
    pub title_link: Option<String>,
    pub pretext: Option<String>,
    pub text: Option<String>,
    /// The message's own `text`, outside the attachment.
    pub message_text: Option<String>,
    #[serde(default)]
    pub fields: Vec<SlackField>,
    pub short_fields: Option<bool>,
    pub footer: Option<String>,
    pub fallback: Option<String>,
    pub callback_id: Option<String>,
    pub icon_emoji: Option<String>,
    pub icon_url: Option<String>,
    pub image_url: Option<String>,
    pub thumb_url: Option<String>,
    pub link_names: Option<bool>,
    pub mrkdwn_in: Option<Vec<String>>,
    #[serde(default)]
    pub actions: Vec<SlackAction>,
    /// Edit the message sent for the group (`chat.update`) instead of posting a new one.
    #[serde(default)]
    pub update_message: bool,
    pub timeout: Option<PromDuration>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackField {
    pub title: String,
    pub value: String,
    pub short: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackAction {
    #[serde(rename = "type")]
    pub kind: String,
    pub text: String,
    pub url: Option<String>,
    pub style: Option<String>,
    pub name: Option<String>,
    pub value: Option<String>,
    pub confirm: Option<SlackConfirm>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfirm {
    pub text: String,
    pub title: Option<String>,
    pub ok_text: Option<String>,
    pub dismiss_text: Option<String>,
}

impl SlackConfig {
    /// Where the message goes and how it authenticates, from this block or `global`.
    pub fn endpoint(&self, global: &GlobalConfig) -> Result<Endpoint, String> {
        let url =
            SecretSource::from_pair(self.api_url.clone(), self.api_url_file.clone(), "api_url")
                .map_err(|e| e.to_string())?;
        let token = SecretSource::from_pair(
            self.app_token.clone(),
            self.app_token_file.clone(),
            "app_token",
        )
        .map_err(|e| e.to_string())?;
        match (url, token) {
            (Some(_), Some(_)) => Err(
                "at most one of api_url/api_url_file & app_token/app_token_file must be configured"
                    .into(),
            ),
            (Some(url), None) => Ok(Endpoint::Webhook(url)),
            (None, Some(token)) => Ok(Endpoint::App {
                token,
                url: self.app_url(global),
            }),
            (None, None) => {
                let global_url = SecretSource::from_pair(
                    global.slack_api_url.clone(),
                    global.slack_api_url_file.clone(),
                    "slack_api_url",
                )
                .map_err(|e| e.to_string())?;
                let global_token = SecretSource::from_pair(
                    global.slack_app_token.clone(),
                    global.slack_app_token_file.clone(),
                    "slack_app_token",
                )
                .map_err(|e| e.to_string())?;
                match (global_url, global_token) {
                    (Some(url), _) => Ok(Endpoint::Webhook(url)),
                    (None, Some(token)) => Ok(Endpoint::App {
                        token,
                        url: self.app_url(global),
                    }),
                    (None, None) => Err("no global Slack API URL set".into()),
                }
            }
        }
    }

    fn app_url(&self, global: &GlobalConfig) -> String {
        self.app_url
            .clone()
            .or_else(|| global.slack_app_url.clone())
            .unwrap_or_else(|| DEFAULT_APP_URL.to_string())
    }
}

/// An incoming webhook's URL carries its credential; a bot token goes in a header.
#[derive(Debug, Clone)]
pub enum Endpoint {
    Webhook(SecretSource),
    App { token: SecretSource, url: String },
}

impl IntegrationConfig for SlackConfig {
    fn check(&self, global: &GlobalConfig) -> Result<(), String> {
        let endpoint = self.endpoint(global)?;
        if self.update_message {
            let posts_messages = match &endpoint {
                Endpoint::App { .. } => true,
                Endpoint::Webhook(SecretSource::Inline(url)) => url.expose() == DEFAULT_APP_URL,
                Endpoint::Webhook(SecretSource::File(_)) => false,
            };
            if !posts_messages {
                return Err(format!(
                    "update_message can only be used with bot tokens. api_url must be set to {DEFAULT_APP_URL}"
                ));
            }
        }
        check_http_config(self.http_config.as_ref())
    }

    fn templated_fields(&self) -> Vec<(&'static str, &str)> {
        let fields = [
            ("slack title", &self.title),
            ("slack title_link", &self.title_link),
            ("slack text", &self.text),
            ("slack message_text", &self.message_text),
            ("slack pretext", &self.pretext),
            ("slack fallback", &self.fallback),
            ("slack color", &self.color),
            ("slack username", &self.username),
            ("slack channel", &self.channel),
            ("slack footer", &self.footer),
            ("slack callback_id", &self.callback_id),
            ("slack icon_emoji", &self.icon_emoji),
            ("slack icon_url", &self.icon_url),
            ("slack image_url", &self.image_url),
            ("slack thumb_url", &self.thumb_url),
        ];
        let mut out: Vec<(&'static str, &str)> = fields
            .into_iter()
            .filter_map(|(name, v)| v.as_deref().map(|t| (name, t)))
            .collect();
        for f in &self.fields {
            out.push(("slack field title", &f.title));
            out.push(("slack field value", &f.value));
        }
        out
    }

    fn build(&self, env: &BuildEnv) -> Result<Box<dyn Notify>, IntegrationError> {
        Ok(Box::new(super::SlackNotifier::new(
            self,
            env.global,
            env.templates.clone(),
        )?))
    }
}

impl Registered for SlackConfig {
    const NAME: &'static str = "slack";
    const SECRET_KEYS: &'static [&'static str] = &["api_url", "app_token"];
    const TEMPLATES: &'static str = include_str!("default.tmpl");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(yaml: &str) -> SlackConfig {
        serde_yaml_ng::from_str(yaml).expect("block")
    }

    #[test]
    fn a_bot_token_posts_to_the_app_url_and_excludes_a_webhook() {
        let global = GlobalConfig::default();
        match block("app_token: xoxb-1").endpoint(&global) {
            Ok(Endpoint::App { url, .. }) => assert_eq!(url, DEFAULT_APP_URL),
            other => panic!("{other:?}"),
        }
        let global = GlobalConfig {
            slack_app_token: Some(Secret::new("xoxb-g")),
            slack_app_url: Some("http://slack.local/api/chat.postMessage".into()),
            ..GlobalConfig::default()
        };
        match block("channel: x").endpoint(&global) {
            Ok(Endpoint::App { url, .. }) => {
                assert_eq!(url, "http://slack.local/api/chat.postMessage")
            }
            other => panic!("{other:?}"),
        }
        let both = block("api_url: http://hooks/x\napp_token: t").check(&GlobalConfig::default());
        assert_eq!(
            both.unwrap_err(),
            "at most one of api_url/api_url_file & app_token/app_token_file must be configured"
        );
        let webhook_update =
            block("api_url: http://hooks/x\nupdate_message: true").check(&GlobalConfig::default());
        assert!(webhook_update
            .unwrap_err()
            .starts_with("update_message can only be used with bot tokens"));
        assert!(block("app_token: t\nupdate_message: true")
            .check(&GlobalConfig::default())
            .is_ok());
        assert_eq!(
            block("channel: x")
                .check(&GlobalConfig::default())
                .unwrap_err(),
            "no global Slack API URL set"
        );
    }
}
