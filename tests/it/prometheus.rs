//! Real Prometheus 2.42 evaluates an alerting rule and sends to alert-router, which groups it
//! and delivers it to a webhook.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{config_with_route, require_tool, Router, Sink};

const PROMETHEUS: &str = "/usr/bin/prometheus";

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_alerting_rule_reaches_the_webhook() {
    if !require_tool(PROMETHEUS) {
        return;
    }
    let sink = Sink::start().await;
    let route =
        "  receiver: hook\n  group_by: [alertname]\n  group_wait: 100ms\n  group_interval: 1s";
    let router = Router::start(&config_with_route(route, &[("hook", &sink.url())]));

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rules.yml"),
        r#"groups:
  - name: compat
    interval: 1s
    rules:
      - alert: PrometheusCompat
        expr: vector(42)
        labels:
          severity: critical
        annotations:
          summary: "value is {{ $value }}"
"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            r#"global:
  evaluation_interval: 1s
rule_files: [rules.yml]
alerting:
  alertmanagers:
    - api_version: v2
      static_configs:
        - targets: ['{}']
"#,
            router.addr
        ),
    )
    .unwrap();
    let child = Command::new(PROMETHEUS)
        .arg(format!(
            "--config.file={}",
            dir.path().join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("tsdb").display()
        ))
        .arg("--web.listen-address=127.0.0.1:0")
        // The first send can be dropped before Prometheus has discovered its Alertmanager;
        // re-sending every second also makes the dedup check below meaningful.
        .arg("--rules.alert.resend-delay=1s")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    let _prometheus = KillOnDrop(child);

    let got = sink.wait_for(1, Duration::from_secs(60)).await;
    let msg = &got[0].body;
    assert_eq!(msg["groupLabels"]["alertname"], "PrometheusCompat");
    let alert = &msg["alerts"][0];
    assert_eq!(alert["labels"]["severity"], "critical");
    assert_eq!(alert["annotations"]["summary"], "value is 42");
    assert_eq!(alert["status"], "firing");
    assert!(
        alert["generatorURL"]
            .as_str()
            .unwrap()
            .contains("/graph?g0.expr="),
        "{alert}"
    );

    // Prometheus keeps re-sending the firing alert; it stays one alert here.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let alerts = router.get_json("/api/v2/alerts").await;
    assert_eq!(alerts.as_array().unwrap().len(), 1);
    assert_eq!(sink.count(), 1, "re-sends do not re-notify");
}
