//! Test support: the real `alert-router` binary on 127.0.0.1:0 and real HTTP servers standing in
//! for receivers. Nothing here is mocked: requests cross loopback sockets.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;

pub mod browser;
pub mod smtp;

pub const BIN: &str = env!("CARGO_BIN_EXE_alert-router");

/// A running router process, killed on drop.
pub struct Router {
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Router {
    /// Starts the router on `config` (YAML) and waits until it listens.
    pub fn start(config: &str) -> Router {
        Router::start_with_args(config, &[])
    }

    pub fn start_with_args(config: &str, extra: &[&str]) -> Router {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("alertmanager.yml"), config).expect("write config");
        Router::start_in(dir, extra)
    }

    /// Starts a router on the config and state already in `dir` (a restart).
    pub fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> Router {
        Router::spawn(dir, &["serve"], extra)
    }

    /// Starts the binary as Alertmanager is started: no subcommand, Alertmanager's flags.
    pub fn start_as_alertmanager(config: &str, extra: &[&str]) -> Router {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("alertmanager.yml"), config).expect("write config");
        Router::spawn(dir, &[], extra)
    }

    fn spawn(dir: tempfile::TempDir, subcommand: &[&str], extra: &[&str]) -> Router {
        let config_path = dir.path().join("alertmanager.yml");
        let data = dir.path().join("data");
        // Beside, not inside, the state directory: that may sit on a full filesystem.
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let address_file = std::env::temp_dir().join(format!(
            "alert-router-test-{}-{}.addr",
            std::process::id(),
            STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_file(&address_file);
        let mut child = Command::new(BIN)
            .args(subcommand)
            .arg("--config.file")
            .arg(&config_path)
            .args([
                "--web.listen-address",
                "127.0.0.1:0",
                "--web.external-url",
                "http://alert-router.test:9093",
            ])
            .arg("--storage.path")
            .arg(&data)
            .arg("--web.listen-address-file")
            .arg(&address_file)
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn alert-router");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr = loop {
            if let Some(addr) = std::fs::read_to_string(&address_file)
                .ok()
                .and_then(|a| a.trim().parse().ok())
            {
                break addr;
            }
            if Instant::now() > deadline || matches!(child.try_wait(), Ok(Some(_))) {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(50));
                panic!("router did not start: {:?}", log.lock().unwrap());
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let _ = std::fs::remove_file(&address_file);
        Router {
            addr,
            dir,
            child,
            log,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("alertmanager.yml")
    }

    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, String) {
        let r = reqwest::Client::new()
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("post");
        let status = r.status().as_u16();
        (status, r.text().await.unwrap_or_default())
    }

    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> (u16, String) {
        let r = reqwest::Client::new()
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("post");
        let status = r.status().as_u16();
        (status, r.text().await.unwrap_or_default())
    }

    /// How many alerts `GET /api/v2/alerts` lists.
    pub async fn alert_count(&self) -> usize {
        self.get_json("/api/v2/alerts")
            .await
            .as_array()
            .map_or(0, Vec::len)
    }

    /// The `/metrics` exposition.
    pub async fn metrics(&self) -> String {
        reqwest::get(self.url("/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics body")
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let r = reqwest::get(self.url(path)).await.expect("get");
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.expect("json")
    }

    /// Waits until the process exits; returns its status.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

/// Runs `serve` on the config and state in `dir` for a start expected to fail: waits for the
/// exit (at most `within`) and returns its code (`None` if it was still running, then killed)
/// and what it logged.
pub fn serve_until_exit(dir: &Path, extra: &[&str], within: Duration) -> (Option<i32>, String) {
    let mut child = Command::new(BIN)
        .arg("serve")
        .arg("--config.file")
        .arg(dir.join("alertmanager.yml"))
        .args(["--web.listen-address", "127.0.0.1:0"])
        .arg("--storage.path")
        .arg(dir.join("data"))
        .args(extra)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn alert-router");
    let deadline = Instant::now() + within;
    let code = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut log = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut err, &mut log);
    }
    (code, log)
}

impl Router {
    /// Kills the process with SIGKILL (no shutdown of any kind) and hands back its directory,
    /// config and state included, for a restart.
    pub fn kill9(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dir = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self.dir, dir)
    }
}

impl Router {
    /// Sends SIGTERM, waits for the exit, and hands back the status and the directory.
    pub fn terminate(
        mut self,
        within: Duration,
    ) -> (Option<std::process::ExitStatus>, tempfile::TempDir) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = self.wait_exit(within);
        let dir = tempfile::tempdir().expect("tempdir");
        (status, std::mem::replace(&mut self.dir, dir))
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request a sink received.
#[derive(Clone, Debug)]
pub struct Received {
    pub at: Instant,
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Default)]
struct SinkState {
    received: Vec<Received>,
    /// Status codes to answer with, in order; 200 once exhausted.
    script: VecDeque<u16>,
    /// The body of every answer (Slack's webhook answers `ok`).
    body: &'static str,
}

/// A real HTTP server on 127.0.0.1 that records every POST and answers as scripted.
#[derive(Clone)]
pub struct Sink {
    pub addr: SocketAddr,
    state: Arc<Mutex<SinkState>>,
}

impl Sink {
    pub async fn start() -> Sink {
        Sink::with_script(&[]).await
    }

