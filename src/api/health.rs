use axum::extract::State;
use axum::http::StatusCode;

use crate::app::services::Services;

pub async fn ok() -> &'static str {
    "OK"
}

/// Ready while the state directory takes writes: a router that cannot save what it
/// acknowledges says so, with the last error, so a load balancer or an operator can tell.
pub async fn ready(State(services): State<Services>) -> (StatusCode, String) {
    match services.admin.storage().last_error {
        None => (StatusCode::OK, "OK".into()),
        Some((at, part, error)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "storage not writable: {part} failed at {}: {error}",
                at.to_rfc3339()
            ),
        ),
    }
}

pub async fn reload(State(services): State<Services>) -> (StatusCode, String) {
    match services.admin.reload() {
        Ok(()) => (StatusCode::OK, String::new()),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: {e}"),
        ),
    }
}
