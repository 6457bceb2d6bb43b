//! Real Prometheus 2.42 evaluates an alerting rule and sends to alert-router, which groups it
//! and delivers it to a webhook.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{config_with_route, require_tool, Router, Sink};

pub const PROMETHEUS: &str = "/usr/bin/prometheus";

pub struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts Prometheus in `dir` with one always-firing rule, `alert` (severity critical, a
/// summary that carries the value), sending to the `alertmanagers` entry given as YAML.
pub fn start_prometheus(dir: &Path, alert: &str, alertmanager: &str) -> KillOnDrop {
    std::fs::write(
        dir.join("rules.yml"),
        format!(
            r#"groups:
  - name: compat
    interval: 1s
    rules:
      - alert: {alert}
        expr: vector(42)
        labels:
          severity: critical
        annotations:
          summary: "value is {{{{ $value }}}}"
"#
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  evaluation_interval: 1s\nrule_files: [rules.yml]\nalerting:\n  alertmanagers:\n{alertmanager}"
        ),
    )
    .unwrap();
    let child = Command::new(PROMETHEUS)
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg("--web.listen-address=127.0.0.1:0")
        // The first send can be dropped before Prometheus has discovered its Alertmanager;
        // re-sending every second also makes the dedup check below meaningful.
        .arg("--rules.alert.resend-delay=1s")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    KillOnDrop(child)
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
    let _prometheus = start_prometheus(
        dir.path(),
        "PrometheusCompat",
        &format!(
            "    - api_version: v2\n      static_configs:\n        - targets: ['{}']\n",
            router.addr
        ),
    );

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
