//! Webhook delivery retries 5xx and transport errors with backoff until the flush deadline, and
//! never retries a 4xx.

use std::time::Duration;

use crate::common::{alert, config_with_route, Router, Sink};
use serde_json::json;

const ROUTE: &str =
    "  receiver: hook\n  group_by: [alertname]\n  group_wait: 100ms\n  group_interval: 30s";

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_are_retried_with_backoff() {
    let sink = Sink::with_script(&[500, 503]).await;
    let router = Router::start(&config_with_route(ROUTE, &[("hook", &sink.url())]));
    router
        .post_json("/api/v2/alerts", &json!([alert(&[("alertname", "Retry")])]))
        .await;
    let got = sink.wait_for(3, Duration::from_secs(10)).await;
    let first_gap = got[1].at - got[0].at;
    let second_gap = got[2].at - got[1].at;
    // 500ms ±50%, then 750ms ±50%.
    assert!(first_gap >= Duration::from_millis(240), "{first_gap:?}");
    assert!(second_gap >= Duration::from_millis(370), "{second_gap:?}");
    assert_eq!(
        got[0].body, got[2].body,
        "every attempt sends the same message"
    );
    sink.expect_no_more_than(3, Duration::from_secs(1)).await;
    let metrics = router.metrics().await;
    assert!(
        metrics.contains(
            r#"alertmanager_notification_requests_failed_total{integration="webhook"} 2"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"alertmanager_notifications_total{integration="webhook"} 1"#),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn client_errors_are_not_retried() {
    let sink = Sink::with_script(&[400]).await;
    let router = Router::start(&config_with_route(ROUTE, &[("hook", &sink.url())]));
    router
        .post_json("/api/v2/alerts", &json!([alert(&[("alertname", "Bad")])]))
        .await;
    sink.wait_for(1, Duration::from_secs(5)).await;
    sink.expect_no_more_than(1, Duration::from_secs(2)).await;
    let metrics = router.metrics().await;
    assert!(
        metrics.contains(r#"alertmanager_notifications_failed_total{integration="webhook",reason="clientError"} 1"#),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_receiver_is_retried_until_it_comes_up() {
    // Reserve a port, then free it: the first attempts find nothing listening.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    let url = format!("http://127.0.0.1:{port}/hook");
    let router = Router::start(&config_with_route(ROUTE, &[("hook", &url)]));
    router
        .post_json("/api/v2/alerts", &json!([alert(&[("alertname", "Down")])]))
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(body).await;
                "ok"
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let body = tokio::time::timeout(Duration::from_secs(15), rx.recv())
        .await
        .expect("retried delivery")
        .unwrap();
    assert!(body.contains("\"alertname\":\"Down\""));
    assert!(
        router.log().iter().any(|l| l.contains("retrying")),
        "retries are logged"
    );
    assert!(
        !router.log().iter().any(|l| l.contains(&url)),
        "the URL (may carry a token) is not logged"
    );
}
