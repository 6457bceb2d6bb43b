//! High availability on a real PostgreSQL (the throwaway cluster `scripts/test` starts, at
//! `ALERT_ROUTER_TEST_PG`): three real replicas on loopback, each sent every alert as
//! Prometheus sends them, notify each group exactly once, and take a killed one's groups over
//! without paging them again.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{alert, Router, Sink};

/// A database of its own for one test, in the test run's PostgreSQL; `None` (skip) without
/// one outside CI.
async fn database() -> Option<String> {
    let Ok(server) = std::env::var("ALERT_ROUTER_TEST_PG") else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("ALERT_ROUTER_TEST_PG is required under CI (scripts/test starts PostgreSQL)");
        }
        eprintln!("skipping: no ALERT_ROUTER_TEST_PG (scripts/test starts PostgreSQL)");
        return None;
    };
    static CREATED: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "ha_{}_{}",
        std::process::id(),
        CREATED.fetch_add(1, Ordering::Relaxed)
    );
    let (client, connection) = tokio_postgres::connect(&server, tokio_postgres::NoTls)
        .await
        .expect("connect to the test PostgreSQL");
    tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    let base = server.rsplit_once('/').map_or(server.as_str(), |(b, _)| b);
    Some(format!("{base}/{name}"))
}

fn config(sink: &Sink) -> String {
    format!(
        r#"route:
  receiver: hook
  group_by: [alertname, group]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs: [{{url: '{}'}}]
"#,
        sink.url()
    )
}

fn replica(config: &str, store: &str, name: &str) -> Router {
    Router::start_with_args(
        config,
        &[
            "--cluster.store",
            store,
            "--cluster.peer-name",
            name,
            "--cluster.lease-ttl",
            "3s",
            "--cluster.heartbeat",
            "300ms",
        ],
    )
}

/// Replicas `replica-a`, `-b` and `-c` on one config and store.
fn three_replicas(config: &str, store: &str) -> [Router; 3] {
    ["replica-a", "replica-b", "replica-c"].map(|name| replica(config, store, name))
}

/// Waits until every replica lists `n` live peers and its leases have settled.
async fn wait_for_peers(replicas: &[&Router], n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut all = true;
        for r in replicas {
            let status = r.get_json("/api/v2/status").await;
            let peers = status["cluster"]["peers"].as_array().map_or(0, Vec::len);
            all &= peers == n && status["cluster"]["status"] == "ready";
        }
        if all {
            break;
        }
        assert!(Instant::now() < deadline, "replicas never saw {n} peers");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Shards move on the next heartbeats: give them two.
    tokio::time::sleep(Duration::from_millis(800)).await;
}

/// `groups` groups of `per_group` alerts, each labelled with its group.
fn alerts(groups: usize, per_group: usize, generation: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for g in 0..groups {
        for i in 0..per_group {
            out.push(alert(&[
                ("alertname", "Replicated"),
                ("group", &format!("g{g:03}")),
                ("instance", &format!("{generation}-{i}")),
            ]));
        }
    }
    out
}

/// Sends every alert to every live replica, as Prometheus does.
async fn fan_out(replicas: &[&Router], alerts: &[Value]) {
    for chunk in alerts.chunks(200) {
        for r in replicas {
            let (status, body) = r.post_json("/api/v2/alerts", &json!(chunk)).await;
            assert_eq!(status, 200, "{body}");
        }
    }
}

