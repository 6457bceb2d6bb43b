//! Loading a config completely: `config`'s own checks (Alertmanager's rules, with lines), then
//! those that need the rest of the router: every templated receiver field and template file
//! parses, every time interval compiles. Every command loads through here, so `check-config`,
//! `serve` and a reload agree on what is valid.

use std::path::Path;

use crate::config::{templated_fields, ConfigError, LoadedConfig, TimeIntervalConfig};
use crate::mute::{TimeIntervalError, TimeIntervals};
use crate::template::Templates;

/// Reads and checks a config file.
pub fn load_config(path: &Path) -> Result<LoadedConfig, ConfigError> {
    let config = LoadedConfig::load_file(path)?;
    check(&config)?;
    Ok(config)
}

/// Parses and checks config text (paths in it resolve against the working directory).
pub fn parse_config(source: &str) -> Result<LoadedConfig, ConfigError> {
    let config = LoadedConfig::parse(source)?;
    check(&config)?;
    Ok(config)
}

fn check(config: &LoadedConfig) -> Result<(), ConfigError> {
    let mut problems = Vec::new();
    for r in &config.config.receivers {
        for (field, text) in templated_fields(r) {
            if let Err(e) = Templates::check(text) {
                problems.push(ConfigError::Invalid {
                    message: format!("receiver {:?}: {field}: {e}", r.name),
                    line: config.line_of("name", &r.name),
                });
            }
        }
    }
    let mut routes = vec![config.route()];
    while let Some(route) = routes.pop() {
        for (name, text) in &route.labels {
            if let Err(e) = Templates::check(text) {
                problems.push(ConfigError::Invalid {
                    message: format!("route label {name:?}: {e}"),
                    line: config.line_of(name, ""),
                });
            }
        }
        routes.extend(&route.routes);
    }
    let intervals: Vec<TimeIntervalConfig> = config.time_interval_configs();
    if let Err(e) = TimeIntervals::build(&intervals) {
        let TimeIntervalError::Invalid { name, .. } = &e;
        problems.push(ConfigError::Invalid {
            line: config.line_of("name", name),
            message: e.to_string(),
        });
    }
    // A template file that does not parse fails the config, as in Alertmanager.
    if let Err(e) = Templates::with_defaults().and_then(|mut t| t.add_globs(&config.template_globs))
    {
        problems.push(ConfigError::Invalid {
            message: e.to_string(),
            line: None,
        });
    }
    match problems.len() {
        0 => Ok(()),
        1 => Err(problems.remove(0)),
        _ => Err(ConfigError::Several(problems)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_that_does_not_parse_fails_the_config_with_its_receiver_and_line() {
        let e = parse_config(
            "global: {slack_api_url: 'http://s'}\nroute: {receiver: a}\nreceivers:\n  - name: a\n    slack_configs: [{title: '{{ .Status '}]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("receiver \"a\": slack title")
                && e.contains("unclosed")
                && e.contains("(line 4)"),
            "{e}"
        );
    }

    #[test]
    fn structural_problems_come_first_and_alone() {
        // The template is never checked while the route points nowhere.
        let e = parse_config(
            "route: {receiver: nope}\nreceivers:\n  - name: a\n    webhook_configs: [{url: 'http://x'}]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("undefined receiver \"nope\""), "{e}");
    }
}
