//! `mattermost_configs` (new in Alertmanager 0.34): a Mattermost incoming webhook, from this
//! block or the global `mattermost_webhook_url`.

use serde::Deserialize;

use crate::config::{check_http_config, check_http_url, GlobalConfig, HttpClientConfig};
use crate::config::{Secret, SecretSource, SECRET_TOKEN};
use crate::notify::registry::{BuildEnv, IntegrationConfig, Notify, Registered};
use crate::notify::IntegrationError;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MattermostConfig {
    pub send_resolved: Option<bool>,
    pub http_config: Option<HttpClientConfig>,
    pub webhook_url: Option<Secret>,
    pub webhook_url_file: Option<String>,
    pub channel: Option<String>,
    pub username: Option<String>,
    pub text: Option<String>,
    pub fallback: Option<String>,
    pub color: Option<String>,
    pub pretext: Option<String>,
    pub author_name: Option<String>,
    pub author_link: Option<String>,
    pub author_icon: Option<String>,
    pub title: Option<String>,
    pub title_link: Option<String>,
    #[serde(default)]
    pub fields: Vec<MattermostField>,
    pub thumb_url: Option<String>,
    pub footer: Option<String>,
    pub footer_icon: Option<String>,
    pub image_url: Option<String>,
    pub icon_url: Option<String>,
    pub icon_emoji: Option<String>,
    /// When given, these are the message's attachments and the block's own attachment fields
    /// (`title`, `color`, ...) are not used; `text` then goes in the message itself.
    #[serde(default)]
    pub attachments: Vec<MattermostAttachment>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub props: Option<MattermostProps>,
    pub priority: Option<MattermostPriority>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MattermostField {
    pub title: Option<String>,
    pub value: Option<String>,
    pub short: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MattermostAttachment {
    pub fallback: Option<String>,
    pub color: Option<String>,
    pub pretext: Option<String>,
    pub text: Option<String>,
    pub author_name: Option<String>,
    pub author_link: Option<String>,
    pub author_icon: Option<String>,
    pub title: Option<String>,
    pub title_link: Option<String>,
    #[serde(default)]
    pub fields: Vec<MattermostField>,
    pub thumb_url: Option<String>,
    pub footer: Option<String>,
    pub footer_icon: Option<String>,
    pub image_url: Option<String>,
}

/// Message properties; Mattermost reads only `card` (shown in the message's side panel).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MattermostProps {
    pub card: Option<String>,
}

/// Message priority (Mattermost Professional): `urgent`, `important` or `standard`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MattermostPriority {
    pub priority: Option<String>,
    #[serde(default)]
    pub requested_ack: bool,
    #[serde(default)]
    pub persistent_notifications: bool,
}

impl MattermostField {
    fn check(&self) -> Result<(), String> {
        if self.title.as_deref().unwrap_or("").is_empty() {
            return Err("missing title in Mattermost field configuration".into());
        }
        if self.value.as_deref().unwrap_or("").is_empty() {
            return Err("missing value in Mattermost field configuration".into());
        }
        Ok(())
    }
}

impl MattermostConfig {
    /// The webhook: this block's, else the global one.
    pub fn webhook(&self, global: &GlobalConfig) -> Result<SecretSource, String> {
        let own = SecretSource::from_pair(
            self.webhook_url.clone(),
            self.webhook_url_file.clone().filter(|f| !f.is_empty()),
            "webhook_url",
        )
        .map_err(|e| e.to_string())?;
        let global = SecretSource::from_pair(
            global.mattermost_webhook_url.clone(),
            global
                .mattermost_webhook_url_file
                .clone()
                .filter(|f| !f.is_empty()),
            "mattermost_webhook_url",
        )
        .map_err(|e| e.to_string())?;
        own.or(global)
            .ok_or_else(|| "missing webhook_url or webhook_url_file on mattermost_config".into())
    }

    /// Alertmanager gives a block without `http_config` the global one.
    pub fn http<'a>(&'a self, global: &'a GlobalConfig) -> Option<&'a HttpClientConfig> {
        self.http_config.as_ref().or(global.http_config.as_ref())
    }
}

