//! alert-router's incidents API (v1): list and read incidents, acknowledge, unacknowledge and
//! resolve them, and the one-click signed acknowledge link sent in notifications.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

use super::ApiError;
use crate::app::services::Services;
use crate::escalate::{IncidentError, IncidentState, LinkError};
use crate::web::{who_acted, Identity};

#[derive(Deserialize)]
struct Change {
    #[serde(default)]
    by: Option<String>,
    #[serde(default)]
    comment: Option<String>,
}

/// Who acts and why: the authenticated user when there is one (a different `by` in the body
/// is kept in the comment), else the body's `by`, which must then be given.
struct Acting {
    by: String,
    comment: Option<String>,
}

impl From<IncidentError> for ApiError {
    fn from(e: IncidentError) -> ApiError {
        let status = match e {
            IncidentError::NotFound(_) => StatusCode::NOT_FOUND,
            IncidentError::Conflict(_) => StatusCode::CONFLICT,
        };
        ApiError(status, e.to_string())
    }
}

pub async fn list(
    State(services): State<Services>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    for key in params.keys() {
        if !["state", "receiver", "priority"].contains(&key.as_str()) {
            return Err(ApiError::bad_request(format!(
                "unknown parameter {key:?} (state, receiver, priority)"
            )));
        }
    }
    let state = params
        .get("state")
        .map(|s| s.parse::<IncidentState>())
        .transpose()
        .map_err(ApiError::bad_request)?;
    let incidents = services.incidents.list(
        state,
        params.get("receiver").map(String::as_str),
        params.get("priority").map(String::as_str),
    );
    Ok(Json(incidents).into_response())
}

pub async fn get_one(
    State(services): State<Services>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let incident = services
        .incidents
        .get(&id)
        .ok_or(IncidentError::NotFound(id))?;
    Ok(Json(incident).into_response())
}

fn change(identity: Option<Extension<Identity>>, body: &Bytes) -> Result<Acting, ApiError> {
    let change: Change = if body.is_empty() && identity.is_some() {
        Change {
            by: None,
            comment: None,
        }
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!(
                "body must be JSON {{\"by\": \"who\", \"comment\": \"why\"}}: {e}"
            ))
        })?
    };
    let (by, note) = who_acted(identity.as_ref().map(|i| &i.0), change.by.as_deref());
    let Some(by) = by else {
        return Err(ApiError::bad_request("\"by\" must name who acts"));
    };
    let comment = match (change.comment, note) {
        (Some(comment), Some(note)) => Some(format!("{comment} ({note} as by)")),
        (None, Some(note)) => Some(format!("({note} as by)")),
        (comment, None) => comment,
    };
    Ok(Acting { by, comment })
}

pub async fn acknowledge(
    State(services): State<Services>,
    Path(id): Path<String>,
    identity: Option<Extension<Identity>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let c = change(identity, &body)?;
    let incident = services
        .incidents
        .acknowledge(&id, &c.by, c.comment)
        .await?;
    Ok(Json(incident).into_response())
}

pub async fn unacknowledge(
    State(services): State<Services>,
    Path(id): Path<String>,
    identity: Option<Extension<Identity>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let c = change(identity, &body)?;
    let incident = services
        .incidents
        .unacknowledge(&id, &c.by, c.comment)
        .await?;
    Ok(Json(incident).into_response())
}

pub async fn resolve(
    State(services): State<Services>,
    Path(id): Path<String>,
    identity: Option<Extension<Identity>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let c = change(identity, &body)?;
    let incident = services.incidents.resolve(&id, &c.by, c.comment).await?;
    Ok(Json(incident).into_response())
}

fn page(status: StatusCode, text: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html><html><head><meta charset=\"UTF-8\"><title>alert-router</title></head><body><p>{}</p></body></html>",
        crate::template::html_escape(text)
    );
    (status, Html(body)).into_response()
}

/// The acknowledge link from a notification: a GET, so one click in Slack or a mail works.
pub async fn acknowledge_link(
    State(services): State<Services>,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let Some(links) = services.incidents.links() else {
        return page(
            StatusCode::NOT_FOUND,
            "Acknowledge links are not enabled on this router (--incidents.ack-secret-file).",
        );
    };
    let (Some(via), Some(expires), Some(sig)) = (
        params.get("via"),
        params.get("expires").and_then(|e| e.parse::<i64>().ok()),
        params.get("sig"),
    ) else {
        return page(
            StatusCode::BAD_REQUEST,
            "This acknowledge link is incomplete: it needs via, expires and sig.",
        );
    };
    let now = services.incidents.now().timestamp();
    match links.verify(&id, via, expires, sig, now) {
        Ok(()) => {}
        Err(e @ (LinkError::BadSignature | LinkError::Expired)) => {
            return page(StatusCode::FORBIDDEN, &format!("Not acknowledged: {e}."))
        }
    }
    // Chat clients fetch links to preview them; a preview must not acknowledge a page.
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if [
        "Slackbot",
        "Slack-ImgProxy",
        "Twitterbot",
        "Discordbot",
        "facebookexternalhit",
    ]
    .iter()
    .any(|bot| agent.contains(bot))
    {
        return page(
            StatusCode::OK,
            "Open this link in a browser to acknowledge the incident.",
        );
    }
    let by = format!("acknowledge link sent to {via}");
    match services.incidents.acknowledge(&id, &by, None).await {
        Ok(_) => page(StatusCode::OK, &format!("Incident {id} acknowledged.")),
        Err(e @ IncidentError::NotFound(_)) => page(StatusCode::NOT_FOUND, &e.to_string()),
        Err(e @ IncidentError::Conflict(_)) => page(StatusCode::CONFLICT, &e.to_string()),
    }
}
