//! How much checking one alert against silences and inhibit rules costs as they grow:
//! `cargo bench --bench mute`. (Under `cargo test --all-targets` each case runs once.)

use std::sync::Arc;
use std::time::Duration;

use alert_router::config::LoadedConfig;
use alert_router::model::{Alert, LabelSet};
use alert_router::mute::{Inhibitor, Muter, TimeIntervals};
use alert_router::store::{Silence, SilenceMatcher, Silences};
use chrono::Utc;

fn main() {
    divan::main();
}

/// 0 / 1k / 10k silences and inhibiting alerts; smaller in the unoptimised smoke run under
/// `cargo test`, where building 10k silences alone takes seconds.
fn sizes() -> &'static [usize] {
    if cfg!(debug_assertions) {
        &[0, 100, 1_000]
    } else {
        &[0, 1_000, 10_000]
    }
}

fn matcher(name: &str, value: &str, is_regex: bool) -> SilenceMatcher {
    SilenceMatcher {
        name: name.into(),
        value: value.into(),
        is_regex,
        is_equal: true,
    }
}

#[derive(Clone, Copy)]
enum Kind {
    /// An alertname plus an instance pattern, and one in ten on a regex alternation
    /// (`batch-1|cron-1`, indexed under each literal).
    Mixed,
    /// Only a regex with a literal prefix, `host-1-.*`: indexed by the prefix.
    Prefix,
    /// Only a regex with no literal prefix, `.*host-1-.*`: the worst case, checked one by one.
    Unindexable,
}

fn muter(n: usize, kind: Kind) -> Muter {
    let now = Utc::now();
    let silences = Silences::new(Duration::from_secs(3600), None);
    for i in 0..n {
        let matchers = if matches!(kind, Kind::Prefix) {
            vec![matcher("instance", &format!("host-{i}-.*"), true)]
        } else if matches!(kind, Kind::Unindexable) {
            vec![matcher("instance", &format!(".*host-{i}-.*"), true)]
        } else if i % 10 == 0 {
            vec![matcher("job", &format!("batch-{i}|cron-{i}"), true)]
        } else {
            vec![
                matcher("alertname", &format!("Alert{i}"), false),
                matcher("instance", &format!("host-{i}.*"), true),
            ]
        };
        let silence = Silence {
            id: String::new(),
            matchers,
            starts_at: now,
            ends_at: now + chrono::Duration::hours(1),
            updated_at: now,
            created_by: "bench".into(),
            comment: String::new(),
        };
        silences.set(silence, now).expect("valid silence");
    }
    let config = LoadedConfig::parse(
        "route: {receiver: a}\nreceivers: [{name: a}]\ninhibit_rules:\n  - source_matchers: [severity=critical]\n    target_matchers: [severity=warning]\n    equal: [alertname, cluster]\n",
    )
    .expect("config");
    let inhibitor = Inhibitor::new(&config.config.inhibit_rules);
    for i in 0..n {
        let labels: LabelSet = [
            ("alertname", "NodeDown".to_string()),
            ("severity", "critical".into()),
            ("cluster", format!("c{i}")),
        ]
        .into_iter()
        .collect();
        inhibitor.observe(&Alert {
            fingerprint: labels.fingerprint(),
            labels,
            annotations: LabelSet::new(),
            starts_at: now,
            ends_at: now + chrono::Duration::hours(1),
            generator_url: "".into(),
            updated_at: now,
            timeout: true,
            values: Default::default(),
        });
    }
    Muter {
        silences: Arc::new(silences),
        inhibitor: Arc::new(inhibitor),
        intervals: Arc::new(TimeIntervals::default()),
    }
}

/// A target alert that is muted by neither: the full cost of finding nothing.
#[divan::bench(args = sizes())]
fn unmuted_alert(bencher: divan::Bencher, n: usize) {
    let muter = muter(n, Kind::Mixed);
    let labels: LabelSet = [
        ("alertname", "Alert7"),
        ("instance", "db-7:9100"),
        ("severity", "warning"),
        ("cluster", "x"),
        ("job", "node"),
    ]
    .into_iter()
    .collect();
    let now = Utc::now();
    bencher.bench_local(|| divan::black_box(muter.status(divan::black_box(&labels), now)));
}

/// A target alert that is both silenced and inhibited.
#[divan::bench(args = sizes())]
fn muted_alert(bencher: divan::Bencher, n: usize) {
    let muter = muter(n, Kind::Mixed);
    let labels: LabelSet = [
        ("alertname", "NodeDown"),
        ("instance", "host-7:9100"),
        ("severity", "warning"),
        ("cluster", "c7"),
    ]
    .into_iter()
    .collect();
    let now = Utc::now();
    bencher.bench_local(|| divan::black_box(muter.status(divan::black_box(&labels), now)));
}

/// Silences whose only matcher is a regex with a literal prefix.
#[divan::bench(args = sizes())]
fn prefix_regex_silences(bencher: divan::Bencher, n: usize) {
    let muter = muter(n, Kind::Prefix);
    let labels: LabelSet = [
        ("alertname", "Other"),
        ("instance", "host-7-db:9100"),
        ("severity", "info"),
    ]
    .into_iter()
    .collect();
    let now = Utc::now();
    bencher.bench_local(|| divan::black_box(muter.status(divan::black_box(&labels), now)));
}

/// Worst case: silences whose only matcher is a regex with no literal prefix, so each is
/// checked in turn.
#[divan::bench(args = sizes())]
fn unindexable_silences(bencher: divan::Bencher, n: usize) {
    let muter = muter(n, Kind::Unindexable);
    let labels: LabelSet = [
        ("alertname", "Other"),
        ("instance", "db-7:9100"),
        ("severity", "info"),
    ]
    .into_iter()
    .collect();
    let now = Utc::now();
    bencher.bench_local(|| divan::black_box(muter.status(divan::black_box(&labels), now)));
}
