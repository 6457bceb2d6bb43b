use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;

use crate::app::App;

pub async fn ok() -> &'static str {
    "OK"
}

pub async fn reload(State(app): State<Arc<App>>) -> (StatusCode, String) {
    match app.reload() {
        Ok(()) => (StatusCode::OK, String::new()),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: {e}"),
        ),
    }
}
