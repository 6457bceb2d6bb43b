//! Securing the HTTP endpoints with Alertmanager's own `--web.config.file` (exporter-toolkit's
//! format): TLS with optional client certificates, basic auth with bcrypt hashes, response
//! headers and a request-rate limit; plus alert-router's roles (`--web.roles.file`).
//!
//! The files are re-read every second and on change take effect for the next connection or
//! request, so a rotated certificate is served without a restart. A new version that does not
//! load keeps the old one in force and is logged.

mod auth;
pub mod file;
mod limit;
pub mod roles;
mod session;
mod tls;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use parking_lot::RwLock;
use sha2::{Digest, Sha256};

use auth::PasswordCheck;
use file::WebConfigFile;
use limit::ClientLimiter;
use roles::Roles;
use session::Sessions;

#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    #[error("reading {path}: {source}", path = .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}", path = .path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("tls_server_config: {0}")]
    Tls(String),
    #[error("TLS was {was} at start and would be {now}: turning TLS on or off needs a restart")]
    TlsToggled {
        was: &'static str,
        now: &'static str,
    },
}

/// Where the security settings come from.
#[derive(Clone, Debug)]
pub struct Sources {
    pub web_config: PathBuf,
    pub roles: Option<PathBuf>,
    /// Serve `/-/healthy` and `/-/ready` without credentials, for load balancers.
    pub open_health: bool,
}

/// Failed logins a client may make at once, and how fast it earns another.
const LOGIN_FAILURE_BURST: u32 = 10;
const LOGIN_FAILURE_REFILL: Duration = Duration::from_secs(6);

/// The authenticated user a request was made by; handlers record it as who acted.
#[derive(Clone, Debug)]
pub struct Identity(pub String);

/// The peer address of the connection a request came on.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub SocketAddr);

/// One loaded version of the files.
struct Security {
    fingerprint: [u8; 32],
    tls: Option<Arc<rustls::ServerConfig>>,
    headers: Vec<(HeaderName, HeaderValue)>,
    users: BTreeMap<String, String>,
    roles: Option<Roles>,
    requests: Option<ClientLimiter>,
}

pub struct Web {
    sources: Sources,
    route_prefix: String,
    current: RwLock<Arc<Security>>,
    passwords: PasswordCheck,
    login_failures: ClientLimiter,
    sessions: Sessions,
}

