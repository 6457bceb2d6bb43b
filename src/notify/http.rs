//! HTTP clients built from Alertmanager's `http_config`.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use reqwest::RequestBuilder;

use super::{IntegrationError, NotifyError};
use crate::config::{HttpClientConfig, SecretSource};

/// One client per integration: its TLS, proxy and redirect settings are fixed at build time;
/// credentials are read per request so rotated `_file` secrets apply without a reload.
#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    auth: Auth,
}

#[derive(Clone)]
enum Auth {
    None,
    Basic {
        username: String,
        password: Option<SecretSource>,
    },
    Header {
        scheme: String,
        credentials: SecretSource,
    },
    OAuth2(std::sync::Arc<super::oauth2::TokenSource>),
}

impl HttpClient {
    pub fn build(config: Option<&HttpClientConfig>) -> Result<HttpClient, IntegrationError> {
        let default = HttpClientConfig::default();
        let config = config.unwrap_or(&default);
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("alert-router/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(90));
        if config.follow_redirects == Some(false) {
            builder = builder.redirect(reqwest::redirect::Policy::none());
        }
        if let Some(proxy) = &config.proxy_url {
            builder = builder.proxy(reqwest::Proxy::all(proxy).map_err(IntegrationError::Proxy)?);
        }
        if let Some(tls) = &config.tls_config {
            if tls.insecure_skip_verify {
                builder = builder.danger_accept_invalid_certs(true);
            }
            if let Some(ca) = &tls.ca_file {
                let pem = std::fs::read(ca).map_err(|source| IntegrationError::CaFile {
                    path: ca.clone(),
                    source,
                })?;
                let cert = reqwest::Certificate::from_pem(&pem).map_err(|source| {
                    IntegrationError::Certificate {
                        path: ca.clone(),
                        source,
                    }
                })?;
                builder = builder.add_root_certificate(cert);
            }
        }
        let auth = if let Some(oauth2) = &config.oauth2 {
            Auth::OAuth2(super::oauth2::TokenSource::start(oauth2)?)
        } else if let Some(basic) = &config.basic_auth {
            Auth::Basic {
                username: basic.username.clone(),
                password: SecretSource::from_pair(
                    basic.password.clone(),
                    basic.password_file.clone(),
                    "password",
                )?,
            }
        } else if let Some(a) = &config.authorization {
            match SecretSource::from_pair(
                a.credentials.clone(),
                a.credentials_file.clone(),
                "credentials",
            )? {
                Some(credentials) => Auth::Header {
                    scheme: a.kind.clone().unwrap_or_else(|| "Bearer".into()),
                    credentials,
                },
                None => Auth::None,
            }
        } else if let Some(token) = SecretSource::from_pair(
            config.bearer_token.clone(),
            config.bearer_token_file.clone(),
            "bearer_token",
        )? {
            Auth::Header {
                scheme: "Bearer".into(),
                credentials: token,
            }
        } else {
            Auth::None
        };
        let client = builder.build().map_err(IntegrationError::Client)?;
        Ok(HttpClient { client, auth })
    }

    pub fn post(&self, url: &str) -> Result<RequestBuilder, NotifyError> {
        self.request(reqwest::Method::POST, url)
    }

    /// A request with the integration's `http_config` credentials, for integrations that need
    /// more than a JSON POST (form bodies, GETs, signed requests).
    pub fn request(
        &self,
        method: reqwest::Method,
        url: &str,
    ) -> Result<RequestBuilder, NotifyError> {
        let request = self.client.request(method, url);
        Ok(match &self.auth {
            Auth::None => request,
            Auth::Basic { username, password } => {
                let password = match password {
                    Some(p) => Some(p.read().map_err(NotifyError::secret)?.expose().to_string()),
                    None => None,
                };
                request.basic_auth(username, password)
            }
            Auth::Header {
                scheme,
                credentials,
            } => {
                let secret = credentials.read().map_err(NotifyError::secret)?;
                request.header(
                    reqwest::header::AUTHORIZATION,
                    format!("{scheme} {}", secret.expose()),
                )
            }
            Auth::OAuth2(source) => match source.cached() {
                Some(token) => request.bearer_auth(token),
                None => {
                    return Err(NotifyError::Transport(
                        "no oauth2 token yet (the token endpoint has not answered)".into(),
                    ))
                }
            },
        })
    }

    /// Makes sure an oauth2 token is held before a request is built.
    pub async fn ready(&self) -> Result<(), NotifyError> {
        if let Auth::OAuth2(source) = &self.auth {
            source.token().await?;
        }
        Ok(())
    }

    /// The underlying client, for a token endpoint with no credentials of its own.
    pub(crate) fn inner(self) -> reqwest::Client {
        self.client
    }

    /// A request without the `http_config` credentials (the integration signs it itself).
    pub fn unauthenticated(&self, method: reqwest::Method, url: &str) -> RequestBuilder {
        self.client.request(method, url)
    }
}

/// What a provider answered.
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub retry_after: Option<Duration>,
    pub content_type: String,
}

