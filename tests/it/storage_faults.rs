//! Storage under faults, on real files: a filesystem filled to ENOSPC during ingest and silence
//! writes, then freed; flipped bytes, truncation, zeroed ranges and deleted files, each followed
//! by a restart and a count of what came back against what was acknowledged. Nothing
//! acknowledged may be lost except what sits in the damaged bytes, and that loss is reported.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::{alert, config_with_route, serve_until_exit, Rng, Router};
use serde_json::{json, Value};

const CONFIG_ROUTE: &str = "  receiver: x\n  group_by: [alertname]";

fn config() -> String {
    config_with_route(CONFIG_ROUTE, &[("x", "")])
}

/// A tmpfs of a few MiB, unmounted on drop. Needs root (as the tests run in CI); elsewhere the
/// test is skipped with a note, and under CI=true a failed mount fails it.
struct SmallFs {
    dir: tempfile::TempDir,
}

impl SmallFs {
    fn mount(bytes: u64) -> Option<SmallFs> {
        let dir = tempfile::tempdir().expect("tempdir");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if mounted {
            return Some(SmallFs { dir });
        }
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("mounting a tmpfs failed; the full-disk tests need root under CI");
        }
        eprintln!("skipping: cannot mount a tmpfs (needs root)");
        None
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the filesystem until a write fails with ENOSPC.
    fn fill(&self) {
        use std::io::Write;
        let mut file = std::fs::File::create(self.path().join("filler")).expect("filler");
        let chunk = vec![0xa5u8; 64 * 1024];
        loop {
            match file.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(28) => break,
                Err(e) => panic!("filling: {e}"),
            }
        }
        // Whatever is left of the last page.
        while file.write(&[0xa5]).is_ok_and(|n| n == 1) {}
        let _ = file.sync_all();
    }

    fn free(&self) {
        std::fs::remove_file(self.path().join("filler")).expect("free filler");
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

fn names(alerts: &Value) -> HashSet<String> {
    alerts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["labels"]["alertname"].as_str().unwrap().to_string())
        .collect()
}

fn batch(prefix: &str, n: usize) -> Value {
    // Long annotations, so a batch cannot fit in the last free bytes of a full disk.
    let text = "x".repeat(400);
    Value::Array(
        (0..n)
            .map(|i| {
                let mut a = alert(&[("alertname", &format!("{prefix}{i}"))]);
                a["annotations"] = json!({ "description": text });
                a
            })
            .collect(),
    )
}

fn batch_names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

fn silence(comment: &str) -> Value {
    let now = chrono::Utc::now();
    json!({
        "matchers": [{"name": "alertname", "value": "Silenced", "isRegex": false}],
        "startsAt": now.to_rfc3339(),
        "endsAt": (now + chrono::Duration::hours(1)).to_rfc3339(),
        "createdBy": "storage test",
        "comment": comment,
    })
}

