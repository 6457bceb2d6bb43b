//! Spans of notifications, exported as the config's `tracing:` block asks (Alertmanager 0.30):
//! one span per integration per notification, covering its retries, sent in batches to an
//! OTLP collector over HTTP with the JSON encoding (`POST {endpoint}/v1/traces`). The gRPC
//! client type is accepted and logged once: its protobuf-over-HTTP/2 transport is not built.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value as Json};
use tokio::sync::mpsc;

use super::http::HttpClient;
use crate::config::{HttpClientConfig, SecretSource, TracingConfig};

/// Spans waiting to be sent; past this they are dropped and counted, never blocking a send.
const QUEUE: usize = 4096;
const BATCH: usize = 512;
const FLUSH_EVERY: Duration = Duration::from_secs(1);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// One finished notification attempt.
#[derive(Debug, Clone)]
pub struct Span {
    pub name: &'static str,
    pub start: SystemTime,
    pub end: SystemTime,
    pub attributes: Vec<(&'static str, String)>,
    pub error: Option<String>,
}

/// Where spans go, for one loaded config.
pub struct SpanExporter {
    queue: mpsc::Sender<Span>,
    sampling_fraction: f64,
}

impl SpanExporter {
    /// Starts the exporter for a `tracing:` block, if it can export (HTTP client type, inside
    /// the server's runtime).
    pub fn start(config: &TracingConfig) -> Option<SpanExporter> {
        if config.client_type.as_deref().unwrap_or("grpc") != "http" {
            tracing::warn!(
                "tracing: client_type grpc is accepted but not exported; set client_type: http to send spans over OTLP/HTTP"
            );
            return None;
        }
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let endpoint = config.endpoint.clone()?;
        let url = traces_url(&endpoint, config.insecure);
        let http = HttpClientConfig {
            tls_config: config.tls_config.clone(),
            ..HttpClientConfig::default()
        };
        let client = match HttpClient::build(Some(&http)) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "tracing: cannot build the exporter's client");
                return None;
            }
        };
        if config.compression.as_deref() == Some("gzip") {
            tracing::info!("tracing: spans are sent uncompressed (gzip is not built in)");
        }
        let headers = config
            .headers
            .iter()
            .map(|(name, h)| {
                let mut sources: Vec<SecretSource> = h
                    .values
                    .iter()
                    .map(|v| SecretSource::Inline(crate::config::Secret::new(v.clone())))
                    .collect();
                sources.extend(h.secrets.iter().cloned().map(SecretSource::Inline));
                sources.extend(h.files.iter().cloned().map(SecretSource::File));
                (name.clone(), sources)
            })
            .collect();
        let (queue, spans) = mpsc::channel(QUEUE);
        let sender = Sender {
            client,
            url,
            headers,
            timeout: config.timeout.map_or(DEFAULT_TIMEOUT, |t| t.0),
        };
        runtime.spawn(sender.run(spans));
        Some(SpanExporter {
            queue,
            sampling_fraction: config.sampling_fraction.unwrap_or(0.0),
        })
    }

    /// Queues a span if the trace is sampled (`sampling_fraction`, as a trace-id ratio).
    pub fn record(&self, span: Span) {
        if !sampled(self.sampling_fraction) {
            return;
        }
        if self.queue.try_send(span).is_err() {
            metrics::counter!("alert_router_tracing_spans_dropped_total").increment(1);
        }
    }
}

fn sampled(fraction: f64) -> bool {
    if fraction >= 1.0 {
        return true;
    }
    let draw = uuid::Uuid::new_v4().as_u128() as u64;
    (draw as f64 / u64::MAX as f64) < fraction
}

/// `host:port` as Alertmanager's config writes it, or a full URL, to the traces path.
fn traces_url(endpoint: &str, insecure: bool) -> String {
    let base = if endpoint.contains("://") {
        endpoint.trim_end_matches('/').to_string()
    } else {
        let scheme = if insecure { "http" } else { "https" };
        format!("{scheme}://{}", endpoint.trim_end_matches('/'))
    };
    format!("{base}/v1/traces")
}

struct Sender {
    client: HttpClient,
    url: String,
    headers: Vec<(String, Vec<SecretSource>)>,
    timeout: Duration,
}

