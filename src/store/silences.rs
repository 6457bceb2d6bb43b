//! Silences with Alertmanager's rules: validation, update-or-replace, expiry, retention, and an
//! index by label so that checking an alert against 10,000 silences stays cheap.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::port::StoreError;
use crate::model::time::{truncate_to_millis, Timestamp};
use crate::model::{is_valid_label_name, LabelSet, MatchType, Matcher};

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SilenceError {
    #[error("silence not found")]
    NotFound,
    #[error("silence invalid: {0}")]
    Invalid(String),
    #[error("silence {0} already expired")]
    AlreadyExpired(String),
    #[error("storing silence: {0}")]
    Storage(#[source] StoreError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SilenceState {
    Active,
    Pending,
    Expired,
}

impl SilenceState {
    pub fn as_str(self) -> &'static str {
        match self {
            SilenceState::Active => "active",
            SilenceState::Pending => "pending",
            SilenceState::Expired => "expired",
        }
    }
}

/// A matcher as a silence stores it (and the API shows it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SilenceMatcher {
    pub name: String,
    pub value: String,
    pub is_regex: bool,
    pub is_equal: bool,
}

impl SilenceMatcher {
    fn compile(&self, index: usize) -> Result<Matcher, SilenceError> {
        if !is_valid_label_name(&self.name) {
            return Err(SilenceError::Invalid(format!(
                "invalid label matcher {index}: invalid label name {:?}",
                self.name
            )));
        }
        Matcher::new(
            MatchType::from_flags(self.is_regex, self.is_equal),
            self.name.clone(),
            self.value.clone(),
        )
        .map_err(|e| SilenceError::Invalid(format!("invalid label matcher {index}: {e}")))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<SilenceMatcher>,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub updated_at: Timestamp,
    pub created_by: String,
    pub comment: String,
}

impl Silence {
    pub fn state(&self, now: Timestamp) -> SilenceState {
        if now < self.starts_at {
            SilenceState::Pending
        } else if now < self.ends_at {
            SilenceState::Active
        } else {
            SilenceState::Expired
        }
    }
}

/// A silence with its compiled matchers.
struct Entry {
    silence: Silence,
    matchers: Vec<Matcher>,
}

impl Entry {
    fn matches(&self, labels: &LabelSet) -> bool {
        self.matchers.iter().all(|m| m.matches(labels))
    }

