//! Splunk On-Call (VictorOps): one JSON event per notification, POSTed to
//! `api_url` + `<api_key>/<routing_key>`. The incident is keyed by `entity_id`, the sha256 of
//! the group key; a firing group sends `message_type` (`CRITICAL` unless set to `INFO` or
//! `WARNING`), a resolved one `RECOVERY`.

mod config;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::http::{Answer, HttpClient};
use super::registry::{Notify, SendFuture};
use super::render::Renderer;
use super::{FlushContext, IntegrationError, NotifyError};
use crate::config::{GlobalConfig, SecretSource};
use crate::model::{Alert, AlertStatus};
use crate::template::{data_value, Templates};

pub use config::{VictoropsConfig, DEFAULT_API_URL};

/// The longest `state_message` sent, in runes.
pub const MAX_STATE_MESSAGE_RUNES: usize = 20480;

/// The message types a firing notification may have; anything else becomes `CRITICAL`.
const FIRING_TYPES: &[&str] = &["INFO", "WARNING", "CRITICAL"];

pub struct VictoropsNotifier {
    key: SecretSource,
    base: url::Url,
    client: HttpClient,
    config: VictoropsConfig,
    renderer: Renderer,
    pub send_resolved: bool,
}

/// Cuts `s` to `max` runes, the last one replaced by `…` (Alertmanager's rule); whether it cut.
fn truncate_in_runes(s: &str, max: usize) -> (String, bool) {
    let cut = super::truncate_runes(s, max);
    let truncated = cut != s;
    (cut, truncated)
}

fn ensure_trailing_slash(url: &mut String) {
    // Only the path gets the slash: a query stays where it is.
    match url::Url::parse(url) {
        Ok(mut parsed) if !parsed.path().ends_with('/') => {
            let path = format!("{}/", parsed.path());
            parsed.set_path(&path);
            *url = parsed.to_string();
        }
        Ok(_) => {}
        Err(_) if !url.ends_with('/') => url.push('/'),
        Err(_) => {}
    }
}

impl VictoropsNotifier {
    pub fn new(
        config: &VictoropsConfig,
        global: &GlobalConfig,
        templates: Arc<Templates>,
    ) -> Result<VictoropsNotifier, IntegrationError> {
        let key = config.key(global).map_err(IntegrationError::Invalid)?;
        let base = url::Url::parse(&config.base_url(global))
            .map_err(|e| IntegrationError::Invalid(format!("victorops api_url: {e}")))?;
        Ok(VictoropsNotifier {
            key,
            base,
            client: HttpClient::build(config.http(global))?,
            config: config.clone(),
            renderer: Renderer {
                templates,
                integration: "victorops",
            },
            send_resolved: config.send_resolved.unwrap_or(true),
        })
    }

    /// The event's JSON body (a flat map of strings, as Alertmanager sends it).
    pub fn message(&self, ctx: &FlushContext, alerts: &[Alert]) -> BTreeMap<String, String> {
        let data = ctx.data(alerts);
        let v = data_value(&data);
        let c = &self.config;
        let message_type = match data.status {
            AlertStatus::Resolved => "RECOVERY".to_string(),
            AlertStatus::Firing => {
                let t = self
                    .renderer
                    .field(c.message_type.as_deref(), "CRITICAL", &v);
                if FIRING_TYPES.contains(&t.as_str()) {
                    t
                } else {
                    "CRITICAL".to_string()
                }
            }
        };
        let (state_message, truncated) = truncate_in_runes(
            &self.renderer.field(
                c.state_message.as_deref(),
                r#"{{ template "victorops.default.state_message" . }}"#,
                &v,
            ),
            MAX_STATE_MESSAGE_RUNES,
        );
        if truncated {
            tracing::warn!(integration = "victorops", group_key = %ctx.group_key,
                max_runes = MAX_STATE_MESSAGE_RUNES, "truncated state_message");
        }
        let mut msg = BTreeMap::from([
            ("message_type".to_string(), message_type),
            (
                "entity_id".to_string(),
                hex::encode(Sha256::digest(ctx.group_key.as_bytes())),
            ),
            (
                "entity_display_name".to_string(),
                self.renderer.field(
                    c.entity_display_name.as_deref(),
                    r#"{{ template "victorops.default.entity_display_name" . }}"#,
                    &v,
                ),
            ),
            ("state_message".to_string(), state_message),
            (
                "monitoring_tool".to_string(),
                self.renderer.field(
                    c.monitoring_tool.as_deref(),
                    r#"{{ template "victorops.default.monitoring_tool" . }}"#,
                    &v,
                ),
            ),
        ]);
        for (k, t) in &c.custom_fields {
            msg.insert(k.clone(), self.renderer.field(Some(t), "", &v));
        }
        msg
    }

    /// The URL the event goes to: the base, the API key, the rendered routing key.
    pub fn url(&self, api_key: &str, ctx: &FlushContext, alerts: &[Alert]) -> String {
        let v = data_value(&ctx.data(alerts));
        let routing_key = self
            .renderer
            .field(self.config.routing_key.as_deref(), "", &v);
        let mut url = self.base.clone();
        let path = format!("{}{api_key}/{routing_key}", url.path());
        url.set_path(&path);
        url.to_string()
    }

    pub async fn send(&self, ctx: &FlushContext, alerts: &[Alert]) -> Result<(), NotifyError> {
        // Alertmanager does not retry when the key file cannot be read.
        let key = self
            .key
            .read()
            .map_err(|e| NotifyError::Build(format!("reading api_key_file: {e}")))?;
        let url = self.url(key.expose(), ctx, alerts);
        let body = serde_json::to_vec(&self.message(ctx, alerts))
            .map_err(|e| NotifyError::Build(e.to_string()))?;
        let answer = self.client.post_json(&url, body).await?;
        check(answer)
    }
}

/// Alertmanager's default retrier for VictorOps: only 5xx is worth another try (its API
/// documents nothing else), so a 429 fails the notification like any other 4xx.
fn check(answer: Answer) -> Result<(), NotifyError> {
    if answer.status == 429 {
        return Err(NotifyError::Refused {
            integration: "victorops",
            reason: format!(
                "answered 429: {}",
                answer.body.chars().take(2048).collect::<String>()
            ),
        });
    }
    answer.check("victorops").map(|_| ())
}

impl Notify for VictoropsNotifier {
    fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    fn send<'a>(&'a self, ctx: &'a FlushContext, alerts: &'a [Alert]) -> SendFuture<'a> {
        Box::pin(VictoropsNotifier::send(self, ctx, alerts))
    }
}
