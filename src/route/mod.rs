//! The routing tree: which routes (and so which receivers and group settings) an alert reaches.

mod tree_print;

use std::time::Duration;

use crate::config::{merge_matchers, RouteConfig};
use std::collections::HashMap;

use crate::model::{Fingerprint, LabelSet, MatchType, Matchers};

pub use tree_print::{print_matching_tree, print_tree};

pub const DEFAULT_GROUP_WAIT: Duration = Duration::from_secs(30);
pub const DEFAULT_GROUP_INTERVAL: Duration = Duration::from_secs(5 * 60);
pub const DEFAULT_REPEAT_INTERVAL: Duration = Duration::from_secs(4 * 3600);

/// Index of a route in its tree; stable for the life of one loaded config.
pub type RouteId = usize;

/// The routes one alert matched: almost always a few, so they stay off the heap.
pub type MatchedRoutes = smallvec::SmallVec<[RouteId; 4]>;

#[derive(Debug, Clone)]
pub struct Route {
    pub id: RouteId,
    pub parent: Option<RouteId>,
    pub children: Vec<RouteId>,
    pub receiver: String,
    /// Sorted, without duplicates. Ignored when `group_by_all`.
    pub group_by: Vec<String>,
    pub group_by_all: bool,
    pub matchers: Matchers,
    pub continue_matching: bool,
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
    /// Not inherited, as in Alertmanager.
    pub mute_time_intervals: Vec<String>,
    pub active_time_intervals: Vec<String>,
    /// The escalation policy of this route's incidents; inherited.
    pub escalation: Option<String>,
    /// The route's labels merged over its parent's (Alertmanager 0.34); values are templates.
    pub labels: Vec<(String, String)>,
    /// The chain of matchers from the root, e.g. `{}/{severity="critical"}`.
    pub key: String,
    /// For a route with many children: which children can match at all, by label value.
    child_index: Option<ChildIndex>,
}

/// Routes with at least this many children get a [`ChildIndex`]; below it a plain walk is as
/// fast.
const INDEX_CHILDREN_FROM: usize = 8;

/// The children of one route by an equality matcher each must pass (`team="db"`), so matching
/// a tree of a thousand team routes looks at the few children the alert's labels name instead
/// of walking all of them. Children without such a matcher are always candidates. Candidates
/// are tried in config order, so the result is the walk's.
#[derive(Debug, Clone, Default)]
struct ChildIndex {
    by_label: HashMap<String, HashMap<String, Vec<usize>>>,
    always: Vec<usize>,
}

impl ChildIndex {
    fn build(children: &[&Route]) -> ChildIndex {
        let mut index = ChildIndex::default();
        for (position, child) in children.iter().enumerate() {
            // An empty value also matches a missing label: it cannot narrow anything.
            let key = child
                .matchers
                .iter()
                .find(|m| m.kind == MatchType::Equal && !m.value.is_empty());
            match key {
                Some(m) => index
                    .by_label
                    .entry(m.name.clone())
                    .or_default()
                    .entry(m.value.clone())
                    .or_default()
                    .push(position),
                None => index.always.push(position),
            }
        }
        index
    }

    /// Positions of the children that may match these labels, in config order.
    fn candidates(&self, labels: &LabelSet) -> Vec<usize> {
        let mut out = self.always.clone();
        for (name, values) in &self.by_label {
            if let Some(found) = labels.get(name).and_then(|v| values.get(v)) {
                out.extend_from_slice(found);
            }
        }
        out.sort_unstable();
        out
    }
}

#[derive(Debug, Clone)]
pub struct RouteTree {
    routes: Vec<Route>,
}

struct Inherited<'a> {
    receiver: &'a str,
    group_by: &'a [String],
    group_by_all: bool,
    group_wait: Duration,
    group_interval: Duration,
    repeat_interval: Duration,
    escalation: Option<&'a str>,
    labels: &'a [(String, String)],
}

impl RouteTree {
    /// Builds the tree from a config that passed validation.
    pub fn build(root: &RouteConfig) -> RouteTree {
        let mut tree = RouteTree { routes: Vec::new() };
        let defaults = Inherited {
            receiver: "",
            group_by: &[],
            group_by_all: false,
            group_wait: DEFAULT_GROUP_WAIT,
            group_interval: DEFAULT_GROUP_INTERVAL,
            repeat_interval: DEFAULT_REPEAT_INTERVAL,
            escalation: None,
            labels: &[],
        };
        tree.add(root, None, &defaults);
        tree
    }

