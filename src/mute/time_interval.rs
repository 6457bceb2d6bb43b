//! Named time intervals (`time_intervals:`), evaluated in their IANA time zone as Alertmanager
//! does: times are [start, end) in minutes of the day; weekdays, days of month (negative counts
//! from the month's end), months and years are inclusive ranges.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate, TimeZone, Timelike};
use chrono_tz::Tz;
use thiserror::Error;

use crate::config::{TimeIntervalConfig, TimeIntervalSpec};
use crate::model::time::Timestamp;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum TimeIntervalError {
    #[error("time interval {name:?}: {reason}")]
    Invalid {
        name: String,
        #[source]
        reason: SpecError,
    },
}

/// What is wrong with one time interval entry.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SpecError {
    #[error("{0:?} is not a valid time of day (HH:MM)")]
    Clock(String),
    #[error("start time {start} must be before end time {end}")]
    TimesBackwards { start: String, end: String },
    #[error("{what} range {item:?} starts after it ends")]
    RangeBackwards { what: &'static str, item: String },
    #[error("{0:?} is not a valid weekday")]
    Weekday(String),
    #[error("{0:?} is not a valid month")]
    Month(String),
    #[error("{0:?} is not a valid year")]
    Year(String),
    #[error("{0:?} is not a valid day of the month (1..31 or -31..-1)")]
    DayOfMonth(String),
    #[error(
        "days of month range {0:?} starts counting from the end but ends counting from the start"
    )]
    DaysMixed(String),
    #[error("unknown time zone location {0:?}")]
    Location(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    begin: i32,
    end: i32,
}

impl Range {
    fn contains(&self, v: i32) -> bool {
        self.begin <= v && v <= self.end
    }
}

#[derive(Debug, Clone)]
enum Location {
    Utc,
    Local,
    Zone(Tz),
}

#[derive(Debug, Clone)]
struct Interval {
    /// Minutes of the day, end exclusive.
    times: Vec<(u32, u32)>,
    weekdays: Vec<Range>,
    days_of_month: Vec<Range>,
    months: Vec<Range>,
    years: Vec<Range>,
    location: Location,
}

/// All named intervals of a config.
#[derive(Debug, Default)]
pub struct TimeIntervals {
    by_name: HashMap<String, Vec<Interval>>,
}

impl TimeIntervals {
    pub fn build(configs: &[TimeIntervalConfig]) -> Result<TimeIntervals, TimeIntervalError> {
        let mut by_name = HashMap::new();
        for config in configs {
            let parsed = config
                .time_intervals
                .iter()
                .map(parse_spec)
                .collect::<Result<Vec<_>, SpecError>>()
                .map_err(|reason| TimeIntervalError::Invalid {
                    name: config.name.clone(),
                    reason,
                })?;
            by_name.insert(config.name.clone(), parsed);
        }
        Ok(TimeIntervals { by_name })
    }

    /// Whether `now` falls in the named interval (an unknown name never matches; config
    /// validation refuses routes that use one).
    pub fn contains(&self, name: &str, now: Timestamp) -> bool {
        self.by_name
            .get(name)
            .is_some_and(|list| list.iter().any(|i| i.contains(now)))
    }
}

/// The wall-clock fields of an instant in an interval's location.
struct Wall {
    minute_of_day: u32,
    weekday: i32,
    day: i32,
    days_in_month: i32,
    month: i32,
    year: i32,
}

fn wall<T: TimeZone>(zone: &T, now: Timestamp) -> Wall {
    let local = now.with_timezone(zone);
    let (year, month) = (local.year(), local.month());
    let first_next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    };
    let days_in_month = first_next
        .and_then(|d| d.pred_opt())
        .map_or(31, |d| d.day() as i32);
    Wall {
        minute_of_day: local.hour() * 60 + local.minute(),
        weekday: local.weekday().num_days_from_sunday() as i32,
        day: local.day() as i32,
        days_in_month,
        month: month as i32,
        year,
    }
}

impl Interval {
    fn contains(&self, now: Timestamp) -> bool {
        let w = match &self.location {
            Location::Utc => wall(&chrono::Utc, now),
            Location::Local => wall(&chrono::Local, now),
            Location::Zone(tz) => wall(tz, now),
        };
        if !self.times.is_empty()
            && !self
                .times
                .iter()
                .any(|(s, e)| *s <= w.minute_of_day && w.minute_of_day < *e)
        {
            return false;
        }
        if !self.weekdays.is_empty() && !self.weekdays.iter().any(|r| r.contains(w.weekday)) {
            return false;
        }
        if !self.days_of_month.is_empty() && !self.days_of_month.iter().any(|r| day_matches(r, &w))
        {
            return false;
        }
        if !self.months.is_empty() && !self.months.iter().any(|r| r.contains(w.month)) {
            return false;
        }
        if !self.years.is_empty() && !self.years.iter().any(|r| r.contains(w.year)) {
            return false;
        }
        true
    }
}

