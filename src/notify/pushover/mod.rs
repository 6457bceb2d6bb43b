//! Pushover: one message per notification, POSTed to Pushover's messages API with every
//! parameter in the query string and an empty body, as Alertmanager sends it. Title, message
//! and supplementary URL are cut to Pushover's limits; a firing group is an emergency
//! (priority 2, repeated every `retry` until `expire`), a resolved one normal priority.

mod config;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use super::http::{Answer, HttpClient};
use super::registry::{Notify, SendFuture};
use super::render::Renderer;
use super::{FlushContext, IntegrationError, NotifyError};
use crate::config::{GlobalConfig, SecretSource};
use crate::model::Alert;
use crate::template::{data_value, Templates};

pub use config::{GoDuration, PushoverConfig};

/// Pushover's messages endpoint; Alertmanager has no setting for it.
pub const API_URL: &str = "https://api.pushover.net/1/messages.json";
/// Pushover's limits, in characters (runes).
pub const MAX_TITLE_RUNES: usize = 250;
pub const MAX_MESSAGE_RUNES: usize = 1024;
pub const MAX_URL_RUNES: usize = 512;

const DEFAULT_RETRY: GoDuration = GoDuration::from_secs(60);
const DEFAULT_EXPIRE: GoDuration = GoDuration::from_secs(3600);
/// Pushover refuses an empty message.
const EMPTY_MESSAGE: &str = "(no details)";

pub struct PushoverNotifier {
    user_key: SecretSource,
    token: SecretSource,
    client: HttpClient,
    config: PushoverConfig,
    renderer: Renderer,
    pub send_resolved: bool,
}

/// Cuts `s` to `max` runes, the last one replaced by `…` (Alertmanager's rule); whether it cut.
fn truncate_in_runes(s: &str, max: usize) -> (String, bool) {
    let cut = super::truncate_runes(s, max);
    let truncated = cut != s;
    (cut, truncated)
}

impl PushoverNotifier {
    pub fn new(
        config: &PushoverConfig,
        global: &GlobalConfig,
        templates: Arc<Templates>,
    ) -> Result<PushoverNotifier, IntegrationError> {
        Ok(PushoverNotifier {
            user_key: config.user_key().map_err(IntegrationError::Invalid)?,
            token: config.token().map_err(IntegrationError::Invalid)?,
            client: HttpClient::build(config.http(global))?,
            config: config.clone(),
            renderer: Renderer {
                templates,
                integration: "pushover",
            },
            send_resolved: config.send_resolved.unwrap_or(true),
        })
    }

    /// Every parameter of the message, sorted by name (the order Go's `url.Values` encodes).
    pub fn parameters(
        &self,
        ctx: &FlushContext,
        alerts: &[Alert],
        token: &str,
        user_key: &str,
    ) -> Vec<(&'static str, String)> {
        let v = data_value(&ctx.data(alerts));
        let c = &self.config;
        let text = |t: &Option<String>| match t {
            Some(t) => self.renderer.field(Some(t), "", &v),
            None => String::new(),
        };
        let warn = |field: &str, max: usize| {
            tracing::warn!(integration = "pushover", group_key = %ctx.group_key, field,
                max_runes = max, "truncated field");
        };
        let mut params: Vec<(&'static str, String)> = vec![
            ("token", self.renderer.field(Some(token), "", &v)),
            ("user", self.renderer.field(Some(user_key), "", &v)),
        ];
        let (title, cut) = truncate_in_runes(
            &self.renderer.field(
                c.title.as_deref(),
                r#"{{ template "pushover.default.title" . }}"#,
                &v,
            ),
            MAX_TITLE_RUNES,
        );
        if cut {
            warn("title", MAX_TITLE_RUNES);
        }
        params.push(("title", title));
        const MESSAGE: &str = r#"{{ template "pushover.default.message" . }}"#;
        let message = if c.html {
            params.push(("html", "1".into()));
            self.renderer.html_field(c.message.as_deref(), MESSAGE, &v)
        } else {
            self.renderer.field(c.message.as_deref(), MESSAGE, &v)
        };
        if c.monospace {
            params.push(("monospace", "1".into()));
        }
        let (message, cut) = truncate_in_runes(&message, MAX_MESSAGE_RUNES);
        if cut {
            warn("message", MAX_MESSAGE_RUNES);
        }
        let message = message.trim();
        params.push((
            "message",
            if message.is_empty() {
                EMPTY_MESSAGE.to_string()
            } else {
                message.to_string()
            },
        ));
        let (url, cut) = truncate_in_runes(
            &self.renderer.field(
                c.url.as_deref(),
                r#"{{ template "pushover.default.url" . }}"#,
                &v,
            ),
            MAX_URL_RUNES,
        );
        if cut {
            warn("url", MAX_URL_RUNES);
        }
        params.push(("url", url));
        params.push(("url_title", text(&c.url_title)));
        params.push((
            "priority",
            self.renderer.field(
                c.priority.as_deref(),
                r#"{{ if eq .Status "firing" }}2{{ else }}0{{ end }}"#,
                &v,
            ),
        ));
        params.push((
            "retry",
            c.retry.unwrap_or(DEFAULT_RETRY).whole_seconds().to_string(),
        ));
        params.push((
            "expire",
            c.expire
                .unwrap_or(DEFAULT_EXPIRE)
                .whole_seconds()
                .to_string(),
        ));
        params.push(("device", text(&c.device)));
        params.push(("sound", text(&c.sound)));
        let ttl = c.ttl.unwrap_or_default().whole_seconds();
        if ttl > 0 {
            params.push(("ttl", ttl.to_string()));
        }
        params.sort_by_key(|(k, _)| *k);
        params
    }

    /// The request URL: the endpoint with the parameters as its query.
    pub fn url(params: &[(&'static str, String)]) -> String {
        let mut url = String::from(API_URL);
        url.push('?');
        url.push_str(
            &url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(params)
                .finish(),
        );
        url
    }

    pub async fn send(&self, ctx: &FlushContext, alerts: &[Alert]) -> Result<(), NotifyError> {
        // Alertmanager does not retry when a credential file cannot be read.
        let read = |s: &SecretSource, field: &str| {
            s.read()
                .map_err(|e| NotifyError::Build(format!("reading {field}_file: {e}")))
        };
        let token = read(&self.token, "token")?;
        let user_key = read(&self.user_key, "user_key")?;
        let params = self.parameters(ctx, alerts, token.expose(), user_key.expose());
        let url = Self::url(&params);
        let request = self
            .client
            .post(&url)?
            .header(reqwest::header::CONTENT_TYPE, "text/plain");
        check(super::http::send(&url, request).await?)
    }
}

/// Alertmanager's default retrier for Pushover: only 5xx is retried, so a 429 fails the
/// notification like any other 4xx.
fn check(answer: Answer) -> Result<(), NotifyError> {
    if answer.status == 429 {
        return Err(NotifyError::Refused {
            integration: "pushover",
            reason: format!(
                "answered 429: {}",
                answer.body.chars().take(2048).collect::<String>()
            ),
        });
    }
    answer.check("pushover").map(|_| ())
}

impl Notify for PushoverNotifier {
    fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    fn send<'a>(&'a self, ctx: &'a FlushContext, alerts: &'a [Alert]) -> SendFuture<'a> {
        Box::pin(PushoverNotifier::send(self, ctx, alerts))
    }
}