    /// Where the silence is indexed. Best is a matcher only a few exact values satisfy (an
    /// equality on a non-empty value, or a regex alternation of literals like `a|b|c`); next a
    /// regex whose every match starts with a literal prefix (`host-1.*`).
    fn index_key(&self) -> IndexKey {
        let exact = self.matchers.iter().find_map(|m| match m.kind {
            MatchType::Equal if !m.value.is_empty() => {
                Some((m.name.clone(), vec![m.value.clone()]))
            }
            MatchType::Regex => literal_alternatives(&m.value).map(|vals| (m.name.clone(), vals)),
            _ => None,
        });
        if let Some((name, values)) = exact {
            return IndexKey::Exact(name, values);
        }
        let prefixed = self.matchers.iter().find_map(|m| {
            (m.kind == MatchType::Regex)
                .then(|| literal_prefix(&m.value))
                .flatten()
                .map(|p| (m.name.clone(), p))
        });
        match prefixed {
            Some((name, prefix)) => IndexKey::Prefix(name, prefix),
            None => IndexKey::None,
        }
    }
}

/// Where silences are written so they survive a restart. Writes are synchronous and block on
/// the backend (the API calls them off the async executor).
pub trait SilencePersistence: Send + Sync {
    fn save_silence(&self, silence: &Silence) -> Result<(), StoreError>;
    fn delete_silence(&self, id: &str) -> Result<(), StoreError>;
    /// Silences that others wrote to a shared backend (another replica), for the local index
    /// to follow. A backend no one else writes to has none.
    fn silence_changes(&self) -> Option<tokio::sync::broadcast::Receiver<Silence>> {
        None
    }
}

enum IndexKey {
    Exact(String, Vec<String>),
    Prefix(String, String),
    None,
}

/// The literal text every match of an (anchored) pattern starts with, if there is any: the
/// leading plain characters, less the last one when a quantifier makes it optional. A pattern
/// with an alternation anywhere has none (an alternative could start differently).
fn literal_prefix(pattern: &str) -> Option<String> {
    if pattern.contains('|') {
        return None;
    }
    const META: &[char] = &[
        '\\', '.', '+', '*', '?', '(', ')', '[', ']', '{', '}', '^', '$',
    ];
    let end = pattern.find(META).unwrap_or(pattern.len());
    let mut prefix = pattern[..end].to_string();
    if matches!(pattern[end..].chars().next(), Some('*' | '?' | '{')) {
        prefix.pop();
    }
    (!prefix.is_empty()).then_some(prefix)
}

/// `a|b|c` with only plain, non-empty literals, as its alternatives; `None` for anything else.
fn literal_alternatives(pattern: &str) -> Option<Vec<String>> {
    const META: &[char] = &[
        '\\', '.', '+', '*', '?', '(', ')', '[', ']', '{', '}', '^', '$',
    ];
    if pattern.contains(META) {
        return None;
    }
    let alternatives: Vec<String> = pattern.split('|').map(str::to_string).collect();
    if alternatives.iter().any(String::is_empty) {
        return None;
    }
    Some(alternatives)
}

#[derive(Default)]
struct PrefixIndex {
    /// The distinct prefix lengths present, so a lookup probes only those.
    lengths: std::collections::BTreeMap<usize, usize>,
    by_prefix: HashMap<String, Vec<String>>,
}

#[derive(Default)]
struct Inner {
    by_id: HashMap<String, Arc<Entry>>,
    /// label name → value → ids of silences that need that exact label.
    by_label: HashMap<String, HashMap<String, Vec<String>>>,
    /// label name → silences indexed by a literal prefix of that label's value.
    by_prefix: HashMap<String, PrefixIndex>,
    /// Silences with no indexable matcher; checked against every alert.
    unindexed: Vec<String>,
}

impl Inner {
    fn insert(&mut self, entry: Entry) {
        let id = entry.silence.id.clone();
        self.remove(&id);
        match entry.index_key() {
            IndexKey::Exact(name, values) => {
                let by_value = self.by_label.entry(name).or_default();
                for value in values {
                    by_value.entry(value).or_default().push(id.clone());
                }
            }
            IndexKey::Prefix(name, prefix) => {
                let index = self.by_prefix.entry(name).or_default();
                *index.lengths.entry(prefix.len()).or_default() += 1;
                index.by_prefix.entry(prefix).or_default().push(id.clone());
            }
            IndexKey::None => self.unindexed.push(id.clone()),
        }
        self.by_id.insert(id, Arc::new(entry));
    }

    fn remove(&mut self, id: &str) {
        let Some(old) = self.by_id.remove(id) else {
            return;
        };
        match old.index_key() {
            IndexKey::Exact(name, values) => {
                if let Some(by_value) = self.by_label.get_mut(&name) {
                    for value in values {
                        remove_id(by_value, &value, id);
                    }
                    if by_value.is_empty() {
                        self.by_label.remove(&name);
                    }
                }
            }
            IndexKey::Prefix(name, prefix) => {
                if let Some(index) = self.by_prefix.get_mut(&name) {
                    remove_id(&mut index.by_prefix, &prefix, id);
                    if let Some(count) = index.lengths.get_mut(&prefix.len()) {
                        *count -= 1;
                        if *count == 0 {
                            index.lengths.remove(&prefix.len());
                        }
                    }
                    if index.by_prefix.is_empty() {
                        self.by_prefix.remove(&name);
                    }
                }
            }
            IndexKey::None => self.unindexed.retain(|i| i != id),
        }
    }
}

fn remove_id(map: &mut HashMap<String, Vec<String>>, key: &str, id: &str) {
    if let Some(ids) = map.get_mut(key) {
        ids.retain(|i| i != id);
        if ids.is_empty() {
            map.remove(key);
        }
    }
}

/// Silences and their index. Writes are serialised by `writer` and reach the disk with only that
/// held: the index lock is taken just to read the silence being replaced and to apply the
/// change once it is saved, so a flush's mute check never waits on a disk sync. The writing
/// calls block on the disk; the API runs them off the async executor.
pub struct Silences {
    inner: RwLock<Inner>,
    writer: parking_lot::Mutex<()>,
    retention: Duration,
    persistence: Option<Arc<dyn SilencePersistence>>,
}

impl Silences {
    pub fn new(retention: Duration, persistence: Option<Arc<dyn SilencePersistence>>) -> Silences {
        Silences {
            inner: RwLock::new(Inner::default()),
            writer: parking_lot::Mutex::new(()),
            retention,
            persistence,
        }
    }

