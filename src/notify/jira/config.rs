//! `jira_configs`: one Jira issue per alert group, found again by its `ALERT{…}` label,
//! updated while the group changes, resolved and reopened through workflow transitions.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

use crate::config::PromDuration;
use crate::config::{check_http_config, check_http_url, GlobalConfig, HttpClientConfig};
use crate::notify::registry::{BuildEnv, IntegrationConfig, Notify, Registered};
use crate::notify::IntegrationError;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JiraConfig {
    pub send_resolved: Option<bool>,
    pub http_config: Option<HttpClientConfig>,
    /// The REST API's base, `https://example.atlassian.net/rest/api/2/` (or `/3/`).
    pub api_url: Option<String>,
    /// Which search endpoint to use: `auto` (the default), `cloud` or `datacenter`.
    pub api_type: Option<String>,
    pub project: Option<String>,
    pub summary: Option<JiraFieldConfig>,
    pub description: Option<JiraFieldConfig>,
    #[serde(default)]
    pub labels: Vec<String>,
    /// Unset, `jira.default.priority`; rendering to nothing sends no priority.
    pub priority: Option<String>,
    pub issue_type: Option<String>,
    pub reopen_transition: Option<String>,
    pub resolve_transition: Option<String>,
    pub wont_fix_resolution: Option<String>,
    pub reopen_duration: Option<PromDuration>,
    /// Other issue fields, custom ones too: every string in them (keys too) is a template,
    /// and a string that renders to YAML structure becomes that structure.
    #[serde(default)]
    pub fields: BTreeMap<String, serde_yaml_ng::Value>,
}

/// `summary` and `description`: a template string, or `{template, enable_update}`.
#[derive(Debug, Clone, Default)]
pub struct JiraFieldConfig {
    pub template: Option<String>,
    /// `false` leaves the field alone when an existing issue is updated.
    pub enable_update: Option<bool>,
}

impl JiraFieldConfig {
    pub fn enable_update(&self) -> bool {
        self.enable_update.unwrap_or(true)
    }
}

impl<'de> Deserialize<'de> for JiraFieldConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Full {
            template: Option<String>,
            enable_update: Option<bool>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Template(String),
            Full(Full),
        }
        match Form::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "a jira field is a template string or a map with template and enable_update",
            )
        })? {
            Form::Template(t) => Ok(JiraFieldConfig {
                template: Some(t),
                enable_update: None,
            }),
            Form::Full(f) => Ok(JiraFieldConfig {
                template: f.template,
                enable_update: f.enable_update,
            }),
        }
    }
}

fn set(v: &Option<String>) -> bool {
    v.as_deref().is_some_and(|s| !s.is_empty())
}

impl JiraConfig {
    /// The block's `api_url`, else the global `jira_api_url`.
    pub fn api_url(&self, global: &GlobalConfig) -> Result<String, String> {
        self.api_url
            .clone()
            .filter(|u| !u.is_empty())
            .or_else(|| global.jira_api_url.clone().filter(|u| !u.is_empty()))
            .ok_or_else(|| "no global Jira Cloud URL set".into())
    }

    /// Alertmanager gives a block without `http_config` the global one.
    pub fn http<'a>(&'a self, global: &'a GlobalConfig) -> Option<&'a HttpClientConfig> {
        self.http_config.as_ref().or(global.http_config.as_ref())
    }
}

impl IntegrationConfig for JiraConfig {
    fn check(&self, global: &GlobalConfig) -> Result<(), String> {
        if !set(&self.project) {
            return Err("missing project in jira_config".into());
        }
        if !set(&self.issue_type) {
            return Err("missing issue_type in jira_config".into());
        }
        if !matches!(
            self.api_type.as_deref().unwrap_or("auto"),
            "auto" | "cloud" | "datacenter"
        ) {
            return Err(
                "unknown api_type on jira_config, must be auto, cloud or datacenter".into(),
            );
        }
        check_http_url(&self.api_url(global)?).map_err(|e| format!("jira api_url: {e}"))?;
        check_http_config(self.http(global))
    }

    fn templated_fields(&self) -> Vec<(&'static str, &str)> {
        let mut out: Vec<(&'static str, &str)> = [
            ("jira project", &self.project),
            ("jira issue_type", &self.issue_type),
            ("jira priority", &self.priority),
        ]
        .into_iter()
        .filter_map(|(name, v)| v.as_deref().map(|t| (name, t)))
        .collect();
        if let Some(t) = self.summary.as_ref().and_then(|s| s.template.as_deref()) {
            out.push(("jira summary", t));
        }
        if let Some(t) = self
            .description
            .as_ref()
            .and_then(|s| s.template.as_deref())
        {
            out.push(("jira description", t));
        }
        for label in &self.labels {
            out.push(("jira label", label));
        }
        for (key, value) in &self.fields {
            out.push(("jira field name", key));
            collect_strings(value, &mut out);
        }
        out
    }

    fn build(&self, env: &BuildEnv) -> Result<Box<dyn Notify>, IntegrationError> {
        Ok(Box::new(super::JiraNotifier::new(
            self,
            env.global,
            env.templates.clone(),
        )?))
    }
}

impl Registered for JiraConfig {
    const NAME: &'static str = "jira";
    const TEMPLATES: &'static str = include_str!("default.tmpl");
}

fn collect_strings<'a>(value: &'a serde_yaml_ng::Value, out: &mut Vec<(&'static str, &'a str)>) {
    use serde_yaml_ng::Value;
    match value {
        Value::String(s) => out.push(("jira field", s)),
        Value::Sequence(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Mapping(map) => {
            for (k, v) in map {
                collect_strings(k, out);
                collect_strings(v, out);
            }
        }
        Value::Tagged(t) => collect_strings(&t.value, out),
        _ => {}
    }
}
