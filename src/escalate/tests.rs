//! The escalation engine on tokio's paused clock: policies of hours run in milliseconds. The
//! deliverer is played by the test, which answers each page as delivered; real delivery is
//! covered end to end in tests/it/escalation.rs.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;

use super::*;
use crate::model::{Alert, LabelSet};

const MIN: u64 = 60;
const HOUR: u64 = 3600;

fn policy(name: &str, steps: &[(u64, &str)], repeat: Option<(u32, u64)>) -> Policy {
    Policy {
        name: name.into(),
        steps: steps
            .iter()
            .map(|(after, r)| Step {
                after: Duration::from_secs(*after),
                receivers: vec![r.to_string()],
                active_time_intervals: Vec::new(),
                until: EscalateUntil::Acknowledged,
            })
            .collect(),
        repeat_count: repeat.map_or(0, |r| r.0),
        repeat_interval: Duration::from_secs(repeat.map_or(0, |r| r.1)),
        reescalate_on_new_alerts: false,
        notify_acknowledged: false,
    }
}

fn alert(name: &str) -> Alert {
    let labels: LabelSet = [("alertname", name)].into_iter().collect();
    let now = chrono::Utc::now();
    Alert {
        fingerprint: labels.fingerprint(),
        labels,
        annotations: Default::default(),
        starts_at: now,
        ends_at: now + chrono::Duration::days(365),
        generator_url: "".into(),
        updated_at: now,
        timeout: false,
        values: Default::default(),
    }
}

struct Harness {
    escalator: Arc<Escalator>,
    actions: UnboundedReceiver<Action>,
    started: tokio::time::Instant,
    labels: LabelSet,
}

impl Harness {
    fn new(policies: Vec<Policy>) -> Harness {
        let (escalator, actions) = Escalator::new(
            Clock::tokio(),
            Arc::new(crate::state::memory::Memory::new()),
            Arc::new(crate::leases::SingleNode),
            None,
        );
        escalator.set_policies(Arc::new(Policies::from_list(policies)));
        escalator.start();
        Harness {
            escalator,
            actions,
            started: tokio::time::Instant::now(),
            labels: [("team", "db")].into_iter().collect(),
        }
    }

    fn flush(&self, policy: &str, firing: &[Alert], any_firing: bool) -> Option<String> {
        self.escalator.observe(&GroupFlush {
            group_key: "{}:{team=\"db\"}",
            group_labels: &self.labels,
            receiver: "route-receiver",
            policy: Some(policy),
            firing,
            any_firing,
        })
    }

    /// The next action within `within` of virtual time, with the minutes since the start;
    /// pages are answered as delivered.
    async fn next(&mut self, within: Duration) -> Option<(u64, Action)> {
        let action = tokio::time::timeout(within, self.actions.recv())
            .await
            .ok()??;
        let at = self.started.elapsed().as_secs() / MIN;
        if let Action::Page {
            incident,
            position,
            step,
            ..
        } = &action
        {
            self.escalator
                .step_done(
                    incident,
                    *position,
                    StepOutcome::Paged {
                        delivered: step.receivers.clone(),
                        failed: Vec::new(),
                    },
                )
                .await;
        }
        Some((at, action))
    }

    /// The next action, which must tell the receivers of `update`: its `by`, receivers and
    /// notice flag.
    async fn expect_tell(&mut self, expected: Update) -> (Option<String>, Vec<String>, bool) {
        match self.next(Duration::from_secs(1)).await {
            Some((
                _,
                Action::Tell {
                    update,
                    by,
                    receivers,
                    notice,
                    ..
                },
            )) if update == expected => (by, receivers, notice),
            other => panic!("expected {expected:?}, got {other:?}"),
        }
    }