impl HttpClient {
    /// POSTs a JSON body; transport failures become retryable errors that never carry the URL
    /// (it may hold a token).
    pub async fn post_json(&self, url: &str, body: Vec<u8>) -> Result<Answer, NotifyError> {
        self.ready().await?;
        let request = self
            .post(url)?
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        send(url, request).await
    }
}

/// Sends a built request to `url`, honouring and recording the endpoint's `Retry-After`.
/// Transport failures become retryable errors that never carry the URL (it may hold a token).
pub async fn send(url: &str, request: RequestBuilder) -> Result<Answer, NotifyError> {
    let endpoint = endpoint_of(url);
    if let Some(wait) = RATE_LIMITS.wait_for(&endpoint) {
        return Err(NotifyError::Deferred { wait });
    }
    let response = request
        .send()
        .await
        .map_err(|e| NotifyError::Transport(describe_transport_error(&e)))?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if status == 429 {
        if let Some(wait) = retry_after {
            RATE_LIMITS.hold(endpoint, wait);
        }
    }
    let body = response.text().await.unwrap_or_default();
    Ok(Answer {
        status,
        body: body.chars().take(MAX_ANSWER_CHARS).collect(),
        retry_after,
        content_type,
    })
}

/// How much of an answer's body is kept (for error messages and the few APIs that answer JSON).
const MAX_ANSWER_CHARS: usize = 64 * 1024;

impl Answer {
    /// 2xx is success; 429 asks for a later retry; anything else is an error (5xx retried).
    pub fn check(self, integration: &'static str) -> Result<Answer, NotifyError> {
        match self.status {
            200..=299 => Ok(self),
            429 => Err(NotifyError::RateLimited {
                integration,
                retry_after: self.retry_after,
                body: self.body,
            }),
            status => Err(NotifyError::Status {
                integration,
                status,
                body: self.body.chars().take(2048).collect(),
            }),
        }
    }
}

pub fn describe_transport_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "bad response body"
    } else {
        "transport error"
    };
    let mut detail = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {detail}")
    }
}

/// Endpoints that answered 429 with `Retry-After`, and until when they asked to be left alone.
/// Process-wide, because every group, receiver and config generation that posts to an endpoint
/// shares its limit: one group's 429 holds back the next group's flush too, and a reload does
/// not forget it.
static RATE_LIMITS: LazyLock<RateLimits> = LazyLock::new(RateLimits::default);

#[derive(Default)]
struct RateLimits {
    until: Mutex<HashMap<String, Instant>>,
}

/// Longest `Retry-After` honoured: a provider's answer must not silence a receiver for a day.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

impl RateLimits {
    /// How much longer the endpoint asked to wait, if it still does.
    fn wait_for(&self, endpoint: &str) -> Option<Duration> {
        let mut until = self.until.lock();
        let at = *until.get(endpoint)?;
        let now = Instant::now();
        if at <= now {
            until.remove(endpoint);
            return None;
        }
        Some(at - now)
    }

    fn hold(&self, endpoint: String, wait: Duration) {
        let at = Instant::now() + wait.min(MAX_RETRY_AFTER);
        let mut until = self.until.lock();
        let slot = until.entry(endpoint).or_insert(at);
        *slot = (*slot).max(at);
    }
}

/// The endpoint a rate limit applies to: the URL without its query (scheme, host, port, path).
fn endpoint_of(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => url.to_string(),
    }
}

/// `Retry-After` as delay-seconds or an HTTP date (RFC 9110 §10.2.3).
fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (at.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = chrono::DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(parse_retry_after("5", now), Some(Duration::from_secs(5)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn a_held_endpoint_waits_until_its_time_and_others_do_not() {
        let limits = RateLimits::default();
        limits.hold("http://a/x".into(), Duration::from_secs(30));
        let wait = limits.wait_for("http://a/x").unwrap();
        assert!(wait > Duration::from_secs(29) && wait <= Duration::from_secs(30));
        assert_eq!(limits.wait_for("http://a/y"), None);
        limits.hold("http://a/x".into(), Duration::from_secs(1));
        assert!(
            limits.wait_for("http://a/x").unwrap() > Duration::from_secs(29),
            "a shorter Retry-After does not cut a longer one"
        );
        limits.hold("http://b/".into(), Duration::ZERO);
        assert_eq!(limits.wait_for("http://b/"), None);
    }

    #[test]
    fn endpoints_ignore_the_query() {
        assert_eq!(
            endpoint_of("http://h:1/p?token=1"),
            endpoint_of("http://h:1/p?token=2")
        );
        assert_ne!(endpoint_of("http://h:1/p"), endpoint_of("http://h:1/q"));
    }
}
