//! Load benchmark: drives a running server over loopback with `POST /api/v2/alerts` in 64-alert
//! batches over a space of 100k distinct alerts in 500 groups, at fixed concurrency, and reports
//! alerts/s, latency percentiles, server CPU seconds per million alerts and peak RSS.
//!
//! `cargo bench --bench ingest_load` runs alert-router with each `--storage.durability` and, when
//! Debian's `prometheus-alertmanager` is installed, Alertmanager 0.25 on the same traffic, all in
//! one run. Under `cargo test --all-targets` it runs a one-second smoke version.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";
const BATCH: usize = 64;

struct Server {
    name: String,
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(19093)
}

const CONFIG: &str = "route:\n  receiver: blackhole\n  group_by: [alertname]\n  group_wait: 30s\n  group_interval: 5m\nreceivers:\n  - name: blackhole\n";

fn start_alert_router(durability: &str) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("config.yml"), CONFIG).expect("config");
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_alert-router"))
        .arg("serve")
        .arg("--config.file")
        .arg(dir.path().join("config.yml"))
        .args([
            "--web.listen-address",
            &format!("127.0.0.1:{port}"),
            "--storage.durability",
            durability,
            "--log.level",
            "warn",
        ])
        .arg("--storage.path")
        .arg(dir.path().join("data"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start alert-router");
    Server {
        name: format!("alert-router ({durability})"),
        child,
        port,
        _dir: dir,
    }
}

fn start_alertmanager() -> Option<Server> {
    if !Path::new(ALERTMANAGER).exists() {
        eprintln!("note: {ALERTMANAGER} not installed; skipping the Alertmanager side");
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("config.yml"), CONFIG).expect("config");
    let port = free_port();
    let child = Command::new(ALERTMANAGER)
        .arg(format!(
            "--config.file={}",
            dir.path().join("config.yml").display()
        ))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .arg("--log.level=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    Some(Server {
        name: "Alertmanager 0.25".into(),
        child,
        port,
        _dir: dir,
    })
}

/// CPU seconds (user + system) the process has used so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: f64 = fields
        .get(11)
        .and_then(|u| u.parse::<f64>().ok())
        .unwrap_or(0.0)
        + fields
            .get(12)
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(0.0);
    ticks / 100.0
}

/// Peak resident set size in MiB.
fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// One request body: alerts `first .. first+63`, spread over `groups` alertnames.
fn body(first: usize, groups: usize) -> bytes::Bytes {
    let alerts: Vec<serde_json::Value> = (first..first + BATCH)
        .map(|n| {
            serde_json::json!({
                "labels": {"alertname": format!("Alert{}", n % groups), "instance": format!("host-{n}:9100"),
                           "job": "node", "severity": if n % 10 == 0 { "critical" } else { "warning" }},
                "annotations": {"summary": "load test alert"}
            })
        })
        .collect();
    bytes::Bytes::from(serde_json::to_vec(&alerts).expect("json"))
}

/// Request bodies: batch `i` carries alerts `i*64 .. i*64+63` of the alert space, so every
/// alert is re-sent as the bodies cycle, as Prometheus re-sends firing alerts.
fn bodies(space: usize, groups: usize) -> Vec<bytes::Bytes> {
    (0..space / BATCH)
        .map(|b| body(b * BATCH, groups))
        .collect()
}

#[derive(Clone, Copy, PartialEq)]
enum Traffic {
    /// Cycling over a fixed space of alerts: mostly re-sends, as from Prometheus.
    Resend,
    /// Every alert in every request is new: the worst case for the store and its writes.
    AllNew,
}

struct Result {
    alerts_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    cpu_per_million: f64,
    peak_rss_mib: f64,
    errors: usize,
}

