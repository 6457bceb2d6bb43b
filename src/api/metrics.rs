//! `/metrics` in the Prometheus text format. Counters and histograms are recorded where things
//! happen; gauges of current state are read when scraped.

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::app::services::Services;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 20.0,
];

/// Installs the process-wide recorder once; later calls reuse it.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("alertmanager_notification_latency_seconds".into()),
                    &LATENCY_BUCKETS,
                )
                .ok()?;
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(handle)
        })
        .as_ref()
}

pub async fn render(State(services): State<Services>) -> impl IntoResponse {
    let gauges = services.admin.gauges();
    metrics::gauge!("alertmanager_alerts", "state" => "active").set(gauges.active_alerts as f64);
    metrics::gauge!("alertmanager_alerts", "state" => "suppressed")
        .set(gauges.suppressed_alerts as f64);
    for (state, count) in gauges.silences {
        metrics::gauge!("alertmanager_silences", "state" => state.as_str()).set(count as f64);
    }
    metrics::gauge!("alertmanager_dispatcher_aggregation_groups").set(gauges.groups as f64);
    metrics::gauge!("alertmanager_nflog_entries").set(gauges.nflog_entries as f64);
    // Aggregation groups own no tasks: this stays flat however many groups there are.
    let tasks = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    metrics::gauge!("alert_router_runtime_alive_tasks").set(tasks as f64);
    let body = install().map(|h| h.render()).unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}
