//! Compatibility with the real `amtool` 0.25 (Debian's prometheus-alertmanager package):
//! against the running router, and side by side with our own check-config / routes test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::common::{config_with_route, require_tool, Router, Sink, BIN};
use serde_json::Value;

const AMTOOL: &str = "/usr/bin/amtool";

fn run(program: &str, args: &[&str]) -> Output {
    // An empty HOME keeps a user's ~/.config/amtool out of the comparison.
    Command::new(program)
        .args(args)
        .env("HOME", "/nonexistent")
        .output()
        .expect("run")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/configs")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

#[test]
fn check_config_agrees_with_amtool() {
    if !require_tool(AMTOOL) {
        return;
    }
    for file in fixtures("valid") {
        let f = file.to_str().unwrap();
        let theirs = run(AMTOOL, &["check-config", f]);
        let ours = run(BIN, &["check-config", f]);
        assert!(
            theirs.status.success(),
            "amtool rejects {f}: {}",
            stdout(&theirs)
        );
        assert_eq!(
            stdout(&ours),
            stdout(&theirs),
            "check-config output differs for {f}"
        );
        assert_eq!(ours.status.code(), theirs.status.code());
    }
    for file in fixtures("invalid") {
        let f = file.to_str().unwrap();
        let theirs = run(AMTOOL, &["check-config", f]);
        let ours = run(BIN, &["check-config", f]);
        assert_eq!(theirs.status.code(), Some(1), "amtool accepts {f}");
        assert_eq!(
            ours.status.code(),
            Some(1),
            "we accept {f}: {}",
            stdout(&ours)
        );
        let their_msg = stdout(&theirs);
        let their_reason = their_msg
            .split("FAILED: ")
            .nth(1)
            .unwrap_or("")
            .lines()
            .next()
            .unwrap_or("");
        let our_msg = stdout(&ours);
        if their_reason.starts_with("yaml:") {
            // Go's YAML errors read differently; ours must still name the line.
            let line = their_msg
                .split("line ")
                .nth(1)
                .and_then(|s| s.split(':').next())
                .unwrap();
            assert!(
                our_msg.contains(&format!("line {line}")),
                "{f}: {our_msg} vs {their_msg}"
            );
        } else {
            assert!(
                our_msg.contains(their_reason),
                "{f}: ours {our_msg:?} lacks amtool's {their_reason:?}"
            );
        }
    }
}

const LABEL_SETS: &[&[&str]] = &[
    &["alertname=X"],
    &["severity=critical", "team=db", "env=prod"],
    &["severity=critical", "team=db", "env=dev1"],
    &["team=db", "env=qa"],
    &["team=web", "env=prod"],
    &["team=web", "env=dev"],
    &["service=api", "region=us-1"],
    &["service=api", "region=eu-1"],
    &["a=1", "b=1"],
    &["a=1", "b=2", "c=x"],
    &["a=2", "c=x"],
    &["a=1", "d=y"],
    &["d=y"],
    &["a=3"],
];

#[test]
fn routes_test_agrees_with_amtool() {
    if !require_tool(AMTOOL) {
        return;
    }
    let mut compared = 0;
    for file in fixtures("valid") {
        let f = file.to_str().unwrap();
        for labels in LABEL_SETS {
            for tree in [false, true] {
                let mut args = vec!["config", "routes", "test", "--config.file", f];
                if tree {
                    args.push("--tree");
                }
                args.extend_from_slice(labels);
                let theirs = run(AMTOOL, &args);
                let mut our_args = vec!["routes", "test", "--config.file", f];
                if tree {
                    our_args.push("--tree");
                }
                our_args.extend_from_slice(labels);
                let ours = run(BIN, &our_args);
                assert_eq!(stdout(&ours), stdout(&theirs), "{f} {labels:?} tree={tree}");
                assert_eq!(ours.status.code(), theirs.status.code());
                compared += 1;
            }
        }
        let theirs = run(AMTOOL, &["config", "routes", "show", "--config.file", f]);
        let ours = run(BIN, &["routes", "show", "--config.file", f]);
        assert_eq!(stdout(&ours), stdout(&theirs), "routes show {f}");
    }
    // --verify.receivers: both fail the same way on a mismatch.
    let f = fixtures("valid")
        .into_iter()
        .find(|p| p.ends_with("teams.yml"))
        .unwrap();
    let f = f.to_str().unwrap();
    let theirs = run(
        AMTOOL,
        &[
            "config",
            "routes",
            "test",
            "--config.file",
            f,
            "--verify.receivers=db",
            "team=web",
        ],
    );
    let ours = run(
        BIN,
        &[
            "routes",
            "test",
            "--config.file",
            f,
            "--verify.receivers=db",
            "team=web",
        ],
    );
    assert_eq!(theirs.status.code(), Some(1));
    assert_eq!(ours.status.code(), Some(1));
    assert_eq!(stdout(&ours), stdout(&theirs));
    assert!(compared > 50);
}

fn amtool_at(router: &Router, args: &[&str]) -> Output {
    let url = format!("--alertmanager.url=http://{}", router.addr);
    let mut all = vec![url.as_str()];
    all.extend_from_slice(args);
    run(AMTOOL, &all)
}

#[tokio::test(flavor = "multi_thread")]
async fn amtool_alert_add_and_query_against_the_server() {
    if !require_tool(AMTOOL) {
        return;
    }
    let sink = Sink::start().await;
    let route = "  receiver: hook\n  group_by: [alertname]\n  group_wait: 100ms\n  routes:\n    - matchers: [team=db]\n      receiver: db";
    let router = Router::start(&config_with_route(
        route,
        &[("hook", &sink.url()), ("db", &sink.url())],
    ));
    let add = amtool_at(
        &router,
        &[
            "alert",
            "add",
            "alertname=DiskFull",
            "team=db",
            "severity=critical",
            "--annotation=summary=disk is full",
        ],
    );
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    let add = amtool_at(
        &router,
        &[
            "alert",
            "add",
            "alertname=Latency",
            "team=web",
            "severity=warning",
        ],
    );
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    assert!(
        !String::from_utf8_lossy(&add.stderr).contains("Warning"),
        "no version warning: {}",
        String::from_utf8_lossy(&add.stderr)
    );

    // The alert amtool added reaches the receiver.
    let got = sink.wait_for(2, Duration::from_secs(10)).await;
    assert!(got
        .iter()
        .any(|r| r.body["alerts"][0]["annotations"]["summary"] == "disk is full"));

    let all = amtool_at(&router, &["alert", "query", "-o", "json"]);
    assert!(
        all.status.success(),
        "{}",
        String::from_utf8_lossy(&all.stderr)
    );
    let alerts: Value = serde_json::from_slice(&all.stdout).unwrap();
    assert_eq!(alerts.as_array().unwrap().len(), 2);

    let db = amtool_at(&router, &["alert", "query", "-o", "json", "team=db"]);
    let alerts: Value = serde_json::from_slice(&db.stdout).unwrap();
    assert_eq!(alerts.as_array().unwrap().len(), 1);
    assert_eq!(alerts[0]["labels"]["alertname"], "DiskFull");
    assert_eq!(alerts[0]["receivers"][0]["name"], "db");

    let regex = amtool_at(
        &router,
        &["alert", "query", "-o", "json", "alertname=~Lat.*"],
    );
    let alerts: Value = serde_json::from_slice(&regex.stdout).unwrap();
    assert_eq!(alerts.as_array().unwrap().len(), 1);
    assert_eq!(alerts[0]["labels"]["alertname"], "Latency");

    let by_receiver = amtool_at(&router, &["alert", "query", "-o", "json", "--receiver=db"]);
    let alerts: Value = serde_json::from_slice(&by_receiver.stdout).unwrap();
    assert_eq!(alerts.as_array().unwrap().len(), 1);

    // The simple table output lists alert names as amtool users read them.
    let table = amtool_at(&router, &["alert", "query"]);
    let text = stdout(&table);
    assert!(
        text.contains("DiskFull") && text.contains("Latency"),
        "{text}"
    );

    // `config routes test` without a file reads /api/v2/status from the server.
    let routes = amtool_at(&router, &["config", "routes", "test", "team=db"]);
    assert!(
        routes.status.success(),
        "{}",
        String::from_utf8_lossy(&routes.stderr)
    );
    assert_eq!(stdout(&routes).trim(), "db");
    let show = amtool_at(&router, &["config", "routes"]);
    assert!(
        stdout(&show).contains("{team=\"db\"}  receiver: db"),
        "{}",
        stdout(&show)
    );
    let receivers = amtool_at(&router, &["config", "show"]);
    assert!(receivers.status.success());
}
