//! Alertmanager API v2 handlers and the webhook ingest endpoints.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use regex::Regex;
use serde_json::{json, Value};

use super::ApiError;
use crate::app::App;
use crate::ingest::{self, signature, DecodeContext, Decoded, IngestError};
use crate::model::time::{format_rfc3339_millis, Timestamp};
use crate::model::{Alert, Matcher};
use crate::mute::{MuteStatus, Muter};

/// The version amtool compares with its own; alert-router implements the 0.25 API.
pub const API_COMPAT_VERSION: &str = "0.25.0";

type Decoder = fn(&[u8], DecodeContext) -> Result<Decoded, IngestError>;

async fn ingest_with(app: &App, body: &[u8], decode: Decoder) -> Response {
    let cx = DecodeContext {
        now: Utc::now(),
        timeouts: app.timeouts(),
        known: &*app.store,
    };
    let decoded = match decode(body, cx) {
        Ok(d) => d,
        Err(e) => {
            metrics::counter!("alert_router_ingest_rejected_total").increment(1);
            return ApiError::bad_request(e.to_string()).into_response();
        }
    };
    let rejected = decoded.error_message();
    if let Err(e) = app.ingest(decoded).await {
        // Not acknowledged: the sender retries, and a re-sent alert merges with this one.
        return ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("alerts not saved: {e}"),
        )
        .into_response();
    }
    match rejected {
        // The valid alerts were stored; the answer says which were not and why.
        Some(msg) => ApiError::bad_request(msg).into_response(),
        None => StatusCode::OK.into_response(),
    }
}

pub async fn post_alerts(State(app): State<Arc<App>>, body: Bytes) -> Response {
    ingest_with(&app, &body, ingest::decode_postable_alerts).await
}

pub async fn post_alertmanager_webhook(State(app): State<Arc<App>>, body: Bytes) -> Response {
    ingest_with(&app, &body, ingest::decode_alertmanager_webhook).await
}

pub async fn post_grafana_webhook(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(secret) = &app.settings.grafana_signing_secret {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let valid = header(signature::SIGNATURE_HEADER).is_some_and(|sig| {
            signature::verify(
                secret.expose().as_bytes(),
                header(signature::TIMESTAMP_HEADER),
                &body,
                sig,
            )
        });
        if !valid {
            metrics::counter!("alert_router_ingest_rejected_total").increment(1);
            return ApiError(
                StatusCode::UNAUTHORIZED,
                "missing or invalid X-Grafana-Alerting-Signature".into(),
            )
            .into_response();
        }
    }
    ingest_with(&app, &body, ingest::decode_grafana_webhook).await
}

/// The filters shared by `/alerts` and `/alerts/groups`.
struct AlertFilter {
    active: bool,
    silenced: bool,
    inhibited: bool,
    unprocessed: bool,
    matchers: Vec<Matcher>,
    receiver: Option<Regex>,
}

impl AlertFilter {
    fn parse(query: Option<&str>) -> Result<AlertFilter, ApiError> {
        let mut f = AlertFilter {
            active: true,
            silenced: true,
            inhibited: true,
            unprocessed: true,
            matchers: Vec::new(),
            receiver: None,
        };
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
                "filter" => f.matchers.push(
                    Matcher::parse(&value).map_err(|e| ApiError::bad_request(e.to_string()))?,
                ),
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

    /// The alert's mute status when the filters keep it.
    fn keeps(
        &self,
        alert: &Alert,
        receivers: &[&str],
        muter: &Muter,
        now: Timestamp,
    ) -> Option<MuteStatus> {
        if let Some(re) = &self.receiver {
            if !receivers.iter().any(|r| re.is_match(r)) {
                return None;
            }
        }
        if !self.matchers.iter().all(|m| m.matches(&alert.labels)) || alert.resolved_at(now) {
            return None;
        }
        let status = muter.status(&alert.labels, now);
        let keep = (self.active || status.is_suppressed())
            && (self.silenced || status.silenced_by.is_empty())
            && (self.inhibited || status.inhibited_by.is_empty());
        keep.then_some(status)
    }
}

fn gettable_alert(alert: &Alert, receivers: &[&str], status: &MuteStatus) -> Value {
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
    State(app): State<Arc<App>>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<Value>>, ApiError> {
    let filter = AlertFilter::parse(query.as_deref())?;
    let runtime = app.runtime();
    let now = Utc::now();
    let mut alerts = app.store.list();
    alerts.sort_by_key(|a| a.fingerprint.to_string());
    let out = alerts
        .iter()
        .filter_map(|a| {
            let receivers = runtime.routes.receivers_for(&a.labels);
            let status = filter.keeps(a, &receivers, &runtime.muter, now)?;
            Some(gettable_alert(a, &receivers, &status))
        })
        .collect();
    Ok(Json(out))
}

pub async fn get_alert_groups(
    State(app): State<Arc<App>>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<Value>>, ApiError> {
    let filter = AlertFilter::parse(query.as_deref())?;
    let runtime = app.runtime();
    let now = Utc::now();
    let mut out = Vec::new();
    for group in runtime.dispatcher.groups() {
        if filter
            .receiver
            .as_ref()
            .is_some_and(|re| !re.is_match(&group.receiver))
        {
            continue;
        }
        let alerts: Vec<Value> = group
            .alerts
            .iter()
            .filter_map(|a| {
                let status = filter.keeps(a, &[group.receiver.as_str()], &runtime.muter, now)?;
                Some(gettable_alert(
                    a,
                    &runtime.routes.receivers_for(&a.labels),
                    &status,
                ))
            })
            .collect();
        if alerts.is_empty() {
            continue;
        }
        out.push(
            json!({"alerts": alerts, "labels": group.labels, "receiver": {"name": group.receiver}}),
        );
    }
    Ok(Json(out))
}

pub async fn get_receivers(State(app): State<Arc<App>>) -> Json<Vec<Value>> {
    let runtime = app.runtime();
    let names = runtime
        .config
        .config
        .receivers
        .iter()
        .map(|r| json!({"name": r.name}))
        .collect();
    Json(names)
}

pub async fn get_status(State(app): State<Arc<App>>) -> Json<Value> {
    let runtime = app.runtime();
    Json(json!({
        "cluster": {"name": "", "peers": [], "status": "disabled"},
        "config": {"original": runtime.config.redacted_yaml()},
        "uptime": format_rfc3339_millis(&app.started_at),
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
