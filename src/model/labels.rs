use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
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

    /// Whether both are the same shared set (not only equal ones).
    pub fn ptr_eq(&self, other: &LabelSet) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
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
    pub fn validate(&self) -> Result<(), InvalidLabelName> {
        validate_names(self.0.iter().map(|(name, _)| &**name))
    }

    /// Whether this set holds exactly `pairs` (sorted by name, each name once).
    pub fn equals_pairs<K: AsRef<str>, V: AsRef<str>>(&self, pairs: &[(K, V)]) -> bool {
        self.0.len() == pairs.len()
            && self
                .0
                .iter()
                .zip(pairs)
                .all(|((a, b), (k, v))| **a == *k.as_ref() && **b == *v.as_ref())
    }

    /// The set of `pairs` (sorted by name, each name once), sharing this set's strings where a
    /// name or value is the same, interning a new name, and allocating a new value.
    pub(super) fn changed_to<K: AsRef<str>, V: AsRef<str>>(&self, pairs: &[(K, V)]) -> LabelSet {
        let built: Vec<Pair> = pairs
            .iter()
            .map(|(k, v)| {
                let (k, v) = (k.as_ref(), v.as_ref());
                match self.position(k) {
                    Ok(i) => {
                        let (name, old) = &self.0[i];
                        let value = if **old == *v {
                            old.clone()
                        } else {
                            Arc::from(v)
                        };
                        (name.clone(), value)
                    }
                    Err(_) => (super::intern::intern(k), Arc::from(v)),
                }
            })
            .collect();
        LabelSet::from_sorted_unique(built)
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
    /// A JSON object of strings; names and short values are interned.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(PairsVisitor::new(|pairs: &mut DecodedPairs| {
            super::intern::interned_set(pairs)
        }))
    }
}

/// Pairs as decoded, sorted by name with each name once, before they become a `LabelSet`.
/// Strings without escapes are borrowed from the body; up to 8 pairs stay off the heap.
pub type DecodedPairs<'de> = SmallVec<[(Cow<'de, str>, Cow<'de, str>); 8]>;

/// An alert's labels as a sender posted them, with Alertmanager's rule applied (a label with
/// an empty value is no label), and their fingerprint. A re-sent alert's labels are compared
/// with the stored alert's and share them, so they cost no allocation.
pub struct PostedLabels<'de> {
    pub pairs: DecodedPairs<'de>,
    pub fingerprint: Fingerprint,
}

impl<'de: 'a, 'a> Deserialize<'de> for PostedLabels<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(PairsVisitor::new(|pairs: &mut DecodedPairs<'a>| {
            pairs.retain(|(_, value)| !value.is_empty());
            PostedLabels {
                fingerprint: Fingerprint::of_labels(pairs.iter().map(|(k, v)| (&**k, &**v))),
                pairs: std::mem::take(pairs),
            }
        }))
    }
}

impl PostedLabels<'_> {
    /// `known` if it holds these labels, else a new set.
    pub fn to_set(&self, known: Option<&LabelSet>) -> LabelSet {
        match known {
            Some(set) if set.equals_pairs(&self.pairs) => set.clone(),
            _ => super::intern::interned_set(&self.pairs),
        }
    }
}

/// An alert's annotations as posted (an empty value stays).
#[derive(Default)]
pub struct PostedPairs<'de>(pub DecodedPairs<'de>);

impl<'de: 'a, 'a> Deserialize<'de> for PostedPairs<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(PairsVisitor::new(|pairs: &mut DecodedPairs<'a>| {
            PostedPairs(std::mem::take(pairs))
        }))
    }
}

impl PostedPairs<'_> {
    /// `known` if it holds these pairs, else the set other alerts with the same pairs share
    /// (many alerts of a rule carry the same annotations).
    ///
    /// Annotations that differ from the stored alert's are rendered from the current value
    /// (`summary: "CPU at {{ $value }}%"`) and change every evaluation: they are built from the
    /// stored set's strings where those still match, and new strings otherwise, kept out of
    /// the interner's tables, which unique values would fill with strings nobody shares.
    pub fn to_set(&self, known: Option<&LabelSet>) -> LabelSet {
        match known {
            Some(set) if set.equals_pairs(&self.0) => return set.clone(),
            Some(set) => return set.changed_to(&self.0),
            None => {}
        }
        let mut hasher = PrehashedHasher::default();
        for (name, value) in &self.0 {
            hasher.write(name.as_bytes());
            hasher.write_u8(0xff);
            hasher.write(value.as_bytes());
            hasher.write_u8(0xff);
        }
        super::intern::shared_set(&self.0, hasher.finish())
    }
}

