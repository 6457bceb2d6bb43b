//! Each ingest path delivers to a webhook; re-sends dedup; bad input gets 400/413 and the
//! valid part of a request is still applied.

use std::time::Duration;

use crate::common::{alert, alertnames, config_with_route, Router, Sink};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

fn fast_route() -> &'static str {
    "  receiver: hook\n  group_by: [alertname]\n  group_wait: 200ms\n  group_interval: 1s\n  repeat_interval: 1h"
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_api_v2_alert_reaches_webhook_with_v4_payload() {
    let sink = Sink::start().await;
    let router = Router::start(&config_with_route(fast_route(), &[("hook", &sink.url())]));
    let (status, body) = router
        .post_json(
            "/api/v2/alerts",
            &json!([{
                "labels": {"alertname": "HighLatency", "cluster": "eu1", "instance": "a:9100", "severity": "critical"},
                "annotations": {"summary": "p95 over 2s"},
                "generatorURL": "http://prometheus/graph?g0.expr=x"
            }]),
        )
        .await;
    assert_eq!((status, body.as_str()), (200, ""));
    let got = sink.wait_for(1, WAIT).await;
    let msg = &got[0].body;
    assert_eq!(msg["version"], "4");
    assert_eq!(msg["status"], "firing");
    assert_eq!(msg["receiver"], "hook");
    assert_eq!(msg["groupKey"], r#"{}:{alertname="HighLatency"}"#);
    assert_eq!(msg["truncatedAlerts"], 0);
    assert_eq!(msg["externalURL"], "http://alert-router.test:9093");
    assert_eq!(msg["groupLabels"], json!({"alertname": "HighLatency"}));
    let a = &msg["alerts"][0];
    assert_eq!(a["fingerprint"], "e35edba2120d272d");
    assert_eq!(a["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(a["status"], "firing");
    assert_eq!(a["annotations"]["summary"], "p95 over 2s");
    assert_eq!(a["generatorURL"], "http://prometheus/graph?g0.expr=x");
    assert_eq!(got[0].headers["content-type"], "application/json");
}

#[tokio::test(flavor = "multi_thread")]
async fn re_sent_alerts_are_one_alert_and_one_notification() {
    let sink = Sink::start().await;
    let router = Router::start(&config_with_route(fast_route(), &[("hook", &sink.url())]));
    for _ in 0..5 {
        let (status, _) = router
            .post_json(
                "/api/v2/alerts",
                &json!([alert(&[("alertname", "Dup"), ("i", "1")])]),
            )
            .await;
        assert_eq!(status, 200);
    }
    let got = sink.wait_for(1, WAIT).await;
    assert_eq!(got[0].body["alerts"].as_array().unwrap().len(), 1);
    // Re-sends after the first notification change nothing the receiver has not seen.
    router
        .post_json(
            "/api/v2/alerts",
            &json!([alert(&[("alertname", "Dup"), ("i", "1")])]),
        )
        .await;
    sink.expect_no_more_than(1, Duration::from_millis(2500))
        .await;
    let alerts = router.get_json("/api/v2/alerts").await;
    assert_eq!(alerts.as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn alertmanager_webhook_ingest_and_resend_of_the_group() {
    let sink = Sink::start().await;
    let router = Router::start(&config_with_route(fast_route(), &[("hook", &sink.url())]));
    let upstream = json!({
        "receiver": "relay", "status": "firing", "version": "4",
        "groupKey": "{}:{alertname=\"DiskFull\"}", "truncatedAlerts": 0,
        "groupLabels": {"alertname": "DiskFull"}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://upstream:9093",
        "alerts": [
            {"status": "firing", "labels": {"alertname": "DiskFull", "cluster": "c1", "instance": "z", "severity": "page"},
             "annotations": {"summary": "disk"}, "startsAt": "2024-05-01T11:59:00.5Z", "endsAt": "0001-01-01T00:00:00Z",
             "generatorURL": "", "fingerprint": "255a83fe727db673"},
            {"status": "firing", "labels": {"alertname": "DiskFull", "cluster": "c1", "instance": "y", "severity": "page"},
             "annotations": {}, "startsAt": "2024-05-01T11:59:00Z", "endsAt": "0001-01-01T00:00:00Z",
             "generatorURL": "", "fingerprint": "x"}
        ]
    });
    assert_eq!(
        router
            .post_json("/api/v2/webhook/alertmanager", &upstream)
            .await
            .0,
        200
    );
    let got = sink.wait_for(1, WAIT).await;
    assert_eq!(got[0].body["alerts"].as_array().unwrap().len(), 2);
    assert_eq!(
        got[0].body["alerts"][1]["startsAt"],
        "2024-05-01T11:59:00.5Z"
    );
    // The upstream re-sends the same group: same alerts, nothing new to notify.
    assert_eq!(
        router
            .post_json("/api/v2/webhook/alertmanager", &upstream)
            .await
            .0,
        200
    );
    sink.expect_no_more_than(1, Duration::from_millis(2500))
        .await;
    let alerts = router.get_json("/api/v2/alerts").await;
    assert_eq!(alerts.as_array().unwrap().len(), 2);
    assert!(alerts
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["fingerprint"] == "255a83fe727db673"));

    // The upstream resolves the group: a resolved notification follows.
    let mut resolved = upstream.clone();
    resolved["status"] = json!("resolved");
    for a in resolved["alerts"].as_array_mut().unwrap() {
        a["status"] = json!("resolved");
        a["endsAt"] = json!("2024-05-01T12:30:00Z");
    }
    assert_eq!(
        router
            .post_json("/api/v2/webhook/alertmanager", &resolved)
            .await
            .0,
        200
    );
    let got = sink.wait_for(2, WAIT).await;
    assert_eq!(got[1].body["status"], "resolved");
    assert_eq!(got[1].body["alerts"][0]["endsAt"], "2024-05-01T12:30:00Z");
}

#[tokio::test(flavor = "multi_thread")]
async fn grafana_contact_point_ingest() {
    let sink = Sink::start().await;
    let router = Router::start(&config_with_route(fast_route(), &[("hook", &sink.url())]));
    let grafana = json!({
        "receiver": "alert-router", "status": "firing", "orgId": 1, "version": "1", "state": "alerting",
        "title": "[FIRING:1] HighErrorRate", "message": "m", "groupKey": "{}:{}", "truncatedAlerts": 0,
        "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://grafana:3000/",
        "alerts": [{
            "status": "firing", "labels": {"alertname": "HighErrorRate", "service": "api", "grafana_folder": "ops"},
            "annotations": {"summary": "5xx ratio high"}, "startsAt": "2024-05-01T11:59:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://grafana:3000/alerting/grafana/x/view", "fingerprint": "f00",
            "silenceURL": "http://grafana/s", "dashboardURL": "", "panelURL": "",
            "values": {"B": 7.5, "C": 1}, "valueString": "[ var='B' value=7.5 ]"
        }]
    });
    assert_eq!(
        router
            .post_json("/api/v2/webhook/grafana", &grafana)
            .await
            .0,
        200
    );
    let got = sink.wait_for(1, WAIT).await;
    assert_eq!(alertnames(&got[0].body), ["HighErrorRate"]);
    assert_eq!(got[0].body["alerts"][0]["labels"]["grafana_folder"], "ops");
    // Same alert from Grafana again is the same alert.
    router.post_json("/api/v2/webhook/grafana", &grafana).await;
    assert_eq!(router.alert_count().await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_json_is_400_and_applies_nothing() {
    let router = Router::start(&config_with_route(
        "  receiver: blackhole",
        &[("blackhole", "")],
    ));
    let (status, body) = router
        .post_raw(
            "/api/v2/alerts",
            br#"[{"labels":{"a":"b"}}, {"labels":"#.to_vec(),
        )
        .await;
    assert_eq!(status, 400);
    let msg: String = serde_json::from_str(&body).expect("JSON string body");
    assert!(
        msg.contains("invalid JSON body") && msg.contains("line 1"),
        "{msg}"
    );
    assert_eq!(router.get_json("/api/v2/alerts").await, json!([]));

    let (status, body) = router
        .post_raw("/api/v2/webhook/grafana", b"{\"alerts\": 5}".to_vec())
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = router
        .post_raw("/api/v2/webhook/alertmanager", b"not json".to_vec())
        .await;
    assert_eq!(status, 400);
    let (status, body) = router
        .post_json(
            "/api/v2/webhook/alertmanager",
            &json!({"version": "3", "alerts": []}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(body.contains("unsupported webhook version"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_alerts_are_reported_and_valid_ones_kept() {
    let router = Router::start(&config_with_route(
        "  receiver: blackhole",
        &[("blackhole", "")],
    ));
    let (status, body) = router
        .post_json(
            "/api/v2/alerts",
            &json!([
                {"labels": {"alertname": "Good"}},
                {"labels": {"": "x"}},
                {"labels": {"only_empty": ""}},
                {"labels": {"alertname": "Backwards"}, "startsAt": "2024-01-01T02:00:00Z", "endsAt": "2024-01-01T01:00:00Z"}
            ]),
        )
        .await;
    assert_eq!(status, 400);
    let msg: String = serde_json::from_str(&body).unwrap();
    assert_eq!(
        msg,
        "invalid label set: invalid name \"\"; at least one label pair required; start time must be before end time"
    );
    let alerts = router.get_json("/api/v2/alerts").await;
    assert_eq!(alerts.as_array().unwrap().len(), 1);
    assert_eq!(alerts[0]["labels"]["alertname"], "Good");
    let metrics = router.metrics().await;
    assert!(
        metrics.contains("alertmanager_alerts_invalid_total 3"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_body_is_413() {
    let router = Router::start_with_args(
        &config_with_route("  receiver: blackhole", &[("blackhole", "")]),
        &["--web.max-request-body-bytes", "1024"],
    );
    let big: Vec<_> = (0..100)
        .map(|i| alert(&[("alertname", "Big"), ("i", &i.to_string())]))
        .collect();
    let (status, _) = router.post_json("/api/v2/alerts", &json!(big)).await;
    assert_eq!(status, 413);
    assert_eq!(router.get_json("/api/v2/alerts").await, json!([]));
    let small = json!([alert(&[("alertname", "Small")])]);
    assert_eq!(router.post_json("/api/v2/alerts", &small).await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn grafana_signature_is_checked_when_a_secret_is_set() {
    use hmac::{Hmac, Mac};
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("grafana-secret");
    std::fs::write(&secret_file, "s3cret\n").unwrap();
    let router = Router::start_with_args(
        &config_with_route("  receiver: blackhole", &[("blackhole", "")]),
        &[
            "--grafana.signing-secret-file",
            secret_file.to_str().unwrap(),
        ],
    );
    let body = serde_json::to_vec(&json!({"version": "1", "alerts": [{"status": "firing", "labels": {"alertname": "Signed"}}]})).unwrap();
    let sign = |data: &[u8]| {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"s3cret").unwrap();
        mac.update(data);
        hex::encode(mac.finalize().into_bytes())
    };
    let client = reqwest::Client::new();
    let post = |sig: Option<String>, ts: Option<&str>| {
        let mut r = client
            .post(router.url("/api/v2/webhook/grafana"))
            .header("content-type", "application/json")
            .body(body.clone());
        if let Some(sig) = sig {
            r = r.header("X-Grafana-Alerting-Signature", sig);
        }
        if let Some(ts) = ts {
            r = r.header("X-Grafana-Alerting-Signature-Timestamp", ts);
        }
        r.send()
    };
    assert_eq!(post(None, None).await.unwrap().status(), 401);
    assert_eq!(
        post(Some(sign(b"other")), None).await.unwrap().status(),
        401
    );
    assert_eq!(
        router.get_json("/api/v2/alerts").await,
        json!([]),
        "refused bodies are not applied"
    );
    assert_eq!(post(Some(sign(&body)), None).await.unwrap().status(), 200);
    let mut stamped = b"1700000000:".to_vec();
    stamped.extend_from_slice(&body);
    assert_eq!(
        post(Some(sign(&stamped)), Some("1700000000"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(router.alert_count().await, 1);
}