impl IntegrationConfig for MattermostConfig {
    fn check(&self, global: &GlobalConfig) -> Result<(), String> {
        for f in self
            .fields
            .iter()
            .chain(self.attachments.iter().flat_map(|a| &a.fields))
        {
            f.check()?;
        }
        if let SecretSource::Inline(url) = self.webhook(global)? {
            // `<secret>` is what the status API shows: amtool sends it back unchanged.
            if url.expose() != SECRET_TOKEN {
                check_http_url(url.expose()).map_err(|e| format!("mattermost webhook_url: {e}"))?;
            }
        }
        check_http_config(self.http(global))
    }

    fn templated_fields(&self) -> Vec<(&'static str, &str)> {
        let mut out: Vec<(&'static str, &str)> = Vec::new();
        let own = [
            ("mattermost channel", &self.channel),
            ("mattermost username", &self.username),
            ("mattermost text", &self.text),
            ("mattermost icon_url", &self.icon_url),
            ("mattermost icon_emoji", &self.icon_emoji),
            ("mattermost type", &self.kind),
        ];
        out.extend(
            own.into_iter()
                .filter_map(|(name, v)| v.as_deref().map(|t| (name, t))),
        );
        out.extend(attachment_fields(
            [
                &self.fallback,
                &self.color,
                &self.pretext,
                &self.author_name,
                &self.author_link,
                &self.author_icon,
                &self.title,
                &self.title_link,
                &self.thumb_url,
                &self.footer,
                &self.footer_icon,
                &self.image_url,
            ],
            &self.fields,
        ));
        for a in &self.attachments {
            out.extend(attachment_fields(
                [
                    &a.fallback,
                    &a.color,
                    &a.pretext,
                    &a.author_name,
                    &a.author_link,
                    &a.author_icon,
                    &a.title,
                    &a.title_link,
                    &a.thumb_url,
                    &a.footer,
                    &a.footer_icon,
                    &a.image_url,
                ],
                &a.fields,
            ));
            out.extend(a.text.as_deref().map(|t| ("mattermost attachment text", t)));
        }
        if let Some(card) = self.props.as_ref().and_then(|p| p.card.as_deref()) {
            out.push(("mattermost props card", card));
        }
        if let Some(p) = self.priority.as_ref().and_then(|p| p.priority.as_deref()) {
            out.push(("mattermost priority", p));
        }
        out
    }

    fn build(&self, env: &BuildEnv) -> Result<Box<dyn Notify>, IntegrationError> {
        Ok(Box::new(super::MattermostNotifier::new(
            self,
            env.global,
            env.templates.clone(),
        )?))
    }
}

/// An attachment's templated strings, in Alertmanager's field order, then its fields'.
fn attachment_fields<'a>(
    strings: [&'a Option<String>; 12],
    fields: &'a [MattermostField],
) -> Vec<(&'static str, &'a str)> {
    const NAMES: [&str; 12] = [
        "mattermost fallback",
        "mattermost color",
        "mattermost pretext",
        "mattermost author_name",
        "mattermost author_link",
        "mattermost author_icon",
        "mattermost title",
        "mattermost title_link",
        "mattermost thumb_url",
        "mattermost footer",
        "mattermost footer_icon",
        "mattermost image_url",
    ];
    let mut out: Vec<(&'static str, &'a str)> = NAMES
        .into_iter()
        .zip(strings)
        .filter_map(|(name, v)| v.as_deref().map(|t| (name, t)))
        .collect();
    for f in fields {
        out.extend(f.title.as_deref().map(|t| ("mattermost field title", t)));
        out.extend(f.value.as_deref().map(|t| ("mattermost field value", t)));
    }
    out
}

impl Registered for MattermostConfig {
    const NAME: &'static str = "mattermost";
    const SECRET_KEYS: &'static [&'static str] = &["webhook_url"];
    const TEMPLATES: &'static str = include_str!("default.tmpl");
}