async fn ready(router: &Router) -> (u16, String) {
    let r = reqwest::get(router.url("/-/ready")).await.expect("ready");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

/// Waits until `/-/ready` answers 200 (a compactor that failed on a full disk retries within
/// 5s of space returning).
async fn wait_ready(router: &Router) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, text) = ready(router).await;
        if status == 200 {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A directory for a router's config and state, on `root`.
fn state_dir_on(root: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir_in(root).expect("state dir");
    std::fs::write(dir.path().join("alertmanager.yml"), config()).expect("config");
    dir
}

fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dir.join("data"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    logs
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_refuses_writes_and_loses_nothing_acknowledged_once_space_returns() {
    let Some(fs) = SmallFs::mount(4 * 1024 * 1024) else {
        return;
    };
    let router = Router::start_in(state_dir_on(fs.path()), &[]);
    let mut acked: Vec<String> = Vec::new();
    let (status, _) = router
        .post_json("/api/v2/alerts", &batch("Before", 20))
        .await;
    assert_eq!(status, 200);
    acked.extend(batch_names("Before", 20));
    let (status, _) = router
        .post_json("/api/v2/silences", &silence("before"))
        .await;
    assert_eq!(status, 200);

    fs.fill();
    let (status, body) = router.post_json("/api/v2/alerts", &batch("Full", 50)).await;
    assert!(
        status >= 500,
        "a write to a full disk is refused: {status} {body}"
    );
    // Sent again unchanged, as Prometheus does after an error: still not saved, still refused.
    let (status, body) = router.post_json("/api/v2/alerts", &batch("Full", 50)).await;
    assert!(
        status >= 500,
        "a re-send after a failed save is not acknowledged as saved: {status} {body}"
    );
    // Silences: redb may still have room inside its file; write until it has not.
    let mut silence_failed = false;
    for i in 0..400 {
        let (status, _) = router
            .post_json(
                "/api/v2/silences",
                &silence(&format!("full {i} {}", "y".repeat(2000))),
            )
            .await;
        if status >= 500 {
            silence_failed = true;
            break;
        }
    }
    assert!(silence_failed, "a silence write to a full disk fails");
    let (status, text) = ready(&router).await;
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("storage not writable"), "{text}");
    let metrics = router.metrics().await;
    assert!(
        metrics.contains("alert_router_storage_write_errors_total{part=\"log\"}"),
        "{metrics}"
    );
    assert!(
        router
            .log()
            .iter()
            .any(|l| l.contains("ERROR") && l.contains("state write failed")),
        "failed writes are logged at error level"
    );

    fs.free();
    // Without a restart: the next batch and the next silence are durable.
    let (status, body) = router
        .post_json("/api/v2/alerts", &batch("After", 20))
        .await;
    assert_eq!(status, 200, "{body}");
    acked.extend(batch_names("After", 20));
    let (status, body) = router.post_json("/api/v2/alerts", &batch("Full", 50)).await;
    assert_eq!(status, 200, "{body}");
    acked.extend(batch_names("Full", 50));
    let (status, body) = router
        .post_json("/api/v2/silences", &silence("after"))
        .await;
    assert_eq!(
        status, 200,
        "silences are writable again without a restart: {body}"
    );
    wait_ready(&router).await;

    let dir = router.kill9();
    let router = Router::start_in(dir, &[]);
    let present = names(&router.get_json("/api/v2/alerts").await);
    let lost: Vec<&String> = acked.iter().filter(|n| !present.contains(*n)).collect();
    assert!(lost.is_empty(), "acknowledged alerts lost: {lost:?}");
    let silences = router.get_json("/api/v2/silences").await;
    let comments: HashSet<&str> = silences
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["comment"].as_str())
        .collect();
    assert!(
        comments.contains("before") && comments.contains("after"),
        "{comments:?}"
    );
}

