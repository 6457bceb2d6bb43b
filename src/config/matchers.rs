//! Config value types that validate while parsing, so the YAML parser reports the line.

use serde::{Deserialize, Deserializer};

use crate::model::{is_valid_label_name, parse_matchers, MatchType, Matcher};

/// The `matchers:` list: each string may hold several comma-separated matchers.
#[derive(Debug, Clone, Default)]
pub struct ConfigMatchers(pub Vec<Matcher>);

impl<'de> Deserialize<'de> for ConfigMatchers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let lines: Vec<String> = Vec::deserialize(d)?;
        let mut all = Vec::new();
        for line in &lines {
            let parsed = parse_matchers(line).map_err(serde::de::Error::custom)?;
            all.extend(parsed);
        }
        Ok(ConfigMatchers(all))
    }
}

/// A `match_re` value: compiled (anchored) at load time so a bad pattern is a config error.
#[derive(Debug, Clone)]
pub struct ConfigRegex(pub String);

impl<'de> Deserialize<'de> for ConfigRegex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Matcher::new(MatchType::Regex, "x", s.clone()).map_err(serde::de::Error::custom)?;
        Ok(ConfigRegex(s))
    }
}

/// A label name used as a key (`match`, `equal`), checked against Prometheus' rules.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LabelNameString(pub String);

impl<'de> Deserialize<'de> for LabelNameString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if !is_valid_label_name(&s) {
            return Err(serde::de::Error::custom(format!(
                "{s:?} is not a valid label name"
            )));
        }
        Ok(LabelNameString(s))
    }
}