    fn add(
        &mut self,
        cfg: &RouteConfig,
        parent: Option<RouteId>,
        inherited: &Inherited,
    ) -> RouteId {
        let id = self.routes.len();
        let matchers = Matchers::sorted(merge_matchers(
            &cfg.match_equal,
            &cfg.match_re,
            &cfg.matchers,
        ));
        let key = match parent {
            Some(p) => format!("{}/{}", self.routes[p].key, matchers),
            None => matchers.to_string(),
        };
        let (group_by, group_by_all) = match &cfg.group_by {
            Some(list) if !list.is_empty() => {
                if list.iter().any(|l| l == "...") {
                    (Vec::new(), true)
                } else {
                    let mut names = list.clone();
                    names.sort();
                    names.dedup();
                    (names, false)
                }
            }
            _ => (inherited.group_by.to_vec(), inherited.group_by_all),
        };
        let route = Route {
            id,
            parent,
            children: Vec::new(),
            receiver: cfg
                .receiver
                .clone()
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| inherited.receiver.to_string()),
            group_by,
            group_by_all,
            matchers,
            continue_matching: cfg.continue_matching,
            group_wait: cfg.group_wait.map_or(inherited.group_wait, |d| d.0),
            group_interval: cfg.group_interval.map_or(inherited.group_interval, |d| d.0),
            repeat_interval: cfg
                .repeat_interval
                .map_or(inherited.repeat_interval, |d| d.0),
            mute_time_intervals: cfg.mute_time_intervals.clone(),
            active_time_intervals: cfg.active_time_intervals.clone(),
            escalation: cfg
                .escalation
                .clone()
                .or_else(|| inherited.escalation.map(str::to_string)),
            labels: {
                let mut merged: std::collections::BTreeMap<String, String> =
                    inherited.labels.iter().cloned().collect();
                merged.extend(cfg.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
                merged.into_iter().collect()
            },
            key,
            child_index: None,
        };
        self.routes.push(route);
        let children: Vec<RouteId> = {
            let me = self.routes[id].clone();
            let next = Inherited {
                receiver: &me.receiver,
                group_by: &me.group_by,
                group_by_all: me.group_by_all,
                group_wait: me.group_wait,
                group_interval: me.group_interval,
                repeat_interval: me.repeat_interval,
                escalation: me.escalation.as_deref(),
                labels: &me.labels,
            };
            cfg.routes
                .iter()
                .map(|child| self.add(child, Some(id), &next))
                .collect()
        };
        if children.len() >= INDEX_CHILDREN_FROM {
            let routes: Vec<&Route> = children.iter().map(|c| &self.routes[*c]).collect();
            self.routes[id].child_index = Some(ChildIndex::build(&routes));
        }
        self.routes[id].children = children;
        id
    }

    pub fn root(&self) -> &Route {
        &self.routes[0]
    }

    pub fn get(&self, id: RouteId) -> &Route {
        &self.routes[id]
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Alertmanager's route matching: depth first, children in order; the first matching child
    /// stops the search unless it has `continue: true`; a node is itself a match only when none
    /// of its children match.
    pub fn match_labels(&self, labels: &LabelSet) -> MatchedRoutes {
        let mut out = MatchedRoutes::new();
        self.match_into(0, labels, &mut out, true);
        out
    }

    fn match_into(
        &self,
        id: RouteId,
        labels: &LabelSet,
        out: &mut MatchedRoutes,
        use_index: bool,
    ) -> bool {
        let route = &self.routes[id];
        if !route.matchers.matches(labels) {
            return false;
        }
        let before = out.len();
        // Whether the search stops after this child.
        let mut stops = |child: RouteId| {
            self.match_into(child, labels, out, use_index) && !self.routes[child].continue_matching
        };
        match route.child_index.as_ref().filter(|_| use_index) {
            Some(index) => {
                for position in index.candidates(labels) {
                    if stops(route.children[position]) {
                        break;
                    }
                }
            }
            None => {
                for &child in &route.children {
                    if stops(child) {
                        break;
                    }
                }
            }
        }
        if out.len() == before {
            out.push(id);
        }
        true
    }

    /// The receivers an alert with these labels reaches, in match order.
    pub fn receivers_for(&self, labels: &LabelSet) -> Vec<&str> {
        self.match_labels(labels)
            .into_iter()
            .map(|id| self.routes[id].receiver.as_str())
            .collect()
    }
}

impl Route {
    /// The labels that pick this alert's aggregation group under this route.
    pub fn group_labels(&self, labels: &LabelSet) -> LabelSet {
        if self.group_by_all {
            labels.clone()
        } else {
            labels.select(self.group_by.iter().map(String::as_str))
        }
    }

