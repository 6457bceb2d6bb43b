//! Micro benchmarks of the ingest hot path and of rendering: `cargo bench --bench hot_path`.
//! (Under `cargo test --all-targets` each case runs once.)

use std::sync::Arc;
use std::time::Duration;

use alert_router::config::LoadedConfig;
use alert_router::dispatch::{Dispatcher, DispatcherParts};
use alert_router::ingest::{decode_postable_alerts, DecodeContext, NoKnownAlerts, Timeouts};
use alert_router::model::time::parse_rfc3339;
use alert_router::model::{Alert, LabelSet};
use alert_router::mute::{Inhibitor, Muter, TimeIntervals};
use alert_router::notify::{NotificationData, NotificationLog, Notifier, Receivers};
use alert_router::route::RouteTree;
use alert_router::store::{AlertStore, Silences};
use alert_router::template::{data_value, Templates};
use chrono::Utc;

fn main() {
    divan::main();
}

const TIMEOUTS: Timeouts = Timeouts {
    resolve: Duration::from_secs(300),
    webhook: Duration::from_secs(3600),
};

fn labels(n: usize) -> LabelSet {
    let mut l: LabelSet = [
        ("alertname", "HighLatency"),
        ("instance", "host-17:9100"),
        ("job", "node"),
        ("severity", "critical"),
    ]
    .into_iter()
    .collect();
    for i in 4..n {
        l.insert(format!("label_{i}"), format!("value-{i}"));
    }
    l
}

#[divan::bench(args = [4, 20])]
fn fingerprint(bencher: divan::Bencher, n: usize) {
    let l = labels(n);
    bencher.bench_local(|| divan::black_box(&l).fingerprint());
}

fn body(alerts: usize) -> Vec<u8> {
    let list: Vec<serde_json::Value> = (0..alerts)
        .map(|i| {
            serde_json::json!({
                "labels": {"alertname": format!("Alert{}", i % 50), "instance": format!("host-{i}:9100"), "job": "node", "severity": "warning"},
                "annotations": {"summary": "load test alert", "description": "a longer description of the alert"},
                "generatorURL": "http://prometheus:9090/graph?g0.expr=up"
            })
        })
        .collect();
    serde_json::to_vec(&list).unwrap_or_default()
}

/// Alerts not seen before.
#[divan::bench(args = [1, 64, 256])]
fn decode_body(bencher: divan::Bencher, alerts: usize) {
    let b = body(alerts);
    let cx = DecodeContext {
        now: Utc::now(),
        timeouts: TIMEOUTS,
        known: &NoKnownAlerts,
    };
    bencher
        .counter(divan::counter::ItemsCount::new(alerts))
        .bench_local(|| decode_postable_alerts(divan::black_box(&b), cx));
}

/// Alerts re-sent unchanged, as Prometheus does every minute: they share the stored copies.
#[divan::bench(args = [64])]
fn decode_resent_body(bencher: divan::Bencher, alerts: usize) {
    let b = body(alerts);
    let store = AlertStore::new();
    let mut cx = DecodeContext {
        now: Utc::now(),
        timeouts: TIMEOUTS,
        known: &NoKnownAlerts,
    };
    if let Ok(first) = decode_postable_alerts(&b, cx) {
        for alert in first.alerts {
            store.put(alert);
        }
    }
    cx.known = &store;
    bencher
        .counter(divan::counter::ItemsCount::new(alerts))
        .bench_local(|| decode_postable_alerts(divan::black_box(&b), cx));
}

/// A tree of `teams` routes, each with two children, matched for an alert of the last team.
fn big_tree(teams: usize) -> RouteTree {
    let mut yaml = String::from("route:\n  receiver: default\n  routes:\n");
    for t in 0..teams {
        yaml.push_str(&format!(
            "    - matchers: ['team=\"t{t}\"']\n      receiver: default\n      routes:\n        - matchers: ['severity=~\"critical|page\"']\n        - matchers: ['env!=\"dev\"', 'service=~\"api-.*\"']\n"
        ));
    }
    yaml.push_str("receivers: [{name: default}]\n");
    let config = LoadedConfig::parse(&yaml).unwrap_or_else(|e| panic!("{e}"));
    RouteTree::build(config.route())
}

#[divan::bench(args = [10, 1000])]
fn route_match(bencher: divan::Bencher, teams: usize) {
    let tree = big_tree(teams);
    let mut l = labels(6);
    l.insert("team", format!("t{}", teams - 1));
    l.insert("service", "api-gateway");
    bencher.bench_local(|| tree.match_labels(divan::black_box(&l)));
}

fn alert(i: usize) -> Alert {
    let mut l = labels(6);
    l.insert("instance", format!("host-{i}:9100"));
    l.insert("alertname", format!("Alert{}", i % 500));
    let now = Utc::now();
    Alert {
        fingerprint: l.fingerprint(),
        labels: l,
        annotations: LabelSet::new(),
        starts_at: now,
        ends_at: now + chrono::Duration::minutes(5),
        generator_url: "".into(),
        updated_at: now,
        timeout: true,
        values: Default::default(),
    }
}

/// Putting an alert into its aggregation group (500 groups, group_by alertname).
#[divan::bench]
fn group_dispatch(bencher: divan::Bencher) {
    let config = LoadedConfig::parse(
        "route: {receiver: r, group_by: [alertname], group_wait: 1h}\nreceivers: [{name: r}]\n",
    )
    .unwrap();
    let routes = Arc::new(RouteTree::build(config.route()));
    let muter = Arc::new(Muter {
        silences: Arc::new(Silences::new(Duration::from_secs(3600), None)),
        inhibitor: Arc::new(Inhibitor::new(&[])),
        intervals: Arc::new(TimeIntervals::default()),
    });
    let backend = Arc::new(alert_router::state::memory::Memory::new());
    let notifier = Arc::new(Notifier {
        receivers: Receivers::build(&config).unwrap(),
        nflog: Arc::new(NotificationLog::new()),
        retention: Duration::from_secs(3600),
        muter,
        saved: backend.clone(),
    });
    let (escalator, _actions) = alert_router::escalate::Escalator::new(
        alert_router::escalate::Clock::System,
        backend.clone(),
        Arc::new(alert_router::leases::SingleNode),
        None,
    );
    let dispatcher = Dispatcher::new(DispatcherParts {
        routes,
        store: Arc::new(AlertStore::new()),
        notifier,
        escalator,
        schedules: backend,
        leases: Arc::new(alert_router::leases::SingleNode),
        external_url: "http://localhost:9093".into(),
    });
    let alerts: Vec<Arc<Alert>> = (0..10_000).map(|i| Arc::new(alert(i))).collect();
    let mut i = 0;
    bencher.bench_local(|| {
        i = (i + 1) % alerts.len();
        dispatcher.process(divan::black_box(&alerts[i]));
    });
}

/// The default Slack text and subject for a group of 10 alerts.
#[divan::bench]
fn render_slack_text(bencher: divan::Bencher) {
    let templates = Templates::with_defaults().unwrap();
    let alerts: Vec<Alert> = (0..10).map(alert).collect();
    let now = parse_rfc3339("2024-05-01T12:00:00Z").unwrap();
    let group: LabelSet = [("alertname", "Alert1")].into_iter().collect();
    let data = data_value(&NotificationData::new(
        "team",
        &group,
        &alerts,
        now,
        "http://localhost:9093",
    ));
    bencher.bench_local(|| {
        templates.render(
            r#"{{ template "slack.default.title" . }}{{ template "slack.default.text" . }}"#,
            divan::black_box(&data),
        )
    });
}
