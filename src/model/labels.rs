use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use smallvec::SmallVec;

use std::hash::Hasher;

use super::fingerprint::PrehashedHasher;
use super::Fingerprint;

pub(super) type Pair = (Arc<str>, Arc<str>);

/// A set of label name/value pairs, kept sorted by name so that fingerprints, group keys and
/// JSON output are deterministic without a sort at every use.
///
/// The pairs sit in one shared, immutable slice: an alert is copied into the store, its
/// aggregation groups and the notification pipeline, and each copy of its labels costs one
/// reference count, not a tree of allocations. The rare change (classification adding a label)
/// builds a new slice.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LabelSet(Arc<[Pair]>);

impl Default for LabelSet {
    fn default() -> Self {
        LabelSet(Arc::from(Vec::new()))
    }
}

impl LabelSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// From pairs in any order; for a repeated name the last value wins.
    pub fn from_pairs(mut pairs: Vec<Pair>) -> LabelSet {
        // A stable sort keeps repeated names in arrival order, so keeping the last of each run
        // keeps the value sent last.
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<Pair> = Vec::with_capacity(pairs.len());
        for pair in pairs {
            match out.last_mut() {
                Some(last) if last.0 == pair.0 => *last = pair,
                _ => out.push(pair),
            }
        }
        LabelSet(Arc::from(out))
    }

    /// From pairs already sorted by name, each name once.
    pub(super) fn from_sorted_unique(pairs: Vec<Pair>) -> LabelSet {
        debug_assert!(pairs.windows(2).all(|w| w[0].0 < w[1].0));
        LabelSet(Arc::from(pairs))
    }

    /// Whether anything but the caller holds this set.
    pub(super) fn is_shared(&self) -> bool {
        Arc::strong_count(&self.0) > 1
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| (**k).cmp(name))
    }

    fn edit(&mut self, change: impl FnOnce(&mut Vec<Pair>)) {
        let mut pairs = self.0.to_vec();
        change(&mut pairs);
        self.0 = Arc::from(pairs);
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.position(name).ok().map(|i| &*self.0[i].1)
    }

    /// The value a matcher compares against: a missing label reads as the empty string.
    pub fn value_or_empty(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }

    pub fn insert(&mut self, name: impl Into<Arc<str>>, value: impl Into<Arc<str>>) {
        let (name, value) = (name.into(), value.into());
        match self.position(&name) {
            Ok(i) => self.edit(|p| p[i].1 = value),
            Err(i) => self.edit(|p| p.insert(i, (name, value))),
        }
    }

    pub fn remove(&mut self, name: &str) -> Option<Arc<str>> {
        let i = self.position(name).ok()?;
        let value = self.0[i].1.clone();
        self.edit(|p| {
            p.remove(i);
        });
        Some(value)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.position(name).is_ok()
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

    /// Only the named labels that are present.
    pub fn select<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> LabelSet {
        let pairs: Vec<Pair> = names
            .into_iter()
            .filter_map(|name| self.position(name).ok().map(|i| self.0[i].clone()))
            .collect();
        LabelSet::from_pairs(pairs)
    }

    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of_labels(self.iter())
    }

    /// Alertmanager's `LabelSet.Validate`: names match `[a-zA-Z_][a-zA-Z0-9_]*`.
    /// Values are valid UTF-8 by construction of `str`.
    pub fn validate(&self) -> Result<(), String> {
        for (name, _) in self.0.iter() {
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
        let mut common: Vec<Pair> = first.0.to_vec();
        for set in sets {
            common.retain(|(k, v)| set.get(k) == Some(&**v));
            if common.is_empty() {
                break;
            }
        }
        LabelSet(Arc::from(common))
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

impl Serialize for LabelSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0.iter() {
            map.serialize_entry(&**k, &**v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for LabelSet {
    /// A JSON object of strings. Strings without escapes are read in place, and the set comes
    /// from this thread's table of decoded sets (see [`super::intern::shared_set`]), so a
    /// re-sent alert's annotations cost one reference count and no allocation.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(PairsVisitor(|pairs: &mut DecodedPairs| {
            let mut hasher = PrehashedHasher::default();
            for (name, value) in pairs.iter() {
                hasher.write(name.as_bytes());
                hasher.write_u8(0xff);
                hasher.write(value.as_bytes());
                hasher.write_u8(0xff);
            }
            super::intern::shared_set(pairs, hasher.finish())
        }))
    }
}

