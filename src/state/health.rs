//! Whether the state directory takes writes, for `/-/ready`, `/metrics` and the logs.

use std::collections::BTreeMap;

use parking_lot::Mutex;

use crate::model::time::Timestamp;

/// The parts of the state directory that are written separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StorePart {
    /// The write-ahead log: alerts, notification log, group schedules, incidents.
    Log,
    /// The redb tables: silences, and what the compactor folds in.
    Tables,
}

impl StorePart {
    pub fn as_str(self) -> &'static str {
        match self {
            StorePart::Log => "log",
            StorePart::Tables => "tables",
        }
    }
}

/// The last failure of each part that has not succeeded since.
#[derive(Default)]
pub struct StorageHealth {
    failing: Mutex<BTreeMap<StorePart, (Timestamp, String)>>,
}

/// What `/-/ready` and the status API report.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthReport {
    pub writable: bool,
    /// The most recent failure still standing: when, which part, what.
    pub last_error: Option<(Timestamp, &'static str, String)>,
}

impl StorageHealth {
    /// Records a failed write: logged at error level and counted, every time.
    pub fn failed(&self, part: StorePart, error: &str) {
        tracing::error!(part = part.as_str(), error, "state write failed");
        metrics::counter!("alert_router_storage_write_errors_total", "part" => part.as_str())
            .increment(1);
        metrics::gauge!("alert_router_storage_writable").set(0.0);
        self.failing
            .lock()
            .insert(part, (chrono::Utc::now(), error.to_string()));
    }

    pub fn succeeded(&self, part: StorePart) {
        let mut failing = self.failing.lock();
        if failing.remove(&part).is_some() {
            tracing::info!(part = part.as_str(), "state writes succeed again");
        }
        if failing.is_empty() {
            metrics::gauge!("alert_router_storage_writable").set(1.0);
        }
    }

    pub fn report(&self) -> HealthReport {
        let failing = self.failing.lock();
        HealthReport {
            writable: failing.is_empty(),
            last_error: failing
                .iter()
                .max_by_key(|(_, (at, _))| *at)
                .map(|(part, (at, e))| (*at, part.as_str(), e.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writable_again_only_once_every_part_succeeds() {
        let health = StorageHealth::default();
        assert!(health.report().writable);
        health.failed(StorePart::Log, "No space left on device");
        health.failed(StorePart::Tables, "Previous I/O error");
        health.succeeded(StorePart::Log);
        let report = health.report();
        assert!(!report.writable);
        assert_eq!(report.last_error.unwrap().1, "tables");
        health.succeeded(StorePart::Tables);
        assert_eq!(
            health.report(),
            HealthReport {
                writable: true,
                last_error: None
            }
        );
    }
}
