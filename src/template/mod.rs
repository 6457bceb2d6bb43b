//! Go `text/template` rendering over Alertmanager's notification data, with Alertmanager's
//! function set and our own default templates under the names users reference
//! (`slack.default.title`, `__subject`, `email.default.html`, …).
//!
//! The engine covers what notification templates use: actions with pipelines, variables,
//! `if`/`else if`/`else`, `range` (with `else`, `break`, `continue`), `with`, `define`,
//! `template`, `block`, whitespace trimming and comments.

mod data;
mod exec;
mod funcs;
mod lexer;
mod parse;
pub mod value;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use thiserror::Error;

pub use data::NotificationData;
pub use funcs::html_escape;
use parse::Node;
pub use value::Value;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum TemplateError {
    #[error("template: line {line}: {message}")]
    Parse { line: usize, message: String },
    #[error("template: {0}")]
    Exec(String),
    #[error("template file {path}: {message}")]
    File { path: String, message: String },
}

const DEFAULTS: &str = include_str!("default.tmpl");

/// A set of named templates: the defaults, then the user's `templates:` files (which may
/// redefine any of them).
#[derive(Debug, Clone)]
pub struct Templates {
    defines: HashMap<String, Vec<Node>>,
}

impl Templates {
    pub fn with_defaults() -> Result<Templates, TemplateError> {
        let mut t = Templates {
            defines: HashMap::new(),
        };
        t.add(DEFAULTS)?;
        for integration in crate::notify::registry::INTEGRATIONS {
            t.add(integration.templates)?;
        }
        Ok(t)
    }

    /// Adds every `define` of a template text.
    pub fn add(&mut self, text: &str) -> Result<(), TemplateError> {
        let (_, defines) = parse::parse(&lexer::split(text)?)?;
        self.defines.extend(defines);
        Ok(())
    }

    /// Loads the files matching each glob (a `*` in the last path component), in name order.
    pub fn add_globs(&mut self, globs: &[String]) -> Result<(), TemplateError> {
        for glob in globs {
            for path in expand_glob(glob)? {
                let text = std::fs::read_to_string(&path).map_err(|e| TemplateError::File {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?;
                self.add(&text).map_err(|e| TemplateError::File {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?;
            }
        }
        Ok(())
    }

    pub fn has(&self, name: &str) -> bool {
        self.defines.contains_key(name)
    }

    /// Renders a receiver field (itself a template, which may `template` the set's defines).
    pub fn render(&self, text: &str, data: &Value) -> Result<String, TemplateError> {
        self.render_mode(text, data, false)
    }

    /// Renders an HTML field: printed values are escaped unless made safe with `safeHtml`
    /// (or produced by `html`), as Alertmanager's html/template does for email bodies.
    pub fn render_html(&self, text: &str, data: &Value) -> Result<String, TemplateError> {
        self.render_mode(text, data, true)
    }

    fn render_mode(
        &self,
        text: &str,
        data: &Value,
        escape_html: bool,
    ) -> Result<String, TemplateError> {
        let (nodes, local) = parse::parse(&lexer::split(text)?)?;
        let mut exec;
        let merged;
        if local.is_empty() {
            exec = exec::Exec::new(&self.defines, data);
        } else {
            let mut all = self.defines.clone();
            all.extend(local);
            merged = all;
            exec = exec::Exec::new(&merged, data);
        }
        exec.escape_html = escape_html;
        exec.run(&nodes, data)?;
        Ok(exec.out)
    }

    /// Checks that a field parses, for config validation.
    pub fn check(text: &str) -> Result<(), TemplateError> {
        parse::parse(&lexer::split(text)?).map(|_| ())
    }
}

/// The existing files a `templates:` glob names; one matching nothing is allowed, as in
/// Alertmanager.
fn expand_glob(glob: &str) -> Result<Vec<std::path::PathBuf>, TemplateError> {
    let files =
        crate::config::glob::matching_files(Path::new(glob)).map_err(|e| TemplateError::File {
            path: glob.to_string(),
            message: e.to_string(),
        })?;
    Ok(files.into_iter().filter(|p| p.exists()).collect())
}

fn kv(labels: &crate::model::LabelSet) -> Value {
    Value::Kv(
        labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

/// Alertmanager's template data for a notification.
pub fn data_value(data: &NotificationData) -> Value {
    let alerts = data
        .alerts
        .iter()
        .map(|a| {
            Value::Map(BTreeMap::from([
                ("Status".to_string(), Value::Str(a.status.as_str().into())),
                ("Labels".to_string(), kv(&a.labels)),
                ("Annotations".to_string(), kv(&a.annotations)),
                ("StartsAt".to_string(), Value::Time(a.starts_at)),
                ("EndsAt".to_string(), Value::Time(a.ends_at)),
                (
                    "GeneratorURL".to_string(),
                    Value::Str(a.generator_url.to_string()),
                ),
                ("Fingerprint".to_string(), Value::Str(a.fingerprint.clone())),
            ]))
        })
        .collect();
    Value::Map(BTreeMap::from([
        ("Receiver".to_string(), Value::Str(data.receiver.clone())),
        (
            "Status".to_string(),
            Value::Str(data.status.as_str().into()),
        ),
        ("Alerts".to_string(), Value::Alerts(alerts)),
        ("GroupLabels".to_string(), kv(&data.group_labels)),
        ("CommonLabels".to_string(), kv(&data.common_labels)),
        (
            "CommonAnnotations".to_string(),
            kv(&data.common_annotations),
        ),
        (
            "ExternalURL".to_string(),
            Value::Str(data.external_url.clone()),
        ),
        ("AckURL".to_string(), Value::Str(data.ack_url.clone())),
        ("RouteLabels".to_string(), kv(&data.route_labels)),
    ]))
}

#[cfg(test)]
mod tests;
