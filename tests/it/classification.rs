//! Every row of every runbook table, one test each, named after the row and written from the
//! runbook's own words (`../shared/seeds/`), through the classifier as the router runs it over
//! `rules/*.yml`: a threshold row just below, at and just above its number, inside and past its
//! `for` window, written in each unit a sender may use; a named alert without a number by what
//! it is, whatever its sender says. `every_rule_row_has_its_runbook_test` ties the two together:
//! a row added to a rule file without its test here, or a test whose row the files lost, fails.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::OnceLock;

use alert_router::classify::rules::{files_in_dir, Op, Unit};
use alert_router::classify::{Classification, Classifier};
use alert_router::model::{Alert, LabelSet};
use chrono::{Duration, Utc};

/// How a runbook row classifies.
enum Kind {
    /// "`metric` `op` `value` [for `window`]": `unit` is the unit of the runbook's number,
    /// `bare` the unit a sender's bare number is read in (ratios for error rates and
    /// availability as Prometheus computes them, percents for usage).
    Threshold {
        op: Op,
        value: f64,
        unit: Unit,
        bare: Unit,
        window_secs: Option<i64>,
    },
    /// A named alert without a number ("Service Down").
    Identity,
}

struct Row {
    runbook: &'static str,
    alertname: &'static str,
    service: &'static str,
    kind: Kind,
    severity: &'static str,
    priority: &'static str,
}

const fn threshold(op: Op, value: f64, unit: Unit, bare: Unit) -> Kind {
    Kind::Threshold {
        op,
        value,
        unit,
        bare,
        window_secs: None,
    }
}

const fn held_for(kind: Kind, secs: i64) -> Kind {
    match kind {
        Kind::Threshold {
            op,
            value,
            unit,
            bare,
            ..
        } => Kind::Threshold {
            op,
            value,
            unit,
            bare,
            window_secs: Some(secs),
        },
        Kind::Identity => Kind::Identity,
    }
}

const PERCENT_OF_RATIO: (Unit, Unit) = (Unit::Percent, Unit::Ratio);
const PERCENT: (Unit, Unit) = (Unit::Percent, Unit::Percent);
const SECONDS: (Unit, Unit) = (Unit::Seconds, Unit::Seconds);
const SCORE: (Unit, Unit) = (Unit::Score, Unit::Score);

const fn over(value: f64, (unit, bare): (Unit, Unit)) -> Kind {
    threshold(Op::Greater, value, unit, bare)
}

const fn under(value: f64, (unit, bare): (Unit, Unit)) -> Kind {
    threshold(Op::Less, value, unit, bare)
}