    /// The fingerprint of [`Route::group_labels`], without building them: an alert joining a
    /// group that exists needs only this.
    pub fn group_fingerprint(&self, labels: &LabelSet) -> Fingerprint {
        if self.group_by_all {
            return labels.fingerprint();
        }
        // Both lists are sorted by name, so one merge walk finds the grouped labels.
        let mut names = self.group_by.iter().peekable();
        Fingerprint::of_labels(labels.iter().filter(move |(name, _)| {
            while names.next_if(|n| n.as_str() < *name).is_some() {}
            names.peek().is_some_and(|n| n.as_str() == *name)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LoadedConfig;

    const CONFIG: &str = r#"
route:
  receiver: default
  group_by: [alertname]
  group_wait: 10s
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
      continue: true
      group_by: ['...']
    - match: {team: db}
      receiver: db
      repeat_interval: 1h
      routes:
        - matchers: [env=~"prod|stage"]
          receiver: db-prod
        - matchers: [env="dev"]
receivers: [{name: default}, {name: pager}, {name: db}, {name: db-prod}]
"#;

    fn tree() -> RouteTree {
        RouteTree::build(LoadedConfig::parse(CONFIG).unwrap().route())
    }

    fn labels(pairs: &[(&str, &str)]) -> LabelSet {
        pairs.iter().map(|(k, v)| (*k, *v)).collect()
    }

    #[test]
    fn continue_and_fallthrough() {
        let t = tree();
        let r = t.receivers_for(&labels(&[
            ("severity", "critical"),
            ("team", "db"),
            ("env", "prod"),
        ]));
        assert_eq!(r, ["pager", "db-prod"]);
        assert_eq!(
            t.receivers_for(&labels(&[("team", "db"), ("env", "qa")])),
            ["db"]
        );
        assert_eq!(t.receivers_for(&labels(&[("x", "y")])), ["default"]);
    }

    #[test]
    fn the_child_index_matches_what_the_walk_matches() {
        let mut yaml = String::from("route:\n  receiver: default\n  routes:\n");
        yaml.push_str(
            "    - {matchers: ['severity=\"critical\"'], receiver: default, continue: true}\n",
        );
        for team in 0..30 {
            yaml.push_str(&format!(
                "    - {{matchers: ['team=\"t{team}\"', 'env!=\"dev\"'], receiver: default}}\n"
            ));
            if team % 10 == 0 {
                yaml.push_str(&format!(
                    "    - {{matchers: ['service=\"s{team}\"'], receiver: default, continue: true}}\n"
                ));
            }
        }
        yaml.push_str("    - {matchers: ['team=~\"t1.*\"'], receiver: default}\n");
        yaml.push_str("    - {matchers: ['team=\"\"'], receiver: default}\n");
        yaml.push_str("receivers: [{name: default}]\n");
        let t = RouteTree::build(LoadedConfig::parse(&yaml).unwrap().route());
        assert!(t.root().child_index.is_some());
        let mut checked = 0;
        for team in ["t0", "t1", "t10", "t15", "t29", "t30", ""] {
            for service in ["s0", "s10", "s3", ""] {
                for env in ["prod", "dev"] {
                    for severity in ["critical", "info"] {
                        let mut l = LabelSet::new();
                        for (k, v) in [
                            ("team", team),
                            ("service", service),
                            ("env", env),
                            ("severity", severity),
                        ] {
                            if !v.is_empty() {
                                l.insert(k, v);
                            }
                        }
                        let mut walked = MatchedRoutes::new();
                        t.match_into(0, &l, &mut walked, false);
                        assert_eq!(t.match_labels(&l), walked, "{l}");
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 112);
    }

    #[test]
    fn options_are_inherited() {
        let t = tree();
        let dev = t.match_labels(&labels(&[("team", "db"), ("env", "dev")]));
        let route = t.get(dev[0]);
        assert_eq!(route.receiver, "db");
        assert_eq!(route.group_wait, Duration::from_secs(10));
        assert_eq!(route.repeat_interval, Duration::from_secs(3600));
        assert_eq!(route.group_interval, DEFAULT_GROUP_INTERVAL);
        assert_eq!(route.group_by, ["alertname"]);
        assert_eq!(route.key, r#"{}/{team="db"}/{env="dev"}"#);
        let pager = t.get(t.match_labels(&labels(&[("severity", "critical")]))[0]);
        assert!(pager.group_by_all);
    }

    #[test]
    fn group_fingerprints_are_those_of_the_group_labels() {
        let yaml = "route:\n  receiver: default\n  group_by: [zone, alertname, cluster]\n  routes:\n    - {matchers: ['all=\"yes\"'], group_by: ['...']}\n    - {matchers: ['none=\"yes\"'], group_by: []}\nreceivers: [{name: default}]\n";
        let t = RouteTree::build(LoadedConfig::parse(yaml).unwrap().route());
        for set in [
            labels(&[("alertname", "A"), ("cluster", "c1"), ("zone", "z")]),
            labels(&[
                ("alertname", "A"),
                ("b", "x"),
                ("cluster", "c1"),
                ("instance", "i"),
            ]),
            labels(&[("a", "1"), ("zone", "z"), ("zzz", "last")]),
            labels(&[("instance", "only-ungrouped")]),
            labels(&[("all", "yes"), ("alertname", "A")]),
            labels(&[("none", "yes"), ("alertname", "A")]),
        ] {
            let route = t.get(t.match_labels(&set)[0]);
            assert_eq!(
                route.group_fingerprint(&set),
                route.group_labels(&set).fingerprint(),
                "{set} under {}",
                route.key
            );
        }
    }
}
