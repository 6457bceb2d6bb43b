//! The shapes every other module speaks: label sets, their fingerprints, matchers and alerts.

mod alert;
pub(crate) mod fingerprint;
pub mod intern;
mod labels;
mod matcher;
pub mod time;

pub use alert::{sort_for_notification, Alert, AlertStatus};
pub use fingerprint::{Fingerprint, Prehashed};
pub use labels::{
    is_valid_label_name, validate_names, InvalidLabelName, LabelSet, PostedLabels, PostedPairs,
    Text,
};
pub use matcher::{parse_matchers, MatchType, Matcher, MatcherError, Matchers};
