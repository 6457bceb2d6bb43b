//! `pushover_configs`: Pushover's message API, with Alertmanager's defaults (emergency
//! priority while firing, retry every minute for an hour).

use std::fmt;

use serde::{Deserialize, Deserializer};

use crate::config::{check_http_config, GlobalConfig, HttpClientConfig};
use crate::config::{Secret, SecretSource};
use crate::notify::registry::{BuildEnv, IntegrationConfig, Notify, Registered};
use crate::notify::IntegrationError;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushoverConfig {
    pub send_resolved: Option<bool>,
    pub http_config: Option<HttpClientConfig>,
    pub user_key: Option<Secret>,
    pub user_key_file: Option<String>,
    pub token: Option<Secret>,
    pub token_file: Option<String>,
    pub title: Option<String>,
    pub message: Option<String>,
    pub url: Option<String>,
    pub url_title: Option<String>,
    pub device: Option<String>,
    pub sound: Option<String>,
    pub priority: Option<String>,
    /// How often Pushover repeats an emergency notification (default 1m).
    pub retry: Option<GoDuration>,
    /// How long it keeps repeating it (default 1h).
    pub expire: Option<GoDuration>,
    /// How long the message lives on the device; none (or 0) keeps it.
    pub ttl: Option<GoDuration>,
    #[serde(default)]
    pub html: bool,
    #[serde(default)]
    pub monospace: bool,
}

/// A duration in Go's `time.ParseDuration` syntax (`90s`, `1.5h`, `1h30m`, `500ms`), which is
/// what Alertmanager reads `retry`, `expire` and `ttl` with (not the Prometheus form).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct GoDuration {
    pub nanos: i128,
}

impl GoDuration {
    pub const fn from_secs(secs: i64) -> GoDuration {
        GoDuration {
            nanos: secs as i128 * 1_000_000_000,
        }
    }

    /// Whole seconds, truncated toward zero (Go's `int64(d.Seconds())`).
    pub fn whole_seconds(self) -> i64 {
        i64::try_from(self.nanos / 1_000_000_000).unwrap_or(i64::MAX)
    }

    pub fn parse(s: &str) -> Result<GoDuration, String> {
        let bad = || format!("time: invalid duration {s:?}");
        let (negative, mut rest) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        if rest == "0" {
            return Ok(GoDuration::default());
        }
        if rest.is_empty() {
            return Err(bad());
        }
        const UNITS: [(&str, f64); 8] = [
            ("ns", 1.0),
            ("us", 1e3),
            ("µs", 1e3),
            ("μs", 1e3),
            ("ms", 1e6),
            ("s", 1e9),
            ("m", 60e9),
            ("h", 3600e9),
        ];
        let mut total: f64 = 0.0;
        while !rest.is_empty() {
            let number_len = rest
                .bytes()
                .take_while(|b| b.is_ascii_digit() || *b == b'.')
                .count();
            let number = &rest[..number_len];
            if number.is_empty() || number == "." || number.matches('.').count() > 1 {
                return Err(bad());
            }
            let n: f64 = number.parse().map_err(|_| bad())?;
            rest = &rest[number_len..];
            let unit_len = rest
                .char_indices()
                .find(|(_, c)| c.is_ascii_digit() || *c == '.')
                .map_or(rest.len(), |(i, _)| i);
            let unit = &rest[..unit_len];
            if unit.is_empty() {
                return Err(format!("time: missing unit in duration {s:?}"));
            }
            let Some((_, scale)) = UNITS.iter().find(|(u, _)| *u == unit) else {
                return Err(format!("time: unknown unit {unit:?} in duration {s:?}"));
            };
            total += n * scale;
            rest = &rest[unit_len..];
        }
        // Go's limit: about 292 years either way.
        if total > i64::MAX as f64 {
            return Err(format!("time: invalid duration {s:?}"));
        }
        let nanos = total.round() as i128;
        Ok(GoDuration {
            nanos: if negative { -nanos } else { nanos },
        })
    }
}

impl fmt::Debug for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ns", self.nanos)
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        GoDuration::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl PushoverConfig {
    pub fn user_key(&self) -> Result<SecretSource, String> {
        SecretSource::from_pair(
            self.user_key.clone(),
            self.user_key_file.clone(),
            "user_key",
        )
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "one of user_key or user_key_file must be configured".into())
    }

    pub fn token(&self) -> Result<SecretSource, String> {
        SecretSource::from_pair(self.token.clone(), self.token_file.clone(), "token")
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "one of token or token_file must be configured".into())
    }

    pub fn http<'a>(&'a self, global: &'a GlobalConfig) -> Option<&'a HttpClientConfig> {
        self.http_config.as_ref().or(global.http_config.as_ref())
    }
}

impl IntegrationConfig for PushoverConfig {
    fn check(&self, global: &GlobalConfig) -> Result<(), String> {
        self.user_key()?;
        self.token()?;
        if self.html && self.monospace {
            return Err("at most one of monospace & html must be configured".into());
        }
        check_http_config(self.http(global))
    }

    fn templated_fields(&self) -> Vec<(&'static str, &str)> {
        let fields = [
            ("pushover title", &self.title),
            ("pushover message", &self.message),
            ("pushover url", &self.url),
            ("pushover url_title", &self.url_title),
            ("pushover device", &self.device),
            ("pushover sound", &self.sound),
            ("pushover priority", &self.priority),
        ];
        let mut out: Vec<(&'static str, &str)> = fields
            .into_iter()
            .filter_map(|(name, v)| v.as_deref().map(|t| (name, t)))
            .collect();
        // Alertmanager renders the credentials too.
        if let Some(key) = &self.user_key {
            out.push(("pushover user_key", key.expose()));
        }
        if let Some(token) = &self.token {
            out.push(("pushover token", token.expose()));
        }
        out
    }

    fn build(&self, env: &BuildEnv) -> Result<Box<dyn Notify>, IntegrationError> {
        Ok(Box::new(super::PushoverNotifier::new(
            self,
            env.global,
            env.templates.clone(),
        )?))
    }
}

impl Registered for PushoverConfig {
    const NAME: &'static str = "pushover";
    const SECRET_KEYS: &'static [&'static str] = &["user_key", "token"];
    const TEMPLATES: &'static str = include_str!("default.tmpl");
}
