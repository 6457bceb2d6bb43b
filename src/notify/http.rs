//! HTTP clients built from Alertmanager's `http_config`.

use std::time::Duration;

use reqwest::RequestBuilder;

use super::NotifyError;
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
}

impl HttpClient {
    pub fn build(config: Option<&HttpClientConfig>) -> Result<HttpClient, String> {
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
            builder = builder.proxy(reqwest::Proxy::all(proxy).map_err(|e| e.to_string())?);
        }
        if let Some(tls) = &config.tls_config {
            if tls.insecure_skip_verify {
                builder = builder.danger_accept_invalid_certs(true);
            }
            if let Some(ca) = &tls.ca_file {
                let pem = std::fs::read(ca).map_err(|e| format!("reading ca_file {ca}: {e}"))?;
                let cert = reqwest::Certificate::from_pem(&pem)
                    .map_err(|e| format!("parsing ca_file {ca}: {e}"))?;
                builder = builder.add_root_certificate(cert);
            }
        }
        let auth = if let Some(basic) = &config.basic_auth {
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
        let client = builder.build().map_err(|e| e.to_string())?;
        Ok(HttpClient { client, auth })
    }

    pub fn post(&self, url: &str) -> Result<RequestBuilder, NotifyError> {
        let request = self.client.post(url);
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
        })
    }
}

/// What a provider answered.
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub retry_after: Option<Duration>,
}

impl HttpClient {
    /// POSTs a JSON body; transport failures become retryable errors that never carry the URL
    /// (it may hold a token).
    pub async fn post_json(&self, url: &str, body: Vec<u8>) -> Result<Answer, NotifyError> {
        let response = self
            .post(url)?
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| NotifyError::Transport(describe_transport_error(&e)))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response.text().await.unwrap_or_default();
        Ok(Answer {
            status,
            body: body.chars().take(2048).collect(),
            retry_after,
        })
    }
}

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
                body: self.body,
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
