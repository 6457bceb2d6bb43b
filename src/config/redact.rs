//! Secrets out of the config text before it is shown by `/api/v2/status`.

use serde_yaml_ng::Value;

use super::SECRET_TOKEN;

/// Keys whose value is a secret wherever they appear.
const SECRET_KEYS: [&str; 23] = [
    "smtp_auth_password",
    "smtp_auth_secret",
    "slack_api_url",
    "slack_app_token",
    "telegram_bot_token",
    "rocketchat_token",
    "rocketchat_token_id",
    "mattermost_webhook_url",
    "token_id",
    "opsgenie_api_key",
    "victorops_api_key",
    "wechat_api_secret",
    "auth_password",
    "auth_secret",
    "routing_key",
    "service_key",
    "password",
    "bearer_token",
    "credentials",
    "client_secret",
    "api_key",
    "bot_token",
    "token",
];

/// The integration whose block (`slack_configs`) a key is in, if any.
fn integration_of(block: Option<&str>) -> Option<&'static crate::notify::registry::Entry> {
    let block = block?;
    crate::notify::registry::INTEGRATIONS
        .iter()
        .find(|e| e.key == block)
}

pub fn redacted_yaml(source: &str) -> String {
    let Ok(mut value) = serde_yaml_ng::from_str::<Value>(source) else {
        return String::new();
    };
    redact(&mut value, None);
    // alert-router's own extensions are not Alertmanager config: amtool would refuse them.
    if let Value::Mapping(map) = &mut value {
        map.remove("rule_files");
        map.remove("escalation_policies");
        map.remove("escalation_roles");
        map.remove("escalation_delays");
        if let Some(route) = map.get_mut("route") {
            remove_route_escalation(route);
        }
    }
    serde_yaml_ng::to_string(&value).unwrap_or_default()
}

fn remove_route_escalation(route: &mut Value) {
    if let Value::Mapping(map) = route {
        map.remove("escalation");
        if let Some(Value::Sequence(children)) = map.get_mut("routes") {
            children.iter_mut().for_each(remove_route_escalation);
        }
    }
}

fn redact(value: &mut Value, block: Option<&str>) {
    match value {
        Value::Mapping(map) => {
            for (key, v) in map.iter_mut() {
                let Some(key) = key.as_str() else { continue };
                let integration = integration_of(block);
                let secret = SECRET_KEYS.contains(&key)
                    || integration.is_some_and(|e| e.secret_keys.contains(&key));
                if secret && v.is_string() {
                    *v = Value::String(SECRET_TOKEN.into());
                } else if integration.is_some_and(|e| e.secret_url_keys.contains(&key)) {
                    // amtool 0.25 parses a webhook url as a URL, so `<secret>` would break it:
                    // hide only the parts that carry credentials.
                    if let Some(url) = v.as_str().map(redact_url) {
                        *v = Value::String(url);
                    }
                } else if key.ends_with("_configs") {
                    redact(v, Some(key));
                } else {
                    redact(v, block);
                }
            }
        }
        Value::Sequence(items) => items.iter_mut().for_each(|v| redact(v, block)),
        _ => {}
    }
}

/// Replaces a URL's password, path and query values with `<secret>`, keeping scheme, host and
/// port visible and the whole a valid URL.
fn redact_url(raw: &str) -> String {
    let Ok(mut url) = url::Url::parse(raw) else {
        return SECRET_TOKEN.into();
    };
    if url.password().is_some() {
        let _ = url.set_password(Some(SECRET_TOKEN));
    }
    if url.path() != "/" && !url.path().is_empty() {
        url.set_path(SECRET_TOKEN);
    }
    let pairs: Vec<String> = url.query_pairs().map(|(k, _)| k.into_owned()).collect();
    if !pairs.is_empty() {
        let mut query = url.query_pairs_mut();
        query.clear();
        for k in &pairs {
            query.append_pair(k, SECRET_TOKEN);
        }
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_secrets_but_not_plain_urls() {
        let yaml = "global:\n  slack_api_url: https://hooks/xyz\nreceivers:\n- name: a\n  webhook_configs:\n  - url: http://h/tok\n  pagerduty_configs:\n  - routing_key: abc\n    url: http://pd\n    http_config:\n      basic_auth: {username: u, password: p}\n";
        let out = redacted_yaml(yaml);
        for leaked in ["xyz", "tok", "abc", "password: p"] {
            assert!(!out.contains(leaked), "{leaked} leaked in {out}");
        }
        assert!(out.contains("http://pd"));
        assert!(redacted_yaml(
            "receivers:\n- webhook_configs:\n  - url: http://u:pw@h/p?token=abc\n"
        )
        .contains("http://u:%3Csecret%3E@h/%3Csecret%3E?token=%3Csecret%3E"));
        assert!(out.contains("username: u"));
    }
}
