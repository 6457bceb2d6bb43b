use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::Fingerprint;

/// A set of label name/value pairs, kept sorted by name so that fingerprints, group keys and
/// JSON output are deterministic without a sort at every use.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LabelSet(BTreeMap<Arc<str>, Arc<str>>);

impl LabelSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| &**v)
    }

    /// The value a matcher compares against: a missing label reads as the empty string.
    pub fn value_or_empty(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }

    pub fn insert(&mut self, name: impl Into<Arc<str>>, value: impl Into<Arc<str>>) {
        self.0.insert(name.into(), value.into());
    }

    pub fn remove(&mut self, name: &str) -> Option<Arc<str>> {
        self.0.remove(name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (&**k, &**v))
    }

    /// Alertmanager drops labels whose value is empty before validating and storing an alert.
    pub fn remove_empty_values(&mut self) {
        self.0.retain(|_, v| !v.is_empty());
    }

    /// Only the named labels that are present.
    pub fn select<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> LabelSet {
        let mut out = LabelSet::new();
        for name in names {
            if let Some((k, v)) = self.0.get_key_value(name) {
                out.0.insert(k.clone(), v.clone());
            }
        }
        out
    }

    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of_labels(self.iter())
    }

    /// Alertmanager's `LabelSet.Validate`: names match `[a-zA-Z_][a-zA-Z0-9_]*`.
    /// Values are valid UTF-8 by construction of `str`.
    pub fn validate(&self) -> Result<(), String> {
        for name in self.0.keys() {
            if !is_valid_label_name(name) {
                return Err(format!("invalid name {:?}", &**name));
            }
        }
        Ok(())
    }

    /// Labels present with the same value in every set (Alertmanager's CommonLabels).
    pub fn common<'a>(mut sets: impl Iterator<Item = &'a LabelSet>) -> LabelSet {
        let Some(first) = sets.next() else {
            return LabelSet::new();
        };
        let mut common = first.clone();
        for set in sets {
            common.0.retain(|k, v| set.0.get(k) == Some(v));
            if common.is_empty() {
                break;
            }
        }
        common
    }

    /// Ordering of Go's `model.LabelSet.Before`: compare sorted names, then values, pairwise;
    /// a set that is a prefix of the other sorts first.
    pub fn before(&self, other: &LabelSet) -> bool {
        for ((an, av), (bn, bv)) in self.0.iter().zip(other.0.iter()) {
            if an != bn {
                return an < bn;
            }
            if av != bv {
                return av < bv;
            }
        }
        self.len() < other.len()
    }
}

impl fmt::Display for LabelSet {
    /// `{a="b", c="d"}`, the form Alertmanager uses in group keys.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (k, v)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{k}={v:?}")?;
        }
        f.write_str("}")
    }
}

impl fmt::Debug for LabelSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl<K: Into<Arc<str>>, V: Into<Arc<str>>> FromIterator<(K, V)> for LabelSet {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        LabelSet(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

/// Prometheus label names: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(pairs: &[(&str, &str)]) -> LabelSet {
        pairs.iter().map(|(k, v)| (*k, *v)).collect()
    }

    #[test]
    fn displays_like_go_label_sets() {
        let l = set(&[("cluster", "c1"), ("alertname", "Disk\"Full")]);
        assert_eq!(l.to_string(), r#"{alertname="Disk\"Full", cluster="c1"}"#);
    }

    #[test]
    fn label_names_follow_prometheus_rules() {
        assert!(is_valid_label_name("_a1"));
        assert!(!is_valid_label_name("a-b"));
        assert!(!is_valid_label_name("1a"));
        assert!(!is_valid_label_name(""));
    }

    #[test]
    fn common_labels_keep_only_equal_pairs() {
        let a = set(&[("a", "1"), ("b", "2"), ("c", "3")]);
        let b = set(&[("a", "1"), ("b", "x")]);
        assert_eq!(LabelSet::common([&a, &b].into_iter()), set(&[("a", "1")]));
    }

    #[test]
    fn before_orders_by_names_then_values_then_length() {
        assert!(set(&[("a", "1")]).before(&set(&[("a", "2")])));
        assert!(set(&[("a", "1")]).before(&set(&[("a", "1"), ("b", "1")])));
        assert!(!set(&[("b", "1")]).before(&set(&[("a", "9")])));
    }
}