    /// Loads silences read back from storage, skipping (and reporting) any that no longer compile.
    pub fn restore(&self, silences: Vec<Silence>) -> Vec<String> {
        let mut problems = Vec::new();
        let mut inner = self.inner.write();
        for silence in silences {
            match compile_all(&silence.matchers) {
                Ok(matchers) => inner.insert(Entry { silence, matchers }),
                Err(e) => problems.push(format!("silence {}: {e}", silence.id)),
            }
        }
        problems
    }

    /// Applies silences others wrote to the shared backend as they arrive (needs a tokio
    /// runtime; does nothing for a backend no one else writes to).
    pub fn follow_changes(self: &Arc<Self>) {
        let Some(mut changes) = self.persistence.as_ref().and_then(|p| p.silence_changes()) else {
            return;
        };
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let silence = match changes.recv().await {
                    Ok(s) => s,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(
                            missed,
                            "silence changes missed; they arrive with the next re-read"
                        );
                        continue;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                };
                let Some(me) = weak.upgrade() else { return };
                me.apply_change(silence);
            }
        });
    }

    /// Puts a silence saved elsewhere into the index, unless the index has a newer version.
    pub fn apply_change(&self, silence: Silence) {
        let matchers = match compile_all(&silence.matchers) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(silence = %silence.id, error = %e, "skipping a changed silence that does not compile");
                return;
            }
        };
        let mut inner = self.inner.write();
        if inner
            .by_id
            .get(&silence.id)
            .is_some_and(|e| e.silence.updated_at > silence.updated_at)
        {
            return;
        }
        inner.insert(Entry { silence, matchers });
    }

    fn persist(&self, silence: &Silence) -> Result<(), SilenceError> {
        match &self.persistence {
            Some(p) => p.save_silence(silence).map_err(SilenceError::Storage),
            None => Ok(()),
        }
    }

    /// Creates or updates a silence as Alertmanager's `Silences.Set` does: an update keeps the id
    /// only when the matchers are unchanged and the change is allowed in the silence's state;
    /// otherwise the old silence is expired and a new one created. Returns the id.
    pub fn set(&self, mut silence: Silence, now: Timestamp) -> Result<String, SilenceError> {
        // Silences are kept at the API's millisecond precision: what a client reads back and
        // posts again (as `amtool silence update` does) then compares equal.
        let now = truncate_to_millis(now);
        silence.starts_at = truncate_to_millis(silence.starts_at);
        silence.ends_at = truncate_to_millis(silence.ends_at);
        let matchers = compile_all(&silence.matchers)?;
        let _writer = self.writer.lock();
        let previous = if silence.id.is_empty() {
            None
        } else {
            Some(
                self.inner
                    .read()
                    .by_id
                    .get(&silence.id)
                    .map(|e| e.silence.clone())
                    .ok_or(SilenceError::NotFound)?,
            )
        };
        if let Some(prev) = &previous {
            if can_update(prev, &silence, now) {
                silence.updated_at = now;
                validate(&silence)?;
                self.persist(&silence)?;
                self.inner.write().insert(Entry {
                    silence: silence.clone(),
                    matchers,
                });
                return Ok(silence.id);
            }
        }
        silence.id = uuid::Uuid::new_v4().to_string();
        if silence.starts_at < now {
            silence.starts_at = now;
        }
        silence.updated_at = now;
        validate(&silence)?;
        if let Some(prev) = previous {
            if prev.state(now) != SilenceState::Expired {
                let expired = expire_at(prev, now);
                let compiled = compile_all(&expired.matchers)?;
                self.persist(&expired)?;
                self.inner.write().insert(Entry {
                    silence: expired,
                    matchers: compiled,
                });
            }
        }
        self.persist(&silence)?;
        let id = silence.id.clone();
        self.inner.write().insert(Entry { silence, matchers });
        Ok(id)
    }

    /// Expires a silence: an active one ends now, a pending one starts and ends now.
    pub fn expire(&self, id: &str, now: Timestamp) -> Result<(), SilenceError> {
        let now = truncate_to_millis(now);
        let _writer = self.writer.lock();
        let (silence, matchers) = {
            let inner = self.inner.read();
            let entry = inner.by_id.get(id).ok_or(SilenceError::NotFound)?;
            (entry.silence.clone(), entry.matchers.clone())
        };
        if silence.state(now) == SilenceState::Expired {
            return Err(SilenceError::AlreadyExpired(id.to_string()));
        }
        let expired = expire_at(silence, now);
        self.persist(&expired)?;
        self.inner.write().insert(Entry {
            silence: expired,
            matchers,
        });
        Ok(())
    }

    pub fn get(&self, id: &str) -> Option<Silence> {
        self.inner.read().by_id.get(id).map(|e| e.silence.clone())
    }

    /// Silences matching every filter (a filter matches the value of the silence's matcher with
    /// the same name), in Alertmanager's order: active (soonest end first), pending (soonest
    /// start first), expired (latest end first).
    pub fn query(&self, filters: &[Matcher], now: Timestamp) -> Vec<Silence> {
        let inner = self.inner.read();
        let mut out: Vec<Silence> = inner
            .by_id
            .values()
            .filter(|e| {
                let by_name: BTreeMap<&str, &str> = e
                    .silence
                    .matchers
                    .iter()
                    .map(|m| (m.name.as_str(), m.value.as_str()))
                    .collect();
                filters.iter().all(|f| {
                    by_name
                        .get(f.name.as_str())
                        .is_some_and(|v| f.matches_value(v))
                })
            })
            .map(|e| e.silence.clone())
            .collect();
        out.sort_by(|a, b| {
            let (sa, sb) = (a.state(now), b.state(now));
            sa.cmp(&sb).then_with(|| match sa {
                SilenceState::Active => a.ends_at.cmp(&b.ends_at),
                SilenceState::Pending => a.starts_at.cmp(&b.starts_at),
                SilenceState::Expired => b.ends_at.cmp(&a.ends_at),
            })
        });
        out
    }

    /// Ids of the active silences that mute an alert with these labels, sorted.
    pub fn mutes(&self, labels: &LabelSet, now: Timestamp) -> Vec<String> {
        let inner = self.inner.read();
        let mut ids = Vec::new();
        let mut check = |id: &String| {
            if let Some(e) = inner.by_id.get(id) {
                if e.silence.state(now) == SilenceState::Active && e.matches(labels) {
                    ids.push(id.clone());
                }
            }
        };
        inner.unindexed.iter().for_each(&mut check);
        for (name, value) in labels.iter() {
            if let Some(candidates) = inner
                .by_label
                .get(name)
                .and_then(|by_value| by_value.get(value))
            {
                candidates.iter().for_each(&mut check);
            }
            if let Some(index) = inner.by_prefix.get(name) {
                for &len in index.lengths.keys() {
                    if len > value.len() {
                        break;
                    }
                    if !value.is_char_boundary(len) {
                        continue;
                    }
                    if let Some(candidates) = index.by_prefix.get(&value[..len]) {
                        candidates.iter().for_each(&mut check);
                    }
                }
            }
        }
        ids.sort();
        ids.dedup();
        ids
    }

    /// Drops silences that expired more than the retention ago; returns how many.
    pub fn collect_expired(&self, now: Timestamp) -> usize {
        let retention = chrono::Duration::from_std(self.retention).unwrap_or(chrono::Duration::MAX);
        let _writer = self.writer.lock();
        let old: Vec<String> = self
            .inner
            .read()
            .by_id
            .values()
            .filter(|e| e.silence.ends_at + retention < now)
            .map(|e| e.silence.id.clone())
            .collect();
        for id in &old {
            if let Some(p) = &self.persistence {
                if let Err(e) = p.delete_silence(id) {
                    tracing::warn!(silence = %id, error = %e, "could not delete expired silence from storage");
                    continue;
                }
            }
            self.inner.write().remove(id);
        }
        old.len()
    }

    pub fn count_by_state(&self, now: Timestamp) -> [(SilenceState, usize); 3] {
        let inner = self.inner.read();
        let mut counts = [
            (SilenceState::Active, 0),
            (SilenceState::Pending, 0),
            (SilenceState::Expired, 0),
        ];
        for e in inner.by_id.values() {
            let state = e.silence.state(now);
            if let Some(c) = counts.iter_mut().find(|(s, _)| *s == state) {
                c.1 += 1;
            }
        }
        counts
    }
}

