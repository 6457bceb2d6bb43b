//! `/`: a page that says what answers here and links to the API, until the web UI replaces it
//! (Alertmanager's acceptance harness and load balancers probe `GET /` for a 200); the 410 of
//! Alertmanager's removed API v1; the redirect from `/` to the route prefix.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// The index page for the API served under `prefix`.
pub fn page(prefix: &str) -> String {
    let base = prefix.trim_end_matches('/');
    let link =
        |path: &str, what: &str| format!("<li><a href=\"{base}{path}\">{path}</a>: {what}</li>");
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>alert-router</title></head><body>\n<h1>alert-router {}</h1>\n\
<p>An Alertmanager-compatible alert router. It serves Alertmanager's API v2 (amtool, Prometheus \
and Grafana use it as they use Alertmanager's).</p>\n<ul>\n{}\n{}\n{}\n{}\n{}\n{}\n</ul>\n</body></html>\n",
        env!("CARGO_PKG_VERSION"),
        link("/api/v2/alerts", "alerts"),
        link("/api/v2/alerts/groups", "alert groups"),
        link("/api/v2/silences", "silences"),
        link("/api/v2/status", "status and running config"),
        link("/api/v1/incidents", "incidents"),
        link("/metrics", "metrics"),
    )
}

pub async fn serve(page: String) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

/// 302 Found, as Alertmanager redirects `/` to its route prefix.
pub async fn redirect(target: String) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, target)]).into_response()
}

pub async fn gone() -> (StatusCode, &'static str) {
    (
        StatusCode::GONE,
        "The Alertmanager API v1 was removed in Alertmanager 0.27; use the equivalent route of the v2 API (/api/v2/...).",
    )
}
