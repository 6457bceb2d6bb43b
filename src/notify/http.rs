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
