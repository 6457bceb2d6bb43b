//! The web UI: an on-call engineer's pages for alerts, silences, incidents, routing and status.
//! Its assets are embedded in the binary (no Node toolchain to build or run it) and it calls
//! the same API as amtool, so every change goes through the API's validation; the two
//! endpoints here exist for it: the running routing tree and the route tester.

use std::collections::HashMap;

use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::api::ApiError;
use crate::app::services::Services;

const INDEX: &str = include_str!("assets/index.html");
const THEME_JS: &str = include_str!("assets/theme.js");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

/// The UI's routes, below the route prefix `prefix`.
pub fn routes(prefix: &str) -> Router<Services> {
    let index = index_html(prefix);
    Router::new()
        .route("/", get(move || page(index.clone())))
        .route(
            "/ui/theme.js",
            get(|| asset(THEME_JS, "text/javascript; charset=utf-8")),
        )
        .route(
            "/ui/app.js",
            get(|| asset(APP_JS, "text/javascript; charset=utf-8")),
        )
        .route(
            "/ui/app.css",
            get(|| asset(APP_CSS, "text/css; charset=utf-8")),
        )
        .route("/api/v1/routes", get(routing))
        .route("/api/v1/routes/test", get(route_test))
        .route("/-/session", get(no_session))
}

/// The UI's page for routes served under `prefix`: its links are relative to the prefix.
pub fn index_html(prefix: &str) -> String {
    let base = if prefix == "/" {
        "/".to_string()
    } else {
        format!("{}/", prefix.trim_end_matches('/'))
    };
    INDEX.replace("{{BASE}}", &crate::template::html_escape(&base))
}

/// The UI's page, with a content security policy that allows only its own script and style.
pub async fn page(index: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
            ),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        index,
    )
        .into_response()
}

async fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // Embedded in the binary: a new release brings new assets, so revalidate.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn routing(State(services): State<Services>) -> Json<serde_json::Value> {
    Json(services.admin.routing())
}

/// `GET /api/v1/routes/test?label=name=value&label=…` (and `label=value=N`, the observed
/// value): what `routes test --tree` and `rules test` print for them.
async fn route_test(
    State(services): State<Services>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let labels: Vec<String> =
        url::form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
            .filter(|(k, _)| k == "label")
            .map(|(_, v)| v.into_owned())
            .collect();
    if labels.is_empty() {
        return Err(ApiError::bad_request(
            "give at least one label=name=value parameter",
        ));
    }
    let (routes, rules) = services
        .admin
        .route_test(&labels)
        .map_err(ApiError::bad_request)?;
    let mut body = HashMap::new();
    body.insert("routes", routes);
    body.insert("rules", rules);
    Ok(Json(body).into_response())
}

/// Without a web config there is nobody to log in: the UI is open, as the API is.
async fn no_session() -> Json<serde_json::Value> {
    Json(serde_json::json!({"authentication": false}))
}
