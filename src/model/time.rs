//! Timestamps as Alertmanager writes and reads them.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer};

pub type Timestamp = DateTime<Utc>;

/// Go's zero `time.Time`, `0001-01-01T00:00:00Z`, which Alertmanager payloads use for "unset".
pub fn go_zero_time() -> Timestamp {
    NaiveDate::from_ymd_opt(1, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|n| n.and_utc())
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

pub fn is_go_zero(t: &Timestamp) -> bool {
    *t == go_zero_time()
}

/// Go's `time.RFC3339Nano`: fractional seconds with trailing zeros removed (none if zero).
pub fn format_rfc3339_nano(t: &Timestamp) -> String {
    let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.timestamp_subsec_nanos();
    if nanos == 0 {
        return base + "Z";
    }
    let frac = format!("{nanos:09}");
    format!("{base}.{}Z", frac.trim_end_matches('0'))
}

/// The OpenAPI `date-time` form Alertmanager's API v2 answers with: milliseconds, always three digits.
pub fn format_rfc3339_millis(t: &Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Drops sub-millisecond precision, so a value survives a round trip through the API's format.
pub fn truncate_to_millis(t: Timestamp) -> Timestamp {
    let extra = t.timestamp_subsec_nanos() % 1_000_000;
    t - chrono::Duration::nanoseconds(i64::from(extra))
}

pub fn parse_rfc3339(s: &str) -> Result<Timestamp, chrono::ParseError> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc))
}

/// Deserializes an optional timestamp where absent, `null`, `""` and Go's zero time all mean unset.
pub fn deserialize_optional<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Timestamp>, D::Error> {
    let raw: Option<String> = Option::deserialize(d)?;
    match raw.as_deref() {
        None | Some("") => Ok(None),
        Some(s) => {
            let t = parse_rfc3339(s)
                .map_err(|e| serde::de::Error::custom(format!("invalid date-time {s:?}: {e}")))?;
            Ok(if is_go_zero(&t) { None } else { Some(t) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go() {
        let t = parse_rfc3339("2024-03-01T10:00:00.120000Z").unwrap();
        assert_eq!(format_rfc3339_nano(&t), "2024-03-01T10:00:00.12Z");
        assert_eq!(format_rfc3339_millis(&t), "2024-03-01T10:00:00.120Z");
        let whole = parse_rfc3339("2024-03-01T10:00:00+02:00").unwrap();
        assert_eq!(format_rfc3339_nano(&whole), "2024-03-01T08:00:00Z");
        assert_eq!(format_rfc3339_nano(&go_zero_time()), "0001-01-01T00:00:00Z");
        assert!(is_go_zero(
            &parse_rfc3339("0001-01-01T00:00:00.000Z").unwrap()
        ));
    }
}