fn read(path: &Path) -> Result<Vec<u8>, WebConfigError> {
    std::fs::read(path).map_err(|source| WebConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The files' bytes, and a digest of them all that says whether anything changed.
struct Inputs {
    config: WebConfigFile,
    roles: Option<String>,
    fingerprint: [u8; 32],
}

fn read_inputs(sources: &Sources) -> Result<Inputs, WebConfigError> {
    let mut digest = Sha256::new();
    let text = read(&sources.web_config)?;
    digest.update(&text);
    let text = String::from_utf8_lossy(&text);
    let config = WebConfigFile::parse(&text, &sources.web_config)?;
    for path in config.referenced_files() {
        // A missing file is reported when the TLS config is built, with its key's name.
        digest.update(std::fs::read(&path).unwrap_or_default());
    }
    let roles = match &sources.roles {
        Some(path) => {
            let bytes = read(path)?;
            digest.update(&bytes);
            Some(String::from_utf8_lossy(&bytes).into_owned())
        }
        None => None,
    };
    Ok(Inputs {
        config,
        roles,
        fingerprint: digest.finalize().into(),
    })
}

fn build(sources: &Sources, inputs: Inputs) -> Result<Security, WebConfigError> {
    let Inputs {
        config,
        roles,
        fingerprint,
    } = inputs;
    let tls = match (&config.tls_server_config, config.tls_enabled()) {
        (Some(t), true) => Some(Arc::new(tls::server_config(t)?)),
        _ => None,
    };
    let invalid = |message: String| WebConfigError::Invalid {
        path: sources.web_config.clone(),
        message,
    };
    let mut headers = Vec::new();
    for (name, value) in config.headers() {
        let name = HeaderName::try_from(name).map_err(|e| invalid(format!("{name}: {e}")))?;
        let value =
            HeaderValue::try_from(value).map_err(|e| invalid(format!("header {name}: {e}")))?;
        headers.push((name, value));
    }
    let users: BTreeMap<String, String> = config
        .users()
        .map(|(u, h)| (u.to_string(), h.to_string()))
        .collect();
    let roles = match (&sources.roles, roles) {
        (Some(path), Some(text)) => {
            Some(Roles::parse(&text, path, users.keys().map(String::as_str))?)
        }
        _ => None,
    };
    let requests = config.rate_limit.as_ref().and_then(|limit| {
        let interval = limit.interval?.0;
        (interval > Duration::ZERO).then(|| ClientLimiter::new(limit.burst.unwrap_or(1), interval))
    });
    Ok(Security {
        fingerprint,
        tls,
        headers,
        users,
        roles,
        requests,
    })
}

impl Web {
    /// Loads the files; an error here stops the start, as in Alertmanager.
    pub fn load(sources: Sources) -> Result<Web, WebConfigError> {
        let security = build(&sources, read_inputs(&sources)?)?;
        tracing::info!(
            tls = security.tls.is_some(),
            users = security.users.len(),
            roles = security.roles.is_some(),
            file = %sources.web_config.display(),
            "web config loaded"
        );
        Ok(Web {
            sources,
            route_prefix: String::new(),
            current: RwLock::new(Arc::new(security)),
            passwords: PasswordCheck::default(),
            login_failures: ClientLimiter::new(LOGIN_FAILURE_BURST, LOGIN_FAILURE_REFILL),
            sessions: Sessions::default(),
        })
    }

    /// Where the routes are served (`--web.route-prefix`): roles and open endpoints are
    /// matched on the path below it.
    pub fn under_prefix(mut self, route_prefix: &str) -> Web {
        self.route_prefix = route_prefix.trim_end_matches('/').to_string();
        self
    }

    fn current(&self) -> Arc<Security> {
        self.current.read().clone()
    }

    /// The TLS config for the next connection, if TLS is on.
    pub fn tls(&self) -> Option<Arc<rustls::ServerConfig>> {
        self.current().tls.clone()
    }

    /// Re-reads the files; applies them if they changed and load. Returns whether it applied.
    pub fn reload(&self) -> Result<bool, WebConfigError> {
        let inputs = read_inputs(&self.sources)?;
        let current = self.current();
        if inputs.fingerprint == current.fingerprint {
            return Ok(false);
        }
        let next = build(&self.sources, inputs)?;
        let on_off = |on: bool| if on { "on" } else { "off" };
        if next.tls.is_some() != current.tls.is_some() {
            return Err(WebConfigError::TlsToggled {
                was: on_off(current.tls.is_some()),
                now: on_off(next.tls.is_some()),
            });
        }
        *self.current.write() = Arc::new(next);
        Ok(true)
    }

    /// Re-reads the files every second for as long as the process runs.
    pub fn watch(self: &Arc<Web>) {
        let web = self.clone();
        tokio::spawn(async move {
            let mut failing = false;
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let this = web.clone();
                let Ok(result) = tokio::task::spawn_blocking(move || this.reload()).await else {
                    continue;
                };
                match result {
                    Ok(true) => {
                        failing = false;
                        tracing::info!(file = %web.sources.web_config.display(), "web config reloaded");
                    }
                    Ok(false) => failing = false,
                    Err(e) => {
                        // Once per bad version, not every second.
                        if !failing {
                            tracing::error!(error = %e, "web config not reloaded; the previous one stays in force");
                        }
                        failing = true;
                    }
                }
            }
        });
    }

    /// The request's path below the route prefix.
    fn local_path<'a>(&self, path: &'a str) -> &'a str {
        match path.strip_prefix(&self.route_prefix) {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
            _ => path,
        }
    }

    /// Requests that need no credentials even with users configured.
    fn is_open(&self, method: &Method, path: &str) -> bool {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let reads = method == Method::GET || method == Method::HEAD;
        match segments.as_slice() {
            // The signed acknowledge link: its signature is the credential, checked by its
            // handler, and whoever was paged has no password to give.
            ["api", "v1", "incidents", _, "ack"] => method == Method::GET,
            ["-", "healthy" | "ready"] => reads && self.sources.open_health,
            // The web UI's page and assets, so it can show its login form; they hold no data.
            [""] | ["ui", _] => reads,
            _ => false,
        }
    }
}

fn plain(status: StatusCode, text: &str) -> Response {
    (status, format!("{text}\n")).into_response()
}

