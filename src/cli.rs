//! `check-config` and `routes`: offline commands whose output matches amtool's, so scripts and
//! habits built on amtool keep working.

use std::fmt::Write;
use std::path::Path;

use crate::model::{LabelSet, Matcher};
use crate::route::{print_matching_tree, print_tree, RouteTree};

fn uses_escalation(route: &crate::config::RouteConfig) -> bool {
    route.escalation.is_some() || route.routes.iter().any(uses_escalation)
}

/// Checks each file like `amtool check-config`; returns the report and whether all passed.
pub fn check_config(files: &[impl AsRef<Path>]) -> (String, bool) {
    let mut out = String::new();
    let mut failed = 0;
    for file in files {
        let file = file.as_ref();
        let _ = write!(out, "Checking '{}'", file.display());
        match crate::app::load_config(file) {
            Ok(c) => {
                let _ = writeln!(out, "  SUCCESS");
                let _ = writeln!(out, "Found:");
                let _ = writeln!(out, " - global config");
                let _ = writeln!(out, " - route");
                let _ = writeln!(out, " - {} inhibit rules", c.config.inhibit_rules.len());
                let _ = writeln!(out, " - {} receivers", c.config.receivers.len());
                let _ = writeln!(out, " - {} templates", c.config.templates.len());
                let escalates =
                    !c.config.escalation_policies.is_empty() || uses_escalation(c.route());
                let (rule_files, templates) = (
                    !c.config.rule_files.is_empty(),
                    !c.template_globs.is_empty(),
                );
                // What `serve` builds: receivers (templates, secrets, CA files), time
                // intervals, runbook rules and escalation policies.
                match crate::app::Blueprint::build(c, None) {
                    Ok(built) => {
                        if rule_files {
                            let _ = writeln!(
                                out,
                                " - {} runbook rule files",
                                built.classifier.files().count()
                            );
                        }
                        if escalates {
                            let _ = writeln!(
                                out,
                                " - {} escalation policies",
                                built.policies.iter().count()
                            );
                        }
                        // A warning, not a failure: the runbook is advice, the config decides.
                        for m in crate::app::channels::check(
                            &built.config,
                            &built.classifier,
                            &built.policies,
                        ) {
                            let _ = writeln!(out, "WARNING: {m}");
                        }
                        if templates {
                            let _ = writeln!(out, "  SUCCESS");
                        }
                    }
                    Err(e) => {
                        let _ = writeln!(out, "  FAILED: {e}");
                        failed += 1;
                    }
                }
            }
            Err(e) => {
                let _ = writeln!(out, "  FAILED: {e}");
                failed += 1;
            }
        }
        out.push('\n');
    }
    (out, failed == 0)
}

#[derive(Debug, thiserror::Error)]
pub enum RoutesTestError {
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("bad label {0:?}: {1}")]
    Label(String, String),
}

/// `routes test`: the receivers an alert with these labels reaches, as amtool prints them.
/// Returns the output and whether `expected` (a comma-separated list), if given, matched.
pub fn routes_test(
    config_file: &Path,
    labels: &[String],
    tree: bool,
    expected: Option<&str>,
) -> Result<(String, bool), RoutesTestError> {
    let config = crate::app::load_config(config_file)?;
    let routes = RouteTree::build(config.route());
    routes_test_on(&routes, labels, tree, expected)
}

/// `routes test` on a routing tree already built: the running router's, for the web UI.
pub fn routes_test_on(
    routes: &RouteTree,
    labels: &[String],
    tree: bool,
    expected: Option<&str>,
) -> Result<(String, bool), RoutesTestError> {
    let mut set = LabelSet::new();
    for arg in labels {
        // amtool accepts matcher syntax (`a=b`, `a="b"`) and uses the values as labels.
        let m =
            Matcher::parse(arg).map_err(|e| RoutesTestError::Label(arg.clone(), e.to_string()))?;
        set.insert(m.name, m.value);
    }
    let matched = routes.match_labels(&set);
    let receivers: Vec<&str> = matched
        .iter()
        .map(|&id| routes.get(id).receiver.as_str())
        .collect();
    let mut out = String::new();
    if tree {
        out.push_str("Matching routes:\n");
        out.push_str(&print_matching_tree(routes, &matched));
        out.push_str("\n\n");
    }
    let joined = receivers.join(",");
    out.push_str(&joined);
    out.push('\n');
    let ok = match expected {
        Some(want) => {
            let ok = want == joined;
            if !ok {
                out.push_str("WARNING: Expected receivers did not match resolved receivers.\n");
            }
            ok
        }
        None => true,
    };
    Ok((out, ok))
}

/// `routes show`: the whole routing tree.
pub fn routes_show(config_file: &Path) -> Result<String, RoutesTestError> {
    let config = crate::app::load_config(config_file)?;
    let routes = RouteTree::build(config.route());
    Ok(format!("Routing tree:\n{}\n", print_tree(&routes)))
}