    pub async fn with_script(codes: &[u16]) -> Sink {
        Sink::serve(codes, "").await
    }

    /// A stand-in for Slack's incoming webhook, which answers `ok`.
    pub async fn slack() -> Sink {
        Sink::serve(&[], "ok").await
    }

    async fn serve(codes: &[u16], body: &'static str) -> Sink {
        Sink::serve_at("127.0.0.1:0".parse().expect("address"), codes, body).await
    }

    /// A sink on a given address: a receiver coming back on the port it had before.
    pub async fn start_at(addr: SocketAddr) -> Sink {
        Sink::serve_at(addr, &[], "").await
    }

    async fn serve_at(addr: SocketAddr, codes: &[u16], body: &'static str) -> Sink {
        let state = Arc::new(Mutex::new(SinkState {
            received: Vec::new(),
            script: codes.iter().copied().collect(),
            body,
        }));
        let app = axum::Router::new()
            .route("/{*path}", post(record))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("bind sink");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Sink { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    pub fn count(&self) -> usize {
        self.state.lock().unwrap().received.len()
    }

    /// Waits until at least `n` requests arrived, or panics after `within`.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            if Instant::now() > deadline {
                panic!(
                    "expected {n} notifications within {within:?}, got {}: {got:#?}",
                    got.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Asserts that no more than `n` requests arrive during `window`.
    pub async fn expect_no_more_than(&self, n: usize, window: Duration) {
        tokio::time::sleep(window).await;
        let got = self.received();
        assert!(
            got.len() <= n,
            "expected at most {n} notifications, got {}: {got:#?}",
            got.len()
        );
    }
}

async fn record(
    State(state): State<Arc<Mutex<SinkState>>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut s = state.lock().unwrap();
    s.received.push(Received {
        at: Instant::now(),
        headers,
        body,
    });
    let code = s.script.pop_front().unwrap_or(200);
    (StatusCode::from_u16(code).unwrap_or(StatusCode::OK), s.body)
}

/// A receiver that accepts connections, reads what is sent and never answers.
pub struct Hanging {
    pub addr: SocketAddr,
    requests: Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Hanging {
    pub async fn start() -> Hanging {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind hanging receiver");
        let addr = listener.local_addr().expect("addr");
        let requests = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = requests.clone();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut tcp, _)) = listener.accept().await {
                let seen = seen.clone();
                connections.spawn(async move {
                    use tokio::io::AsyncReadExt;
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n) = tcp.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        let posts = buf[..n].windows(5).filter(|w| w == b"POST ").count();
                        seen.fetch_add(posts, std::sync::atomic::Ordering::SeqCst);
                    }
                });
            }
        });
        Hanging {
            addr,
            requests,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Requests that arrived (and were never answered).
    pub fn requests(&self) -> usize {
        self.requests.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Closes the listener and every connection, freeing the port.
    pub async fn stop(self) -> SocketAddr {
        self.task.abort();
        let _ = self.task.await;
        self.addr
    }
}

/// Posts `total` alerts named `Many`, each its own `instance`, in requests of 1,000.
pub async fn post_distinct_alerts(router: &Router, total: usize) {
    let client = reqwest::Client::new();
    for batch in 0..total.div_ceil(1000) {
        let alerts: Vec<_> = (batch * 1000..((batch + 1) * 1000).min(total))
            .map(|i| alert(&[("alertname", "Many"), ("instance", &format!("h{i}"))]))
            .collect();
        let r = client
            .post(router.url("/api/v2/alerts"))
            .json(&alerts)
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 200);
    }
}

/// The value of an unlabelled metric in Prometheus text format.
pub fn metric_value(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// A config with one webhook receiver per (name, url) and the given route block.
pub fn config_with_route(route: &str, receivers: &[(&str, &str)]) -> String {
    let mut yaml = format!("route:\n{route}\nreceivers:\n");
    for (name, url) in receivers {
        if url.is_empty() {
            yaml.push_str(&format!("  - name: {name}\n"));
        } else {
            yaml.push_str(&format!(
                "  - name: {name}\n    webhook_configs:\n      - url: '{url}'\n"
            ));
        }
    }
    yaml
}

/// Whether an external tool is available. Under CI (CI=true) a missing tool fails the test;
/// elsewhere the test is skipped with a note.
pub fn require_tool(path: &str) -> bool {
    if Path::new(path).exists() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "{path} is required under CI (apt-get install -y prometheus-alertmanager prometheus chromium chromium-driver)"
        );
    }
    eprintln!(
        "skipping: {path} not installed (apt-get install -y prometheus-alertmanager prometheus)"
    );
    false
}

pub fn alert(labels: &[(&str, &str)]) -> Value {
    let labels: serde_json::Map<String, Value> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect();
    serde_json::json!({ "labels": labels })
}

/// Alert names in a webhook body, in the order sent.
pub fn alertnames(body: &Value) -> Vec<String> {
    body["alerts"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| x["labels"]["alertname"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// A small deterministic generator, seeded from the clock and printed, so a failure can be
/// replayed by setting the named variable (`CRASH_SEED=…`) to the seed printed.
pub struct Rng(u64);

impl Rng {
    pub fn from_env(var: &str) -> Rng {
        let seed = std::env::var(var)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(7, |d| d.as_nanos() as u64)
            });
        eprintln!("{var}={seed}");
        Rng(seed | 1)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}
