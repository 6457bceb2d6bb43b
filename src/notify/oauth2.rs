//! `http_config.oauth2`: the client-credentials grant. The token is fetched when the client is
//! built and kept fresh in the background (a minute before it expires), so building a request
//! stays synchronous; a send that finds no token yet fetches one first.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::{IntegrationError, NotifyError};
use crate::config::{HttpClientConfig, OAuth2Config, SecretSource};

/// How long a token without `expires_in` is used before it is fetched again.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);
const REFRESH_BEFORE: Duration = Duration::from_secs(60);
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);

pub struct TokenSource {
    client: reqwest::Client,
    token_url: String,
    client_id: String,
    client_secret: Option<SecretSource>,
    scopes: Vec<String>,
    endpoint_params: Vec<(String, String)>,
    current: Mutex<Option<(String, Instant)>>,
}

impl TokenSource {
    pub fn start(config: &OAuth2Config) -> Result<Arc<TokenSource>, IntegrationError> {
        // The token endpoint has its own TLS and proxy settings.
        let http = HttpClientConfig {
            tls_config: config.tls_config.clone(),
            proxy_url: config.proxy_url.clone(),
            ..HttpClientConfig::default()
        };
        let client = super::http::HttpClient::build(Some(&http))?.inner();
        let source = Arc::new(TokenSource {
            client,
            token_url: config.token_url.clone(),
            client_id: config.client_id.clone(),
            client_secret: SecretSource::from_pair(
                config.client_secret.clone(),
                config.client_secret_file.clone(),
                "client_secret",
            )?,
            scopes: config.scopes.clone(),
            endpoint_params: config
                .endpoint_params
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            current: Mutex::new(None),
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(refresh(Arc::downgrade(&source)));
        }
        Ok(source)
    }

    /// The token now, if one is held and not expired.
    pub fn cached(&self) -> Option<String> {
        let current = self.current.lock();
        current
            .as_ref()
            .filter(|(_, until)| *until > Instant::now())
            .map(|(t, _)| t.clone())
    }

    /// The cached token, or a new one.
    pub async fn token(&self) -> Result<String, NotifyError> {
        if let Some(t) = self.cached() {
            return Ok(t);
        }
        self.fetch().await
    }

    async fn fetch(&self) -> Result<String, NotifyError> {
        let secret = match &self.client_secret {
            Some(s) => s.read().map_err(NotifyError::secret)?.expose().to_string(),
            None => String::new(),
        };
        let mut form: Vec<(String, String)> =
            vec![("grant_type".into(), "client_credentials".into())];
        if !self.scopes.is_empty() {
            form.push(("scope".into(), self.scopes.join(" ")));
        }
        form.extend(self.endpoint_params.iter().cloned());
        let request = self
            .client
            .post(&self.token_url)
            .basic_auth(&self.client_id, Some(secret))
            .form(&form);
        let answer = super::http::send(&self.token_url, request).await?;
        if !(200..300).contains(&answer.status) {
            return Err(NotifyError::Transport(format!(
                "oauth2 token endpoint answered {}",
                answer.status
            )));
        }
        let body: serde_json::Value = serde_json::from_str(&answer.body)
            .map_err(|_| NotifyError::Transport("oauth2 token endpoint answered no JSON".into()))?;
        let token = body["access_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| NotifyError::Transport("oauth2 answer has no access_token".into()))?
            .to_string();
        let lifetime = body["expires_in"]
            .as_u64()
            .map_or(DEFAULT_LIFETIME, Duration::from_secs);
        *self.current.lock() = Some((token.clone(), Instant::now() + lifetime));
        Ok(token)
    }

    fn refresh_due(&self) -> Duration {
        match self.current.lock().as_ref() {
            Some((_, until)) => until
                .saturating_duration_since(Instant::now())
                .saturating_sub(REFRESH_BEFORE),
            None => Duration::ZERO,
        }
    }
}

/// Keeps the token fresh for as long as a client holds the source.
async fn refresh(source: Weak<TokenSource>) {
    loop {
        let wait = {
            let Some(source) = source.upgrade() else {
                return;
            };
            match source.fetch().await {
                Ok(_) => source.refresh_due().max(Duration::from_secs(1)),
                Err(e) => {
                    tracing::warn!(error = %e, "oauth2 token not fetched; trying again");
                    RETRY_AFTER_FAILURE
                }
            }
        };
        tokio::time::sleep(wait).await;
    }
}