/// `rules check`: loads and validates rule files; returns the report and whether all passed.
pub fn rules_check(paths: &[impl AsRef<Path>]) -> (String, bool) {
    let mut out = String::new();
    let mut ok = true;
    for path in paths {
        let path = path.as_ref();
        let files = if path.is_dir() {
            match crate::classify::rules::files_in_dir(path) {
                Ok(f) => f,
                Err(e) => {
                    let _ = writeln!(out, "Checking '{}'  FAILED: {e}", path.display());
                    ok = false;
                    continue;
                }
            }
        } else {
            vec![path.to_path_buf()]
        };
        for file in files {
            match crate::classify::load_file(&file) {
                Ok(f) => {
                    let thresholds: usize = f.rules.iter().map(|r| r.thresholds.len()).sum();
                    let _ = writeln!(
                        out,
                        "Checking '{}'  SUCCESS\n - runbook {}: {} levels, {} rules, {} thresholds, {} escalation steps",
                        file.display(),
                        f.runbook,
                        f.levels.len(),
                        f.rules.len(),
                        thresholds,
                        f.escalation.len()
                    );
                }
                Err(e) => {
                    let _ = writeln!(out, "Checking '{}'  FAILED: {e}", file.display());
                    ok = false;
                }
            }
        }
    }
    (out, ok)
}

#[derive(Debug, thiserror::Error)]
pub enum RulesTestError {
    #[error(transparent)]
    Routes(#[from] RoutesTestError),
    #[error(transparent)]
    App(#[from] crate::app::AppError),
    #[error("value={0:?} is not a number")]
    Value(String),
    #[error(transparent)]
    Policy(#[from] crate::escalate::PolicyError),
}

/// `rules test`: how the runbooks classify an alert with these labels and observed value, and
/// where it is routed then.
pub fn rules_test(
    config_file: &Path,
    rules_dir: Option<&Path>,
    args: &[String],
) -> Result<String, RulesTestError> {
    let config = crate::app::load_config(config_file).map_err(RoutesTestError::from)?;
    let classifier = crate::app::load_classifier(&config, rules_dir)?;
    rules_test_on(&config, &classifier, args)
}

/// `rules test` on a config and classifier already loaded: the running router's, for the web
/// UI.
pub fn rules_test_on(
    config: &crate::config::LoadedConfig,
    classifier: &crate::classify::Classifier,
    args: &[String],
) -> Result<String, RulesTestError> {
    let mut labels = LabelSet::new();
    let mut annotations = LabelSet::new();
    for arg in args {
        let m =
            Matcher::parse(arg).map_err(|e| RoutesTestError::Label(arg.clone(), e.to_string()))?;
        if m.name == "value" {
            crate::classify::parse_observed(&m.value)
                .ok_or_else(|| RulesTestError::Value(m.value.clone()))?;
            annotations.insert("value", m.value);
        } else {
            labels.insert(m.name, m.value);
        }
    }
    let now = chrono::Utc::now();
    let mut alert = crate::model::Alert {
        fingerprint: labels.fingerprint(),
        labels,
        annotations,
        starts_at: now - chrono::Duration::days(1),
        ends_at: now + chrono::Duration::minutes(5),
        generator_url: "".into(),
        updated_at: now,
        timeout: true,
        values: Default::default(),
    };
    let mut out = String::new();
    let classification = classifier.apply(&mut alert, now);
    match &classification {
        Some(c) => {
            let _ = writeln!(out, "runbook: {}", c.runbook);
            let _ = writeln!(out, "rule: {}", c.rule);
            match (c.observed, c.by_identity) {
                (Some(v), _) => {
                    let _ = writeln!(out, "observed: {v}");
                }
                (None, true) => {
                    let _ = writeln!(out, "observed: none (the runbook names this alert)");
                }
                (None, false) => {
                    let _ = writeln!(out, "observed: none (from the sender's severity)");
                }
            }
            let _ = writeln!(out, "severity: {}", c.severity);
            let _ = writeln!(out, "priority: {}", c.priority);
            let _ = writeln!(
                out,
                "response_sla: {}",
                c.response_sla.as_deref().unwrap_or("none")
            );
        }
        None => {
            let _ = writeln!(out, "no runbook rule applies: the alert keeps its labels");
        }
    }
    let _ = writeln!(out, "labels: {}", alert.labels);
    let routes = RouteTree::build(config.route());
    let receivers = routes.receivers_for(&alert.labels);
    let _ = writeln!(out, "receivers: {}", receivers.join(","));
    let policies = crate::escalate::Policies::build(config, classifier)?;
    let notified = crate::app::channels::first_notified(&routes, &policies, &alert.labels);
    let reached = crate::app::channels::channels_of(config, notified.iter().copied());
    let join = |set: &mut dyn Iterator<Item = &String>| {
        set.map(String::as_str).collect::<Vec<_>>().join(", ")
    };
    let _ = writeln!(out, "channels: {}", join(&mut reached.iter()));
    if let Some(named) = classification.as_ref().and_then(|c| {
        classifier
            .files()
            .find(|f| f.runbook == c.runbook)
            .and_then(|f| f.level(&c.priority))
            .map(|l| &l.channels)
    }) {
        let named_set: std::collections::BTreeSet<String> = named.iter().cloned().collect();
        match (named.is_empty(), named_set == reached) {
            (true, _) => {
                let _ = writeln!(out, "runbook channels: none named");
            }
            (false, true) => {
                let _ = writeln!(
                    out,
                    "runbook channels: {} (as routed)",
                    join(&mut named.iter())
                );
            }
            (false, false) => {
                let _ = writeln!(
                    out,
                    "runbook channels: {} (WARNING: the route reaches other channels)",
                    join(&mut named.iter())
                );
            }
        }
    }
    Ok(out)
}