/// Posts `n` alerts one request each (one log record each), kills the router, and returns its
/// directory and the alerts' names in order.
async fn acknowledged_then_killed(n: usize) -> (tempfile::TempDir, Vec<String>) {
    let router = Router::start(&config());
    let mut names = Vec::new();
    for i in 0..n {
        let name = format!("Acked{i:03}");
        let (status, _) = router
            .post_json("/api/v2/alerts", &json!([alert(&[("alertname", &name)])]))
            .await;
        assert_eq!(status, 200);
        names.push(name);
    }
    (router.kill9(), names)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_byte_in_a_log_loses_only_its_own_record_and_is_reported() {
    let mut rng = Rng::from_env("FAULT_SEED");
    let (dir, acked) = acknowledged_then_killed(40).await;
    let logs = log_files(dir.path());
    assert_eq!(logs.len(), 1, "{logs:?}");
    let mut bytes = std::fs::read(&logs[0]).unwrap();
    let at = rng.below(bytes.len() as u64) as usize;
    bytes[at] ^= 0x10;
    std::fs::write(&logs[0], &bytes).unwrap();

    let router = Router::start_in(dir, &[]);
    let present = names(&router.get_json("/api/v2/alerts").await);
    let lost: Vec<&String> = acked.iter().filter(|n| !present.contains(*n)).collect();
    assert!(
        lost.len() <= 1,
        "byte {at} damaged: lost {} records: {lost:?}",
        lost.len()
    );
    let log = router.log();
    assert!(
        log.iter().any(|l| l.contains("state log damaged")),
        "the loss is reported: {log:#?}"
    );
    // The damaged file is folded and kept aside, never deleted.
    let data = router.dir.path().join("data");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let kept = std::fs::read_dir(&data)
            .unwrap()
            .filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().ends_with(".log.damaged"));
        if kept {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "damaged log not kept");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Where the records of a state log start and end: each is a 12-byte head (its body's length,
/// u32 little-endian, then a checksum) and that body.
fn record_boundaries(bytes: &[u8]) -> Vec<usize> {
    let mut ends = vec![0];
    let mut at = 0;
    while let Some(head) = bytes.get(at..at + 4) {
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        at += 12 + len;
        if at > bytes.len() {
            break;
        }
        ends.push(at);
    }
    ends
}

#[tokio::test(flavor = "multi_thread")]
async fn zeroed_bytes_and_a_truncated_log_lose_only_what_they_cover() {
    let mut rng = Rng::from_env("FAULT_SEED");
    let (dir, acked) = acknowledged_then_killed(40).await;
    let log = log_files(dir.path()).remove(0);
    let mut bytes = std::fs::read(&log).unwrap();
    let record = bytes.len() / acked.len();
    // Zero about three records' worth in the first half.
    let from = rng.below((bytes.len() / 2) as u64) as usize;
    let to = (from + 3 * record).min(bytes.len());
    bytes[from..to].fill(0);
    std::fs::write(&log, &bytes).unwrap();
    let router = Router::start_in(dir, &[]);
    let present = names(&router.get_json("/api/v2/alerts").await);
    let lost: Vec<&String> = acked.iter().filter(|n| !present.contains(*n)).collect();
    assert!(lost.len() <= 4, "zeroed {from}..{to}: lost {lost:?}");
    assert!(
        acked[acked.len() / 2 + 4..]
            .iter()
            .all(|n| present.contains(n)),
        "every record after the zeroed range is kept"
    );
    assert!(router.log().iter().any(|l| l.contains("state log damaged")));
    drop(router);

    // Truncated at a random offset: the records before the cut stay, the cut is reported.
    let (dir, acked) = acknowledged_then_killed(40).await;
    let log = log_files(dir.path()).remove(0);
    let bytes = std::fs::read(&log).unwrap();
    let cut = rng.below(bytes.len() as u64) as usize;
    std::fs::write(&log, &bytes[..cut]).unwrap();
    let router = Router::start_in(dir, &[]);
    let present = names(&router.get_json("/api/v2/alerts").await);
    let kept = acked.iter().take_while(|n| present.contains(*n)).count();
    assert!(
        acked[kept..].iter().all(|n| !present.contains(n)),
        "what is kept is the part before the cut"
    );
    assert!(
        kept >= cut / record.max(1) - 1,
        "cut at {cut} of {}: only {kept} records kept",
        bytes.len()
    );
    // Reported exactly when the cut falls inside a record: records differ in size (and the
    // writer batches them), so the boundaries are read from the log, not guessed from the mean.
    if !record_boundaries(&bytes).contains(&cut) {
        // The log is read from the process's stderr by a thread: give it a moment.
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        while !router.log().iter().any(|l| l.contains("cut short"))
            && std::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            router.log().iter().any(|l| l.contains("cut short")),
            "the cut is reported"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_log_or_state_file_is_a_start_error_naming_it_and_repair_starts_from_the_rest() {
    let (dir, acked) = acknowledged_then_killed(5).await;
    let log = log_files(dir.path()).remove(0);
    std::fs::remove_file(&log).unwrap();
    let (code, output) = serve_until_exit(dir.path(), &[], Duration::from_secs(10));
    assert_eq!(code, Some(1), "{output}");
    let name = log.file_name().unwrap().to_string_lossy().to_string();
    assert!(
        output.contains(&name) && output.contains("missing"),
        "{output}"
    );
    let router = Router::start_in(dir, &["--storage.repair"]);
    assert!(router
        .log()
        .iter()
        .any(|l| l.contains("missing") && l.contains(&name)));
    assert_eq!(
        router.alert_count().await,
        0,
        "its alerts are gone: {acked:?}"
    );
    let (status, _) = router.post_json("/api/v2/silences", &silence("kept")).await;
    assert_eq!(status, 200);
    let dir = router.kill9();

    // The table file itself.
    let table = dir.path().join("data").join("alert-router.redb");
    std::fs::remove_file(&table).unwrap();
    let (code, output) = serve_until_exit(dir.path(), &[], Duration::from_secs(10));
    assert_eq!(code, Some(1), "{output}");
    assert!(
        output.contains("alert-router.redb") && output.contains("missing"),
        "{output}"
    );
    let router = Router::start_in(dir, &["--storage.repair"]);
    assert_eq!(router.get_json("/api/v2/silences").await, json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_truncated_or_zeroed_state_file_never_panics_and_repair_starts() {
    let mut rng = Rng::from_env("FAULT_SEED");
    let router = Router::start(&config());
    for i in 0..30 {
        let (status, _) = router
            .post_json(
                "/api/v2/silences",
                &silence(&format!("s{i} {}", "z".repeat(500))),
            )
            .await;
        assert_eq!(status, 200);
    }
    let mut dir = router.kill9();
    let table = dir.path().join("data").join("alert-router.redb");
    let clean = std::fs::read(&table).unwrap();
    for round in 0..4 {
        let damaged = match round {
            0 => clean[..clean.len() / 2].to_vec(),
            1 => clean[..rng.below(clean.len() as u64) as usize].to_vec(),
            2 => vec![0u8; clean.len()],
            _ => {
                let mut b = clean.clone();
                let at = rng.below(4096.min(b.len() as u64)) as usize;
                b[at..(at + 64).min(clean.len())].fill(0xff);
                b
            }
        };
        std::fs::write(&table, &damaged).unwrap();
        let (code, output) = serve_until_exit(dir.path(), &[], Duration::from_secs(5));
        assert_ne!(code, Some(101), "round {round}: a panic: {output}");
        assert!(
            code.is_none() || output.contains("alert-router.redb"),
            "round {round}: the error names the file: {output}"
        );
        let router = Router::start_in(dir, &["--storage.repair"]);
        let (status, _) = router
            .post_json("/api/v2/silences", &silence("after"))
            .await;
        assert_eq!(status, 200, "round {round}: writable after repair");
        dir = router.kill9();
        std::fs::write(&table, &clean).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_router_starts_on_a_full_disk_and_writes_once_space_returns() {
    let Some(fs) = SmallFs::mount(2 * 1024 * 1024) else {
        return;
    };
    let router = Router::start_in(state_dir_on(fs.path()), &[]);
    let (status, _) = router.post_json("/api/v2/alerts", &batch("Early", 5)).await;
    assert_eq!(status, 200);
    let dir = router.kill9();
    fs.fill();
    let router = Router::start_in(dir, &[]);
    assert_eq!(router.alert_count().await, 5, "what was saved came back");
    let (status, _) = router.post_json("/api/v2/alerts", &batch("Late", 20)).await;
    assert!(status >= 500, "nothing can be saved yet");
    assert_eq!(ready(&router).await.0, 503);
    fs.free();
    let (status, body) = router.post_json("/api/v2/alerts", &batch("Late", 20)).await;
    assert_eq!(status, 200, "{body}");
    // The compactor, which failed too, retries within 5s.
    wait_ready(&router).await;
    let dir = router.kill9();
    let router = Router::start_in(dir, &[]);
    assert_eq!(router.alert_count().await, 25);
}