    /// Minutes (since the start) and receivers of every page within `within`.
    async fn pages(&mut self, within: Duration) -> Vec<(u64, String)> {
        let until = tokio::time::Instant::now() + within;
        let mut out = Vec::new();
        while let Some((at, action)) = self
            .next(until.saturating_duration_since(tokio::time::Instant::now()))
            .await
        {
            if let Action::Page { step, .. } = action {
                out.push((at, step.receivers.join(",")));
            }
        }
        out
    }
}

#[tokio::test(start_paused = true)]
async fn an_unacknowledged_incident_escalates_through_every_step_and_round() {
    let mut h = Harness::new(vec![policy(
        "p0",
        &[
            (0, "slack"),
            (30 * MIN, "lead"),
            (HOUR, "director"),
            (2 * HOUR, "cto"),
        ],
        Some((1, 4 * HOUR)),
    )]);
    let id = h
        .flush("p0", &[alert("Down")], true)
        .expect("incident opened");
    let pages = h.pages(Duration::from_secs(12 * HOUR)).await;
    let expected: Vec<(u64, String)> = [
        (0, "slack"),
        (30, "lead"),
        (60, "director"),
        (120, "cto"),
        (240, "slack"),
        (270, "lead"),
        (300, "director"),
        (360, "cto"),
    ]
    .iter()
    .map(|(m, r)| (*m, r.to_string()))
    .collect();
    assert_eq!(pages, expected);
    let incident = h.escalator.get(&id).unwrap();
    assert_eq!(incident.state, IncidentState::Triggered);
    assert_eq!(incident.next_escalation_at, None);
    assert_eq!(
        incident.notified.iter().cloned().collect::<Vec<_>>(),
        vec!["cto", "director", "lead", "slack"]
    );
    assert_eq!(incident.timeline.last().unwrap().event, "exhausted");
}

