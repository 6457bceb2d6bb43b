//! One conformance suite for every state backend: each case saves through the ports, reopens
//! the backend (the embedded one from its files, as a restart does) and checks what comes back.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::embedded::Embedded;
use super::memory::Memory;
use super::{Durability, StateBackend};
use crate::dispatch::GroupSchedule;
use crate::model::{Alert, Fingerprint, LabelSet};
use crate::notify::{NflogEntry, NflogKey};
use crate::store::{Silence, SilenceMatcher};

/// A backend under test, and how to get it back as after a restart.
trait Fixture {
    fn backend(&self) -> Arc<dyn StateBackend>;
    async fn reopen(&mut self) -> Arc<dyn StateBackend>;
}

struct MemoryFixture(Memory);

impl MemoryFixture {
    fn new() -> MemoryFixture {
        MemoryFixture(Memory::new())
    }
}

impl Fixture for MemoryFixture {
    fn backend(&self) -> Arc<dyn StateBackend> {
        Arc::new(self.0.handle())
    }

    async fn reopen(&mut self) -> Arc<dyn StateBackend> {
        self.backend()
    }
}

struct EmbeddedFixture {
    dir: tempfile::TempDir,
    current: Option<Arc<Embedded>>,
}

impl EmbeddedFixture {
    fn new() -> EmbeddedFixture {
        let dir = tempfile::tempdir().unwrap();
        let current = Embedded::open(dir.path(), Durability::Fsync, false).unwrap();
        EmbeddedFixture {
            dir,
            current: Some(Arc::new(current)),
        }
    }
}

impl Fixture for EmbeddedFixture {
    fn backend(&self) -> Arc<dyn StateBackend> {
        self.current.clone().unwrap()
    }

    async fn reopen(&mut self) -> Arc<dyn StateBackend> {
        if let Some(old) = self.current.take() {
            old.flush().await.unwrap();
        }
        // The old writer and compactor threads let go of the file on their own time.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let reopened = loop {
            match Embedded::open(self.dir.path(), Durability::Fsync, false) {
                Ok(b) => break b,
                Err(e) if std::time::Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("reopening: {e}"),
            }
        };
        self.current = Some(Arc::new(reopened));
        self.backend()
    }
}

fn alert(name: &str, summary: &str) -> Arc<Alert> {
    let labels: LabelSet = [("alertname", name)].into_iter().collect();
    let now = Utc::now();
    Arc::new(Alert {
        fingerprint: labels.fingerprint(),
        labels,
        annotations: [("summary", summary)].into_iter().collect(),
        starts_at: now,
        ends_at: now + chrono::Duration::minutes(5),
        generator_url: "http://prometheus/graph".into(),
        updated_at: now,
        timeout: false,
        values: Default::default(),
    })
}

fn key(group: &str) -> NflogKey {
    NflogKey {
        group_key: group.into(),
        receiver: "team".into(),
        integration: "webhook",
        index: 0,
    }
}

fn entry(firing: &[u64]) -> NflogEntry {
    NflogEntry {
        firing: firing.to_vec(),
        resolved: vec![],
        timestamp: Utc::now(),
        expires_at: Utc::now() + chrono::Duration::hours(1),
        in_flight: false,
    }
}

fn silence(id: &str, comment: &str) -> Silence {
    let now = crate::model::time::truncate_to_millis(Utc::now());
    Silence {
        id: id.into(),
        matchers: vec![SilenceMatcher {
            name: "alertname".into(),
            value: "A".into(),
            is_regex: false,
            is_equal: true,
        }],
        starts_at: now,
        ends_at: now + chrono::Duration::hours(1),
        updated_at: now,
        created_by: "me".into(),
        comment: comment.into(),
    }
}

async fn alerts_keep_their_latest_version_and_forget_deleted_ones(f: &mut impl Fixture) {
    let b = f.backend();
    let (a, c) = (alert("A", "one"), alert("C", "gone"));
    b.save_alerts(vec![a.clone(), alert("B", "two"), c.clone()])
        .await
        .unwrap();
    b.save_alerts(vec![alert("A", "one, later")]).await.unwrap();
    b.delete_alerts(vec![c.fingerprint]);
    drop(b);
    let mut got = f.reopen().await.recover().unwrap().alerts;
    got.sort_by_key(|a| a.labels.get("alertname").map(str::to_string));
    let summaries: Vec<(&str, &str)> = got
        .iter()
        .map(|a| {
            (
                a.labels.get("alertname").unwrap(),
                a.annotations.get("summary").unwrap(),
            )
        })
        .collect();
    assert_eq!(summaries, vec![("A", "one, later"), ("B", "two")]);
    assert_eq!(got[0].fingerprint, a.fingerprint);
    assert!(!got
        .iter()
        .any(|x| x.fingerprint == Fingerprint(c.fingerprint.0)));
}