async fn wait_ready(port: u16) -> bool {
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client
            .get(format!("http://127.0.0.1:{port}/-/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

async fn drive(
    server: &Server,
    bodies: Arc<Vec<bytes::Bytes>>,
    traffic: Traffic,
    concurrency: usize,
    duration: Duration,
) -> Option<Result> {
    if !wait_ready(server.port).await {
        eprintln!("{} did not become ready", server.name);
        return None;
    }
    let pid = server.child.id();
    let url = format!("http://127.0.0.1:{}/api/v2/alerts", server.port);
    let cpu_before = cpu_seconds(pid);
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for c in 0..concurrency {
        let (url, bodies) = (url.clone(), bodies.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut latencies = Vec::new();
            let mut errors = 0;
            let mut i = c;
            while Instant::now() < deadline {
                let body = match traffic {
                    Traffic::Resend => bodies[i % bodies.len()].clone(),
                    Traffic::AllNew => body(10_000_000 + i * BATCH, 500),
                };
                i += concurrency;
                let t = Instant::now();
                let ok = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if ok {
                    latencies.push(t.elapsed().as_micros() as u32);
                } else {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for t in tasks {
        if let Ok((l, e)) = t.await {
            latencies.extend(l);
            errors += e;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid) - cpu_before;
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |us| *us as f64 / 1000.0)
    };
    let alerts = (latencies.len() * BATCH) as f64;
    Some(Result {
        alerts_per_sec: alerts / elapsed,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        p999_ms: pct(0.999),
        cpu_per_million: if alerts > 0.0 {
            cpu / alerts * 1e6
        } else {
            0.0
        },
        peak_rss_mib: peak_rss_mib(pid),
        errors,
    })
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (duration, concurrency) = if full {
        (Duration::from_secs(10), 32)
    } else {
        (Duration::from_secs(1), 4)
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let bodies = Arc::new(bodies(100_000, 500));
    type Start = Box<dyn Fn() -> Option<Server>>;
    let mut runs: Vec<(Start, Traffic)> = vec![
        (
            Box::new(|| Some(start_alert_router("none"))),
            Traffic::Resend,
        ),
        (
            Box::new(|| Some(start_alert_router("fsync"))),
            Traffic::Resend,
        ),
    ];
    if full {
        runs.push((
            Box::new(|| Some(start_alert_router("batch"))),
            Traffic::Resend,
        ));
        runs.push((Box::new(start_alertmanager), Traffic::Resend));
        runs.push((
            Box::new(|| Some(start_alert_router("none"))),
            Traffic::AllNew,
        ));
        runs.push((
            Box::new(|| Some(start_alert_router("fsync"))),
            Traffic::AllNew,
        ));
        runs.push((Box::new(start_alertmanager), Traffic::AllNew));
    }
    println!(
        "POST /api/v2/alerts, {BATCH}-alert batches, {concurrency} clients, {}s each; re-send traffic cycles over 100k alerts in 500 groups, all-new traffic never repeats an alert",
        duration.as_secs()
    );
    println!(
        "{:<26} {:<9} {:>10} {:>8} {:>8} {:>8} {:>14} {:>9} {:>6}",
        "server",
        "traffic",
        "alerts/s",
        "p50 ms",
        "p99 ms",
        "p999 ms",
        "CPU s/M alerts",
        "peak MiB",
        "errors"
    );
    let mut rates = Vec::new();
    for (start, traffic) in runs {
        let Some(server) = start() else { continue };
        let Some(r) = runtime.block_on(drive(
            &server,
            bodies.clone(),
            traffic,
            concurrency,
            duration,
        )) else {
            continue;
        };
        let kind = if traffic == Traffic::Resend {
            "re-send"
        } else {
            "all-new"
        };
        println!(
            "{:<26} {:<9} {:>10.0} {:>8.2} {:>8.2} {:>8.2} {:>14.2} {:>9.1} {:>6}",
            server.name,
            kind,
            r.alerts_per_sec,
            r.p50_ms,
            r.p99_ms,
            r.p999_ms,
            r.cpu_per_million,
            r.peak_rss_mib,
            r.errors
        );
        rates.push((format!("{} {kind}", server.name), r.alerts_per_sec));
    }
    let rate = |name: &str| rates.iter().find(|(n, _)| n == name).map(|(_, r)| *r);
    for kind in ["re-send", "all-new"] {
        let (fsync, none, am) = (
            rate(&format!("alert-router (fsync) {kind}")),
            rate(&format!("alert-router (none) {kind}")),
            rate(&format!("Alertmanager 0.25 {kind}")),
        );
        if let (Some(f), Some(n)) = (fsync, none) {
            println!("{kind}: fsync / none throughput {:.2}", f / n);
        }
        if let (Some(f), Some(a)) = (fsync, am) {
            println!(
                "{kind}: alert-router (fsync) / Alertmanager throughput {:.2}x",
                f / a
            );
        }
        if let (Some(n), Some(a)) = (none, am) {
            println!(
                "{kind}: alert-router (none) / Alertmanager throughput {:.2}x",
                n / a
            );
        }
    }
}