/// The middleware in front of every route: rate limit, authentication, roles, headers.
pub async fn guard(State(web): State<Arc<Web>>, request: Request, next: Next) -> Response {
    let security = web.current();
    let client = request.extensions().get::<ClientAddr>().map(|c| c.0.ip());
    if !security.users.is_empty() {
        let path = web.local_path(request.uri().path()).to_string();
        let mut response = match (request.method().as_str(), path.as_str()) {
            ("POST", "/-/login") => session::login(&web, &security, client, request).await,
            ("POST", "/-/logout") => session::logout(&web, &request),
            ("GET", "/-/session") => session::current(&web, &request),
            _ => return authorized(&web, &security, client, request, next).await,
        };
        add_headers(&security, &mut response);
        return response;
    }
    authorized(&web, &security, client, request, next).await
}

/// Passes the request on if its credentials and role allow it.
async fn authorized(
    web: &Web,
    security: &Security,
    client: Option<std::net::IpAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    // Read out before awaiting: a request body is not `Sync`, so a borrow of the request
    // would make this future not `Send`.
    let asked = Asked {
        method: request.method().clone(),
        path: web.local_path(request.uri().path()).to_string(),
        authorization: header_text(&request, header::AUTHORIZATION),
        session: session::cookie(&request).map(str::to_string),
        csrf: header_text(&request, session::CSRF_HEADER),
        from_ui: header_text(&request, "x-requested-with").as_deref() == Some(UI_MARKER),
    };
    let mut response = match authorize(web, security, client, asked).await {
        Ok(identity) => {
            if let Some(identity) = identity {
                request.extensions_mut().insert(identity);
            }
            next.run(request).await
        }
        Err(refused) => refused.response(),
    };
    add_headers(security, &mut response);
    response
}

/// What the web UI sends as `X-Requested-With`: its 401s carry no `WWW-Authenticate`, so the
/// browser shows the UI's login form instead of its own password dialog.
const UI_MARKER: &str = "alert-router-ui";