async fn notification_log_entries_round_trip(f: &mut impl Fixture) {
    let b = f.backend();
    b.save_entry(key("g1"), entry(&[1])).await.unwrap();
    b.save_entry(key("g1"), entry(&[1, 2])).await.unwrap();
    b.save_entry(key("g2"), entry(&[3])).await.unwrap();
    let in_flight = NflogEntry {
        in_flight: true,
        ..entry(&[4])
    };
    b.save_entry(key("g3"), in_flight.clone()).await.unwrap();
    b.delete_entries(vec![key("g2")]);
    drop(b);
    let mut got = f.reopen().await.recover().unwrap().nflog;
    got.sort_by(|x, y| x.0.group_key.cmp(&y.0.group_key));
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].0, key("g1"));
    assert_eq!(got[0].1.firing, vec![1, 2]);
    assert_eq!(got[1].1, in_flight);
}

async fn silences_round_trip(f: &mut impl Fixture) {
    let b = f.backend();
    b.save_silence(&silence("s1", "first")).unwrap();
    b.save_silence(&silence("s1", "edited")).unwrap();
    b.save_silence(&silence("s2", "expired long ago")).unwrap();
    b.delete_silence("s2").unwrap();
    drop(b);
    let got = f.reopen().await.recover().unwrap().silences;
    let got: Vec<(&str, &str)> = got
        .iter()
        .map(|s| (s.id.as_str(), s.comment.as_str()))
        .collect();
    assert_eq!(got, vec![("s1", "edited")]);
}

async fn incidents_round_trip(f: &mut impl Fixture) {
    let b = f.backend();
    b.save_incident("00000000000000aa".into(), b"{\"v\":1}".to_vec());
    b.save_incident("00000000000000aa".into(), b"{\"v\":2}".to_vec());
    b.save_incident("00000000000000bb".into(), b"{\"v\":3}".to_vec());
    b.delete_incidents(vec!["00000000000000bb".into()]);
    b.incidents_saved().await.unwrap();
    drop(b);
    let got = f.reopen().await.recover().unwrap().incidents;
    assert_eq!(got, vec![b"{\"v\":2}".to_vec()]);
}

async fn group_schedules_round_trip(f: &mut impl Fixture) {
    let b = f.backend();
    let at = crate::model::time::truncate_to_millis(Utc::now());
    let schedule = GroupSchedule {
        has_flushed: true,
        next_flush: at,
    };
    b.save_schedule("g1".into(), schedule);
    b.save_schedule("g2".into(), schedule);
    b.delete_schedule("g2".into());
    b.flush().await.unwrap();
    drop(b);
    let got = f.reopen().await.recover().unwrap().groups;
    assert_eq!(got, vec![("g1".to_string(), schedule)]);
}

/// A backend shared by replicas reports the others' silence writes; one no one else writes to
/// reports none.
async fn silence_changes_come_from_other_writers_only(f: &mut impl Fixture) {
    let mine = f.backend();
    let Some(mut changes) = mine.silence_changes() else {
        return;
    };
    mine.save_silence(&silence("own", "mine")).unwrap();
    let other = f.backend();
    other
        .save_silence(&silence("theirs", "another replica's"))
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), changes.recv())
        .await
        .expect("a change arrives")
        .unwrap();
    assert_eq!(got.id, "theirs");
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod memory_backend {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(&mut super::MemoryFixture::new()).await;
                }
            )*
        }
        mod embedded_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(&mut super::EmbeddedFixture::new()).await;
                }
            )*
        }
    };
}

conformance!(
    alerts_keep_their_latest_version_and_forget_deleted_ones,
    notification_log_entries_round_trip,
    silences_round_trip,
    incidents_round_trip,
    group_schedules_round_trip,
    silence_changes_come_from_other_writers_only,
);
