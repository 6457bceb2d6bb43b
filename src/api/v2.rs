//! Alertmanager API v2 handlers and the webhook ingest endpoints.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use regex::Regex;
use serde_json::{json, Value};

use super::ApiError;
use crate::app::services::{AlertFilter, AlertSource, AlertView, IngestFailure, Services};
use crate::ingest::signature;
use crate::model::time::format_rfc3339_millis;
use crate::model::Matcher;

/// The version amtool compares with its own; alert-router implements the 0.25 API.
pub const API_COMPAT_VERSION: &str = "0.25.0";

async fn ingest_from(services: &Services, body: &[u8], source: AlertSource) -> Response {
    match services.alerts.post(body, source).await {
        Ok(None) => StatusCode::OK.into_response(),
        // The valid alerts were stored; the answer says which were not and why.
        Ok(Some(rejected)) => ApiError::bad_request(rejected).into_response(),
        Err(e @ IngestFailure::Invalid(_)) => {
            metrics::counter!("alert_router_ingest_rejected_total").increment(1);
            ApiError::bad_request(e.to_string()).into_response()
        }
        // Not acknowledged: the sender retries, and a re-sent alert merges with this one.
        Err(e @ IngestFailure::NotSaved(_)) => {
            ApiError(StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response()
        }
    }
}

pub async fn post_alerts(State(services): State<Services>, body: Bytes) -> Response {
    ingest_from(&services, &body, AlertSource::Api).await
}

pub async fn post_alertmanager_webhook(State(services): State<Services>, body: Bytes) -> Response {
    ingest_from(&services, &body, AlertSource::Alertmanager).await
}

pub async fn post_grafana_webhook(
    State(services): State<Services>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if !services.alerts.grafana_signature_ok(
        header(signature::TIMESTAMP_HEADER),
        header(signature::SIGNATURE_HEADER),
        &body,
    ) {
        metrics::counter!("alert_router_ingest_rejected_total").increment(1);
        return ApiError(
            StatusCode::UNAUTHORIZED,
            "missing or invalid X-Grafana-Alerting-Signature".into(),
        )
        .into_response();
    }
    ingest_from(&services, &body, AlertSource::Grafana).await
}

/// The filters of `/alerts` and `/alerts/groups`, from the query string.
fn parse_filter(query: Option<&str>) -> Result<AlertFilter, ApiError> {
    let mut f = AlertFilter::default();
    let query = query.unwrap_or("");
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let flag = |v: &str| -> Result<bool, ApiError> {
            v.parse::<bool>().map_err(|_| {
                ApiError::bad_request(format!("{key} in query must be of type boolean: {v:?}"))
            })
        };
        match &*key {
            "active" => f.active = flag(&value)?,
            "silenced" => f.silenced = flag(&value)?,
            "inhibited" => f.inhibited = flag(&value)?,
            "unprocessed" => f.unprocessed = flag(&value)?,
            "filter" => f
                .matchers
                .push(Matcher::parse(&value).map_err(|e| ApiError::bad_request(e.to_string()))?),
            "receiver" => {
                let re = Regex::new(&format!("^(?:{value})$")).map_err(|e| {
                    ApiError::bad_request(format!("failed to parse receiver param: {e}"))
                })?;
                f.receiver = Some(re);
            }
            _ => {}
        }
    }
    Ok(f)
}

fn gettable_alert(view: &AlertView) -> Value {
    let (alert, receivers, status) = (&view.alert, &view.receivers, &view.status);
    let state = if status.is_suppressed() {
        "suppressed"
    } else {
        "active"
    };
    let inhibited_by: Vec<String> = status.inhibited_by.iter().map(|f| f.to_string()).collect();
    json!({
        "annotations": alert.annotations,
        "endsAt": format_rfc3339_millis(&alert.ends_at),
        "fingerprint": alert.fingerprint.to_string(),
        "receivers": receivers.iter().map(|r| json!({"name": r})).collect::<Vec<_>>(),
        "startsAt": format_rfc3339_millis(&alert.starts_at),
        "status": {"inhibitedBy": inhibited_by, "silencedBy": status.silenced_by, "state": state},
        "updatedAt": format_rfc3339_millis(&alert.updated_at),
        "generatorURL": alert.generator_url,
        "labels": alert.labels,
    })
}

pub async fn get_alerts(
    State(services): State<Services>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<Value>>, ApiError> {
    let filter = parse_filter(query.as_deref())?;
    let alerts = services.alerts.list(&filter);
    Ok(Json(alerts.iter().map(gettable_alert).collect()))
}

pub async fn get_alert_groups(
    State(services): State<Services>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<Value>>, ApiError> {
    let filter = parse_filter(query.as_deref())?;
    let out = services
        .alerts
        .groups(&filter)
        .iter()
        .map(|group| {
            let alerts: Vec<Value> = group.alerts.iter().map(gettable_alert).collect();
            json!({"alerts": alerts, "labels": group.labels, "receiver": {"name": group.receiver}})
        })
        .collect();
    Ok(Json(out))
}

pub async fn get_receivers(State(services): State<Services>) -> Json<Vec<Value>> {
    let names = services
        .admin
        .receivers()
        .into_iter()
        .map(|name| json!({ "name": name }))
        .collect();
    Json(names)
}

pub async fn get_status(State(services): State<Services>) -> Json<Value> {
    Json(json!({
        "cluster": match services.admin.cluster_status() {
            Some(cluster) => {
                let mut value = json!({
                    "name": cluster.name,
                    "peers": cluster.peers.iter()
                        .map(|p| json!({"name": p.name, "address": p.address}))
                        .collect::<Vec<_>>(),
                    "status": cluster.status,
                });
                // alert-router's own field (clients ignore it): whether the HA store answers.
                if cluster.store != "none" {
                    value["store"] = json!(cluster.store);
                }
                value
            }
            None => json!({"name": "", "peers": [], "status": "disabled"}),
        },
        "config": {"original": services.admin.config_yaml()},
        "uptime": format_rfc3339_millis(&services.admin.started_at()),
        "versionInfo": {
            "branch": "alert-router",
            "buildDate": "",
            "buildUser": "",
            "goVersion": "",
            "revision": concat!("alert-router-", env!("CARGO_PKG_VERSION")),
            "version": API_COMPAT_VERSION,
        },
    }))
}
