//! UTF-8 label names (Alertmanager 0.27+'s default fallback mode) through the API, silences,
//! filters and routing, with the classic syntax still working, and `classic-mode` refusing them.

use std::time::Duration;

use crate::common::{alert, Router, Sink};
use chrono::Utc;
use serde_json::json;

fn config(otel: &str, rest: &str) -> String {
    format!(
        r#"route:
  receiver: rest
  group_by: ['service.name']
  group_wait: 100ms
  group_interval: 1s
  routes:
    - receiver: otel
      matchers: ['"service.name"="checkout"', 'alertname=~"High.*"']
receivers:
  - name: otel
    webhook_configs: [{{url: '{otel}'}}]
  - name: rest
    webhook_configs: [{{url: '{rest}'}}]
"#
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn utf8_names_route_filter_and_silence() {
    let (otel, rest) = (Sink::start().await, Sink::start().await);
    let router = Router::start(&config(&otel.url(), &rest.url()));
    let (status, body) = router
        .post_json(
            "/api/v2/alerts",
            &json!([
                alert(&[("alertname", "HighLatency"), ("service.name", "checkout")]),
                alert(&[
                    ("alertname", "HighLatency"),
                    ("service.name", "cart"),
                    ("🙂", "yes")
                ]),
            ]),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let got = otel.wait_for(1, Duration::from_secs(5)).await;
    let labels = &got[0].body["alerts"][0]["labels"];
    assert_eq!(labels["service.name"], "checkout");
    assert_eq!(
        got[0].body["groupLabels"],
        json!({"service.name": "checkout"})
    );
    assert_eq!(
        got[0].body["groupKey"],
        r#"{}/{alertname=~"High.*",service.name="checkout"}:{service.name="checkout"}"#,
        "a UTF-8 name the classic syntax can hold is printed bare, as Alertmanager prints it"
    );
    let other = rest.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(other[0].body["alerts"][0]["labels"]["🙂"], "yes");

    // The UTF-8 syntax in a filter, and the classic one beside it.
    for (filter, expected) in [
        (r#""service.name"="cart""#, 1),
        (r#""🙂"="yes""#, 1),
        (r#"alertname="HighLatency""#, 2),
    ] {
        let q = url::form_urlencoded::byte_serialize(filter.as_bytes()).collect::<String>();
        let alerts = router.get_json(&format!("/api/v2/alerts?filter={q}")).await;
        assert_eq!(
            alerts.as_array().map(Vec::len),
            Some(expected),
            "{filter}: {alerts}"
        );
    }

    // A silence on a UTF-8 name mutes exactly the alert carrying it.
    let now = Utc::now();
    let silence = json!({
        "matchers": [{"name": "🙂", "value": "yes", "isRegex": false}],
        "startsAt": now.to_rfc3339(), "endsAt": (now + chrono::Duration::hours(1)).to_rfc3339(),
        "createdBy": "oncall", "comment": "utf-8"
    });
    let (status, body) = router.post_json("/api/v2/silences", &silence).await;
    assert_eq!(status, 200, "{body}");
    let silenced = router
        .get_json("/api/v2/alerts?silenced=true&active=false&inhibited=false")
        .await;
    let silenced: Vec<String> = silenced
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["status"]["state"] == "suppressed")
        .map(|a| {
            a["labels"]["service.name"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(silenced, ["cart"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn classic_mode_refuses_utf8_names() {
    let sink = Sink::start().await;
    let config = format!(
        "route: {{receiver: r}}\nreceivers:\n  - name: r\n    webhook_configs: [{{url: '{}'}}]\n",
        sink.url()
    );
    let router = Router::start_as_alertmanager(&config, &["--enable-feature=classic-mode"]);
    let (status, body) = router
        .post_json("/api/v2/alerts", &json!([alert(&[("service.name", "x")])]))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("service.name"), "{body}");
    let (status, _) = router
        .post_json("/api/v2/alerts", &json!([alert(&[("service_name", "x")])]))
        .await;
    assert_eq!(status, 200);
}