fn day_matches(r: &Range, w: &Wall) -> bool {
    let resolve = |d: i32| if d < 0 { w.days_in_month + d + 1 } else { d };
    let (begin, end) = (resolve(r.begin), resolve(r.end));
    // A range starting after this month's last day (e.g. 31 in April) does not apply.
    if begin > w.days_in_month {
        return false;
    }
    let end = end.min(w.days_in_month);
    begin <= w.day && w.day <= end
}

fn parse_spec(spec: &TimeIntervalSpec) -> Result<Interval, SpecError> {
    Ok(Interval {
        times: spec
            .times
            .iter()
            .map(|t| {
                let start = parse_clock(&t.start_time)?;
                let end = parse_clock(&t.end_time)?;
                if start >= end {
                    return Err(SpecError::TimesBackwards {
                        start: t.start_time.clone(),
                        end: t.end_time.clone(),
                    });
                }
                Ok((start, end))
            })
            .collect::<Result<_, SpecError>>()?,
        weekdays: ranges(&spec.weekdays, "weekday", parse_weekday)?,
        days_of_month: spec
            .days_of_month
            .iter()
            .map(|s| parse_day_range(s))
            .collect::<Result<_, _>>()?,
        months: ranges(&spec.months, "month", parse_month)?,
        years: ranges(&spec.years, "year", |s| {
            s.parse::<i32>()
                .ok()
                .filter(|y| (1..=9999).contains(y))
                .ok_or_else(|| SpecError::Year(s.to_string()))
        })?,
        location: match spec.location.as_deref() {
            None | Some("") | Some("UTC") => Location::Utc,
            Some("Local") => Location::Local,
            Some(name) => Location::Zone(
                name.parse::<Tz>()
                    .map_err(|_| SpecError::Location(name.to_string()))?,
            ),
        },
    })
}

/// `HH:MM` from 00:00 to 24:00.
fn parse_clock(s: &str) -> Result<u32, SpecError> {
    let bad = || SpecError::Clock(s.to_string());
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if m > 59 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

fn ranges(
    items: &[String],
    what: &'static str,
    parse: impl Fn(&str) -> Result<i32, SpecError>,
) -> Result<Vec<Range>, SpecError> {
    items
        .iter()
        .map(|item| {
            let (b, e) = match item.split_once(':') {
                Some((b, e)) => (parse(b.trim())?, parse(e.trim())?),
                None => {
                    let v = parse(item.trim())?;
                    (v, v)
                }
            };
            if b > e {
                return Err(SpecError::RangeBackwards {
                    what,
                    item: item.clone(),
                });
            }
            Ok(Range { begin: b, end: e })
        })
        .collect()
}

fn parse_weekday(s: &str) -> Result<i32, SpecError> {
    const DAYS: [&str; 7] = [
        "sunday",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
    ];
    DAYS.iter()
        .position(|d| d.eq_ignore_ascii_case(s))
        .map(|p| p as i32)
        .ok_or_else(|| SpecError::Weekday(s.to_string()))
}

fn parse_month(s: &str) -> Result<i32, SpecError> {
    const MONTHS: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    if let Some(p) = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(s)) {
        return Ok(p as i32 + 1);
    }
    s.parse::<i32>()
        .ok()
        .filter(|m| (1..=12).contains(m))
        .ok_or_else(|| SpecError::Month(s.to_string()))
}

