//! Jira: each alert group is one issue, labelled `ALERT{<sha256 of the group key>}`. A
//! notification searches for that issue (JQL), creates it if there is none and the group
//! fires, updates it otherwise, and then moves it through the configured workflow
//! transition: resolve when the group resolved, reopen when a done issue fires again.

mod config;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Map, Value as Json};
use sha2::{Digest, Sha256};

use super::http::{self, HttpClient};
use super::registry::{Notify, SendFuture};
use super::render::Renderer;
use super::{FlushContext, IntegrationError, NotifyError};
use crate::config::GlobalConfig;
use crate::model::Alert;
use crate::template::{data_value, Templates, Value};

pub use config::{JiraConfig, JiraFieldConfig};

/// Jira's limits on the two text fields, in characters.
pub const MAX_SUMMARY_RUNES: usize = 255;
pub const MAX_DESCRIPTION_RUNES: usize = 32767;

/// Which search endpoint the instance has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiType {
    Auto,
    Cloud,
    Datacenter,
}

pub struct JiraNotifier {
    config: JiraConfig,
    api_url: url::Url,
    api_type: ApiType,
    client: HttpClient,
    renderer: Renderer,
    pub send_resolved: bool,
}

/// An issue as the search answers it: its key and status category.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct FoundIssue {
    #[serde(default)]
    pub key: String,
    pub fields: Option<FoundFields>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct FoundFields {
    pub status: Option<FoundStatus>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct FoundStatus {
    #[serde(default)]
    pub name: String,
    #[serde(default, rename = "statusCategory")]
    pub status_category: StatusCategory,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct StatusCategory {
    #[serde(default)]
    pub key: String,
}

impl FoundIssue {
    fn status_category(&self) -> Option<&str> {
        let status = self.fields.as_ref()?.status.as_ref()?;
        Some(status.status_category.key.as_str())
    }
}

#[derive(Deserialize)]
struct SearchResult {
    #[serde(default)]
    issues: Vec<FoundIssue>,
}

#[derive(Deserialize)]
struct Transitions {
    #[serde(default)]
    transitions: Vec<Transition>,
}

#[derive(Deserialize)]
struct Transition {
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
}

impl JiraNotifier {
    pub fn new(
        config: &JiraConfig,
        global: &GlobalConfig,
        templates: Arc<Templates>,
    ) -> Result<JiraNotifier, IntegrationError> {
        let api_url = config.api_url(global).map_err(IntegrationError::Invalid)?;
        let api_url = url::Url::parse(&api_url)
            .map_err(|e| IntegrationError::Invalid(format!("jira api_url: {e}")))?;
        let api_type = match config.api_type.as_deref().unwrap_or("auto") {
            "auto" => ApiType::Auto,
            "cloud" => ApiType::Cloud,
            "datacenter" => ApiType::Datacenter,
            _ => {
                return Err(IntegrationError::Invalid(
                    "unknown api_type on jira_config, must be auto, cloud or datacenter".into(),
                ))
            }
        };
        Ok(JiraNotifier {
            client: HttpClient::build(config.http(global))?,
            config: config.clone(),
            api_url,
            api_type,
            renderer: Renderer {
                templates,
                integration: "jira",
            },
            send_resolved: config.send_resolved.unwrap_or(true),
        })
    }

    fn render(&self, text: &str, v: &Value) -> String {
        self.renderer.field(Some(text), "", v)
    }

    /// The label that finds the group's issue again.
    pub fn group_label(group_key: &str) -> String {
        format!(
            "ALERT{{{}}}",
            hex::encode(Sha256::digest(group_key.as_bytes()))
        )
    }

    /// The search request: its URL and body.
    pub fn search(&self, ctx: &FlushContext, alerts: &[Alert]) -> (String, Json) {
        let v = data_value(&ctx.data(alerts));
        let firing = alerts.iter().any(|a| !a.resolved_at(ctx.now));
        let c = &self.config;
        let mut jql = String::new();
        if let Some(wont_fix) = c.wont_fix_resolution.as_deref().filter(|s| !s.is_empty()) {
            // `resolution != X` alone drops unresolved issues: JQL's != excludes EMPTY.
            jql.push_str(&format!(
                "(resolution is EMPTY or resolution != {}) and ",
                go_quote(wont_fix)
            ));
        }
        let reopen_minutes = c.reopen_duration.map_or(0, |d| d.0.as_secs() / 60);
        let reopens = c
            .reopen_transition
            .as_deref()
            .is_some_and(|t| !t.is_empty());
        if firing && reopens && reopen_minutes > 0 {
            jql.push_str(&format!(
                "(resolutiondate is EMPTY OR resolutiondate >= -{reopen_minutes}m) and "
            ));
        } else {
            jql.push_str("statusCategory != Done and ");
        }
        let project = self.render(c.project.as_deref().unwrap_or_default(), &v);
        jql.push_str(&format!(
            "project={} and labels={} order by status ASC,resolutiondate DESC",
            go_quote(&project),
            go_quote(&Self::group_label(&ctx.group_key))
        ));
        let body = json!({"fields": ["status"], "jql": jql, "maxResults": 2});
        (self.search_url(), body)
    }

    /// Jira Cloud retired `/search` for `/rest/api/3/search/jql`, which Data Center lacks.
    fn search_url(&self) -> String {
        let cloud = match self.api_type {
            ApiType::Cloud => true,
            ApiType::Datacenter => false,
            ApiType::Auto => self
                .api_url
                .host_str()
                .is_some_and(|h| h.ends_with("atlassian.net")),
        };
        if cloud {
            join(&self.api_url, "search/jql").replacen("/rest/api/2/", "/rest/api/3/", 1)
        } else {
            join(&self.api_url, "search")
        }
    }

    /// The `v3` API takes the description as an Atlassian Document Format document.
    fn is_v3(&self) -> bool {
        self.api_url.path().trim_end_matches('/').ends_with("/3")
    }

    /// The issue's fields, as a create sends them (`{"fields": {...}}`).
    pub fn issue(&self, ctx: &FlushContext, alerts: &[Alert]) -> Result<Json, NotifyError> {
        let v = data_value(&ctx.data(alerts));
        let c = &self.config;
        let template_of = |f: &Option<JiraFieldConfig>| f.as_ref().and_then(|f| f.template.clone());
        let summary = self.renderer.field(
            template_of(&c.summary).as_deref(),
            r#"{{ template "jira.default.summary" . }}"#,
            &v,
        );
        let summary = super::truncate_runes(&summary, MAX_SUMMARY_RUNES);
        let description = self.renderer.field(
            template_of(&c.description).as_deref(),
            r#"{{ template "jira.default.description" . }}"#,
            &v,
        );
        let description = super::truncate_runes(&description, MAX_DESCRIPTION_RUNES);

        let mut fields = Map::new();
        fields.insert("summary".into(), json!(summary));
        if self.is_v3() {
            let trimmed = description.trim();
            if !trimmed.is_empty() {
                let document: Json = serde_json::from_str(trimmed).map_err(|_| {
                    NotifyError::Build("description template: invalid JSON for API v3".into())
                })?;
                fields.insert("description".into(), document);
            }
        } else if !description.is_empty() {
            fields.insert("description".into(), json!(description));
        }
        fields.insert(
            "issuetype".into(),
            json!({"name": self.render(c.issue_type.as_deref().unwrap_or_default(), &v)}),
        );
        let mut labels: Vec<String> = c.labels.iter().map(|l| self.render(l, &v)).collect();
        labels.push(Self::group_label(&ctx.group_key));
        labels.sort();
        fields.insert("labels".into(), json!(labels));
        let priority = self.renderer.field(
            c.priority.as_deref(),
            r#"{{ template "jira.default.priority" . }}"#,
            &v,
        );
        if !priority.is_empty() {
            fields.insert("priority".into(), json!({"name": priority}));
        }
        fields.insert(
            "project".into(),
            json!({"key": self.render(c.project.as_deref().unwrap_or_default(), &v)}),
        );
        for (key, value) in &c.fields {
            fields.insert(self.render(key, &v), self.render_field(value, &v));
        }
        Ok(json!({ "fields": fields }))
    }

    /// A configured field: strings are templates; one that renders to YAML structure (a
    /// number, list, map, or nothing at all) becomes that structure.
    fn render_field(&self, value: &serde_yaml_ng::Value, v: &Value) -> Json {
        use serde_yaml_ng::Value as Yaml;
        match value {
            Yaml::String(s) => {
                let rendered = self.render(s, v);
                match serde_yaml_ng::from_str::<Yaml>(&rendered) {
                    Ok(Yaml::String(_)) | Err(_) => Json::String(rendered),
                    Ok(parsed) => yaml_to_json(&parsed),
                }
            }
            Yaml::Sequence(items) => {
                Json::Array(items.iter().map(|i| self.render_field(i, v)).collect())
            }
            Yaml::Mapping(map) => Json::Object(
                map.iter()
                    .filter_map(|(k, val)| {
                        let key = k.as_str()?;
                        Some((self.render(key, v), self.render_field(val, v)))
                    })
                    .collect(),
            ),
            Yaml::Tagged(t) => self.render_field(&t.value, v),
            other => yaml_to_json(other),
        }
    }

    pub async fn send(&self, ctx: &FlushContext, alerts: &[Alert]) -> Result<(), NotifyError> {
        let firing = alerts.iter().any(|a| !a.resolved_at(ctx.now));
        let (search_url, search) = self.search(ctx, alerts);
        let answer = self.api(Method::POST, &search_url, Some(&search)).await?;
        let found: SearchResult = parse(&answer, "search")?;
        if found.issues.len() > 1 {
            tracing::warn!(group_key = %ctx.group_key, selected = %found.issues[0].key,
                "more than one Jira issue matched, using the most recently resolved");
        }
        let existing = found.issues.into_iter().next();
        if existing.is_none() && !firing {
            // No issue is opened for a group that is already resolved.
            return Ok(());
        }

        let mut body = self.issue(ctx, alerts)?;
        match &existing {
            None => {
                self.api(Method::POST, &join(&self.api_url, "issue"), Some(&body))
                    .await?;
            }
            Some(issue) => {
                let c = &self.config;
                if let Some(fields) = body.get_mut("fields").and_then(Json::as_object_mut) {
                    if !c
                        .summary
                        .as_ref()
                        .is_none_or(JiraFieldConfig::enable_update)
                    {
                        fields.remove("summary");
                    }
                    if !c
                        .description
                        .as_ref()
                        .is_none_or(JiraFieldConfig::enable_update)
                    {
                        fields.remove("description");
                    }
                }
                let url = join(&self.api_url, &format!("issue/{}", issue.key));
                self.api(Method::PUT, &url, Some(&body)).await?;
            }
        }
        match existing {
            Some(issue) => self.transition(&issue, firing).await,
            None => Ok(()),
        }
    }

    /// Reopens a done issue that fires again, resolves an open one whose group resolved.
    async fn transition(&self, issue: &FoundIssue, firing: bool) -> Result<(), NotifyError> {
        let Some(category) = issue.status_category() else {
            return Ok(());
        };
        if issue.key.is_empty() || (category == "done") != firing {
            return Ok(());
        }
        let wanted = if firing {
            &self.config.reopen_transition
        } else {
            &self.config.resolve_transition
        };
        let Some(wanted) = wanted.as_deref().filter(|t| !t.is_empty()) else {
            return Ok(());
        };
        let url = join(&self.api_url, &format!("issue/{}/transitions", issue.key));
        let answer = self.api(Method::GET, &url, None).await?;
        let transitions: Transitions = parse(&answer, "transitions")?;
        let Some(id) = transitions
            .transitions
            .into_iter()
            .find(|t| t.name == wanted)
            .map(|t| t.id)
        else {
            return Err(NotifyError::Refused {
                integration: "jira",
                reason: format!("can't find transition {wanted} for issue {}", issue.key),
            });
        };
        let body = json!({"transition": {"id": id}});
        self.api(Method::POST, &url, Some(&body)).await.map(|_| ())
    }

    /// One API call; 429 and 5xx are retried. A request that failed in transport is not: a
    /// create that reached Jira would be made twice before the search sees it.
    async fn api(
        &self,
        method: Method,
        url: &str,
        body: Option<&Json>,
    ) -> Result<String, NotifyError> {
        let mut request = self
            .client
            .request(method, url)?
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT_LANGUAGE, "en");
        if let Some(body) = body {
            let bytes = serde_json::to_vec(body).map_err(|e| NotifyError::Build(e.to_string()))?;
            request = request.body(bytes);
        }
        let answer = match http::send(url, request).await {
            Err(NotifyError::Transport(reason)) => {
                return Err(NotifyError::Refused {
                    integration: "jira",
                    reason: format!("request failed: {reason}"),
                })
            }
            other => other?,
        };
        Ok(answer.check("jira")?.body)
    }
}

impl Notify for JiraNotifier {
    fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    fn send<'a>(&'a self, ctx: &'a FlushContext, alerts: &'a [Alert]) -> SendFuture<'a> {
        Box::pin(JiraNotifier::send(self, ctx, alerts))
    }
}

