//! The binary started as Alertmanager is started: no subcommand, Alertmanager's flags as unit
//! files and Alertmanager's own acceptance harness write them, its route prefix, its `/`, its
//! removed API v1 and its one-member cluster status.

use serde_json::json;

use crate::common::{alert, Router};

const CONFIG: &str = "route:\n  receiver: d\nreceivers:\n  - name: d\n";

#[tokio::test(flavor = "multi_thread")]
async fn alertmanagers_command_line_serves_under_its_route_prefix() {
    // As Debian's acceptance harness starts `prometheus-alertmanager`, `=` and space forms.
    let router = Router::start_as_alertmanager(
        CONFIG,
        &[
            "--log.level",
            "debug",
            "--template.default=/usr/share/x/default.tmpl",
            "--web.ui-path",
            "/usr/share/x/ui",
            "--cluster.listen-address",
            "127.0.0.1:19094",
            "--cluster.settle-timeout",
            "0s",
            "--cluster.peer=127.0.0.1:19095",
            "--web.route-prefix",
            "/foo",
            "--data.retention=120h",
            "--enable-feature=utf8-strict-mode",
        ],
    );
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let root = client.get(router.url("/")).send().await.unwrap();
    assert_eq!(root.status(), 302);
    assert_eq!(root.headers()["location"], "/foo");
    for page in ["/foo", "/foo/"] {
        let r = client.get(router.url(page)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{page}");
        // The web UI, whose links resolve below the prefix.
        assert!(r.text().await.unwrap().contains(r#"<base href="/foo/">"#));
    }
    for asset in ["/foo/ui/app.js", "/foo/ui/app.css"] {
        let r = client.get(router.url(asset)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{asset}");
    }
    assert_eq!(
        client
            .get(router.url("/api/v2/status"))
            .send()
            .await
            .unwrap()
            .status(),
        404,
        "outside the prefix"
    );
    let status = router.get_json("/foo/api/v2/status").await;
    assert_eq!(status["cluster"]["status"], "ready");
    assert_eq!(
        status["cluster"]["peers"],
        json!([{"name": status["cluster"]["name"], "address": "127.0.0.1:19094"}])
    );
    let gone = client
        .get(router.url("/foo/api/v1/alerts"))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 410);
    let (code, _) = router
        .post_json("/foo/api/v2/alerts", &json!([alert(&[("alertname", "A")])]))
        .await;
    assert_eq!(code, 200);
    let alerts = router.get_json("/foo/api/v2/alerts").await;
    assert_eq!(alerts.as_array().unwrap().len(), 1);
    let healthy = client
        .get(router.url("/foo/-/healthy"))
        .send()
        .await
        .unwrap();
    assert_eq!(healthy.status(), 200);
    // Flags without meaning here are named once in the log, and gossip peers are warned of.
    let log = router.log().join("\n");
    assert!(
        log.contains("web.ui-path, template.default, cluster.settle-timeout"),
        "{log}"
    );
    assert!(log.contains("does not gossip"), "{log}");
    // logfmt, Alertmanager's default log format.
    assert!(
        router
            .log()
            .iter()
            .any(|l| l.starts_with("time=") && l.contains(" level=INFO ")),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_cluster_listen_address_disables_the_cluster_and_json_logs_are_objects() {
    let router =
        Router::start_as_alertmanager(CONFIG, &["--cluster.listen-address=", "--log.format=json"]);
    let status = router.get_json("/api/v2/status").await;
    assert_eq!(
        status["cluster"],
        json!({"name": "", "peers": [], "status": "disabled"})
    );
    let log = router.log();
    let listening = log
        .iter()
        .find(|l| l.contains("listening"))
        .unwrap_or_else(|| panic!("{log:?}"));
    let line: serde_json::Value = serde_json::from_str(listening).unwrap();
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["msg"], "listening");
    assert!(line["time"].is_string() && line["address"].is_string());
    for l in &log {
        assert!(serde_json::from_str::<serde_json::Value>(l).is_ok(), "{l}");
    }
}

#[test]
fn a_missing_web_config_file_or_socket_activation_is_refused_not_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("am.yml");
    std::fs::write(&config, CONFIG).unwrap();
    for (flag, says) in [
        // A web config that cannot be read never leaves the API open in its place.
        (
            "--web.config.file=missing-web.yml",
            "reading missing-web.yml",
        ),
        ("--web.systemd-socket", "socket activation"),
        ("--no-such-flag", "unexpected argument"),
    ] {
        let out = std::process::Command::new(crate::common::BIN)
            .arg(format!("--config.file={}", config.display()))
            .arg("--web.listen-address=127.0.0.1:0")
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(flag)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{flag} started");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{flag}: {stderr}");
    }
}

/// The shipped Alertmanager 0.34 example, with every receiver type and the keys added since
/// 0.25, loads unchanged: `check-config` passes, the server starts on it with every
/// integration built, and its status shows none of the credentials.
#[tokio::test(flavor = "multi_thread")]
async fn an_alertmanager_0_34_config_with_every_receiver_loads_unchanged() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/alertmanager-0.34.yml"
    );
    let source = std::fs::read_to_string(path).expect("example");
    for entry in alert_router::notify::registry::INTEGRATIONS {
        assert!(
            source.contains(&format!("{}:", entry.key)),
            "the 0.34 example uses no {}",
            entry.key
        );
    }
    let checked = std::process::Command::new(env!("CARGO_BIN_EXE_alert-router"))
        .args(["check-config", path])
        .output()
        .expect("check-config");
    let out = String::from_utf8_lossy(&checked.stdout);
    assert!(checked.status.success(), "{out}");
    assert!(
        out.contains("SUCCESS") && out.contains(" - 4 receivers"),
        "{out}"
    );

    // The example's own smarthost and API hosts are never contacted: nothing fires.
    let router = Router::start(&source);
    let status = router.get_json("/api/v2/status").await;
    let shown = status["config"]["original"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(shown.contains("mattermost_configs"), "{shown}");
    let secrets = [
        "smtp-secret-placeholder",
        "xoxb-placeholder-token",
        "opsgenie-key-placeholder",
        "wechat-secret-placeholder",
        "victorops-key-placeholder",
        "telegram-token-placeholder",
        "rocketchat-token-placeholder",
        "rocketchat-id-placeholder",
        "hooks/placeholder",
        "pagerduty-key-placeholder",
        "pushover-user-placeholder",
        "pushover-token-placeholder",
        "sns-secret-placeholder",
        "incidentio-token-placeholder",
        "webex-token-placeholder",
        "jira-password-placeholder",
        "api/webhooks/placeholder",
        "webhookb2/placeholder",
        "workflows/placeholder",
    ];
    for secret in secrets {
        assert!(
            !shown.contains(secret),
            "{secret} shown in the status:\n{shown}"
        );
    }
}

/// `tracing:` with the HTTP client type: each notification's span reaches an OTLP collector
/// (a local stand-in) at `/v1/traces`, with the configured header.
#[tokio::test(flavor = "multi_thread")]
async fn notification_spans_reach_an_otlp_http_collector() {
    let (collector, hook) = (
        crate::common::Sink::start().await,
        crate::common::Sink::start().await,
    );
    let config = format!(
        r#"route: {{receiver: r, group_wait: 0s, group_interval: 1s}}
receivers:
  - name: r
    webhook_configs: [{{url: '{}'}}]
tracing:
  client_type: http
  endpoint: {}
  insecure: true
  sampling_fraction: 1.0
  headers:
    X-Tenant: {{values: [team-a]}}
"#,
        hook.url(),
        collector.addr
    );
    let router = Router::start(&config);
    let (status, _) = router
        .post_json(
            "/api/v2/alerts",
            &json!([alert(&[("alertname", "Traced")])]),
        )
        .await;
    assert_eq!(status, 200);
    hook.wait_for(1, std::time::Duration::from_secs(5)).await;
    let got = collector
        .wait_for(1, std::time::Duration::from_secs(5))
        .await;
    assert_eq!(got[0].headers["x-tenant"], "team-a");
    let span = &got[0].body["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    assert_eq!(span["name"], "notify");
    assert_eq!(span["status"]["code"], 1);
    let attributes = span["attributes"].to_string();
    assert!(
        attributes.contains(r#""key":"integration","value":{"stringValue":"webhook"}"#),
        "{attributes}"
    );
    assert!(
        attributes.contains(r#""key":"receiver","value":{"stringValue":"r"}"#),
        "{attributes}"
    );
}