impl Sender {
    async fn run(self, mut spans: mpsc::Receiver<Span>) {
        let mut batch = Vec::new();
        loop {
            let next = tokio::time::timeout(FLUSH_EVERY, spans.recv()).await;
            let closed = matches!(next, Ok(None));
            if let Ok(Some(span)) = next {
                batch.push(span);
                if batch.len() < BATCH {
                    continue;
                }
            }
            if !batch.is_empty() {
                self.send(std::mem::take(&mut batch)).await;
            }
            if closed {
                return;
            }
        }
    }

    async fn send(&self, spans: Vec<Span>) {
        let count = spans.len();
        let body = match serde_json::to_vec(&export_request(&spans)) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "tracing: cannot encode spans");
                return;
            }
        };
        let request = match self.client.post(&self.url) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "tracing: spans not exported");
                return;
            }
        };
        let mut request = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .timeout(self.timeout)
            .body(body);
        for (name, sources) in &self.headers {
            for source in sources {
                match source.read() {
                    Ok(value) => request = request.header(name.as_str(), value.expose()),
                    Err(e) => {
                        tracing::warn!(header = %name, error = %e, "tracing: header file unreadable")
                    }
                }
            }
        }
        match super::http::send(&self.url, request).await {
            Ok(answer) if (200..300).contains(&answer.status) => {
                metrics::counter!("alert_router_tracing_spans_exported_total")
                    .increment(count as u64);
            }
            Ok(answer) => {
                tracing::warn!(
                    status = answer.status,
                    spans = count,
                    "tracing: collector refused spans"
                )
            }
            Err(e) => tracing::warn!(error = %e, spans = count, "tracing: spans not exported"),
        }
    }
}

fn unix_nanos(t: SystemTime) -> String {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
        .to_string()
}

/// OTLP's `ExportTraceServiceRequest` in its JSON encoding (ids in hex, times as strings).
fn export_request(spans: &[Span]) -> Json {
    let spans: Vec<Json> = spans
        .iter()
        .map(|s| {
            let trace_id = uuid::Uuid::new_v4().simple().to_string();
            let span_id = uuid::Uuid::new_v4().simple().to_string()[..16].to_string();
            let attributes: Vec<Json> = s
                .attributes
                .iter()
                .map(|(k, v)| json!({"key": k, "value": {"stringValue": v}}))
                .collect();
            let status = match &s.error {
                None => json!({"code": 1}),
                Some(message) => json!({"code": 2, "message": message}),
            };
            json!({
                "traceId": trace_id,
                "spanId": span_id,
                "name": s.name,
                "kind": 3,
                "startTimeUnixNano": unix_nanos(s.start),
                "endTimeUnixNano": unix_nanos(s.end),
                "attributes": attributes,
                "status": status,
            })
        })
        .collect();
    json!({"resourceSpans": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "alertmanager"}},
            {"key": "service.version", "value": {"stringValue": env!("CARGO_PKG_VERSION")}},
        ]},
        "scopeSpans": [{"scope": {"name": "alert-router"}, "spans": spans}],
    }]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_become_traces_urls() {
        assert_eq!(traces_url("otel:4318", true), "http://otel:4318/v1/traces");
        assert_eq!(
            traces_url("otel:4318", false),
            "https://otel:4318/v1/traces"
        );
        assert_eq!(
            traces_url("http://otel:4318/", false),
            "http://otel:4318/v1/traces"
        );
    }

    #[test]
    fn a_span_is_encoded_as_otlp_json() {
        let start = UNIX_EPOCH + Duration::from_secs(10);
        let span = Span {
            name: "notify",
            start,
            end: start + Duration::from_millis(5),
            attributes: vec![("integration", "slack".into())],
            error: Some("slack answered 500".into()),
        };
        let request = export_request(&[span]);
        let s = &request["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(s["name"], "notify");
        assert_eq!(s["startTimeUnixNano"], "10000000000");
        assert_eq!(s["endTimeUnixNano"], "10005000000");
        assert_eq!(s["traceId"].as_str().map(str::len), Some(32));
        assert_eq!(s["spanId"].as_str().map(str::len), Some(16));
        assert_eq!(
            s["attributes"],
            json!([{"key": "integration", "value": {"stringValue": "slack"}}])
        );
        assert_eq!(
            s["status"],
            json!({"code": 2, "message": "slack answered 500"})
        );
        assert!(sampled(1.0));
        assert!(!sampled(0.0));
    }
}