fn parse<T: for<'de> Deserialize<'de>>(body: &str, what: &str) -> Result<T, NotifyError> {
    serde_json::from_str(body).map_err(|e| NotifyError::UnexpectedBody {
        integration: "jira",
        status: 200,
        body: format!(
            "{what} answer is not what Jira sends ({e}): {}",
            truncate(body)
        ),
    })
}

fn truncate(s: &str) -> String {
    s.chars().take(512).collect()
}

/// `base` with `path` appended as further segments (Go's `URL.JoinPath`).
pub fn join(base: &url::Url, path: &str) -> String {
    let mut url = base.clone();
    let joined = format!(
        "{}/{}",
        base.path().trim_end_matches('/'),
        path.trim_start_matches('/')
    );
    url.set_path(&joined);
    url.to_string()
}

/// A JQL string literal, quoted the way Go's `%q` quotes.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Decoded YAML as JSON; keys that are not strings are dropped, as Alertmanager drops them.
fn yaml_to_json(value: &serde_yaml_ng::Value) -> Json {
    use serde_yaml_ng::Value as Yaml;
    match value {
        Yaml::Null => Json::Null,
        Yaml::Bool(b) => Json::Bool(*b),
        Yaml::Number(n) => serde_json::to_value(n).unwrap_or(Json::Null),
        Yaml::String(s) => Json::String(s.clone()),
        Yaml::Sequence(items) => Json::Array(items.iter().map(yaml_to_json).collect()),
        Yaml::Mapping(map) => Json::Object(
            map.iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_string(), yaml_to_json(v))))
                .collect(),
        ),
        Yaml::Tagged(t) => yaml_to_json(&t.value),
    }
}
