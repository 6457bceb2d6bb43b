//! HTTP: Alertmanager's API v2, the webhook receivers, health, reload and metrics. Handlers only
//! translate HTTP to calls on the router's service handles (`app::services`) and back.

mod health;
mod incidents;
mod index;
pub mod metrics;
mod silences;
mod v2;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::app::services::Services;
use crate::web::{ClientAddr, Web};

/// Every route, under `--web.route-prefix`; with a prefix, `/` redirects to it as in
/// Alertmanager.
pub fn router(services: Services) -> Router {
    let prefix = services.admin.route_prefix().to_string();
    let routes = routes(&prefix);
    let router = if prefix == "/" {
        routes
    } else {
        let target = prefix.clone();
        let page = crate::ui::index_html(&prefix);
        Router::new()
            .nest(&prefix, routes)
            .route(
                &format!("{prefix}/"),
                get(move || crate::ui::page(page.clone())),
            )
            .route("/", get(move || index::redirect(target.clone())))
    };
    let limit = services.admin.max_body_bytes();
    router
        .layer(DefaultBodyLimit::max(limit))
        .with_state(services)
}

fn routes(prefix: &str) -> Router<Services> {
    Router::new()
        .merge(crate::ui::routes(prefix))
        // Alertmanager 0.27 removed API v1 and answers 410 there; the incident endpoints
        // below are alert-router's own and stay.
        .route("/api/v1/{*rest}", axum::routing::any(index::gone))
        .route("/api/v2/alerts", get(v2::get_alerts).post(v2::post_alerts))
        .route("/api/v2/alerts/groups", get(v2::get_alert_groups))
        .route("/api/v2/receivers", get(v2::get_receivers))
        .route("/api/v2/status", get(v2::get_status))
        .route(
            "/api/v2/silences",
            get(silences::get_silences).post(silences::post_silence),
        )
        .route(
            "/api/v2/silence/{id}",
            get(silences::get_silence).delete(silences::delete_silence),
        )
        .route(
            "/api/v2/webhook/alertmanager",
            post(v2::post_alertmanager_webhook),
        )
        .route("/api/v2/webhook/grafana", post(v2::post_grafana_webhook))
        .route("/api/v1/incidents", get(incidents::list))
        .route("/api/v1/incidents/{id}", get(incidents::get_one))
        .route(
            "/api/v1/incidents/{id}/ack",
            get(incidents::acknowledge_link).post(incidents::acknowledge),
        )
        .route(
            "/api/v1/incidents/{id}/unack",
            post(incidents::unacknowledge),
        )
        .route("/api/v1/incidents/{id}/resolve", post(incidents::resolve))
        .route("/-/healthy", get(health::ok).head(health::ok))
        .route("/-/ready", get(health::ready).head(health::ready))
        .route("/-/reload", post(health::reload))
        .route("/metrics", get(metrics::render))
}

/// Serves until `shutdown` completes, then lets in-flight requests finish. With `web` (the
/// web config file), connections are TLS if it says so and every request passes its guard.
///
/// Connections are served by hyper directly rather than `axum::serve`, for one setting axum
/// does not expose: `read_header_timeout` closes a connection whose request headers have not
/// all arrived in time. hyper starts that timer whenever a connection waits for a request,
/// so it also bounds how long a kept-open connection may sit idle; slow or stalled clients
/// cannot hold connections (and file descriptors) for ever. The same bound applies to a TLS
/// handshake.
pub async fn serve(
    services: Services,
    listeners: Vec<TcpListener>,
    read_header_timeout: Duration,
    web: Option<Arc<Web>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let routes = router(services);
    let guarded = match &web {
        // As a fallback service, so that the guard also stands in front of unknown paths.
        Some(web) => {
            Router::new()
                .fallback_service(routes)
                .layer(axum::middleware::from_fn_with_state(
                    web.clone(),
                    crate::web::guard,
                ))
        }
        None => routes,
    };
    // Outermost, with or without a web config, so the guard's own login endpoint is covered.
    let router = Router::new()
        .fallback_service(guarded)
        .layer(axum::middleware::from_fn(crate::web::refuse_cross_site));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    // One accept loop per listener (`--web.listen-address` may be repeated), feeding one queue.
    let (accepted, mut incoming) = tokio::sync::mpsc::channel(64);
    let acceptors: Vec<_> = listeners
        .into_iter()
        .map(|listener| tokio::spawn(accept_loop(listener, accepted.clone())))
        .collect();
    drop(accepted);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            next = incoming.recv() => match next {
                Some(accepted) => accepted,
                None => break,
            },
            () = &mut shutdown => break,
        };
        // Answers are small and written once: waiting to coalesce them only adds latency.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ClientAddr(peer));
            router.clone().oneshot(request)
        });
        let builder = {
            let mut b = hyper::server::conn::http1::Builder::new();
            b.timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(read_header_timeout);
            b
        };
        let watcher = graceful.watcher();
        let tls = web.as_ref().and_then(|w| w.tls());
        tokio::spawn(async move {
            let result = match tls {
                None => {
                    let io = hyper_util::rt::TokioIo::new(tcp);
                    watcher.watch(builder.serve_connection(io, service)).await
                }
                Some(config) => {
                    let acceptor = tokio_rustls::TlsAcceptor::from(config);
                    let stream = match tokio::time::timeout(
                        read_header_timeout,
                        acceptor.accept(tcp),
                    )
                    .await
                    {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(e)) => {
                            tracing::debug!(client = %peer, error = %e, "TLS handshake refused");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(client = %peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    let io = hyper_util::rt::TokioIo::new(stream);
                    watcher.watch(builder.serve_connection(io, service)).await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection closed with an error");
            }
        });
    }
    for acceptor in acceptors {
        acceptor.abort();
    }
    graceful.shutdown().await;
    Ok(())
}

async fn accept_loop(
    listener: TcpListener,
    accepted: tokio::sync::mpsc::Sender<(tokio::net::TcpStream, SocketAddr)>,
) {
    loop {
        match listener.accept().await {
            Ok(connection) => {
                if accepted.send(connection).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                // Out of file descriptors, say: back off instead of spinning.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// An API error: Alertmanager answers errors with a JSON string body.
pub struct ApiError(pub StatusCode, pub String);

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError(StatusCode::BAD_REQUEST, message.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}