fn per_group(sink: &Sink) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for r in sink.received() {
        let group = r.body["groupLabels"]["group"]
            .as_str()
            .unwrap_or("?")
            .to_string();
        *counts.entry(group).or_insert(0) += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread")]
async fn three_replicas_notify_each_of_100_groups_exactly_once_per_change() {
    let Some(store) = database().await else {
        return;
    };
    let sink = Sink::start().await;
    let cfg = config(&sink);
    let [a, b, c] = three_replicas(&cfg, &store);
    let all = [&a, &b, &c];
    wait_for_peers(&all, 3).await;

    fan_out(&all, &alerts(100, 10, "first")).await;
    sink.wait_for(100, Duration::from_secs(15)).await;
    // Several group intervals of Prometheus re-sending the same alerts: nothing new to say.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        fan_out(&all, &alerts(100, 10, "first")).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let counts = per_group(&sink);
    assert_eq!(counts.len(), 100, "{counts:?}");
    assert!(
        counts.values().all(|&n| n == 1),
        "a group was notified more than once: {:?}",
        counts.iter().filter(|(_, &n)| n != 1).collect::<Vec<_>>()
    );
    // Each replica notified some: the groups are spread.
    for r in all {
        let sent = r
            .log()
            .iter()
            .filter(|l| l.contains("cluster shards taken"))
            .count();
        assert!(sent > 0, "a replica holds no shards: {:?}", r.log());
    }

    // A change to every group: one more notification each, from one replica.
    fan_out(&all, &alerts(100, 1, "second")).await;
    sink.wait_for(200, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let counts = per_group(&sink);
    assert!(
        counts.values().all(|&n| n == 2),
        "{:?}",
        counts.iter().filter(|(_, &n)| n != 2).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_replicas_groups_are_taken_over_without_paging_them_again() {
    let Some(store) = database().await else {
        return;
    };
    let sink = Sink::start().await;
    let cfg = config(&sink);
    let [a, b, c] = three_replicas(&cfg, &store);
    wait_for_peers(&[&a, &b, &c], 3).await;
    fan_out(&[&a, &b, &c], &alerts(30, 3, "first")).await;
    sink.wait_for(30, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(sink.count(), 30);

    let _dead = a.kill9();
    let killed = Instant::now();
    // The survivors take the dead replica's shards within the lease TTL and find in the
    // shared log what it sent: Prometheus keeps re-sending, and nobody pages again.
    wait_for_peers(&[&b, &c], 2).await;
    let taken_over_after = killed.elapsed();
    for _ in 0..3 {
        fan_out(&[&b, &c], &alerts(30, 3, "first")).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    assert_eq!(
        sink.count(),
        30,
        "groups were paged again after the takeover: {:?}",
        per_group(&sink)
    );
    assert!(
        taken_over_after < Duration::from_secs(15),
        "{taken_over_after:?}"
    );

    // And every group, the dead replica's included, is still notified on a change.
    fan_out(&[&b, &c], &alerts(30, 1, "second")).await;
    sink.wait_for(60, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let counts = per_group(&sink);
    assert_eq!(counts.len(), 30);
    assert!(counts.values().all(|&n| n == 2), "{counts:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_its_store_a_replica_fails_open_and_says_so() {
    let sink = Sink::start().await;
    // Nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let store = format!("postgres://postgres@127.0.0.1:{port}/none");
    let router = Router::start_with_args(
        &config(&sink),
        &[
            "--cluster.store",
            &store,
            "--cluster.lease-ttl",
            "900ms",
            "--cluster.heartbeat",
            "300ms",
        ],
    );
    router
        .post_json(
            "/api/v2/alerts",
            &json!([alert(&[("alertname", "Alone"), ("group", "g")])]),
        )
        .await;
    let got = sink.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].body["groupLabels"]["group"], "g");
    let status = router.get_json("/api/v2/status").await;
    assert_eq!(status["cluster"]["store"], "unreachable");
    assert_eq!(status["cluster"]["status"], "ready");
    let log = router.log().join("\n");
    assert!(log.contains("failing open"), "{log}");
    let metrics = router.metrics().await;
    assert!(
        metrics.contains("alert_router_cluster_store_up 0"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn silences_and_acknowledgements_on_one_replica_hold_on_all() {
    let Some(store) = database().await else {
        return;
    };
    let first = Sink::start().await;
    let second = Sink::start().await;
    let cfg = format!(
        r#"route:
  receiver: quiet
  group_by: [alertname, group]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
  routes:
    - matchers: ['priority="P0"']
      escalation: p0
receivers:
  - name: quiet
  - name: first
    webhook_configs: [{{url: '{}'}}]
  - name: second
    webhook_configs: [{{url: '{}'}}]
escalation_policies:
  - name: p0
    steps: [{{after: 0s, notify: [first]}}, {{after: 6s, notify: [second]}}]
"#,
        first.url(),
        second.url()
    );
    let [a, b, c] = three_replicas(&cfg, &store);
    let all = [&a, &b, &c];
    wait_for_peers(&all, 3).await;

    // A silence made on one replica reaches the others' indexes within a second (NOTIFY
    // brings it in tens of milliseconds; the heartbeat's re-read is the fallback).
    let (status, body) = a
        .post_json("/api/v2/silences", &silence("muted", "alice"))
        .await;
    assert_eq!(status, 200, "{body}");
    let made = Instant::now();
    for r in [&b, &c] {
        loop {
            let silences = r.get_json("/api/v2/silences").await;
            if silences.as_array().is_some_and(|s| s.len() == 1) {
                assert_eq!(silences[0]["createdBy"], "alice");
                eprintln!("silence on another replica after {:?}", made.elapsed());
                break;
            }
            assert!(
                made.elapsed() < Duration::from_secs(1),
                "the silence did not reach another replica within 1 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // Prometheus sends each alert's start (the rule's activeAt), the same to every replica.
    let started = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    let mut pages = Vec::new();
    for g in 0..10 {
        let mut page = alert(&[
            ("alertname", "Down"),
            ("group", &format!("g{g}")),
            ("priority", "P0"),
        ]);
        page["startsAt"] = json!(started);
        pages.push(page);
    }
    pages.push(alert(&[
        ("alertname", "Down"),
        ("group", "muted"),
        ("priority", "P0"),
    ]));
    fan_out(&all, &pages).await;
    // Step one pages each group once, across the three replicas; the silenced group never.
    first.wait_for(10, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let counts = per_group(&first);
    assert_eq!(counts.len(), 10, "{counts:?}");
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
    assert!(!counts.contains_key("muted"));

    // Every incident acknowledged on one replica, whichever replica pages it.
    let incidents = a.get_json("/api/v1/incidents?state=triggered").await;
    assert_eq!(incidents.as_array().unwrap().len(), 10, "{incidents:#}");
    for i in incidents.as_array().unwrap() {
        let id = i["id"].as_str().unwrap();
        let (status, body) = a
            .post_json(
                &format!("/api/v1/incidents/{id}/ack"),
                &json!({"by": "alice", "comment": "on it"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    // Behind a load balancer an incident's id must name it on every replica.
    let ids = |list: &Value| -> Vec<String> {
        let mut ids: Vec<String> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };
    let on_a = ids(&a.get_json("/api/v1/incidents").await);
    for r in [&b, &c] {
        assert_eq!(ids(&r.get_json("/api/v1/incidents").await), on_a);
    }
    // The second step was due 6 s after the first: no replica pages it.
    second.expect_no_more_than(0, Duration::from_secs(8)).await;
    for r in [&b, &c] {
        let incidents = r.get_json("/api/v1/incidents").await;
        assert!(
            incidents
                .as_array()
                .unwrap()
                .iter()
                .all(|i| i["state"] == "acknowledged" && i["acknowledgedBy"] == "alice"),
            "{incidents:#}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_replicas_escalation_timers_are_taken_over_step_by_step() {
    let Some(store) = database().await else {
        return;
    };
    let first = Sink::start().await;
    let second = Sink::start().await;
    let cfg = format!(
        r#"route:
  receiver: quiet
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: ['priority="P0"']
      escalation: p0
receivers:
  - name: quiet
  - name: first
    webhook_configs: [{{url: '{}'}}]
  - name: second
    webhook_configs: [{{url: '{}'}}]
escalation_policies:
  - name: p0
    steps: [{{after: 0s, notify: [first]}}, {{after: 9s, notify: [second]}}]
"#,
        first.url(),
        second.url()
    );
    let replicas = three_replicas(&cfg, &store);
    wait_for_peers(&replicas.iter().collect::<Vec<_>>(), 3).await;
    let page = [alert(&[("alertname", "ApiDown"), ("priority", "P0")])];
    fan_out(&replicas.iter().collect::<Vec<_>>(), &page).await;
    let paged = Instant::now();
    first.wait_for(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The replica that paged step one dies before step two is due.
    let owner = replicas
        .iter()
        .position(|r| r.log().iter().any(|l| l.contains("escalation step")))
        .expect("no replica paged");
    let mut survivors = Vec::new();
    for (i, r) in replicas.into_iter().enumerate() {
        if i == owner {
            let _ = r.kill9();
        } else {
            survivors.push(r);
        }
    }
    // Step two comes from a survivor, at its time, once; step one is not paged again.
    second.wait_for(1, Duration::from_secs(20)).await;
    assert!(
        paged.elapsed() >= Duration::from_secs(8),
        "step two came early: {:?}",
        paged.elapsed()
    );
    second.expect_no_more_than(1, Duration::from_secs(3)).await;
    assert_eq!(first.count(), 1, "step one was paged again");
    for r in &survivors {
        let incidents = r.get_json("/api/v1/incidents").await;
        let timeline = incidents[0]["timeline"].to_string();
        assert!(
            timeline.contains("\"step\":1") || timeline.contains("paged by another replica"),
            "{timeline}"
        );
    }
}

fn signal(router: &Router, sig: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(router.pid().to_string())
        .status()
        .expect("kill");
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_paused_past_its_lease_does_not_send_for_the_groups_it_lost() {
    let Some(store) = database().await else {
        return;
    };
    let sink = Sink::start().await;
    let cfg = config(&sink);
    let [a, b, c] = three_replicas(&cfg, &store);
    wait_for_peers(&[&a, &b, &c], 3).await;
    fan_out(&[&a, &b, &c], &alerts(30, 2, "first")).await;
    sink.wait_for(30, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sink.count(), 30);

    // Paused mid-run, as a VM stall or a long GC pause would, past its lease TTL; meanwhile
    // every group changes and the others take its groups over.
    signal(&a, "STOP");
    wait_for_peers(&[&b, &c], 2).await;
    fan_out(&[&b, &c], &alerts(30, 1, "second")).await;
    sink.wait_for(60, Duration::from_secs(15)).await;
    // Back: its timers fire at once for the groups it held, with leases it no longer has.
    signal(&a, "CONT");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let counts = per_group(&sink);
    assert!(
        counts.values().all(|&n| n == 2),
        "the paused replica sent for groups it lost: {:?}",
        counts.iter().filter(|(_, &n)| n != 2).collect::<Vec<_>>()
    );
    // And it rejoins: the next change is notified once per group, the three sharing again.
    wait_for_peers(&[&a, &b, &c], 3).await;
    fan_out(&[&a, &b, &c], &alerts(30, 1, "third")).await;
    sink.wait_for(90, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        per_group(&sink).values().all(|&n| n == 3),
        "{:?}",
        per_group(&sink)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_restarted_with_empty_storage_rejoins_and_takes_its_share() {
    let Some(store) = database().await else {
        return;
    };
    let sink = Sink::start().await;
    let cfg = config(&sink);
    let [a, b, c] = three_replicas(&cfg, &store);
    wait_for_peers(&[&a, &b, &c], 3).await;
    let (status, body) = b
        .post_json("/api/v2/silences", &silence("g000", "alice"))
        .await;
    assert_eq!(status, 200, "{body}");
    fan_out(&[&a, &b, &c], &alerts(30, 2, "first")).await;
    sink.wait_for(29, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sink.count(), 29, "the silenced group is not notified");

    let _lost = a.kill9();
    // A new machine: same name, nothing on disk. Prometheus sends it the alerts again.
    let fresh = replica(&cfg, &store, "replica-a");
    wait_for_peers(&[&fresh, &b, &c], 3).await;
    let silences = fresh.get_json("/api/v2/silences").await;
    assert_eq!(silences.as_array().map(Vec::len), Some(1), "{silences}");
    fan_out(&[&fresh, &b, &c], &alerts(30, 2, "first")).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        sink.count(),
        29,
        "groups were paged again: {:?}",
        per_group(&sink)
    );
    assert!(
        fresh
            .log()
            .iter()
            .any(|l| l.contains("cluster shards taken")),
        "the new replica took no shards"
    );
    fan_out(&[&fresh, &b, &c], &alerts(30, 1, "second")).await;
    sink.wait_for(58, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let counts = per_group(&sink);
    assert!(!counts.contains_key("g000"));
    assert!(counts.values().all(|&n| n == 2), "{counts:?}");
}

/// A PostgreSQL of one test's own, for a test that stops and starts it.
struct OwnPostgres {
    bin: std::path::PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

fn as_postgres_user(program: &std::path::Path) -> std::process::Command {
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if root {
        let mut c = std::process::Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        std::process::Command::new(program)
    }
}

impl OwnPostgres {
    fn start() -> OwnPostgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL is installed (scripts/test installs it)")
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .filter(|p| p.join("initdb").exists())
            .max()
            .expect("initdb");
        let dir = tempfile::tempdir().unwrap();
        let _ = std::process::Command::new("chown")
            .arg("postgres")
            .arg(dir.path())
            .status();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let ok = as_postgres_user(&bin.join("initdb"))
            .args(["-A", "trust", "-U", "postgres", "-D"])
            .arg(dir.path().join("data"))
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(ok.success(), "initdb");
        let pg = OwnPostgres { bin, dir, port };
        pg.run("start");
        pg
    }

    fn run(&self, action: &str) {
        let mut c = as_postgres_user(&self.bin.join("pg_ctl"));
        c.arg("-D").arg(self.dir.path().join("data")).arg("-w");
        if action == "start" {
            c.arg("-l")
                .arg(self.dir.path().join("log"))
                .arg("-o")
                .arg(format!(
                    "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
                    self.port,
                    self.dir.path().display()
                ));
        } else {
            c.args(["-m", "immediate"]);
        }
        let ok = c
            .arg(action)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(ok.success(), "pg_ctl {action}");
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let mut c = as_postgres_user(&self.bin.join("pg_ctl"));
        let _ = c
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

async fn wait_store(replicas: &[&Router], state: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut all = true;
        for r in replicas {
            all &= r.get_json("/api/v2/status").await["cluster"]["store"] == state;
        }
        if all {
            return;
        }
        assert!(Instant::now() < deadline, "the store never became {state}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn silence(group: &str, by: &str) -> Value {
    json!({"matchers": [{"name": "group", "value": group, "isRegex": false}],
        "startsAt": "2020-01-01T00:00:00Z", "endsAt": "2099-01-01T00:00:00Z",
        "createdBy": by, "comment": "maintenance"})
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_stopped_mid_run_fails_open_and_converges_when_it_returns() {
    if database().await.is_none() {
        return;
    }
    let pg = OwnPostgres::start();
    let sink = Sink::start().await;
    let cfg = config(&sink);
    let (a, b) = (
        replica(&cfg, &pg.url(), "replica-a"),
        replica(&cfg, &pg.url(), "replica-b"),
    );
    wait_for_peers(&[&a, &b], 2).await;
    let (status, _) = a
        .post_json("/api/v2/silences", &silence("s1", "alice"))
        .await;
    assert_eq!(status, 200);
    fan_out(&[&a, &b], &alerts(10, 1, "first")).await;
    sink.wait_for(10, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sink.count(), 10);

    pg.run("stop");
    wait_store(&[&a, &b], "unreachable").await;
    // Alone, each notifies every group: pages arrive, some twice (counted, allowed).
    fan_out(&[&a, &b], &alerts(10, 1, "second")).await;
    sink.wait_for(20, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let during = per_group(&sink);
    assert!(during.values().all(|&n| n >= 2), "{during:?}");
    let duplicates = sink.count() - 20;
    eprintln!("fail-open duplicates while PostgreSQL was down: {duplicates} of 10 groups");
    let (status, _) = b.post_json("/api/v2/silences", &silence("s2", "bob")).await;
    assert_eq!(status, 200, "silences are made while the store is away");

    pg.run("start");
    wait_store(&[&a, &b], "ok").await;
    wait_for_peers(&[&a, &b], 2).await;
    // The silence made during the outage reaches the other replica; none is lost.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let counts: Vec<usize> = [
            a.get_json("/api/v2/silences").await,
            b.get_json("/api/v2/silences").await,
        ]
        .iter()
        .map(|s| s.as_array().map_or(0, Vec::len))
        .collect();
        if counts == [2, 2] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "silences did not converge: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // One owner per group again.
    let before = sink.count();
    fan_out(&[&a, &b], &alerts(10, 1, "third")).await;
    sink.wait_for(before + 10, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(sink.count(), before + 10, "{:?}", per_group(&sink));
}