/// Reads a JSON object of strings into pairs sorted by name, each name once, and hands them
/// to its function. The pairs stay in the visitor's frame: returned, they were copied about.
struct PairsVisitor<'a, F>(F, PhantomData<&'a ()>);

impl<'a, F> PairsVisitor<'a, F> {
    fn new(then: F) -> Self {
        PairsVisitor(then, PhantomData)
    }
}

impl<'de: 'a, 'a, T, F: FnOnce(&mut DecodedPairs<'a>) -> T> Visitor<'de> for PairsVisitor<'a, F> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of string values")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let mut pairs = DecodedPairs::new();
        while let Some((k, v)) = map.next_entry::<Text<'a>, Text<'a>>()? {
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

/// A JSON string, borrowed from the body unless it had escapes. (serde's own `Cow<str>` always
/// copies.)
pub struct Text<'de>(pub Cow<'de, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for TextVisitor<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, s: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Borrowed(s)))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, s: String) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(s)))
            }
        }
        deserializer.deserialize_str(TextVisitor(PhantomData))
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

/// A label or annotation name outside `[a-zA-Z_][a-zA-Z0-9_]*`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid name {0:?}")]
pub struct InvalidLabelName(pub String);

/// Alertmanager's `LabelSet.Validate` on names alone.
pub fn validate_names<'a>(
    mut names: impl Iterator<Item = &'a str>,
) -> Result<(), InvalidLabelName> {
    match names.find(|name| !is_valid_label_name(name)) {
        Some(bad) => Err(InvalidLabelName(bad.to_string())),
        None => Ok(()),
    }
}

/// How label names and matchers are read: Alertmanager 0.27+'s `--enable-feature` modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelMode {
    /// The default: any non-empty UTF-8 name; matchers in the classic syntax, or else in the
    /// UTF-8 syntax (quoted names such as `"service.name"="api"`).
    Fallback,
    /// `utf8-strict-mode`: UTF-8 names, matchers only in the UTF-8 syntax.
    Utf8Strict,
    /// `classic-mode`: Prometheus names only, matchers only in the classic syntax.
    Classic,
}

static LABEL_MODE: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Sets the mode for the process, once at start-up before the config is read.
pub fn set_label_mode(mode: LabelMode) {
    let code = match mode {
        LabelMode::Fallback => 0,
        LabelMode::Utf8Strict => 1,
        LabelMode::Classic => 2,
    };
    LABEL_MODE.store(code, std::sync::atomic::Ordering::Relaxed);
}

pub fn label_mode() -> LabelMode {
    match LABEL_MODE.load(std::sync::atomic::Ordering::Relaxed) {
        1 => LabelMode::Utf8Strict,
        2 => LabelMode::Classic,
        _ => LabelMode::Fallback,
    }
}

/// A valid label name in the process's mode: any non-empty UTF-8 text, or in classic mode a
/// Prometheus name (`[a-zA-Z_][a-zA-Z0-9_]*`).
pub fn is_valid_label_name(name: &str) -> bool {
    match label_mode() {
        LabelMode::Classic => is_classic_label_name(name),
        LabelMode::Fallback | LabelMode::Utf8Strict => !name.is_empty(),
    }
}

/// Prometheus label names: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_classic_label_name(name: &str) -> bool {
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
        assert!(is_classic_label_name("_a1"));
        assert!(!is_classic_label_name("a-b"));
        assert!(!is_classic_label_name("1a"));
        assert!(!is_classic_label_name(""));
        assert!(
            is_valid_label_name("service.name"),
            "UTF-8 names by default"
        );
        assert!(is_valid_label_name("🙂"));
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
        let body = r#"{"job":"x","empty":"","alertname":"A","job":"node","gone":"x","gone":""}"#;
        let posted: PostedLabels = serde_json::from_str(body).unwrap();
        let set = posted.to_set(None);
        assert_eq!(set.to_string(), r#"{alertname="A", job="node"}"#);
        assert_eq!(posted.fingerprint, set.fingerprint());
        let escaped: PostedLabels =
            serde_json::from_str(r#"{"alertname":"\u0041","job":"node"}"#).unwrap();
        assert_eq!(escaped.fingerprint, posted.fingerprint);
        let shared = escaped.to_set(Some(&set));
        assert!(Arc::ptr_eq(&shared.0, &set.0), "the known set is shared");
        let other = serde_json::from_str::<PostedLabels>(r#"{"alertname":"B"}"#).unwrap();
        assert_eq!(other.to_set(Some(&set)).to_string(), r#"{alertname="B"}"#);
        assert!(serde_json::from_str::<PostedLabels>(r#"{"a":1}"#).is_err());
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