/// An alert's labels as a sender posted them, with Alertmanager's rule applied (a label with
/// an empty value is no label), and their fingerprint.
#[derive(Debug, Clone)]
pub struct AlertLabels {
    pub set: LabelSet,
    pub fingerprint: Fingerprint,
}

impl<'de> Deserialize<'de> for AlertLabels {
    /// Like a `LabelSet`; the fingerprint, which the alert needs anyway, is the key of the
    /// thread's table of sets, so the labels are hashed once.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(PairsVisitor(|pairs: &mut DecodedPairs| {
            pairs.retain(|(_, value)| !value.is_empty());
            let fingerprint = Fingerprint::of_labels(pairs.iter().map(|(k, v)| (&**k, &**v)));
            AlertLabels {
                set: super::intern::shared_set(pairs, fingerprint.0),
                fingerprint,
            }
        }))
    }
}

/// Reads a JSON object of strings into pairs sorted by name, each name once, and hands them
/// to its function. The pairs stay in the visitor's frame: returned, they were copied about.
struct PairsVisitor<F>(F);

impl<'de, T, F: FnOnce(&mut DecodedPairs<'de>) -> T> Visitor<'de> for PairsVisitor<F> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of string values")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let mut pairs = DecodedPairs::new();
        while let Some((k, v)) = map.next_entry::<Text<'de>, Text<'de>>()? {
            pairs.push((k.0, v.0));
        }
        // Of a repeated name the value sent last stays: a stable sort keeps arrival order,
        // and the swap hands the later value to the pair that is kept.
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        pairs.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                std::mem::swap(&mut later.1, &mut kept.1);
            }
            same
        });
        Ok((self.0)(&mut pairs))
    }
}

/// Pairs as decoded, before they become a `LabelSet`; most alerts have fewer than 16 labels.
type DecodedPairs<'de> = SmallVec<[(Cow<'de, str>, Cow<'de, str>); 16]>;

/// A JSON string, borrowed from the body unless it had escapes.
struct Text<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, s: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(s)))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, s: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(s)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
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
        LabelSet::from_pairs(
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
    fn posted_labels_drop_empty_values_and_keep_the_last_of_a_name() {
        let posted: AlertLabels = serde_json::from_str(
            r#"{"job":"x","empty":"","alertname":"A","job":"node","gone":"x","gone":""}"#,
        )
        .unwrap();
        assert_eq!(posted.set.to_string(), r#"{alertname="A", job="node"}"#);
        assert_eq!(posted.fingerprint, posted.set.fingerprint());
        let escaped: AlertLabels =
            serde_json::from_str(r#"{"alertname":"\u0041","job":"node"}"#).unwrap();
        assert_eq!(
            escaped.set, posted.set,
            "an escaped string is the same value"
        );
        assert!(serde_json::from_str::<AlertLabels>(r#"{"a":1}"#).is_err());
    }

    #[test]
    fn edits_keep_the_set_sorted_and_the_last_value_of_a_name() {
        let mut l = set(&[("b", "2"), ("a", "1"), ("b", "3")]);
        assert_eq!(l.to_string(), r#"{a="1", b="3"}"#);
        l.insert("c", "4");
        l.insert("0", "x");
        l.insert("a", "9");
        assert_eq!(l.to_string(), r#"{0="x", a="9", b="3", c="4"}"#);
        assert_eq!(l.remove("b").as_deref(), Some("3"));
        assert_eq!(l.get("c"), Some("4"));
        assert_eq!(l.get("b"), None);
        let json: LabelSet = serde_json::from_str(r#"{"z":"1","a":"\u00e9","a":"2"}"#).unwrap();
        assert_eq!(json.to_string(), r#"{a="2", z="1"}"#);
        assert_eq!(
            serde_json::to_string(&json).unwrap(),
            r#"{"a":"2","z":"1"}"#
        );
    }

    #[test]
    fn before_orders_by_names_then_values_then_length() {
        assert!(set(&[("a", "1")]).before(&set(&[("a", "2")])));
        assert!(set(&[("a", "1")]).before(&set(&[("a", "1"), ("b", "1")])));
        assert!(!set(&[("b", "1")]).before(&set(&[("a", "9")])));
    }
}
