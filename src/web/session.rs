//! The web UI's login: a session cookie for the users of `basic_auth_users`, and the CSRF token
//! its state-changing requests carry.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use axum::body::to_bytes;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use parking_lot::Mutex;
use serde::Deserialize;

use super::{plain, unauthorized, Security, Web};

pub const COOKIE: &str = "alert_router_session";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a login lasts: an on-call shift.
const TTL: Duration = Duration::from_secs(12 * 3600);
const MAX_SESSIONS: usize = 10_000;
const MAX_LOGIN_BODY: usize = 16 * 1024;

struct Session {
    user: String,
    csrf: String,
    expires: Instant,
}

#[derive(Default)]
pub struct Sessions {
    by_token: Mutex<HashMap<String, Session>>,
}

/// 256 random bits, hex: two v4 UUIDs come from the operating system's generator.
fn token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Compares without stopping at the first difference, so timing does not reveal a prefix.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Sessions {
    fn open(&self, user: &str) -> (String, String) {
        let now = Instant::now();
        let (session, csrf) = (token(), token());
        let mut sessions = self.by_token.lock();
        if sessions.len() >= MAX_SESSIONS {
            sessions.retain(|_, s| s.expires > now);
            if sessions.len() >= MAX_SESSIONS {
                // Still full of live sessions: the one closest to its end makes room.
                if let Some(oldest) = sessions
                    .iter()
                    .min_by_key(|(_, s)| s.expires)
                    .map(|(k, _)| k.clone())
                {
                    sessions.remove(&oldest);
                }
            }
        }
        sessions.insert(
            session.clone(),
            Session {
                user: user.to_string(),
                csrf: csrf.clone(),
                expires: now + TTL,
            },
        );
        (session, csrf)
    }

    pub fn user(&self, token: &str) -> Option<String> {
        self.session(token).map(|(user, _)| user)
    }

    pub fn csrf_matches(&self, token: &str, csrf: &str) -> bool {
        let sessions = self.by_token.lock();
        sessions.get(token).is_some_and(|s| same(&s.csrf, csrf))
    }

    fn session(&self, token: &str) -> Option<(String, String)> {
        let sessions = self.by_token.lock();
        sessions
            .get(token)
            .filter(|s| s.expires > Instant::now())
            .map(|s| (s.user.clone(), s.csrf.clone()))
    }

    fn close(&self, token: &str) {
        self.by_token.lock().remove(token);
    }
}

/// The session token of the request's cookie, if it has one.
pub fn cookie(request: &Request) -> Option<&str> {
    request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

fn set_cookie(web: &Web, security: &Security, value: &str, max_age: Duration) -> HeaderValue {
    let path = if web.route_prefix.is_empty() {
        "/"
    } else {
        web.route_prefix.as_str()
    };
    let secure = if security.tls.is_some() {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{COOKIE}={value}; Path={path}; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
        max_age.as_secs()
    );
    HeaderValue::try_from(cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[derive(Deserialize)]
struct Login {
    username: String,
    password: String,
}

/// `POST /-/login` `{"username": …, "password": …}`: a session cookie and the CSRF token.
pub async fn login(
    web: &Web,
    security: &Security,
    client: Option<IpAddr>,
    request: Request,
) -> Response {
    let Ok(body) = to_bytes(request.into_body(), MAX_LOGIN_BODY).await else {
        return plain(StatusCode::BAD_REQUEST, "login body too large");
    };
    let Ok(login) = serde_json::from_slice::<Login>(&body) else {
        return plain(
            StatusCode::BAD_REQUEST,
            "body must be JSON {\"username\": …, \"password\": …}",
        );
    };
    match web
        .check_password(security, client, &login.username, &login.password)
        .await
    {
        Err(refused) => refused.response(),
        Ok(false) => unauthorized(true),
        Ok(true) => {
            let (session, csrf) = web.sessions.open(&login.username);
            tracing::info!(user = %login.username, "logged in to the web UI");
            let mut response = Json(serde_json::json!({
                "authentication": true,
                "user": login.username,
                "csrf": csrf,
            }))
            .into_response();
            response
                .headers_mut()
                .insert(header::SET_COOKIE, set_cookie(web, security, &session, TTL));
            response
        }
    }
}

/// `GET /-/session`: who the cookie's session belongs to, and its CSRF token.
pub fn current(web: &Web, request: &Request) -> Response {
    match cookie(request).and_then(|t| web.sessions.session(t)) {
        Some((user, csrf)) => Json(serde_json::json!({
            "authentication": true,
            "user": user,
            "csrf": csrf,
        }))
        .into_response(),
        None => unauthorized(true),
    }
}

/// `POST /-/logout`: ends the session and clears the cookie.
pub fn logout(web: &Web, request: &Request) -> Response {
    if let Some(token) = cookie(request) {
        web.sessions.close(token);
    }
    let security = web.current();
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(web, &security, "", Duration::ZERO),
    );
    response
}
