//! Alertmanager API v2 silences: create/update, list, get, expire.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};

use super::ApiError;
use crate::app::services::Services;
use crate::model::time::{format_rfc3339_millis, parse_rfc3339, Timestamp};
use crate::model::Matcher;
use crate::store::{Silence, SilenceError, SilenceMatcher};
use crate::web::{who_acted, Identity};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostableSilence {
    #[serde(default)]
    id: Option<String>,
    matchers: Vec<ApiMatcher>,
    starts_at: String,
    ends_at: String,
    created_by: String,
    comment: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiMatcher {
    name: String,
    value: String,
    is_regex: bool,
    #[serde(default)]
    is_equal: Option<bool>,
}

fn parse_time(field: &str, s: &str) -> Result<Timestamp, ApiError> {
    parse_rfc3339(s).map_err(|e| {
        ApiError::bad_request(format!(
            "{field} in body must be of type date-time: {s:?}: {e}"
        ))
    })
}

pub fn gettable_silence(s: &Silence, now: Timestamp) -> Value {
    json!({
        "id": s.id,
        "status": {"state": s.state(now).as_str()},
        "updatedAt": format_rfc3339_millis(&s.updated_at),
        "comment": s.comment,
        "createdBy": s.created_by,
        "endsAt": format_rfc3339_millis(&s.ends_at),
        "matchers": s.matchers.iter().map(|m| json!({
            "isEqual": m.is_equal, "isRegex": m.is_regex, "name": m.name, "value": m.value,
        })).collect::<Vec<_>>(),
        "startsAt": format_rfc3339_millis(&s.starts_at),
    })
}

pub async fn post_silence(
    State(services): State<Services>,
    identity: Option<Extension<Identity>>,
    body: Bytes,
) -> Response {
    match create(&services, identity.as_ref().map(|i| &i.0), &body).await {
        Ok(id) => Json(json!({"silenceID": id})).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn create(
    services: &Services,
    identity: Option<&Identity>,
    body: &[u8],
) -> Result<String, ApiError> {
    let posted: PostableSilence = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?;
    let now = Utc::now();
    let starts_at = parse_time("startsAt", &posted.starts_at)?;
    let ends_at = parse_time("endsAt", &posted.ends_at)?;
    if starts_at >= ends_at {
        return Err(ApiError::bad_request(
            "Failed to create silence: start time must be before end time",
        ));
    }
    if ends_at < now {
        return Err(ApiError::bad_request(
            "Failed to create silence: end time can't be in the past",
        ));
    }
    let (created_by, note) = who_acted(identity, Some(&posted.created_by));
    let comment = match note {
        Some(note) => format!("{} ({note} as createdBy)", posted.comment),
        None => posted.comment,
    };
    let silence = Silence {
        id: posted.id.unwrap_or_default(),
        matchers: posted
            .matchers
            .into_iter()
            .map(|m| SilenceMatcher {
                name: m.name,
                value: m.value,
                is_regex: m.is_regex,
                is_equal: m.is_equal.unwrap_or(true),
            })
            .collect(),
        starts_at,
        ends_at,
        updated_at: now,
        created_by: created_by.unwrap_or_default(),
        comment,
    };
    services.silences.set(silence).await.map_err(|e| match e {
        SilenceError::NotFound => ApiError(StatusCode::NOT_FOUND, e.to_string()),
        SilenceError::Storage(_) => ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        _ => ApiError::bad_request(e.to_string()),
    })
}

pub async fn get_silences(
    State(services): State<Services>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<Value>>, ApiError> {
    let mut filters = Vec::new();
    for (key, value) in url::form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes()) {
        if key == "filter" {
            filters.push(Matcher::parse(&value).map_err(|e| ApiError::bad_request(e.to_string()))?);
        }
    }
    let now = Utc::now();
    Ok(Json(
        services
            .silences
            .query(&filters)
            .iter()
            .map(|s| gettable_silence(s, now))
            .collect(),
    ))
}

pub async fn get_silence(State(services): State<Services>, Path(id): Path<String>) -> Response {
    match services.silences.get(&id) {
        Some(s) => Json(gettable_silence(&s, Utc::now())).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

pub async fn delete_silence(State(services): State<Services>, Path(id): Path<String>) -> Response {
    match services.silences.expire(id).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e @ SilenceError::NotFound) => {
            ApiError(StatusCode::NOT_FOUND, e.to_string()).into_response()
        }
        Err(e) => ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