fn compile_all(matchers: &[SilenceMatcher]) -> Result<Vec<Matcher>, SilenceError> {
    matchers
        .iter()
        .enumerate()
        .map(|(i, m)| m.compile(i))
        .collect()
}

fn expire_at(mut silence: Silence, now: Timestamp) -> Silence {
    if silence.state(now) == SilenceState::Pending {
        silence.starts_at = now;
    }
    silence.ends_at = now;
    silence.updated_at = now;
    silence
}

fn can_update(prev: &Silence, next: &Silence, now: Timestamp) -> bool {
    if prev.matchers != next.matchers {
        return false;
    }
    match prev.state(now) {
        SilenceState::Active => next.starts_at == prev.starts_at && next.ends_at >= now,
        SilenceState::Pending => next.starts_at >= now,
        SilenceState::Expired => false,
    }
}

fn validate(s: &Silence) -> Result<(), SilenceError> {
    let invalid = |m: &str| Err(SilenceError::Invalid(m.to_string()));
    if s.matchers.is_empty() {
        return invalid("at least one matcher required");
    }
    let compiled = compile_all(&s.matchers)?;
    if compiled.iter().all(|m| m.matches_value("")) {
        return invalid("at least one matcher must not match the empty string");
    }
    if s.ends_at < s.starts_at {
        return invalid("end time must not be before start time");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn m(name: &str, value: &str, is_regex: bool, is_equal: bool) -> SilenceMatcher {
        SilenceMatcher {
            name: name.into(),
            value: value.into(),
            is_regex,
            is_equal,
        }
    }

    /// Storage that holds every save until the test lets it go.
    struct GatedDisk {
        entered: std::sync::mpsc::Sender<()>,
        release: parking_lot::Mutex<std::sync::mpsc::Receiver<()>>,
    }

    impl SilencePersistence for GatedDisk {
        fn save_silence(&self, _: &Silence) -> Result<(), StoreError> {
            let _ = self.entered.send(());
            let _ = self.release.lock().recv();
            Ok(())
        }
        fn delete_silence(&self, _: &str) -> Result<(), StoreError> {
            Ok(())
        }
    }

    #[test]
    fn mute_checks_do_not_wait_for_a_silence_write_on_disk() {
        let (entered, saving) = std::sync::mpsc::channel();
        let (release, gate) = std::sync::mpsc::channel();
        let disk = Arc::new(GatedDisk {
            entered,
            release: parking_lot::Mutex::new(gate),
        });
        let silences = Arc::new(Silences::new(Duration::from_secs(60), Some(disk)));
        let now = Utc::now();
        let writer = {
            let silences = silences.clone();
            std::thread::spawn(move || {
                silences.set(silence_at(now, vec![m("a", "b", false, true)], -1, 60), now)
            })
        };
        saving.recv().unwrap();
        // The write is on its way to disk: the index answers meanwhile, without it.
        let labels: LabelSet = [("a", "b")].into_iter().collect();
        assert!(silences.mutes(&labels, now).is_empty());
        assert!(silences.query(&[], now).is_empty());
        release.send(()).unwrap();
        let id = writer.join().unwrap().unwrap();
        assert_eq!(silences.mutes(&labels, now), vec![id], "applied once saved");
    }

    fn silence_at(
        now: Timestamp,
        matchers: Vec<SilenceMatcher>,
        start_min: i64,
        end_min: i64,
    ) -> Silence {
        Silence {
            id: String::new(),
            matchers,
            starts_at: now + chrono::Duration::minutes(start_min),
            ends_at: now + chrono::Duration::minutes(end_min),
            updated_at: now,
            created_by: "me".into(),
            comment: "c".into(),
        }
    }

    fn store() -> Silences {
        Silences::new(Duration::from_secs(3600), None)
    }

    fn labels(pairs: &[(&str, &str)]) -> LabelSet {
        pairs.iter().map(|(k, v)| (*k, *v)).collect()
    }

    #[test]
    fn validation() {
        let s = store();
        let now = Utc::now();
        let err = s.set(silence_at(now, vec![], 0, 10), now).unwrap_err();
        assert_eq!(
            err.to_string(),
            "silence invalid: at least one matcher required"
        );
        let err = s
            .set(silence_at(now, vec![m("a", ".*", true, true)], 0, 10), now)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "silence invalid: at least one matcher must not match the empty string"
        );
        let err = s
            .set(silence_at(now, vec![m("", "x", false, true)], 0, 10), now)
            .unwrap_err();
        assert!(err.to_string().contains("invalid label name"), "{err}");
        let err = s
            .set(silence_at(now, vec![m("a", "(", true, true)], 0, 10), now)
            .unwrap_err();
        assert!(err.to_string().contains("invalid label matcher 0"), "{err}");
        let mut unknown = silence_at(now, vec![m("a", "b", false, true)], 0, 10);
        unknown.id = "nope".into();
        assert_eq!(s.set(unknown, now), Err(SilenceError::NotFound));
    }

    #[test]
    fn start_in_past_is_clamped_to_now() {
        let s = store();
        let now = Utc::now();
        let id = s
            .set(
                silence_at(now, vec![m("a", "b", false, true)], -30, 10),
                now,
            )
            .unwrap();
        assert_eq!(s.get(&id).unwrap().starts_at, truncate_to_millis(now));
    }

    #[test]
    fn update_rules() {
        let s = store();
        let now = Utc::now();
        let id = s
            .set(silence_at(now, vec![m("a", "b", false, true)], 0, 60), now)
            .unwrap();
        // Active: extending the end with the same start and matchers keeps the id.
        let mut same = s.get(&id).unwrap();
        same.ends_at = now + chrono::Duration::minutes(120);
        assert_eq!(s.set(same, now).unwrap(), id);
        // Changing matchers replaces it: the old one is expired, a new id is issued.
        let mut changed = s.get(&id).unwrap();
        changed.matchers = vec![m("a", "c", false, true)];
        let new_id = s.set(changed, now).unwrap();
        assert_ne!(new_id, id);
        assert_eq!(s.get(&id).unwrap().state(now), SilenceState::Expired);
        // Active: moving the start replaces too.
        let mut moved = s.get(&new_id).unwrap();
        moved.starts_at = now + chrono::Duration::minutes(5);
        assert_ne!(s.set(moved, now).unwrap(), new_id);
        // Pending: moving the start to a later time keeps the id.
        let pid = s
            .set(silence_at(now, vec![m("x", "y", false, true)], 10, 60), now)
            .unwrap();
        let mut later = s.get(&pid).unwrap();
        later.starts_at = now + chrono::Duration::minutes(20);
        assert_eq!(s.set(later, now).unwrap(), pid);
        // Expired: any update creates a new silence.
        s.expire(&pid, now).unwrap();
        let mut revived = s.get(&pid).unwrap();
        revived.ends_at = now + chrono::Duration::minutes(30);
        assert_ne!(s.set(revived, now).unwrap(), pid);
    }

    #[test]
    fn expire_and_states() {
        let s = store();
        let now = Utc::now();
        let pending = s
            .set(silence_at(now, vec![m("a", "b", false, true)], 10, 60), now)
            .unwrap();
        s.expire(&pending, now).unwrap();
        let p = s.get(&pending).unwrap();
        let now_ms = truncate_to_millis(now);
        assert_eq!((p.starts_at, p.ends_at), (now_ms, now_ms));
        assert_eq!(
            s.expire(&pending, now),
            Err(SilenceError::AlreadyExpired(pending.clone()))
        );
        assert_eq!(s.expire("unknown", now), Err(SilenceError::NotFound));
    }

    #[test]
    fn mutes_through_the_index_and_the_scan_list() {
        let s = store();
        let now = Utc::now();
        let by_eq = s
            .set(
                silence_at(
                    now,
                    vec![
                        m("alertname", "Disk", false, true),
                        m("env", "dev.*", true, true),
                    ],
                    0,
                    60,
                ),
                now,
            )
            .unwrap();
        let by_re = s
            .set(
                silence_at(now, vec![m("team", "db|web", true, true)], 0, 60),
                now,
            )
            .unwrap();
        let _pending = s
            .set(
                silence_at(now, vec![m("alertname", "Disk", false, true)], 10, 60),
                now,
            )
            .unwrap();
        assert_eq!(
            s.mutes(&labels(&[("alertname", "Disk"), ("env", "dev1")]), now),
            vec![by_eq.clone()]
        );
        assert!(s
            .mutes(&labels(&[("alertname", "Disk"), ("env", "prod")]), now)
            .is_empty());
        assert_eq!(s.mutes(&labels(&[("team", "web")]), now), vec![by_re]);
        s.expire(&by_eq, now).unwrap();
        let later = now + chrono::Duration::seconds(1);
        assert!(s
            .mutes(&labels(&[("alertname", "Disk"), ("env", "dev1")]), later)
            .is_empty());
    }

    #[test]
    fn literal_prefixes() {
        assert_eq!(literal_prefix("host-1.*").as_deref(), Some("host-1"));
        assert_eq!(literal_prefix("ab?c").as_deref(), Some("a"));
        assert_eq!(literal_prefix("ab*").as_deref(), Some("a"));
        assert_eq!(literal_prefix("a{0,2}b"), None);
        assert_eq!(literal_prefix(".*x"), None);
        assert_eq!(literal_prefix("(?i)abc"), None);
        assert_eq!(literal_prefix("ab.*|cd"), None);
        assert_eq!(literal_prefix("\\d+"), None);
    }

    #[test]
    fn query_order_and_filters() {
        let s = store();
        let now = Utc::now();
        let a1 = s
            .set(silence_at(now, vec![m("a", "1", false, true)], 0, 30), now)
            .unwrap();
        let a2 = s
            .set(silence_at(now, vec![m("a", "2", false, true)], 0, 20), now)
            .unwrap();
        let p1 = s
            .set(silence_at(now, vec![m("a", "3", false, true)], 20, 30), now)
            .unwrap();
        let p2 = s
            .set(silence_at(now, vec![m("b", "1", false, true)], 10, 30), now)
            .unwrap();
        let e1 = s
            .set(silence_at(now, vec![m("a", "4", false, true)], 0, 30), now)
            .unwrap();
        s.expire(&e1, now - chrono::Duration::seconds(5)).unwrap();
        let e2 = s
            .set(silence_at(now, vec![m("a", "5", false, true)], 0, 30), now)
            .unwrap();
        s.expire(&e2, now).unwrap();
        let order: Vec<String> = s
            .query(&[], now + chrono::Duration::milliseconds(1))
            .into_iter()
            .map(|x| x.id)
            .collect();
        assert_eq!(order, [a2, a1.clone(), p2, p1, e2, e1]);
        let f = Matcher::parse("a=~1|4").unwrap();
        let ids: Vec<String> = s.query(&[f], now).into_iter().map(|x| x.id).collect();
        assert_eq!(ids.len(), 2);
        assert!(ids.contains(&a1));
    }

    #[test]
    fn retention_collects_old_expired() {
        let s = Silences::new(Duration::from_secs(60), None);
        let now = Utc::now();
        let id = s
            .set(silence_at(now, vec![m("a", "1", false, true)], 0, 30), now)
            .unwrap();
        s.expire(&id, now).unwrap();
        assert_eq!(s.collect_expired(now + chrono::Duration::seconds(30)), 0);
        assert_eq!(s.collect_expired(now + chrono::Duration::seconds(61)), 1);
        assert!(s.get(&id).is_none());
    }
}