fn parse_day_range(item: &str) -> Result<Range, SpecError> {
    let day = |s: &str| -> Result<i32, SpecError> {
        s.trim()
            .parse::<i32>()
            .ok()
            .filter(|d| *d != 0 && (-31..=31).contains(d))
            .ok_or_else(|| SpecError::DayOfMonth(s.to_string()))
    };
    let (b, e) = match item.split_once(':') {
        Some((b, e)) => (day(b)?, day(e)?),
        None => {
            let d = day(item)?;
            (d, d)
        }
    };
    if b.signum() == e.signum() && b > e {
        return Err(SpecError::RangeBackwards {
            what: "days of month",
            item: item.to_string(),
        });
    }
    if b < 0 && e > 0 {
        return Err(SpecError::DaysMixed(item.to_string()));
    }
    Ok(Range { begin: b, end: e })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LoadedConfig;
    use crate::model::time::parse_rfc3339;

    fn intervals(yaml: &str) -> TimeIntervals {
        let cfg = LoadedConfig::parse(&format!(
            "route: {{receiver: a}}\nreceivers: [{{name: a}}]\ntime_intervals:\n{yaml}"
        ))
        .unwrap();
        TimeIntervals::build(&cfg.config.time_intervals).unwrap()
    }

    fn at(s: &str) -> Timestamp {
        parse_rfc3339(s).unwrap()
    }

    #[test]
    fn business_hours_in_a_named_zone_across_dst() {
        let ti = intervals(
            "  - name: business\n    time_intervals:\n      - times: [{start_time: '09:00', end_time: '17:00'}]\n        weekdays: ['monday:friday']\n        location: Europe/Berlin\n",
        );
        // Winter: Berlin is UTC+1. 08:00Z is 09:00 local (in), 16:00Z is 17:00 local (out).
        assert!(ti.contains("business", at("2024-01-15T08:00:00Z")));
        assert!(!ti.contains("business", at("2024-01-15T07:59:00Z")));
        assert!(!ti.contains("business", at("2024-01-15T16:00:00Z")));
        // Summer (after the 2024-03-31 change): UTC+2, so 07:00Z is 09:00 local.
        assert!(ti.contains("business", at("2024-04-01T07:00:00Z")));
        assert!(!ti.contains("business", at("2024-04-01T15:00:00Z")));
        // Saturday.
        assert!(!ti.contains("business", at("2024-01-13T10:00:00Z")));
    }

    #[test]
    fn dst_change_night_uses_wall_clock() {
        let ti = intervals(
            "  - name: night\n    time_intervals:\n      - times: [{start_time: '02:00', end_time: '04:00'}]\n        location: America/New_York\n",
        );
        // 2024-03-10 02:00 does not exist in New York; 07:00Z is 03:00 EDT (in), 06:59Z is 01:59 EST (out).
        assert!(ti.contains("night", at("2024-03-10T07:00:00Z")));
        assert!(!ti.contains("night", at("2024-03-10T06:59:00Z")));
        // 2024-11-03: 01:00-02:00 happens twice; 06:00Z is 01:00 EST, 07:00Z is 02:00 EST (in).
        assert!(ti.contains("night", at("2024-11-03T07:00:00Z")));
        assert!(!ti.contains("night", at("2024-11-03T06:30:00Z")));
    }

    #[test]
    fn negative_days_of_month_and_month_ends() {
        let ti = intervals(
            "  - name: last2\n    time_intervals:\n      - days_of_month: ['-2:-1']\n  - name: d31\n    time_intervals:\n      - days_of_month: ['31']\n  - name: q1\n    time_intervals:\n      - months: ['january:march']\n        years: ['2024']\n",
        );
        assert!(
            ti.contains("last2", at("2024-02-28T12:00:00Z")),
            "leap February: 28 is second to last"
        );
        assert!(ti.contains("last2", at("2024-02-29T00:00:00Z")));
        assert!(!ti.contains("last2", at("2024-02-27T23:59:00Z")));
        assert!(
            ti.contains("last2", at("2023-02-27T12:00:00Z")),
            "non-leap: 27 is second to last"
        );
        assert!(
            !ti.contains("d31", at("2024-04-30T12:00:00Z")),
            "April has no 31st"
        );
        assert!(ti.contains("d31", at("2024-05-31T23:59:59Z")));
        assert!(!ti.contains("d31", at("2024-06-01T00:00:00Z")));
        assert!(ti.contains("q1", at("2024-03-31T23:59:00Z")));
        assert!(!ti.contains("q1", at("2024-04-01T00:00:00Z")));
        assert!(!ti.contains("q1", at("2025-01-01T00:00:00Z")));
    }

    #[test]
    fn invalid_specs_are_config_errors() {
        for bad in [
            "      - times: [{start_time: '10:00', end_time: '09:00'}]\n",
            "      - times: [{start_time: '10:00', end_time: '24:01'}]\n",
            "      - weekdays: ['funday']\n",
            "      - days_of_month: ['0']\n",
            "      - days_of_month: ['5:1']\n",
            "      - months: ['13']\n",
            "      - location: Mars/Olympus\n",
        ] {
            let yaml = format!("route: {{receiver: a}}\nreceivers: [{{name: a}}]\ntime_intervals:\n  - name: x\n    time_intervals:\n{bad}");
            assert!(crate::app::parse_config(&yaml).is_err(), "accepted {bad}");
        }
    }
}
