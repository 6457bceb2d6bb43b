use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A Prometheus-style duration (`30s`, `5m`, `1h30m`, `1d`, `1w`, `1y`, `100ms`, `0`), the only
/// form Alertmanager's config accepts for timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PromDuration(pub Duration);

const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3600 * 1000),
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
];

impl PromDuration {
    pub fn parse(s: &str) -> Result<PromDuration, String> {
        if s == "0" {
            return Ok(PromDuration(Duration::ZERO));
        }
        if s.is_empty() {
            return Err("empty duration string".into());
        }
        let bad = || format!("not a valid duration string: {s:?}");
        let mut rest = s;
        let mut total_ms: u64 = 0;
        let mut next_unit = 0;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(bad());
            }
            let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
            rest = &rest[digits..];
            // Units must appear in decreasing order, each at most once; "ms" before "m".
            let found = UNITS[next_unit..]
                .iter()
                .enumerate()
                .filter(|(_, (u, _))| rest.starts_with(u) && !(*u == "m" && rest.starts_with("ms")))
                .map(|(i, unit)| (i + next_unit, *unit))
                .next();
            let Some((idx, (unit, ms))) = found else {
                return Err(bad());
            };
            total_ms = n
                .checked_mul(ms)
                .and_then(|v| total_ms.checked_add(v))
                .ok_or_else(|| format!("duration out of range: {s:?}"))?;
            rest = &rest[unit.len()..];
            next_unit = idx + 1;
        }
        Ok(PromDuration(Duration::from_millis(total_ms)))
    }
}

impl fmt::Display for PromDuration {
    /// Prometheus' canonical form, e.g. `1h30m`, `0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX);
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in UNITS {
            if ms >= size {
                write!(f, "{}{unit}", ms / size)?;
                ms %= size;
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for PromDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PromDuration::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl Serialize for PromDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prometheus_durations() {
        let secs = |s: &str| PromDuration::parse(s).unwrap().0.as_millis();
        assert_eq!(secs("30s"), 30_000);
        assert_eq!(secs("1h30m"), 5_400_000);
        assert_eq!(secs("100ms"), 100);
        assert_eq!(secs("1d"), 86_400_000);
        assert_eq!(secs("0"), 0);
        assert_eq!(secs("1m500ms"), 60_500);
        for bad in ["", "5", "1.5h", "m", "5m1h", "1s1s", "-1s", " 1s"] {
            assert!(PromDuration::parse(bad).is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn prints_canonically() {
        assert_eq!(PromDuration::parse("90m").unwrap().to_string(), "1h30m");
        assert_eq!(PromDuration::parse("0").unwrap().to_string(), "0s");
    }
}