fn header_text(request: &Request, name: impl header::AsHeaderName) -> Option<String> {
    request
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn add_headers(security: &Security, response: &mut Response) {
    for (name, value) in &security.headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
}

/// Why a request is not let through.
enum Refusal {
    /// No or wrong credentials; for the web UI without `WWW-Authenticate`.
    Unauthorized {
        from_ui: bool,
    },
    /// Over a per-client limit: how long until the next token.
    TooMany(Duration),
    Forbidden(String),
}

impl Refusal {
    fn response(self) -> Response {
        match self {
            Refusal::Unauthorized { from_ui } => unauthorized(from_ui),
            Refusal::TooMany(wait) => too_many(wait),
            Refusal::Forbidden(why) => plain(StatusCode::FORBIDDEN, &format!("Forbidden: {why}")),
        }
    }
}

fn too_many(wait: Duration) -> Response {
    let mut response = plain(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
    let secs = wait.as_secs().max(1);
    if let Ok(value) = HeaderValue::try_from(secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

struct Asked {
    method: Method,
    path: String,
    authorization: Option<String>,
    session: Option<String>,
    csrf: Option<String>,
    from_ui: bool,
}

async fn authorize(
    web: &Web,
    security: &Security,
    client: Option<std::net::IpAddr>,
    asked: Asked,
) -> Result<Option<Identity>, Refusal> {
    let now = Instant::now();
    if let (Some(limiter), Some(ip)) = (&security.requests, client) {
        limiter.take(ip, now).map_err(Refusal::TooMany)?;
    }
    if security.users.is_empty() {
        return Ok(None);
    }
    let (method, path) = (&asked.method, asked.path.as_str());
    if web.is_open(method, path) {
        return Ok(None);
    }
    let user = match session_user(web, security, &asked)? {
        Some(user) => user,
        None => {
            let credentials = asked
                .authorization
                .as_deref()
                .and_then(auth::basic_credentials);
            let Some((user, password)) = credentials else {
                return Err(Refusal::Unauthorized {
                    from_ui: asked.from_ui,
                });
            };
            if !web
                .check_password(security, client, &user, &password)
                .await?
            {
                return Err(Refusal::Unauthorized {
                    from_ui: asked.from_ui,
                });
            }
            user
        }
    };
    if let Some(roles) = &security.roles {
        let needed = roles::required(method, path);
        match roles.of(&user) {
            Some(role) if role >= needed => {}
            Some(role) => {
                return Err(Refusal::Forbidden(format!(
                    "{method} {path} needs the {needed} role; {user} is a {role}"
                )))
            }
            None => {
                return Err(Refusal::Forbidden(format!(
                    "{user} has no role in {} (and it sets no default)",
                    web.sources
                        .roles
                        .as_deref()
                        .unwrap_or(Path::new(""))
                        .display()
                )))
            }
        }
    }
    Ok(Some(Identity(user)))
}

/// The user of a valid session cookie. A browser's state-changing request must also carry the
/// session's CSRF token, which a page of another site cannot read.
fn session_user(web: &Web, security: &Security, asked: &Asked) -> Result<Option<String>, Refusal> {
    let Some(user) = asked.session.as_deref().and_then(|t| web.sessions.user(t)) else {
        return Ok(None);
    };
    if !security.users.contains_key(&user) {
        // Removed from the web config since logging in.
        return Ok(None);
    }
    let reads = asked.method == Method::GET || asked.method == Method::HEAD;
    if !reads {
        let token = asked.session.as_deref().unwrap_or("");
        if !web
            .sessions
            .csrf_matches(token, asked.csrf.as_deref().unwrap_or(""))
        {
            return Err(Refusal::Forbidden(
                "the CSRF token (X-CSRF-Token) is missing or wrong".into(),
            ));
        }
    }
    Ok(Some(user))
}

impl Web {
    /// Checks a password, counting failures against the client; a client with too many
    /// failures gets 429 before any check.
    async fn check_password(
        &self,
        security: &Security,
        client: Option<std::net::IpAddr>,
        user: &str,
        password: &str,
    ) -> Result<bool, Refusal> {
        let now = Instant::now();
        if let Some(ip) = client {
            self.login_failures
                .check(ip, now)
                .map_err(Refusal::TooMany)?;
        }
        let hash = security.users.get(user).map(String::as_str);
        if self.passwords.verify(user, hash, password).await {
            return Ok(true);
        }
        if let Some(ip) = client {
            let _ = self.login_failures.take(ip, now);
        }
        tracing::info!(user = %user, client = ?client, "basic auth failed");
        Ok(false)
    }
}

fn unauthorized(from_ui: bool) -> Response {
    let mut response = plain(StatusCode::UNAUTHORIZED, "Unauthorized");
    if !from_ui {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
    }
    response
}

/// Refuses a state-changing request a browser makes for another site's page (a form posted
/// cross-site, say): with or without users, the API must not act on it. Clients that are not
/// browsers (amtool, Prometheus, curl) send neither header and pass.
pub async fn refuse_cross_site(request: Request, next: Next) -> Response {
    let reads = request.method() == Method::GET || request.method() == Method::HEAD;
    if !reads {
        let headers = request.headers();
        let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
        let origin_host = headers
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .filter(|o| *o != "null")
            .map(|o| o.split_once("://").map_or(o, |(_, rest)| rest).to_string());
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
        // Browsers say where a request comes from in Sec-Fetch-Site; only the UI's own pages
        // (same-origin) and typed-in requests (none) may write. Without it (older browsers),
        // an Origin must name this host. Sec-Fetch-Site first, since a reverse proxy that
        // rewrites Host would make the Origin check refuse the UI itself.
        let cross = match fetch_site {
            Some(site) => site != "same-origin" && site != "none",
            None => matches!((&origin_host, host), (Some(o), Some(h)) if o != h),
        };
        if cross {
            return plain(
                StatusCode::FORBIDDEN,
                "Forbidden: a cross-site request may not change state",
            );
        }
    }
    next.run(request).await
}

/// Who acted, for the record: the authenticated user when there is one, else the name the
/// request gives. A different name in the request is returned as a note to keep beside the
/// record, never as the identity.
pub fn who_acted(
    identity: Option<&Identity>,
    claimed: Option<&str>,
) -> (Option<String>, Option<String>) {
    let claimed = claimed.map(str::trim).filter(|c| !c.is_empty());
    match (identity, claimed) {
        (Some(Identity(user)), Some(claimed)) if claimed != user => (
            Some(user.clone()),
            Some(format!("the request named {claimed:?}")),
        ),
        (Some(Identity(user)), _) => (Some(user.clone()), None),
        (None, claimed) => (claimed.map(str::to_string), None),
    }
}
