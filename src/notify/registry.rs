//! The one list of integrations. Each lives in its own folder (config, checks, message, tests)
//! and is registered here by its config key; the receiver's config struct, the names the
//! notification log reads back, the config checker, the secret redaction and the runbook
//! checker's channels all come from this list, so nothing else knows an integration by name.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::Deserialize;

use super::{FlushContext, IntegrationError, NotifyError};
use crate::config::GlobalConfig;
use crate::model::{Alert, LabelSet};
use crate::template::Templates;

/// A send in progress.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), NotifyError>> + Send + 'a>>;

/// What every integration's config block knows about itself.
pub trait IntegrationConfig: std::fmt::Debug + Send + Sync {
    /// The checks Alertmanager makes when it loads the block.
    fn check(&self, global: &GlobalConfig) -> Result<(), String>;
    /// The block's templated fields, with their names for error messages.
    fn templated_fields(&self) -> Vec<(&'static str, &str)> {
        Vec::new()
    }
    /// The runbook channel it reaches (`slack`, `email`, `phone`), for the runbook checker;
    /// `name` is the integration's registered name.
    fn channel(&self, name: &'static str, _receiver: &str) -> &'static str {
        name
    }
    /// The notifier for this block.
    fn build(&self, env: &BuildEnv) -> Result<Box<dyn Notify>, IntegrationError>;
}

/// The static facts of an integration's config type.
pub trait Registered: IntegrationConfig + for<'de> Deserialize<'de> + Clone + Default {
    /// Its name in metrics, logs and the notification log.
    const NAME: &'static str;
    /// Keys of its block whose values are secrets (shown as `<secret>` in the status).
    const SECRET_KEYS: &'static [&'static str] = &[];
    /// Keys holding a URL whose credentials (password, path, query) are hidden but which must
    /// stay a URL, because clients such as amtool 0.25 parse it.
    const SECRET_URL_KEYS: &'static [&'static str] = &[];
    /// Its default template defines (`slack.default.title`, ...), loaded with the shared ones.
    const TEMPLATES: &'static str = "";
}

/// What building a notifier may use besides its own block.
pub struct BuildEnv<'a> {
    pub global: &'a GlobalConfig,
    pub templates: Arc<Templates>,
}

/// An incident that a human acknowledged, unacknowledged or resolved, for the integrations
/// that have a way to say so.
pub struct IncidentUpdate<'a> {
    pub group_key: &'a str,
    pub group_labels: &'a LabelSet,
    /// PagerDuty's `event_action`: `acknowledge`, `trigger` or `resolve`.
    pub event_action: &'static str,
    /// Send the event action even to integrations that do not send resolved notifications.
    pub always: bool,
    /// The status tag and text of a notice for chat and email receivers.
    pub notice: Option<(&'a str, &'a str)>,
}

/// One configured integration, ready to send.
pub trait Notify: Send + Sync {
    fn send_resolved(&self) -> bool;
    fn send<'a>(&'a self, ctx: &'a FlushContext, alerts: &'a [Alert]) -> SendFuture<'a>;
    /// Tells the integration about an incident update, if it has a way to show one.
    fn tell<'a>(
        &'a self,
        _ctx: &'a FlushContext,
        _update: &'a IncidentUpdate<'a>,
    ) -> Option<SendFuture<'a>> {
        None
    }
}

/// One row of the registry.
pub struct Entry {
    /// The receiver's key: `slack_configs`.
    pub key: &'static str,
    /// The integration's name: `slack`.
    pub name: &'static str,
    pub secret_keys: &'static [&'static str],
    pub secret_url_keys: &'static [&'static str],
    pub templates: &'static str,
}

macro_rules! integrations {
    ($( $key:ident => $config:ty ),* $(,)?) => {
        /// A receiver: a name and its integrations, in the order they are notified (and indexed
        /// in the notification log, so new integrations go at the end).
        #[derive(Debug, Clone, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct ReceiverConfig {
            pub name: String,
            /// Alertmanager 0.34's receiver labels: metadata, not used for routing.
            #[serde(default)]
            pub labels: std::collections::BTreeMap<String, String>,
            $(
                #[serde(default)]
                pub $key: Vec<$config>,
            )*
        }

        impl ReceiverConfig {
            /// Every integration block of this receiver with its name, in notification order.
            pub fn integrations(&self) -> Vec<(&'static str, &dyn IntegrationConfig)> {
                let mut out: Vec<(&'static str, &dyn IntegrationConfig)> = Vec::new();
                $(
                    for c in &self.$key {
                        out.push((<$config as Registered>::NAME, c));
                    }
                )*
                out
            }
        }

        /// Every integration, in notification order.
        pub const INTEGRATIONS: &[Entry] = &[
            $(
                Entry {
                    key: stringify!($key),
                    name: <$config as Registered>::NAME,
                    secret_keys: <$config as Registered>::SECRET_KEYS,
                    secret_url_keys: <$config as Registered>::SECRET_URL_KEYS,
                    templates: <$config as Registered>::TEMPLATES,
                },
            )*
        ];
    };
}

integrations! {
    webhook_configs => super::webhook::WebhookConfig,
    slack_configs => super::slack::SlackConfig,
    pagerduty_configs => super::pagerduty::PagerdutyConfig,
    email_configs => super::email::EmailConfig,
    opsgenie_configs => super::opsgenie::OpsgenieConfig,
    victorops_configs => super::victorops::VictoropsConfig,
    pushover_configs => super::pushover::PushoverConfig,
    wechat_configs => super::wechat::WechatConfig,
    telegram_configs => super::telegram::TelegramConfig,
    discord_configs => super::discord::DiscordConfig,
    webex_configs => super::webex::WebexConfig,
    msteams_configs => super::msteams::MsteamsConfig,
    msteamsv2_configs => super::msteamsv2::Msteamsv2Config,
    rocketchat_configs => super::rocketchat::RocketchatConfig,
    mattermost_configs => super::mattermost::MattermostConfig,
    sns_configs => super::sns::SnsConfig,
    jira_configs => super::jira::JiraConfig,
    incidentio_configs => super::incidentio::IncidentioConfig,
}

/// The static name of an integration, for keys read back from storage.
pub fn integration_name(name: &str) -> Option<&'static str> {
    INTEGRATIONS.iter().map(|e| e.name).find(|n| *n == name)
}

/// The config key of an integration's blocks (`slack` → `slack_configs`).
pub fn config_key(name: &str) -> Option<&'static str> {
    INTEGRATIONS.iter().find(|e| e.name == name).map(|e| e.key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_keys_are_unique_and_every_key_is_the_name_with_configs() {
        let mut names: Vec<&str> = INTEGRATIONS.iter().map(|e| e.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), INTEGRATIONS.len());
        for e in INTEGRATIONS {
            assert_eq!(e.key, format!("{}_configs", e.name));
            assert_eq!(integration_name(e.name), Some(e.name));
        }
        assert_eq!(integration_name("carrier-pigeon"), None);
    }
}