#[tokio::test(start_paused = true)]
async fn acknowledging_stops_the_steps_and_unacknowledging_rearms_with_the_policy_gap() {
    let mut h = Harness::new(vec![policy(
        "p",
        &[(0, "slack"), (30 * MIN, "pager"), (HOUR, "email")],
        None,
    )]);
    let id = h.flush("p", &[alert("Down")], true).unwrap();
    assert_eq!(
        h.pages(Duration::from_secs(10 * MIN)).await,
        vec![(0, "slack".to_string())]
    );
    let acked = h
        .escalator
        .acknowledge(&id, "alice", Some("on it".into()))
        .await
        .unwrap();
    assert_eq!(acked.state, IncidentState::Acknowledged);
    assert_eq!(acked.acknowledged_by.as_deref(), Some("alice"));
    let (by, receivers, _) = h.expect_tell(Update::Acknowledged).await;
    assert_eq!(by.as_deref(), Some("alice"));
    assert_eq!(receivers, vec!["route-receiver", "slack"]);
    assert_eq!(
        h.escalator.acknowledge(&id, "bob", None).await,
        Err(IncidentError::Conflict(format!(
            "incident {id} is already acknowledged by alice"
        )))
    );
    assert!(
        h.pages(Duration::from_secs(5 * HOUR)).await.is_empty(),
        "no page while acknowledged"
    );

    // Unacknowledged at 5h10m: the pager step follows 30 minutes later, the email step an hour after that...
    let rearmed = h.escalator.unacknowledge(&id, "alice", None).await.unwrap();
    assert_eq!(rearmed.state, IncidentState::Triggered);
    let pages = h.pages(Duration::from_secs(3 * HOUR)).await;
    assert_eq!(
        pages,
        vec![
            (310 + 30, "pager".to_string()),
            (310 + 60, "email".to_string())
        ]
    );
    let events: Vec<String> = h
        .escalator
        .get(&id)
        .unwrap()
        .timeline
        .iter()
        .map(|e| e.event.clone())
        .collect();
    assert_eq!(
        events,
        vec![
            "triggered",
            "escalated",
            "acknowledged",
            "unacknowledged",
            "escalated",
            "escalated",
            "exhausted"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn steps_that_escalate_until_resolved_page_after_an_acknowledgement() {
    // As ai-code-review's path: Slack at once, on-call after 5 minutes, then the team lead and
    // everyone "if not resolved", which an acknowledgement does not stop.
    let mut p = policy(
        "p",
        &[
            (0, "slack"),
            (5 * MIN, "on-call"),
            (15 * MIN, "lead"),
            (30 * MIN, "all-hands"),
        ],
        None,
    );
    p.steps[2].until = EscalateUntil::Resolved;
    p.steps[3].until = EscalateUntil::Resolved;
    let mut h = Harness::new(vec![p]);
    let id = h.flush("p", &[alert("Down")], true).unwrap();
    assert_eq!(
        h.pages(Duration::from_secs(2 * MIN)).await,
        vec![(0, "slack".to_string())]
    );
    let acked = h.escalator.acknowledge(&id, "alice", None).await.unwrap();
    assert_eq!(acked.state, IncidentState::Acknowledged);
    assert_eq!(acked.next_step, Some(StepPosition { round: 0, step: 2 }));
    h.expect_tell(Update::Acknowledged).await;
    // The on-call step (stopped by the ack) is skipped; the steps until resolved still page.
    assert_eq!(
        h.pages(Duration::from_secs(20 * MIN)).await,
        vec![(15, "lead".to_string())]
    );
    assert_eq!(
        h.escalator.get(&id).unwrap().state,
        IncidentState::Acknowledged,
        "paging does not undo the acknowledgement"
    );
    h.escalator.resolve(&id, "alice", None).await.unwrap();
    h.expect_tell(Update::Resolved).await;
    assert!(
        h.pages(Duration::from_secs(2 * HOUR)).await.is_empty(),
        "a resolved incident pages no one"
    );
}

#[tokio::test(start_paused = true)]
async fn an_acknowledged_incident_restored_after_a_restart_still_escalates_until_resolved() {
    let mut p = policy("p", &[(0, "slack"), (30 * MIN, "lead")], None);
    p.steps[1].until = EscalateUntil::Resolved;
    let mut h = Harness::new(vec![p.clone()]);
    let id = h.flush("p", &[alert("Down")], true).unwrap();
    h.pages(Duration::from_secs(MIN)).await;
    h.escalator.acknowledge(&id, "alice", None).await.unwrap();
    let saved = serde_json::to_vec(&h.escalator.get(&id).unwrap()).unwrap();

    let (restarted, mut actions) = Escalator::new(
        Clock::tokio(),
        Arc::new(crate::state::memory::Memory::new()),
        Arc::new(crate::leases::SingleNode),
        None,
    );
    restarted.set_policies(Arc::new(Policies::from_list(vec![p])));
    restarted.restore(vec![saved]);
    restarted.start();
    let page = tokio::time::timeout(Duration::from_secs(HOUR), actions.recv())
        .await
        .expect("the until-resolved step pages after the restart");
    match page {
        Some(Action::Page { step, .. }) => assert_eq!(step.receivers, vec!["lead"]),
        other => panic!("expected a page, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn alerts_resolving_end_the_incident_and_tell_the_paged_receivers() {
    let mut h = Harness::new(vec![policy("p", &[(0, "slack"), (HOUR, "pager")], None)]);
    let id = h.flush("p", &[alert("Down")], true).unwrap();
    assert_eq!(h.pages(Duration::from_secs(MIN)).await.len(), 1);
    assert_eq!(h.flush("p", &[], false), None, "no link once resolved");
    let (by, receivers, _) = h.expect_tell(Update::Resolved).await;
    assert_eq!(by, None);
    assert_eq!(
        receivers,
        vec!["slack"],
        "the route's receiver hears through its own flush"
    );
    assert!(
        h.pages(Duration::from_secs(3 * HOUR)).await.is_empty(),
        "resolved stops the steps"
    );
    let incident = h.escalator.get(&id).unwrap();
    assert_eq!(incident.state, IncidentState::Resolved);
    assert!(!incident.episode_open);
    // The next firing episode is a new incident.
    let next = h.flush("p", &[alert("Down")], true).unwrap();
    assert_ne!(next, id);
}

#[tokio::test(start_paused = true)]
async fn new_alerts_join_an_acknowledged_incident_without_paging_unless_configured() {
    let mut quiet = policy("quiet", &[(0, "slack"), (HOUR, "pager")], None);
    quiet.notify_acknowledged = true;
    let mut loud = policy("loud", &[(0, "slack"), (HOUR, "pager")], None);
    loud.reescalate_on_new_alerts = true;
    for (name, pages_again) in [("quiet", false), ("loud", true)] {
        let mut h = Harness::new(vec![quiet.clone(), loud.clone()]);
        let id = h.flush(name, &[alert("A")], true).unwrap();
        assert_eq!(h.pages(Duration::from_secs(MIN)).await.len(), 1);
        h.escalator.acknowledge(&id, "alice", None).await.unwrap();
        let (_, _, notice) = h.expect_tell(Update::Acknowledged).await;
        assert_eq!(notice, name == "quiet");
        assert_eq!(
            h.flush(name, &[alert("A"), alert("B")], true),
            Some(id.clone())
        );
        let incident = h.escalator.get(&id).unwrap();
        assert_eq!(incident.alerts.len(), 2);
        let pages = h.pages(Duration::from_secs(2 * HOUR)).await;
        assert_eq!(!pages.is_empty(), pages_again, "{name}: {pages:?}");
        if pages_again {
            // Re-armed after the first step: the next one comes the policy's hour later.
            assert_eq!(pages, vec![(61, "pager".to_string())]);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_human_resolving_keeps_the_episode_until_its_alerts_resolve() {
    let mut h = Harness::new(vec![policy("p", &[(0, "slack"), (HOUR, "pager")], None)]);
    let id = h.flush("p", &[alert("Down")], true).unwrap();
    assert_eq!(h.pages(Duration::from_secs(MIN)).await.len(), 1);
    h.escalator
        .resolve(&id, "alice", Some("fixed the disk".into()))
        .await
        .unwrap();
    let (by, receivers, _) = h.expect_tell(Update::Resolved).await;
    assert_eq!(by.as_deref(), Some("alice"));
    assert_eq!(receivers, vec!["route-receiver", "slack"]);
    // The alert still fires: no new incident, no page.
    assert_eq!(h.flush("p", &[alert("Down")], true), None);
    assert!(h.pages(Duration::from_secs(2 * HOUR)).await.is_empty());
    assert_eq!(h.escalator.list(None, None, None).len(), 1);
    assert!(matches!(
        h.escalator.resolve(&id, "bob", None).await,
        Err(IncidentError::Conflict(_))
    ));
    assert_eq!(
        h.escalator.acknowledge("nope", "bob", None).await,
        Err(IncidentError::NotFound("nope".into()))
    );
}

#[tokio::test(start_paused = true)]
async fn incidents_are_filtered_by_state_receiver_and_priority() {
    let h = Harness::new(vec![policy("p", &[(HOUR, "pager")], None)]);
    let mut p0 = alert("Down");
    p0.labels.insert("priority", "P0");
    let id = h.flush("p", &[p0], true).unwrap();
    let escalator = &h.escalator;
    assert_eq!(
        escalator
            .list(Some(IncidentState::Triggered), None, None)
            .len(),
        1
    );
    assert_eq!(
        escalator
            .list(Some(IncidentState::Acknowledged), None, None)
            .len(),
        0
    );
    assert_eq!(escalator.list(None, Some("route-receiver"), None).len(), 1);
    assert_eq!(
        escalator.list(None, Some("pager"), None).len(),
        0,
        "not paged yet"
    );
    assert_eq!(escalator.list(None, None, Some("P0"))[0].id, id);
    assert_eq!(escalator.list(None, None, Some("P1")).len(), 0);
}
