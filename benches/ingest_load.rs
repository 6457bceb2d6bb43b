//! Load benchmark: drives a running server over loopback with `POST /api/v2/alerts` in 64-alert
//! batches and reports, for alert-router and Alertmanager 0.25 on the same traffic in one run:
//!
//! 1. saturation at fixed concurrency over 100k alerts in 500 groups, re-sent with annotations
//!    that change every re-send (the headline: Prometheus renders them from the current value),
//!    re-sent unchanged, and all-new: alerts/s, latency p50/p99/p999, server CPU seconds per million alerts, peak RSS; three
//!    rounds alternate the servers, and the medians and the median per-round ratios count;
//! 2. latency at a fixed offered rate, open loop (requests go out on schedule whatever the
//!    answers, so a stalled server cannot hide its queue): at Alertmanager's saturation rate on
//!    changed re-sends;
//! 3. the 1M-alert / 100k-group variant with garbage collection every 2 s: alerts/s second by
//!    second, to show whether maintenance stalls ingest;
//! 4. end to end: an alert received to its webhook delivered, `group_wait: 0s`, while 10k
//!    alerts/s of background load arrive.
//!
//! Bodies hold 64 alerts shaped as Prometheus posts them. `cargo bench --bench ingest_load` runs
//! it all (about fifteen minutes; `-- --parts 1,4` picks parts, `-- --traffic changed,all-new`
//! part 1's shapes); Alertmanager's side needs
//! Debian's `prometheus-alertmanager`; with `ALERT_ROUTER_BENCH_PG=postgres://…` part 1 adds a
//! replica with the HA store. Under `cargo test --all-targets` a one-second version of
//! each part runs against alert-router only, so the benchmark cannot rot.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

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
    start_alert_router_with(durability, CONFIG, &[])
}

fn start_alert_router_with(durability: &str, config: &str, extra: &[&str]) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("config.yml"), config).expect("config");
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
        .args(extra)
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
    start_alertmanager_with(CONFIG, &[])
}

