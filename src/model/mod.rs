//! The shapes every other module speaks: label sets, their fingerprints, matchers and alerts.

mod alert;
pub(crate) mod fingerprint;
pub mod intern;
mod labels;
mod matcher;
mod matcher_utf8;
pub mod time;

pub use alert::{sort_for_notification, Alert, AlertStatus};
pub use fingerprint::{Fingerprint, Prehashed};
pub use labels::{
    is_classic_label_name, is_valid_label_name, label_mode, set_label_mode, validate_names,
    InvalidLabelName, LabelMode, LabelSet, PostedLabels, PostedPairs, Text,
};
pub use matcher::{parse_matchers, MatchType, Matcher, MatcherError, Matchers};
