//! Roles, beyond Alertmanager: what each user of `basic_auth_users` may do. They live in a
//! file of their own (`--web.roles.file`) because exporter-toolkit's strict parser refuses any
//! key it does not know, and the web config must stay loadable by Alertmanager itself.
//!
//! ```yaml
//! users:
//!   alice: admin
//!   prometheus: sender
//!   oncall: responder
//! default: viewer   # users not listed; without it they are refused
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use axum::http::Method;
use serde::Deserialize;

use super::WebConfigError;

/// Each role may do what the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads: alerts, groups, silences, incidents, status, metrics.
    Viewer,
    /// Also posts alerts (Prometheus, an upstream Alertmanager, Grafana).
    Sender,
    /// Also silences, and acknowledges, unacknowledges and resolves incidents.
    Responder,
    /// Also reloads the configuration.
    Admin,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Viewer => "viewer",
            Role::Sender => "sender",
            Role::Responder => "responder",
            Role::Admin => "admin",
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Roles {
    #[serde(default)]
    users: BTreeMap<String, Role>,
    default: Option<Role>,
}

impl Roles {
    pub fn parse<'a>(
        text: &str,
        path: &Path,
        known_users: impl Iterator<Item = &'a str> + Clone,
    ) -> Result<Roles, WebConfigError> {
        let invalid = |message: String| WebConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let roles: Roles = serde_yaml_ng::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if known_users.clone().next().is_none() {
            return Err(invalid(
                "roles need users: the web config has no basic_auth_users".into(),
            ));
        }
        for user in roles.users.keys() {
            if !known_users.clone().any(|u| u == user) {
                return Err(invalid(format!(
                    "user {user:?} is not one of the web config's basic_auth_users"
                )));
            }
        }
        Ok(roles)
    }

    pub fn of(&self, user: &str) -> Option<Role> {
        self.users.get(user).copied().or(self.default)
    }
}

/// The role a request needs, from its method and its path below the route prefix.
pub fn required(method: &Method, path: &str) -> Role {
    if method == Method::GET || method == Method::HEAD {
        return Role::Viewer;
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["api", "v2", "alerts"]) | ("POST", ["api", "v2", "webhook", _]) => Role::Sender,
        ("POST", ["api", "v2", "silences"])
        | ("DELETE", ["api", "v2", "silence", _])
        | ("POST", ["api", "v1", "incidents", _, "ack" | "unack" | "resolve"]) => Role::Responder,
        _ => Role::Admin,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_endpoint_needs_the_least_role_that_may_use_it() {
        assert_eq!(required(&Method::GET, "/api/v2/alerts"), Role::Viewer);
        assert_eq!(required(&Method::HEAD, "/-/ready"), Role::Viewer);
        assert_eq!(required(&Method::POST, "/api/v2/alerts"), Role::Sender);
        assert_eq!(
            required(&Method::POST, "/api/v2/webhook/grafana"),
            Role::Sender
        );
        assert_eq!(required(&Method::POST, "/api/v2/silences"), Role::Responder);
        assert_eq!(
            required(&Method::DELETE, "/api/v2/silence/abc"),
            Role::Responder
        );
        assert_eq!(
            required(&Method::POST, "/api/v1/incidents/x/ack"),
            Role::Responder
        );
        assert_eq!(required(&Method::POST, "/-/reload"), Role::Admin);
        assert_eq!(required(&Method::PUT, "/api/v2/alerts"), Role::Admin);
    }

    #[test]
    fn a_role_for_a_user_the_web_config_lacks_is_refused() {
        let users = ["alice"];
        let err = Roles::parse(
            "users:\n  bob: viewer\n",
            Path::new("roles.yml"),
            users.iter().copied(),
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("\"bob\""), "{err}");
        let err = Roles::parse(
            "users:\n  alice: boss\n",
            Path::new("roles.yml"),
            users.iter().copied(),
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn unlisted_users_get_the_default_or_nothing() {
        let users = ["alice", "bob"];
        let roles = Roles::parse(
            "users:\n  alice: admin\n",
            Path::new("r"),
            users.iter().copied(),
        )
        .ok();
        assert_eq!(
            roles.as_ref().and_then(|r| r.of("alice")),
            Some(Role::Admin)
        );
        assert_eq!(roles.as_ref().and_then(|r| r.of("bob")), None);
        let roles = Roles::parse(
            "users:\n  alice: admin\ndefault: viewer\n",
            Path::new("r"),
            users.iter().copied(),
        )
        .ok();
        assert_eq!(roles.and_then(|r| r.of("bob")), Some(Role::Viewer));
    }
}