macro_rules! runbook_rows {
    ($( $(#[doc = $says:literal])+ $name:ident: $runbook:literal, $alertname:literal on $service:literal,
        $kind:expr => $severity:literal $priority:literal; )+) => {
        const ROWS: &[(&str, Row)] = &[$((
            stringify!($name),
            Row {
                runbook: $runbook,
                alertname: $alertname,
                service: $service,
                kind: $kind,
                severity: $severity,
                priority: $priority,
            },
        )),+];
        $( $(#[doc = $says])+ #[test] fn $name() { check_row(stringify!($name)); } )+
    };
}

runbook_rows! {
    // --- hitl-api: seeds/000, Operational Runbook - Adaptive Immune System HITL API ---
    /// "Alerts": | Service Down | `/health` returns 5xx | Critical | Page on-call |, and
    /// "P0: Service Won't Start".
    hitl_api_alerts_service_down_health_returns_5xx:
        "hitl-api", "ServiceDown" on "hitl-api", Kind::Identity => "critical" "P0";
    /// "Alerts": | High Error Rate | Error rate > 1% for 5m | Warning | Investigate logs |, filed
    /// under "P1: High Error Rate".
    hitl_api_alerts_high_error_rate_over_1_percent_for_5m:
        "hitl-api", "HighErrorRate" on "hitl-api",
        held_for(over(1.0, PERCENT_OF_RATIO), 300) => "warning" "P1";
    /// "Alerts": | High Latency | P95 > 1s for 10m | Warning | Check database |, filed under
    /// "P2: Slow Response Times".
    hitl_api_alerts_high_latency_p95_over_1s_for_10m:
        "hitl-api", "HighLatency" on "hitl-api",
        held_for(over(1.0, SECONDS), 600) => "warning" "P2";
    /// "Alerts": | Low Availability | Uptime < 99.9% | Critical | Incident review |; also the
    /// "SLA" line "Availability: 99.9%".
    hitl_api_alerts_low_availability_uptime_under_99_9_percent:
        "hitl-api", "LowAvailability" on "hitl-api",
        under(99.9, PERCENT_OF_RATIO) => "critical" "P0";
    /// "SLA": "Error Rate: < 0.1%", an objective: an info notice (P3), over the rule's 5m.
    hitl_api_sla_error_rate_objective_0_1_percent:
        "hitl-api", "HighErrorRate" on "hitl-api",
        held_for(over(0.1, PERCENT_OF_RATIO), 300) => "info" "P3";
    /// "SLA": "Response Time: P95 < 500ms", an objective: an info notice (P3), over the rule's
    /// 10m.
    hitl_api_sla_response_time_objective_p95_500ms:
        "hitl-api", "HighLatency" on "hitl-api",
        held_for(over(0.5, SECONDS), 600) => "info" "P3";
    /// "Dependencies": | GitHub API | Wargaming integration | Yes | Rate limit endpoint |.
    hitl_api_dependencies_github_api_rate_limit:
        "hitl-api", "GitHubRateLimitExhausted" on "hitl-api", Kind::Identity => "warning" "P2";

    // --- counterfactual-lab: seeds/001 ---
    /// "Critical Alerts (P0 - Response within 15 minutes)": "High Error Rate (>5%)".
    counterfactual_lab_critical_high_error_rate_over_5_percent:
        "counterfactual-lab", "HighErrorRate" on "counterfactual-lab",
        over(5.0, PERCENT_OF_RATIO) => "critical" "P0";
    /// "Critical Alerts (P0 - Response within 15 minutes)": "Service Down".
    counterfactual_lab_critical_service_down:
        "counterfactual-lab", "ServiceDown" on "counterfactual-lab", Kind::Identity => "critical" "P0";
    /// "Critical Alerts (P0 - Response within 15 minutes)": "Security Breach".
    counterfactual_lab_critical_security_breach:
        "counterfactual-lab", "SecurityBreach" on "counterfactual-lab", Kind::Identity => "critical" "P0";
    /// "Warning Alerts (P1 - Response within 1 hour)": "High Response Time".
    counterfactual_lab_warning_high_response_time:
        "counterfactual-lab", "HighResponseTime" on "counterfactual-lab", Kind::Identity => "warning" "P1";
    /// "Warning Alerts (P1 - Response within 1 hour)": "Memory Usage High".
    counterfactual_lab_warning_memory_usage_high:
        "counterfactual-lab", "MemoryUsageHigh" on "counterfactual-lab", Kind::Identity => "warning" "P1";

    // --- core-agent: seeds/002, "Key Metrics to Monitor" | Metric | Warning | Critical | ---
    /// | Response Time (P95) | > 1s | > 2s | Scale up |, critical column.
    core_agent_response_time_p95_critical_over_2s:
        "core-agent", "HighResponseTime" on "core-agent", over(2.0, SECONDS) => "critical" "P1";
    /// | Response Time (P95) | > 1s | > 2s | Scale up |, warning column.
    core_agent_response_time_p95_warning_over_1s:
        "core-agent", "HighResponseTime" on "core-agent", over(1.0, SECONDS) => "warning" "P2";
    /// | Error Rate | > 1% | > 5% | Investigate immediately |, critical column.
    core_agent_error_rate_critical_over_5_percent:
        "core-agent", "HighErrorRate" on "core-agent", over(5.0, PERCENT_OF_RATIO) => "critical" "P1";
    /// | Error Rate | > 1% | > 5% | Investigate immediately |, warning column.
    core_agent_error_rate_warning_over_1_percent:
        "core-agent", "HighErrorRate" on "core-agent", over(1.0, PERCENT_OF_RATIO) => "warning" "P2";
    /// | CPU Usage | > 70% | > 90% | Scale up or optimize |, critical column.
    core_agent_cpu_usage_critical_over_90_percent:
        "core-agent", "HighCPUUsage" on "core-agent", over(90.0, PERCENT) => "critical" "P1";
    /// | CPU Usage | > 70% | > 90% | Scale up or optimize |, warning column.
    core_agent_cpu_usage_warning_over_70_percent:
        "core-agent", "HighCPUUsage" on "core-agent", over(70.0, PERCENT) => "warning" "P2";
    /// | Memory Usage | > 80% | > 95% | Scale up or fix leaks |, critical column.
    core_agent_memory_usage_critical_over_95_percent:
        "core-agent", "HighMemoryUsage" on "core-agent", over(95.0, PERCENT) => "critical" "P1";
    /// | Memory Usage | > 80% | > 95% | Scale up or fix leaks |, warning column.
    core_agent_memory_usage_warning_over_80_percent:
        "core-agent", "HighMemoryUsage" on "core-agent", over(80.0, PERCENT) => "warning" "P2";
    /// | Database Connections | > 80% of max | > 95% of max | Increase pool size |, critical.
    core_agent_database_connections_critical_over_95_percent_of_max:
        "core-agent", "HighDatabaseConnections" on "core-agent", over(95.0, PERCENT) => "critical" "P1";
    /// | Database Connections | > 80% of max | > 95% of max | Increase pool size |, warning.
    core_agent_database_connections_warning_over_80_percent_of_max:
        "core-agent", "HighDatabaseConnections" on "core-agent", over(80.0, PERCENT) => "warning" "P2";
    /// | Disk Usage | > 80% | > 90% | Clean up or expand |, critical column.
    core_agent_disk_usage_critical_over_90_percent:
        "core-agent", "HighDiskUsage" on "core-agent", over(90.0, PERCENT) => "critical" "P1";
    /// | Disk Usage | > 80% | > 90% | Clean up or expand |, warning column.
    core_agent_disk_usage_warning_over_80_percent:
        "core-agent", "HighDiskUsage" on "core-agent", over(80.0, PERCENT) => "warning" "P2";
    /// "Severity Levels": "P0 - Critical: Service down, data loss, security breach".
    core_agent_p0_service_down:
        "core-agent", "ServiceDown" on "core-agent", Kind::Identity => "critical" "P0";

    // --- ai-code-review: seeds/003, self-healing system ---
    /// Alert "System Health Critical": "Trigger: Health score < 50", critical (PagerDuty + Slack).
    ai_code_review_system_health_critical_health_score_under_50:
        "ai-code-review", "SystemHealthCritical" on "ai-code-review", under(50.0, SCORE) => "critical" "P0";
    /// Alert "High Error Rate": "Trigger: Error rate > 5%", critical (PagerDuty + Slack).
    ai_code_review_high_error_rate_over_5_percent:
        "ai-code-review", "HighErrorRate" on "ai-code-review", over(5.0, PERCENT_OF_RATIO) => "critical" "P0";
    /// Alert "Memory Critical": "Trigger: Memory > 95%", critical (PagerDuty + Slack).
    ai_code_review_memory_critical_over_95_percent:
        "ai-code-review", "MemoryCritical" on "ai-code-review", over(95.0, PERCENT) => "critical" "P0";
    /// Alert "Response Time Degraded": "Trigger: p95 > 2s", warning (Slack + Email), < 15 min.
    ai_code_review_response_time_degraded_p95_over_2s:
        "ai-code-review", "ResponseTimeDegraded" on "ai-code-review", over(2.0, SECONDS) => "warning" "P2";
    /// Alert "Circuit Breaker Opened": "Trigger: External service failures", warning, < 30 min.
    ai_code_review_circuit_breaker_opened:
        "ai-code-review", "CircuitBreakerOpened" on "ai-code-review", Kind::Identity => "warning" "P2";

    // --- agentic-platform: seeds/004, Operations Runbook ---
    /// "Alert Thresholds", Critical Alerts (Page immediately): "Error rate > 10%"; "P1 - Major":
    /// "API error rate > 10%".
    agentic_platform_critical_error_rate_over_10_percent:
        "agentic-platform", "HighErrorRate" on "agentic-platform", over(10.0, PERCENT_OF_RATIO) => "critical" "P1";
    /// "Alert Thresholds", Warning Alerts (Notify during business hours): "Error rate > 5%".
    agentic_platform_warning_error_rate_over_5_percent:
        "agentic-platform", "HighErrorRate" on "agentic-platform", over(5.0, PERCENT_OF_RATIO) => "warning" "P2";
    /// "P1 - Major": "Response time > 10 seconds".
    agentic_platform_major_response_time_over_10_seconds:
        "agentic-platform", "HighResponseTime" on "agentic-platform", over(10.0, SECONDS) => "critical" "P1";
    /// "Alert Thresholds", Warning Alerts: "Response time p95 > 5s".
    agentic_platform_warning_response_time_p95_over_5s:
        "agentic-platform", "HighResponseTime" on "agentic-platform", over(5.0, SECONDS) => "warning" "P2";
    /// "Alert Thresholds", Critical Alerts: "Disk usage > 90%".
    agentic_platform_critical_disk_usage_over_90_percent:
        "agentic-platform", "HighDiskUsage" on "agentic-platform", over(90.0, PERCENT) => "critical" "P1";
    /// "Alert Thresholds", Warning Alerts: "Disk usage > 80%".
    agentic_platform_warning_disk_usage_over_80_percent:
        "agentic-platform", "HighDiskUsage" on "agentic-platform", over(80.0, PERCENT) => "warning" "P2";
    /// "Alert Thresholds", Critical Alerts: "Memory usage > 95%".
    agentic_platform_critical_memory_usage_over_95_percent:
        "agentic-platform", "HighMemoryUsage" on "agentic-platform", over(95.0, PERCENT) => "critical" "P1";
    /// "Alert Thresholds", Warning Alerts: "Memory usage > 85%".
    agentic_platform_warning_memory_usage_over_85_percent:
        "agentic-platform", "HighMemoryUsage" on "agentic-platform", over(85.0, PERCENT) => "warning" "P2";
    /// "Alert Thresholds", Warning Alerts: "CPU usage > 80% for 10 minutes".
    agentic_platform_warning_cpu_usage_over_80_percent_for_10_minutes:
        "agentic-platform", "HighCPUUsage" on "agentic-platform",
        held_for(over(80.0, PERCENT), 600) => "warning" "P2";
    /// "Scenario 5: SSL Certificate Expired": `openssl x509 ... -checkend 86400`, valid for less
    /// than a day (86400 s) more.
    agentic_platform_ssl_certificate_expires_within_86400_seconds:
        "agentic-platform", "SSLCertificateExpiringSoon" on "agentic-platform",
        under(86400.0, SECONDS) => "critical" "P1";
    /// "Alert Thresholds", Critical Alerts: "API down (health check fails)"; "P0 - Critical":
    /// "API completely down".
    agentic_platform_critical_api_down_health_check_fails:
        "agentic-platform", "APIDown" on "agentic-platform", Kind::Identity => "critical" "P0";
    /// "Alert Thresholds", Critical Alerts: "Database down"; "P0 - Critical": "Database
    /// unavailable".
    agentic_platform_critical_database_down:
        "agentic-platform", "DatabaseDown" on "agentic-platform", Kind::Identity => "critical" "P0";
}

/// A row of a runbook's severity-level table: its priority, severity, response time (seconds;
/// `None` where the runbook states none) and the channels it names.
struct LevelRow {
    runbook: &'static str,
    priority: &'static str,
    severity: &'static str,
    response_secs: Option<u64>,
    channels: &'static [&'static str],
}

/// A row of a runbook's escalation path, in order: the delay (seconds; `None` where the runbook
/// gives none), who is notified, through what, and whether only resolving stops it.
struct StepRow {
    runbook: &'static str,
    position: usize,
    after_secs: Option<u64>,
    notify: &'static str,
    channels: &'static [&'static str],
    until_resolved: bool,
}

macro_rules! level_rows {
    ($( $(#[doc = $says:literal])+ $name:ident: $runbook:literal $priority:literal
        => $severity:literal, $response:expr, [$($channel:literal),*]; )+) => {
        const LEVELS: &[(&str, LevelRow)] = &[$((
            stringify!($name),
            LevelRow {
                runbook: $runbook,
                priority: $priority,
                severity: $severity,
                response_secs: $response,
                channels: &[$($channel),*],
            },
        )),+];
        $( $(#[doc = $says])+ #[test] fn $name() { check_level(stringify!($name)); } )+
    };
}

macro_rules! step_rows {
    ($( $(#[doc = $says:literal])+ $name:ident: $runbook:literal $position:literal
        => $after:expr, $notify:literal, [$($channel:literal),*], $until_resolved:literal; )+) => {
        const STEPS: &[(&str, StepRow)] = &[$((
            stringify!($name),
            StepRow {
                runbook: $runbook,
                position: $position,
                after_secs: $after,
                notify: $notify,
                channels: &[$($channel),*],
                until_resolved: $until_resolved,
            },
        )),+];
        $( $(#[doc = $says])+ #[test] fn $name() { check_step(stringify!($name)); } )+
    };
}

const MIN: u64 = 60;
const HOUR: u64 = 3600;
const DAY: u64 = 86_400;

level_rows! {
    /// "Incident Severity Levels": | P0 | Complete service outage | 15 minutes | (Slack only).
    hitl_api_level_p0_complete_service_outage_15_minutes:
        "hitl-api" "P0" => "critical", Some(15 * MIN), ["slack"];
    /// | P1 | Partial outage | 1 hour |.
    hitl_api_level_p1_partial_outage_1_hour: "hitl-api" "P1" => "critical", Some(HOUR), ["slack"];
    /// | P2 | Degraded performance | 4 hours |.
    hitl_api_level_p2_degraded_performance_4_hours:
        "hitl-api" "P2" => "warning", Some(4 * HOUR), ["slack"];
    /// | P3 | Minor issue | 1 business day |.
    hitl_api_level_p3_minor_issue_1_business_day: "hitl-api" "P3" => "info", Some(DAY), ["slack"];
    /// "Critical Alerts (P0 - Response within 15 minutes)", notified by email and phone.
    counterfactual_lab_level_p0_critical_within_15_minutes:
        "counterfactual-lab" "P0" => "critical", Some(15 * MIN), ["email", "phone"];
    /// "Warning Alerts (P1 - Response within 1 hour)", notified by email.
    counterfactual_lab_level_p1_warning_within_1_hour:
        "counterfactual-lab" "P1" => "warning", Some(HOUR), ["email"];
    /// "P0 - Critical: Service down, data loss, security breach" (no response time stated).
    core_agent_level_p0_critical: "core-agent" "P0" => "critical", None, [];
    /// "P1 - High: Severe performance degradation, partial outage".
    core_agent_level_p1_high: "core-agent" "P1" => "critical", None, [];
    /// "P2 - Medium: Non-critical feature broken, performance issues".
    core_agent_level_p2_medium: "core-agent" "P2" => "warning", None, [];
    /// "P3 - Low: Minor issues, no user impact".
    core_agent_level_p3_low: "core-agent" "P3" => "info", None, [];
    /// "Critical Alerts (PagerDuty + Slack)", "Response Time: Immediate (< 2 min)".
    ai_code_review_level_critical_pagerduty_slack_2_minutes:
        "ai-code-review" "P0" => "critical", Some(2 * MIN), ["pagerduty", "slack"];
    /// "Warning Alerts (Slack + Email)", "Response Time: < 15 min".
    ai_code_review_level_warning_slack_email_15_minutes:
        "ai-code-review" "P2" => "warning", Some(15 * MIN), ["slack", "email"];
    /// "P0 - Critical": complete service outage, "P0 Response (< 5 minutes)", paged.
    agentic_platform_level_p0_critical_5_minutes:
        "agentic-platform" "P0" => "critical", Some(5 * MIN), ["slack", "phone"];
    /// "P1 - Major": significant degradation, "Response Time: < 15 minutes", paged.
    agentic_platform_level_p1_major_15_minutes:
        "agentic-platform" "P1" => "critical", Some(15 * MIN), ["slack", "phone"];
    /// "P2 - Minor": "Response Time: < 1 hour", warnings "Notify during business hours".
    agentic_platform_level_p2_minor_1_hour: "agentic-platform" "P2" => "warning", Some(HOUR), [];
    /// "P3 - Low": "Response Time: Next business day", "Info Alerts (Log only)".
    agentic_platform_level_p3_low_next_business_day_log_only:
        "agentic-platform" "P3" => "info", Some(DAY), ["log"];
}

step_rows! {
    /// "On-Call Rotation": | Primary | Adaptive Immune Team | Slack: #adaptive-immune-oncall |.
    hitl_api_on_call_primary_adaptive_immune_team:
        "hitl-api" 0 => Some(0), "on-call", ["slack"], false;
    /// | Secondary | Platform Team | Slack: #platform-oncall |, after one P0 response time.
    hitl_api_on_call_secondary_platform_team:
        "hitl-api" 1 => Some(15 * MIN), "platform-team", ["slack"], false;
    /// | Escalation | Engineering Manager | Slack: #engineering-leadership |.
    hitl_api_on_call_escalation_engineering_manager:
        "hitl-api" 2 => Some(30 * MIN), "engineering-manager", ["slack"], false;
    /// "On-call Rotation": "Primary: daniel@terragon.ai (24/7)", an email address.
    counterfactual_lab_escalation_on_call:
        "counterfactual-lab" 0 => Some(0), "on-call", ["email"], false;
    /// "Secondary: team@terragon.ai", after one P0 response time.
    counterfactual_lab_escalation_secondary_on_call:
        "counterfactual-lab" 1 => Some(15 * MIN), "secondary-on-call", ["email"], false;
    /// "Escalation: security@terragon.ai", after two.
    counterfactual_lab_escalation_security_team:
        "counterfactual-lab" 2 => Some(30 * MIN), "security-team", ["email"], false;
    /// "Escalation Path": "1. On-Call Engineer".
    core_agent_escalation_on_call: "core-agent" 0 => Some(0), "on-call", [], false;
    /// "2. Team Lead" (no time given: the config's `escalation_delays`).
    core_agent_escalation_team_lead: "core-agent" 1 => None, "team-lead", [], false;
    /// "3. Engineering Manager" (no time given).
    core_agent_escalation_engineering_manager:
        "core-agent" 2 => None, "engineering-manager", [], false;
    /// "4. CTO" (no time given).
    core_agent_escalation_cto: "core-agent" 3 => None, "cto", [], false;
    /// "Level 1: Auto-Repair": "Duration: 0-5 minutes", "Notification: Info alert to Slack".
    ai_code_review_escalation_level_1_auto_repair:
        "ai-code-review" 0 => Some(0), "auto-repair", ["slack"], false;
    /// "Level 2: On-Call Engineer": "Duration: 5-15 minutes", "Warning alert to Slack + Email".
    ai_code_review_escalation_level_2_on_call_5_minutes:
        "ai-code-review" 1 => Some(5 * MIN), "on-call", ["slack", "email"], false;
    /// "Level 3: Team Lead": "Duration: 15-30 minutes", "Error alert + PagerDuty", "Escalate if
    /// not resolved in 15min".
    ai_code_review_escalation_level_3_team_lead_not_resolved_15_minutes:
        "ai-code-review" 2 => Some(15 * MIN), "team-lead", ["pagerduty"], true;
    /// "Level 4: Emergency Response": "Duration: 30+ minutes", "All hands on deck", "Critical
    /// alert + Phone calls".
    ai_code_review_escalation_level_4_all_hands_not_resolved_30_minutes:
        "ai-code-review" 3 => Some(30 * MIN), "all-hands", ["phone"], true;
    /// "Escalation Path": "1. On-call engineer (first responder)", by phone.
    agentic_platform_escalation_on_call_engineer:
        "agentic-platform" 0 => Some(0), "on-call", ["phone"], false;
    /// "2. Team lead (if issue not resolved in 30 minutes)".
    agentic_platform_escalation_team_lead_not_resolved_30_minutes:
        "agentic-platform" 1 => Some(30 * MIN), "team-lead", [], true;
    /// "3. Director of Engineering (if critical impact > 1 hour)".
    agentic_platform_escalation_director_critical_impact_1_hour:
        "agentic-platform" 2 => Some(HOUR), "director", [], true;
    /// "4. CTO (if major outage > 2 hours)".
    agentic_platform_escalation_cto_major_outage_2_hours:
        "agentic-platform" 3 => Some(2 * HOUR), "cto", [], true;
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn classifier() -> &'static Classifier {
    static RULES: OnceLock<Classifier> = OnceLock::new();
    RULES.get_or_init(|| {
        let files = files_in_dir(&root().join("rules")).expect("rules/ lists");
        assert_eq!(files.len(), 5, "one file per runbook");
        Classifier::load(&files).expect("rules load and validate")
    })
}

fn row(name: &str) -> &'static Row {
    &ROWS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no row {name}"))
        .1
}

/// The row's alert as a sender sends it: its labels, a sender `severity` if given, the value
/// as written, firing since `since_secs` ago.
fn alert(row: &Row, sender: Option<&str>, value: Option<&str>, since_secs: i64) -> Alert {
    let mut labels: LabelSet = [("alertname", row.alertname), ("service", row.service)]
        .into_iter()
        .collect();
    if let Some(severity) = sender {
        labels.insert("severity", severity);
    }
    let now = Utc::now();
    Alert {
        fingerprint: labels.fingerprint(),
        labels,
        annotations: value.map(|v| ("value", v)).into_iter().collect(),
        starts_at: now - Duration::seconds(since_secs),
        ends_at: now + Duration::minutes(5),
        generator_url: "".into(),
        updated_at: now,
        timeout: true,
        values: Default::default(),
    }
}

fn classify(a: &Alert) -> Option<Classification> {
    classifier().classify(a, Utc::now())
}

/// P0 is 0, the most urgent.
fn urgency(priority: &str) -> usize {
    ["P0", "P1", "P2", "P3"]
        .iter()
        .position(|p| *p == priority)
        .unwrap_or(4)
}

/// How far past or short of a row's number the boundary cases go, in the row's unit.
const STEP: f64 = 0.01;

/// One step past the line on the side where `op` holds, and one step short of it.
fn sides(op: Op, value: f64) -> (f64, f64) {
    match op {
        Op::Greater | Op::GreaterOrEqual => (value + STEP, value - STEP),
        Op::Less | Op::LessOrEqual => (value - STEP, value + STEP),
    }
}

/// The row's alert as it fires: a threshold row's value just past its line, for a day.
fn firing(row: &Row) -> Alert {
    match row.kind {
        Kind::Identity => alert(row, None, None, 0),
        Kind::Threshold {
            op, value, unit, ..
        } => alert(
            row,
            None,
            Some(&with_suffix(sides(op, value).0, unit)),
            DAY as i64,
        ),
    }
}

/// The number written with its unit's suffix, as the rule's unit.
fn with_suffix(number: f64, unit: Unit) -> String {
    match unit {
        Unit::Percent => format!("{number}%"),
        Unit::Seconds => format!("{number}s"),
        Unit::Milliseconds => format!("{number}ms"),
        _ => format!("{number}"),
    }
}

/// Every way a sender may write `number` (in the row's unit): with its suffix, in another unit
/// it converts from, and bare in the unit the rule reads bare numbers in.
fn written_forms(number: f64, unit: Unit, bare: Unit) -> Vec<String> {
    let mut forms = vec![with_suffix(number, unit)];
    if unit == Unit::Seconds {
        forms.push(format!("{}ms", number * 1000.0));
    }
    forms.push(match (unit, bare) {
        (Unit::Percent, Unit::Ratio) => format!("{}", number / 100.0),
        _ => format!("{number}"),
    });
    forms
}

fn assert_is_row(name: &str, row: &Row, got: Option<Classification>, what: &str) -> Classification {
    let c = got.unwrap_or_else(|| panic!("{name}: {what}: not classified"));
    assert_eq!(
        (c.runbook.as_str(), c.severity.as_str(), c.priority.as_str()),
        (row.runbook, row.severity, row.priority),
        "{name}: {what} (rule {})",
        c.rule
    );
    c
}

/// The row does not decide: nothing holds, or a less urgent row of the same table does.
fn assert_not_row(name: &str, row: &Row, got: Option<Classification>, what: &str) {
    if let Some(c) = got {
        assert!(
            urgency(&c.priority) > urgency(row.priority),
            "{name}: {what}: {} {} from rule {}, the row's own {} or more",
            c.severity,
            c.priority,
            c.rule,
            row.priority
        );
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

fn check_row(name: &str) {
    let row = row(name);
    match row.kind {
        Kind::Identity => check_identity(name, row),
        Kind::Threshold {
            op,
            value,
            unit,
            bare,
            window_secs,
        } => check_threshold(name, row, op, value, unit, bare, window_secs),
    }
}

fn check_identity(name: &str, row: &Row) {
    // What it is decides, whatever the sender calls it, and a number it carries is not read.
    for sender in [None, Some("info"), Some("warning"), Some("critical")] {
        for value in [None, Some("0"), Some("1e9")] {
            let what = format!("sent as {sender:?} with value {value:?}");
            let c = assert_is_row(name, row, classify(&alert(row, sender, value, 0)), &what);
            assert!(c.by_identity, "{name}: {what}: not by identity");
            assert_eq!(c.observed, None, "{name}: {what}");
        }
    }
}

fn check_threshold(
    name: &str,
    row: &Row,
    op: Op,
    value: f64,
    unit: Unit,
    bare: Unit,
    window_secs: Option<i64>,
) {
    let (holds, fails) = sides(op, value);
    let at_holds = matches!(op, Op::GreaterOrEqual | Op::LessOrEqual);
    let past = window_secs.unwrap_or(0) + 60;
    let at = |number: f64, since: i64| {
        classify(&alert(row, None, Some(&with_suffix(number, unit)), since))
    };

    // Just past, at and just short of the runbook's number.
    let c = assert_is_row(
        name,
        row,
        at(holds, past),
        &format!("{holds} (past the line)"),
    );
    assert!(!c.by_identity);
    assert!(
        c.observed.is_some_and(|o| close(o, holds)),
        "{name}: observed {:?}",
        c.observed
    );
    if at_holds {
        assert_is_row(
            name,
            row,
            at(value, past),
            &format!("{value} (at the line)"),
        );
    } else {
        assert_not_row(
            name,
            row,
            at(value, past),
            &format!("{value} (at the line)"),
        );
    }
    assert_not_row(
        name,
        row,
        at(fails, past),
        &format!("{fails} (short of the line)"),
    );

    // Units: each way of writing the value past the line reads the same.
    for text in written_forms(holds, unit, bare) {
        let c = assert_is_row(
            name,
            row,
            classify(&alert(row, None, Some(&text), past)),
            &format!("written {text:?}"),
        );
        assert!(
            c.observed.is_some_and(|o| close(o, holds)),
            "{name}: {text:?} observed {:?}, not {holds}",
            c.observed
        );
    }
    // A ratio rule does not read a bare percent number as a ratio of 100 times it.
    if bare == Unit::Ratio && holds > 1.0 {
        let text = format!("{holds}");
        let got = classify(&alert(row, None, Some(&text), past));
        assert!(
            got.is_none(),
            "{name}: bare {text:?} read as a ratio: {got:?}"
        );
    }

    // The `for` window: inside it the number does not count yet; past it, it does, and the
    // router knows when that is.
    match window_secs {
        Some(window) => {
            let inside = alert(row, None, Some(&with_suffix(holds, unit)), window - 60);
            let got = classify(&inside);
            assert!(
                got.is_none(),
                "{name}: inside its {window}s window: {got:?}"
            );
            assert_eq!(
                classifier().settles_at(&inside),
                Some(inside.starts_at + Duration::seconds(window)),
                "{name}: classified again when the window ends"
            );
            assert_is_row(name, row, at(holds, window + 1), "just past its window");
        }
        None => {
            let now = alert(row, None, Some(&with_suffix(holds, unit)), 0);
            assert_is_row(name, row, classify(&now), "firing since now (no window)");
            assert_eq!(classifier().settles_at(&now), None, "{name}: has no window");
        }
    }
}

/// The index of the row in its rule file: the rule that classifies it, and which threshold.
fn file_row_of(name: &str, row: &Row) -> (String, String, Option<usize>) {
    let c = classify(&firing(row)).unwrap_or_else(|| panic!("{name}: not classified"));
    let file = file(row.runbook);
    let rule = file.rules.iter().find(|r| r.name == c.rule).unwrap();
    let index = match row.kind {
        Kind::Identity => None,
        Kind::Threshold { op, value, .. } => Some(
            rule.thresholds
                .iter()
                .position(|t| t.op == op && t.value == value && t.priority == row.priority)
                .unwrap_or_else(|| {
                    panic!(
                        "{name}: rule {} has no row {op:?} {value} {}",
                        rule.name, row.priority
                    )
                }),
        ),
    };
    (file.runbook.clone(), rule.name.clone(), index)
}

#[test]
fn every_rule_row_has_its_runbook_test() {
    let mut tested = BTreeMap::new();
    for (name, row) in ROWS {
        if let Some(other) = tested.insert(file_row_of(name, row), *name) {
            panic!("{name} and {other} test the same row");
        }
    }
    let mut encoded = BTreeSet::new();
    for file in classifier().files() {
        for rule in &file.rules {
            if rule.identity.is_some() {
                encoded.insert((file.runbook.clone(), rule.name.clone(), None));
            }
            for i in 0..rule.thresholds.len() {
                encoded.insert((file.runbook.clone(), rule.name.clone(), Some(i)));
            }
        }
    }
    let tested: BTreeSet<_> = tested.into_keys().collect();
    let untested: Vec<_> = encoded.difference(&tested).collect();
    assert!(
        untested.is_empty(),
        "rows of rules/ without a test: {untested:?}"
    );
    assert_eq!(tested, encoded);
}

/// A sender's severity stands in for a missing value, through the file's severity_map, and
/// the router adds its labels without changing the fingerprint.
#[test]
fn sender_severity_stands_in_without_a_value_and_labels_are_added() {
    let mut checked = 0;
    for file in classifier().files() {
        let Some((_, row)) = ROWS
            .iter()
            .find(|(_, r)| r.runbook == file.runbook && matches!(r.kind, Kind::Threshold { .. }))
        else {
            continue;
        };
        for (sender, mapped) in &file.severity_map {
            let mut a = alert(row, Some(sender), None, 86_400);
            let fingerprint = a.fingerprint;
            let c = classifier()
                .apply(&mut a, Utc::now())
                .expect("classified from the sender's severity");
            assert_eq!(&c.priority, mapped, "{} sent as {sender}", file.runbook);
            assert_eq!(c.observed, None);
            assert_eq!(a.labels.get("priority"), Some(mapped.as_str()));
            assert_eq!(a.labels.get("runbook"), Some(file.runbook.as_str()));
            assert_eq!(
                a.labels.get("alertname"),
                Some(row.alertname),
                "sender label kept"
            );
            assert_eq!(
                a.fingerprint, fingerprint,
                "the fingerprint stays that of the alert as sent"
            );
            if c.severity != *sender {
                assert_eq!(a.labels.get("original_severity"), Some(sender.as_str()));
            }
            checked += 1;
        }
    }
    assert!(checked >= 10, "{checked}");
}

/// A value short of the line, or past it but inside the `for` window, never ranks higher than
/// the row itself, whatever the sender's severity says.
#[test]
fn a_sender_severity_never_outranks_the_threshold() {
    let mut checked = 0;
    for (name, row) in ROWS {
        let Kind::Threshold {
            op,
            value,
            unit,
            window_secs,
            ..
        } = row.kind
        else {
            continue;
        };
        let file = file(row.runbook);
        let (holds, fails) = sides(op, value);
        for sender in file.severity_map.keys() {
            let short = alert(row, Some(sender), Some(&with_suffix(fails, unit)), 86_400);
            if let Some(c) = classify(&short) {
                assert!(
                    urgency(&c.priority) >= urgency(row.priority),
                    "{name}: {fails} sent as {sender}: {} over {}",
                    c.priority,
                    row.priority
                );
            }
            if let Some(window) = window_secs {
                let inside = alert(
                    row,
                    Some(sender),
                    Some(&with_suffix(holds, unit)),
                    window / 2,
                );
                if let Some(c) = classify(&inside) {
                    assert!(
                        urgency(&c.priority) >= urgency(row.priority),
                        "{name}: inside its window sent as {sender}: {} over {}",
                        c.priority,
                        row.priority
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 40, "{checked}");
}

/// A bare number is read in the unit its rule states (`value_unit`): availability and error
/// rates as the ratios Prometheus computes, usage as a percent.
#[test]
fn bare_numbers_are_read_in_the_unit_each_rule_states() {
    let sent = |pairs: &[(&str, &str)], value: &str| {
        let mut a = alert(
            row("hitl_api_alerts_service_down_health_returns_5xx"),
            None,
            Some(value),
            86_400,
        );
        a.labels = pairs.iter().copied().collect();
        a
    };
    let classify = |pairs: &[(&str, &str)], value: &str| {
        classify(&sent(pairs, value)).map(|c| (c.priority, c.observed))
    };
    let availability = [("alertname", "LowAvailability"), ("service", "hitl-api")];
    // Uptime < 99.9% is the P0 line: 0.9995 is 99.95%, above it.
    assert_eq!(classify(&availability, "0.9995"), None);
    assert_eq!(
        classify(&availability, "0.998"),
        Some(("P0".to_string(), Some(99.8)))
    );
    assert_eq!(classify(&availability, "99.95%"), None);
    // A bare number that is no ratio is not read as 9995%: the alert carries no usable value.
    let unread = classifier()
        .classify(&sent(&availability, "99.95"), Utc::now())
        .map(|c| c.observed);
    assert!(matches!(unread, None | Some(None)), "{unread:?}");

    let errors = [
        ("alertname", "HighErrorRate"),
        ("service", "agentic-platform"),
    ];
    // > 10% is P1, > 5% P2.
    assert_eq!(
        classify(&errors, "0.12"),
        Some(("P1".to_string(), Some(12.0)))
    );
    assert_eq!(
        classify(&errors, "12%"),
        Some(("P1".to_string(), Some(12.0)))
    );
    assert_eq!(classify(&errors, "0.02"), None);

    let memory = [
        ("alertname", "HighMemoryUsage"),
        ("service", "agentic-platform"),
    ];
    let as_percent = classify(&memory, "95").map(|(_, observed)| observed);
    assert_eq!(
        as_percent,
        Some(Some(95.0)),
        "usage: a bare number is a percent"
    );
}

fn file(runbook: &str) -> &'static alert_router::classify::rules::RuleFile {
    classifier()
        .files()
        .find(|f| f.runbook == runbook)
        .unwrap_or_else(|| panic!("no runbook {runbook}"))
}

fn check_level(name: &str) {
    let (_, want) = LEVELS.iter().find(|(n, _)| *n == name).unwrap();
    let level = file(want.runbook)
        .levels
        .iter()
        .find(|l| l.priority == want.priority)
        .unwrap_or_else(|| panic!("{name}: no level {}", want.priority));
    assert_eq!(level.severity, want.severity, "{name}");
    assert_eq!(
        level.response_time.map(|d| d.0.as_secs()),
        want.response_secs,
        "{name}"
    );
    assert_eq!(level.channels, want.channels, "{name}");
    // An alert classified at this level carries its response time.
    for (row_name, row) in ROWS
        .iter()
        .filter(|(_, r)| r.runbook == want.runbook && r.priority == want.priority)
    {
        let (_, rule, _) = file_row_of(row_name, row);
        let c = classify(&firing(row)).unwrap();
        assert_eq!(c.rule, rule);
        assert_eq!(
            c.response_sla.is_some(),
            want.response_secs.is_some(),
            "{name}: {row_name}: response_sla {:?}",
            c.response_sla
        );
    }
}

fn check_step(name: &str) {
    let (_, want) = STEPS.iter().find(|(n, _)| *n == name).unwrap();
    let steps = &file(want.runbook).escalation;
    let step = steps
        .get(want.position)
        .unwrap_or_else(|| panic!("{name}: no step {}", want.position));
    assert_eq!(step.notify, want.notify, "{name}");
    assert_eq!(step.after.map(|d| d.0.as_secs()), want.after_secs, "{name}");
    assert_eq!(step.channels, want.channels, "{name}");
    assert_eq!(
        step.until == alert_router::config::EscalateUntil::Resolved,
        want.until_resolved,
        "{name}: until resolved"
    );
}

#[test]
fn every_level_and_escalation_step_has_its_runbook_test() {
    let mut levels: Vec<(String, String)> = LEVELS
        .iter()
        .map(|(_, l)| (l.runbook.to_string(), l.priority.to_string()))
        .collect();
    let mut steps: Vec<(String, usize)> = STEPS
        .iter()
        .map(|(_, s)| (s.runbook.to_string(), s.position))
        .collect();
    levels.sort();
    steps.sort();
    let mut encoded_levels = Vec::new();
    let mut encoded_steps = Vec::new();
    for f in classifier().files() {
        encoded_levels.extend(
            f.levels
                .iter()
                .map(|l| (f.runbook.clone(), l.priority.clone())),
        );
        encoded_steps.extend((0..f.escalation.len()).map(|i| (f.runbook.clone(), i)));
    }
    encoded_levels.sort();
    encoded_steps.sort();
    assert_eq!(levels, encoded_levels);
    assert_eq!(steps, encoded_steps);
}
