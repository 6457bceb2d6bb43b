//! The one place where dispatch and escalation ask "may this replica fire this now?". A single
//! router owns everything; replicas sharing state hold leases on shards of the groups and
//! incidents, and only the holder notifies.

/// Ownership of aggregation groups and incidents, by their key.
pub trait Leases: Send + Sync {
    /// Whether this replica may notify for the aggregation group with this key now.
    fn may_notify_group(&self, group_key: &str) -> bool;
    /// Whether this replica may page the next escalation step of the incident of this group.
    fn may_escalate(&self, group_key: &str) -> bool;
}

/// One router, no peers: it owns every group and incident.
#[derive(Debug, Default, Clone, Copy)]
pub struct SingleNode;

impl Leases for SingleNode {
    fn may_notify_group(&self, _: &str) -> bool {
        true
    }

    fn may_escalate(&self, _: &str) -> bool {
        true
    }
}
