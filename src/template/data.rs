//! The data a notification is built from: Alertmanager's template data, which the webhook
//! sends as JSON and the other integrations render through templates.

use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};

use crate::model::time::{format_rfc3339_nano, go_zero_time, Timestamp};
use crate::model::{Alert, AlertStatus, LabelSet};

#[derive(Debug, Clone)]
pub struct NotificationData {
    pub receiver: String,
    pub status: AlertStatus,
    pub alerts: Vec<DataAlert>,
    pub group_labels: LabelSet,
    pub common_labels: LabelSet,
    pub common_annotations: LabelSet,
    pub external_url: String,
    /// Alertmanager 0.34's route labels, rendered (templates see `.RouteLabels`).
    pub route_labels: LabelSet,
    /// alert-router's addition: the incident's signed acknowledge link, or empty. Templates
    /// see it as `.AckURL`; the webhook payload keeps Alertmanager's exact shape without it.
    pub ack_url: String,
}

#[derive(Debug, Clone)]
pub struct DataAlert {
    pub status: AlertStatus,
    pub labels: LabelSet,
    pub annotations: LabelSet,
    pub starts_at: Timestamp,
    /// Go's zero time while the alert fires: a future timeout is not shown to receivers.
    pub ends_at: Timestamp,
    pub generator_url: String,
    pub fingerprint: String,
}

impl NotificationData {
    pub fn new(
        receiver: &str,
        group_labels: &LabelSet,
        alerts: &[Alert],
        now: Timestamp,
        external_url: &str,
    ) -> NotificationData {
        let alerts: Vec<DataAlert> = alerts
            .iter()
            .map(|a| {
                let status = a.status_at(now);
                DataAlert {
                    status,
                    labels: a.labels.clone(),
                    annotations: a.annotations.clone(),
                    starts_at: a.starts_at,
                    ends_at: if status == AlertStatus::Firing {
                        go_zero_time()
                    } else {
                        a.ends_at
                    },
                    generator_url: a.generator_url.to_string(),
                    fingerprint: a.fingerprint.to_string(),
                }
            })
            .collect();
        let status = if alerts.iter().any(|a| a.status == AlertStatus::Firing) {
            AlertStatus::Firing
        } else {
            AlertStatus::Resolved
        };
        NotificationData {
            receiver: receiver.to_string(),
            status,
            common_labels: LabelSet::common(alerts.iter().map(|a| &a.labels)),
            common_annotations: LabelSet::common(alerts.iter().map(|a| &a.annotations)),
            alerts,
            group_labels: group_labels.clone(),
            external_url: external_url.to_string(),
            route_labels: LabelSet::new(),
            ack_url: String::new(),
        }
    }

    pub fn firing(&self) -> impl Iterator<Item = &DataAlert> {
        self.alerts
            .iter()
            .filter(|a| a.status == AlertStatus::Firing)
    }

    pub fn resolved(&self) -> impl Iterator<Item = &DataAlert> {
        self.alerts
            .iter()
            .filter(|a| a.status == AlertStatus::Resolved)
    }

    /// Writes the template data fields into a JSON object being built, in Alertmanager's order.
    pub fn serialize_fields<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        map.serialize_entry("receiver", &self.receiver)?;
        map.serialize_entry("status", self.status.as_str())?;
        map.serialize_entry("alerts", &self.alerts)?;
        map.serialize_entry("groupLabels", &self.group_labels)?;
        map.serialize_entry("commonLabels", &self.common_labels)?;
        map.serialize_entry("commonAnnotations", &self.common_annotations)?;
        map.serialize_entry("externalURL", &self.external_url)
    }
}

impl Serialize for DataAlert {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Alert", 7)?;
        st.serialize_field("status", self.status.as_str())?;
        st.serialize_field("labels", &self.labels)?;
        st.serialize_field("annotations", &self.annotations)?;
        st.serialize_field("startsAt", &format_rfc3339_nano(&self.starts_at))?;
        st.serialize_field("endsAt", &format_rfc3339_nano(&self.ends_at))?;
        st.serialize_field("generatorURL", &self.generator_url)?;
        st.serialize_field("fingerprint", &self.fingerprint)?;
        st.end()
    }
}
