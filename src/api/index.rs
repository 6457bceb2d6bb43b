//! The 410 of Alertmanager's removed API v1, and the redirect from `/` to the route prefix.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

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