fn start_alertmanager_with(config: &str, extra: &[&str]) -> Option<Server> {
    if !Path::new(ALERTMANAGER).exists() {
        eprintln!("note: {ALERTMANAGER} not installed; skipping the Alertmanager side");
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("config.yml"), config).expect("config");
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
        .args(extra)
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

/// One request body: alerts `first .. first+63`, spread over `groups` alertnames, shaped as
/// Prometheus posts them (labels, annotations, start, end and generator URL). Written with
/// `write!` rather than through `serde_json::Value`, so the generator spends little of the CPU it
/// shares with the server on building bodies.
fn body(first: usize, groups: usize) -> bytes::Bytes {
    use std::fmt::Write;
    if minimal_bodies() {
        return minimal_body(first, groups);
    }
    let now = chrono::Utc::now();
    let starts = now.format("%Y-%m-%dT%H:%M:%S%.3fZ");
    let ends = (now + chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%S%.3fZ");
    let mut out = String::with_capacity(BATCH * 320);
    out.push('[');
    for n in first..first + BATCH {
        if n > first {
            out.push(',');
        }
        let group = n % groups;
        let severity = if n % 10 == 0 { "critical" } else { "warning" };
        let _ = write!(
            out,
            r#"{{"annotations":{{"summary":"load test alert on host-{n}"}},"endsAt":"{ends}","startsAt":"{starts}","generatorURL":"http://prometheus:9090/graph?g0.expr=load_test_{group}","labels":{{"alertname":"Alert{group}","instance":"host-{n}:9100","job":"node","severity":"{severity}"}}}}"#
        );
    }
    out.push(']');
    bytes::Bytes::from(out)
}

/// `--minimal-bodies`: the bodies of earlier runs (labels and one shared annotation, nothing
/// else), to compare with figures measured on them.
fn minimal_bodies() -> bool {
    static MINIMAL: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *MINIMAL.get_or_init(|| std::env::args().any(|a| a == "--minimal-bodies"))
}

fn minimal_body(first: usize, groups: usize) -> bytes::Bytes {
    use std::fmt::Write;
    let mut out = String::with_capacity(BATCH * 160);
    out.push('[');
    for n in first..first + BATCH {
        if n > first {
            out.push(',');
        }
        let severity = if n % 10 == 0 { "critical" } else { "warning" };
        let _ = write!(
            out,
            r#"{{"annotations":{{"summary":"load test alert"}},"labels":{{"alertname":"Alert{}","instance":"host-{n}:9100","job":"node","severity":"{severity}"}}}}"#,
            n % groups
        );
    }
    out.push(']');
    bytes::Bytes::from(out)
}

/// Request bodies: batch `i` carries alerts `i*64 .. i*64+63` of the alert space, so every
/// alert is re-sent as the bodies cycle, as Prometheus re-sends firing alerts.
fn bodies(space: usize, groups: usize) -> Vec<bytes::Bytes> {
    (0..space / BATCH)
        .map(|b| body(b * BATCH, groups))
        .collect()
}

/// Bodies whose annotations carry a value that changes on every re-send, as Prometheus renders
/// `summary: "CPU at {{ $value }}%"` each evaluation: the re-send bodies with a `value`
/// annotation and a summary quoting it. Each body is a template with fixed-width slots for the
/// value; a request copies its template and writes the value into the slots, so the generator
/// spends little CPU on it.
struct ChangingBodies {
    templates: Vec<(Vec<u8>, Vec<usize>)>,
}

/// The width of a value slot: `dd.dddd`.
const VALUE_WIDTH: usize = 7;

impl ChangingBodies {
    fn new(space: usize, groups: usize) -> ChangingBodies {
        use std::fmt::Write;
        let now = chrono::Utc::now();
        let starts = now.format("%Y-%m-%dT%H:%M:%S%.3fZ");
        let ends = (now + chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%S%.3fZ");
        let slot = "0".repeat(VALUE_WIDTH);
        let templates = (0..space / BATCH)
            .map(|b| {
                let mut out = String::with_capacity(BATCH * 400);
                out.push('[');
                for n in b * BATCH..(b + 1) * BATCH {
                    if n > b * BATCH {
                        out.push(',');
                    }
                    let group = n % groups;
                    let severity = if n % 10 == 0 { "critical" } else { "warning" };
                    let _ = write!(
                        out,
                        r#"{{"annotations":{{"summary":"CPU at {slot}% on host-{n}","value":"{slot}","description":"host-{n} has been busy for 5 minutes"}},"endsAt":"{ends}","startsAt":"{starts}","generatorURL":"http://prometheus:9090/graph?g0.expr=load_test_{group}","labels":{{"alertname":"Alert{group}","instance":"host-{n}:9100","job":"node","severity":"{severity}"}}}}"#
                    );
                }
                out.push(']');
                let bytes = out.into_bytes();
                let slots = bytes
                    .windows(VALUE_WIDTH)
                    .enumerate()
                    .filter(|(_, w)| *w == slot.as_bytes())
                    .map(|(i, _)| i)
                    .collect();
                (bytes, slots)
            })
            .collect();
        ChangingBodies { templates }
    }

    /// Request `i`: body `i % len` on its `i / len`-th pass, its values differing from the
    /// pass before (each alert its own value).
    fn body(&self, i: usize) -> bytes::Bytes {
        let (template, slots) = &self.templates[i % self.templates.len()];
        let pass = i / self.templates.len();
        let mut out = template.clone();
        for (k, at) in slots.iter().enumerate() {
            // Two slots per alert (summary and value) carry the same number.
            let value = (pass * 7919 + (k / 2) * 104_729) % 1_000_000;
            let digits = format!("{:02}.{:04}", value / 10_000, value % 10_000);
            out[*at..*at + VALUE_WIDTH].copy_from_slice(digits.as_bytes());
        }
        bytes::Bytes::from(out)
    }
}

/// What a run posts.
#[derive(Clone)]
enum Workload {
    /// Cycling over pre-built bodies: every re-send the same, annotations included.
    Resend(Arc<Vec<bytes::Bytes>>),
    /// Cycling over the same alerts with annotations that change every re-send.
    Changing(Arc<ChangingBodies>),
    /// Every alert in every request is new.
    AllNew,
}

impl Workload {
    fn body(&self, i: usize) -> bytes::Bytes {
        match self {
            Workload::Resend(bodies) => bodies[i % bodies.len()].clone(),
            Workload::Changing(bodies) => bodies.body(i),
            Workload::AllNew => body(10_000_000 + i * BATCH, 500),
        }
    }

    fn bodies_per_pass(&self) -> usize {
        match self {
            Workload::Resend(bodies) => bodies.len(),
            Workload::Changing(bodies) => bodies.templates.len(),
            Workload::AllNew => 0,
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Traffic {
    /// Cycling over a fixed space of alerts whose annotations change every re-send, as
    /// Prometheus renders them from the current value: the headline.
    Changing,
    /// Cycling over a fixed space of alerts: mostly re-sends, as from Prometheus.
    Resend,
    /// Every alert in every request is new: the worst case for the store and its writes.
    AllNew,
}

/// A lean HTTP/1.1 client for the load: raw hyper connections, kept open and reused, so the
/// generator takes as little as it can of the CPU it shares with the server under test.
#[derive(Clone)]
struct Poster {
    port: u16,
    idle: Arc<parking_lot::Mutex<Vec<SendRequest<Full<bytes::Bytes>>>>>,
}

impl Poster {
    fn new(port: u16) -> Poster {
        Poster {
            port,
            idle: Arc::default(),
        }
    }

    async fn connect(&self) -> Option<SendRequest<Full<bytes::Bytes>>> {
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .ok()?;
        stream.set_nodelay(true).ok()?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .ok()?;
        tokio::spawn(conn);
        Some(sender)
    }

    /// POSTs `body` to `/api/v2/alerts` on an idle connection (or a new one); true on a 2xx.
    async fn post(&self, body: bytes::Bytes) -> bool {
        let idle = self.idle.lock().pop();
        let mut sender = match idle {
            Some(s) if !s.is_closed() => s,
            _ => match self.connect().await {
                Some(s) => s,
                None => return false,
            },
        };
        if sender.ready().await.is_err() {
            return false;
        }
        let Ok(request) = hyper::Request::post("/api/v2/alerts")
            .header("host", "127.0.0.1")
            .header("content-type", "application/json")
            .body(Full::new(body))
        else {
            return false;
        };
        let ok = match sender.send_request(request).await {
            Ok(response) => {
                let status = response.status();
                response.into_body().collect().await.is_ok() && status.is_success()
            }
            Err(_) => false,
        };
        if ok {
            self.idle.lock().push(sender);
        }
        ok
    }
}

#[derive(Clone)]
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
    workload: Workload,
    concurrency: usize,
    duration: Duration,
) -> Option<Result> {
    if !wait_ready(server.port).await {
        eprintln!("{} did not become ready", server.name);
        return None;
    }
    let pid = server.child.id();
    let cpu_before = cpu_seconds(pid);
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for c in 0..concurrency {
        let workload = workload.clone();
        let client = Poster::new(server.port);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            let mut i = c;
            while Instant::now() < deadline {
                let body = workload.body(i);
                i += concurrency;
                let t = Instant::now();
                let ok = client.post(body).await;
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
    Some(summarize(
        latencies,
        errors,
        started.elapsed().as_secs_f64(),
        cpu_seconds(pid) - cpu_before,
        pid,
    ))
}

/// Open loop: one request every `64 / rate` seconds whatever the answers, each on an idle
/// connection or a new one, so a slow server meets more concurrent requests rather than fewer.
async fn drive_rate(
    port: u16,
    pid: u32,
    workload: Workload,
    rate: f64,
    duration: Duration,
) -> Option<Result> {
    if !wait_ready(port).await {
        return None;
    }
    let client = Poster::new(port);
    let interval = Duration::from_secs_f64(BATCH as f64 / rate);
    let cpu_before = cpu_seconds(pid);
    let started = Instant::now();
    let mut tasks = Vec::new();
    let mut n: u32 = 0;
    // After the warm-up pass: the values differ from it from the first request on.
    let first = workload.bodies_per_pass();
    loop {
        let due = started + interval * n;
        if due >= started + duration {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        let (client, body) = (client.clone(), workload.body(first + n as usize));
        tasks.push(tokio::spawn(async move {
            // From the send, not from `due`: tokio's timer wakes up to a millisecond late, and
            // that is the generator's lateness, not the server's. The server's own queueing
            // still shows, since requests go out on schedule whatever the answers.
            let sent = Instant::now();
            let ok = client.post(body).await;
            ok.then(|| sent.elapsed().as_micros() as u32)
        }));
        n += 1;
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for t in tasks {
        match t.await {
            Ok(Some(us)) => latencies.push(us),
            _ => errors += 1,
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    Some(summarize(
        latencies,
        errors,
        elapsed,
        cpu_seconds(pid) - cpu_before,
        pid,
    ))
}

/// Posts every body once, four at a time.
async fn warm_up(port: u16, workload: &Workload) {
    if !wait_ready(port).await {
        return;
    }
    let client = Poster::new(port);
    let all: Vec<usize> = (0..workload.bodies_per_pass()).collect();
    for chunk in all.chunks(4) {
        let posts: Vec<_> = chunk
            .iter()
            .map(|i| {
                let (client, body) = (client.clone(), workload.body(*i));
                tokio::spawn(async move { client.post(body).await })
            })
            .collect();
        for p in posts {
            let _ = p.await;
        }
    }
}

fn summarize(mut latencies: Vec<u32>, errors: usize, elapsed: f64, cpu: f64, pid: u32) -> Result {
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |us| *us as f64 / 1000.0)
    };
    let alerts = (latencies.len() * BATCH) as f64;
    Result {
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
    }
}

/// Fixed concurrency over `space` alerts in `groups` groups, bodies built as they go (a million
/// alerts do not fit in pre-built bodies); returns alerts/s for each whole second.
async fn drive_timeline(
    server: &Server,
    space: usize,
    groups: usize,
    concurrency: usize,
    duration: Duration,
) -> Option<(Vec<f64>, f64)> {
    if !wait_ready(server.port).await {
        return None;
    }
    let started = Instant::now();
    let deadline = started + duration;
    let seconds = duration.as_secs() as usize;
    let counts: Arc<Vec<std::sync::atomic::AtomicUsize>> =
        Arc::new((0..seconds + 1).map(|_| Default::default()).collect());
    let mut tasks = Vec::new();
    for c in 0..concurrency {
        let counts = counts.clone();
        let client = Poster::new(server.port);
        tasks.push(tokio::spawn(async move {
            let mut batch = c;
            while Instant::now() < deadline {
                let first = (batch * BATCH) % space;
                batch += concurrency;
                let ok = client.post(body(first, groups)).await;
                let second = started.elapsed().as_secs() as usize;
                if ok && second < counts.len() {
                    counts[second].fetch_add(BATCH, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let per_second: Vec<f64> = counts[..seconds]
        .iter()
        .map(|c| c.load(std::sync::atomic::Ordering::Relaxed) as f64)
        .collect();
    Some((per_second, peak_rss_mib(server.child.id())))
}

/// Webhook deliveries as they arrive: alertname -> arrival.
type Arrivals = Arc<std::sync::Mutex<std::collections::HashMap<String, Instant>>>;

async fn webhook_receiver() -> (u16, Arrivals) {
    let arrivals: Arrivals = Default::default();
    let recorded = arrivals.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: bytes::Bytes| {
            let recorded = recorded.clone();
            async move {
                let now = Instant::now();
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
                    let mut map = recorded.lock().unwrap_or_else(|e| e.into_inner());
                    for a in v["alerts"].as_array().into_iter().flatten() {
                        if let Some(name) = a["labels"]["alertname"].as_str() {
                            map.entry(name.to_string()).or_insert(now);
                        }
                    }
                }
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind receiver");
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (port, arrivals)
}

fn e2e_config(hook_port: u16) -> String {
    format!(
        "route:\n  receiver: blackhole\n  group_by: [alertname]\n  group_wait: 30s\n  routes:\n    - matchers: ['kind=\"probe\"']\n      receiver: hook\n      group_wait: 0s\nreceivers:\n  - name: blackhole\n  - name: hook\n    webhook_configs: [{{url: 'http://127.0.0.1:{hook_port}/hook'}}]\n"
    )
}

/// Sends `probes` single-alert probes (each its own group) 10 ms apart while background load
/// runs, and returns each probe's time from sending to webhook arrival, in ms, sorted.
async fn drive_e2e(
    server: &Server,
    arrivals: Arrivals,
    workload: Workload,
    background_rate: f64,
    probes: usize,
) -> Option<Vec<f64>> {
    if !wait_ready(server.port).await {
        return None;
    }
    let duration = Duration::from_millis(10 * probes as u64 + 500);
    let background = tokio::spawn(drive_rate(
        server.port,
        server.child.id(),
        workload,
        background_rate,
        duration,
    ));
    let client = Poster::new(server.port);
    let mut sent = Vec::with_capacity(probes);
    for i in 0..probes {
        let name = format!("probe-{i}");
        let alert = serde_json::json!([{"labels": {"alertname": name, "kind": "probe"}}]);
        let at = Instant::now();
        let _ = client
            .post(bytes::Bytes::from(alert.to_string().into_bytes()))
            .await;
        sent.push((name, at));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = background.await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let arrived = arrivals.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut latencies: Vec<f64> = sent
        .iter()
        .filter_map(|(name, at)| {
            arrived
                .get(name)
                .map(|t| t.duration_since(*at).as_secs_f64() * 1000.0)
        })
        .collect();
    if latencies.len() < probes {
        eprintln!(
            "{}: {} of {probes} probes delivered",
            server.name,
            latencies.len()
        );
    }
    latencies.sort_by(f64::total_cmp);
    Some(latencies)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0.0)
}

fn print_row(name: &str, kind: &str, r: &Result) {
    println!(
        "{:<26} {:<9} {:>10.0} {:>8.2} {:>8.2} {:>8.2} {:>14.2} {:>9.1} {:>6}",
        name,
        kind,
        r.alerts_per_sec,
        r.p50_ms,
        r.p99_ms,
        r.p999_ms,
        r.cpu_per_million,
        r.peak_rss_mib,
        r.errors
    );
}

/// Seconds whose rate fell under half the median of the five seconds around them: a dip, such
/// as a pause for maintenance would make. The run's own phases are not dips: the first pass over
/// the alerts writes every one of them, and re-sends after it go faster.
fn stalled_seconds(per_second: &[f64]) -> usize {
    (0..per_second.len())
        .filter(|&i| {
            let window = &per_second[i.saturating_sub(2)..(i + 3).min(per_second.len())];
            per_second[i] < median(window.to_vec()) / 2.0
        })
        .count()
}

/// Which parts to run: all, or those listed after `--parts` (`cargo bench --bench ingest_load
/// -- --parts 1,4`).
fn parts() -> Vec<u32> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == "--parts") {
        Some(i) => args
            .get(i + 1)
            .map(|list| {
                list.split(',')
                    .filter_map(|p| p.trim().parse().ok())
                    .collect()
            })
            .unwrap_or_default(),
        None => vec![1, 2, 3, 4],
    }
}

/// Part 1's shapes: all, or those listed after `--traffic` (`changed`, `re-send`, `all-new`).
fn traffic_wanted(kind: &str) -> bool {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == "--traffic") {
        Some(i) => args
            .get(i + 1)
            .is_some_and(|list| list.split(',').any(|t| t.trim() == kind)),
        None => true,
    }
}

/// The middle of `values` by alerts/s.
fn median_run(mut values: Vec<Result>) -> Option<Result> {
    values.sort_by(|a, b| a.alerts_per_sec.total_cmp(&b.alerts_per_sec));
    let middle = values.len() / 2;
    values.into_iter().nth(middle)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let parts = parts();
    // The shared machine has slow spells of many seconds; rounds that alternate the servers
    // put each server's runs across the same spells, and each ratio compares runs made side by
    // side.
    let (duration, concurrency, rounds) = if full {
        (Duration::from_secs(8), 32, 3)
    } else {
        (Duration::from_secs(1), 4, 1)
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let resend = Workload::Resend(Arc::new(bodies(100_000, 500)));
    let changing = Workload::Changing(Arc::new(ChangingBodies::new(100_000, 500)));
    type Start = Box<dyn Fn() -> Option<Server>>;
    let mut alertmanager_rate = None;

    // 1. Saturation.
    if parts.contains(&1) {
        println!(
            "1. saturation: POST /api/v2/alerts, {BATCH}-alert batches, {concurrency} clients, {}s per run, {rounds} rounds (median shown); changed and re-send cycle over 100k alerts in 500 groups (changed: annotations carry a value that changes every re-send), all-new never repeats an alert",
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
    }
    for traffic in [Traffic::Changing, Traffic::Resend, Traffic::AllNew] {
        if !parts.contains(&1) {
            break;
        }
        let (kind, modes): (&str, &[&str]) = match (traffic, full) {
            (Traffic::Changing, true) => ("changed", &["none", "fsync", "batch"]),
            (Traffic::Resend, true) => ("re-send", &["none", "fsync", "batch"]),
            (Traffic::AllNew, true) => ("all-new", &["none", "fsync"]),
            (Traffic::Changing, false) => ("changed", &["fsync"]),
            (Traffic::Resend, false) => ("re-send", &["none"]),
            (Traffic::AllNew, false) => ("all-new", &["fsync"]),
        };
        if !traffic_wanted(kind) {
            continue;
        }
        let mut servers: Vec<(String, Start)> = modes
            .iter()
            .map(|mode| {
                let mode: &'static str = mode;
                let start: Start = Box::new(move || Some(start_alert_router(mode)));
                (format!("alert-router ({mode})"), start)
            })
            .collect();
        // With a PostgreSQL to use (`ALERT_ROUTER_BENCH_PG=postgres://…`), the same replica
        // with the HA store: ingest does not touch it, and this row shows that it costs nothing.
        if let (Ok(store), Traffic::Changing, true) =
            (std::env::var("ALERT_ROUTER_BENCH_PG"), traffic, full)
        {
            let start: Start = Box::new(move || {
                let mut server = start_alert_router_with(
                    "fsync",
                    CONFIG,
                    &["--cluster.store", &store, "--cluster.peer-name", "bench"],
                );
                server.name = "alert-router (fsync, HA)".into();
                Some(server)
            });
            servers.push(("alert-router (fsync, HA)".into(), start));
        }
        if full {
            servers.push(("Alertmanager 0.25".into(), Box::new(start_alertmanager)));
        }
        // runs[server][round]
        let mut runs: Vec<Vec<Result>> = servers.iter().map(|_| Vec::new()).collect();
        for _ in 0..rounds {
            for (i, (_, start)) in servers.iter().enumerate() {
                let Some(server) = start() else { continue };
                let workload = match traffic {
                    Traffic::Changing => changing.clone(),
                    Traffic::Resend => resend.clone(),
                    Traffic::AllNew => Workload::AllNew,
                };
                let run = runtime.block_on(drive(&server, workload, concurrency, duration));
                runs[i].extend(run);
            }
        }
        let am_runs = if full { runs.last().cloned() } else { None };
        for ((name, _), server_runs) in servers.iter().zip(runs.iter().cloned()) {
            if let Some(r) = median_run(server_runs) {
                print_row(name, kind, &r);
                if name.starts_with("Alertmanager") && traffic == Traffic::Changing {
                    alertmanager_rate = Some(r.alerts_per_sec);
                }
            }
        }
        let Some(am_runs) = am_runs.filter(|r| r.len() == rounds) else {
            continue;
        };
        for (mode, server_runs) in modes.iter().zip(&runs) {
            if server_runs.len() != rounds {
                continue;
            }
            let per_round = |f: &dyn Fn(&Result, &Result) -> f64| {
                median(
                    server_runs
                        .iter()
                        .zip(&am_runs)
                        .map(|(r, a)| f(r, a))
                        .collect(),
                )
            };
            println!(
                "{kind}: alert-router ({mode}) / Alertmanager, median of the {rounds} rounds' ratios: throughput {:.2}x, CPU per alert {:.2}x less, peak RSS {:.2}",
                per_round(&|r, a| r.alerts_per_sec / a.alerts_per_sec),
                per_round(&|r, a| a.cpu_per_million / r.cpu_per_million),
                per_round(&|r, a| r.peak_rss_mib / a.peak_rss_mib),
            );
        }
    }

    if parts.contains(&2) {
        // 2. Fixed offered rate: Alertmanager's saturation rate (a fixed 20k/s in the quick run).
        let (rate, source) = match alertmanager_rate {
            Some(rate) => (rate, "Alertmanager's saturation rate on changed traffic"),
            None => (
                20_000.0,
                "a fixed rate: Alertmanager's saturation was not measured",
            ),
        };
        println!(
        "\n2. open loop at {rate:.0} alerts/s ({source}), {}s, changed traffic after one warm-up pass over the 100k alerts",
        duration.as_secs()
    );
        let mut starts: Vec<Start> = vec![Box::new(|| Some(start_alert_router("none")))];
        if full {
            starts.push(Box::new(|| Some(start_alert_router("fsync"))));
            starts.push(Box::new(start_alertmanager));
        }
        for start in starts {
            let Some(server) = start() else { continue };
            let pid = server.child.id();
            // Steady state, as under Prometheus: every alert known (and saved) before the window.
            runtime.block_on(warm_up(server.port, &changing));
            if let Some(r) = runtime.block_on(drive_rate(
                server.port,
                pid,
                changing.clone(),
                rate,
                duration,
            )) {
                print_row(&server.name, "changed", &r);
            }
        }
    }

    if parts.contains(&3) {
        // 3. A million alerts in 100k groups, garbage collection every 2s.
        let (space, groups, long) = if full {
            (1_000_000, 100_000, Duration::from_secs(20))
        } else {
            (10_000, 1_000, Duration::from_secs(1))
        };
        println!("\n3. {space} alerts in {groups} groups, {concurrency} clients, --alerts.gc-interval 2s: alerts/s per second");
        let mut starts: Vec<Start> = vec![Box::new(|| {
            Some(start_alert_router_with(
                "none",
                CONFIG,
                &["--alerts.gc-interval", "2s"],
            ))
        })];
        if full {
            // With fsync the state log also rotates and is compacted during the run.
            starts.push(Box::new(|| {
                Some(start_alert_router_with(
                    "fsync",
                    CONFIG,
                    &["--alerts.gc-interval", "2s"],
                ))
            }));
            starts.push(Box::new(|| {
                start_alertmanager_with(CONFIG, &["--alerts.gc-interval=2s"])
            }));
        }
        for start in starts {
            let Some(server) = start() else { continue };
            if let Some((per_second, rss)) =
                runtime.block_on(drive_timeline(&server, space, groups, concurrency, long))
            {
                let mut sorted = per_second.clone();
                sorted.sort_by(f64::total_cmp);
                let median = percentile(&sorted, 0.5);
                let stalls = stalled_seconds(&per_second);
                println!(
                "{:<26} min {:>9.0}  median {:>9.0}  max {:>9.0}  stalled seconds: {stalls}  peak {rss:.0} MiB",
                server.name,
                sorted.first().copied().unwrap_or(0.0),
                median,
                sorted.last().copied().unwrap_or(0.0)
            );
                println!(
                    "  per second: {:?}",
                    per_second
                        .iter()
                        .map(|r| (*r / 1000.0).round() as u64)
                        .collect::<Vec<_>>()
                );
            }
        }
    }

    if parts.contains(&4) {
        // 4. End to end with group_wait 0 under background load.
        let (background, probes) = if full { (10_000.0, 500) } else { (2_000.0, 20) };
        println!("\n4. end to end: alert received -> webhook delivered, group_wait 0s, {background:.0} alerts/s background, {probes} probes");
        let (hook_port, arrivals) = runtime.block_on(webhook_receiver());
        let config = e2e_config(hook_port);
        let mut starts: Vec<Box<dyn Fn() -> Option<Server>>> = vec![{
            let config = config.clone();
            Box::new(move || Some(start_alert_router_with("fsync", &config, &[])))
        }];
        if full {
            let config = config.clone();
            starts.push(Box::new(move || start_alertmanager_with(&config, &[])));
        }
        for start in starts {
            let Some(server) = start() else { continue };
            arrivals.lock().unwrap_or_else(|e| e.into_inner()).clear();
            if let Some(l) = runtime.block_on(drive_e2e(
                &server,
                arrivals.clone(),
                changing.clone(),
                background,
                probes,
            )) {
                println!(
                    "{:<26} delivered {:>4}  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
                    server.name,
                    l.len(),
                    percentile(&l, 0.5),
                    percentile(&l, 0.99),
                    l.last().copied().unwrap_or(0.0)
                );
            }
        }
    }
}
