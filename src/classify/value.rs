//! Reading the observed value of an alert: from Grafana's `values`, an annotation or a label;
//! numbers may carry a unit or a percent sign.

use super::rules::{Rule, Unit, ValueSource};
use crate::model::Alert;

/// A number as sent, with the unit it was written in, if any.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observed {
    pub number: f64,
    pub unit: Option<Unit>,
}

/// Parses `12.5`, `12.5%`, `350ms`, `1.2s`, `2m`, `1h`, `1e3`.
pub fn parse_observed(text: &str) -> Option<Observed> {
    let t = text.trim();
    // (suffix, unit, factor to that unit); "ms" before "s" and "m".
    const SUFFIXES: [(&str, Unit, f64); 5] = [
        ("%", Unit::Percent, 1.0),
        ("ms", Unit::Milliseconds, 1.0),
        ("s", Unit::Seconds, 1.0),
        ("m", Unit::Seconds, 60.0),
        ("h", Unit::Seconds, 3600.0),
    ];
    let (number, unit, factor) = SUFFIXES
        .iter()
        .find_map(|(suffix, unit, factor)| {
            t.strip_suffix(suffix).map(|n| (n, Some(*unit), *factor))
        })
        .unwrap_or((t, None, 1.0));
    let number = number
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())?;
    Some(Observed {
        number: number * factor,
        unit,
    })
}

/// Converts to the rule's unit; `None` when the units cannot be compared, or when a number
/// read as a ratio is not one (a bare 99.95 where the rule expects 0.9995 is a sender using
/// another unit, not an availability of 9995%).
pub fn convert(observed: Observed, bare_unit: Unit, to: Unit) -> Option<f64> {
    let from = observed.unit.unwrap_or(bare_unit);
    let v = observed.number;
    if from == Unit::Ratio && !(0.0..=1.0).contains(&v) {
        return None;
    }
    match (from, to) {
        (a, b) if a == b => Some(v),
        (Unit::Ratio, Unit::Percent) => Some(v * 100.0),
        (Unit::Percent, Unit::Ratio) => Some(v / 100.0),
        (Unit::Seconds, Unit::Milliseconds) => Some(v * 1000.0),
        (Unit::Milliseconds, Unit::Seconds) => Some(v / 1000.0),
        _ => None,
    }
}

/// The alert's observed value in the rule's unit, if it carries one.
pub fn read_value(alert: &Alert, rule: &Rule) -> Option<f64> {
    rule.unit?;
    let observed = match &rule.value {
        Some(ValueSource::Annotation(name)) => alert.annotations.get(name).and_then(parse_observed),
        Some(ValueSource::Label(name)) => alert.labels.get(name).and_then(parse_observed),
        Some(ValueSource::Grafana(ref_id)) => alert.values.get(ref_id).map(|v| Observed {
            number: *v,
            unit: None,
        }),
        None => alert
            .annotations
            .get("value")
            .and_then(parse_observed)
            .or_else(|| {
                let mut values = alert.values.values();
                match (values.next(), values.next()) {
                    (Some(v), None) => Some(Observed {
                        number: *v,
                        unit: None,
                    }),
                    _ => None,
                }
            }),
    }?;
    let unit = rule.unit?;
    convert(observed, rule.value_unit.unwrap_or(unit), unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numbers_with_units() {
        assert_eq!(
            parse_observed("12.5%"),
            Some(Observed {
                number: 12.5,
                unit: Some(Unit::Percent)
            })
        );
        assert_eq!(
            parse_observed(" 350ms "),
            Some(Observed {
                number: 350.0,
                unit: Some(Unit::Milliseconds)
            })
        );
        assert_eq!(
            parse_observed("1.2s"),
            Some(Observed {
                number: 1.2,
                unit: Some(Unit::Seconds)
            })
        );
        assert_eq!(
            parse_observed("2m"),
            Some(Observed {
                number: 120.0,
                unit: Some(Unit::Seconds)
            })
        );
        assert_eq!(
            parse_observed("0.05"),
            Some(Observed {
                number: 0.05,
                unit: None
            })
        );
        assert_eq!(parse_observed("high"), None);
        assert_eq!(parse_observed("NaN"), None);
    }

    #[test]
    fn converts_between_units() {
        let o = |n, u| Observed { number: n, unit: u };
        assert_eq!(
            convert(o(0.05, None), Unit::Ratio, Unit::Percent),
            Some(5.0)
        );
        assert_eq!(
            convert(o(5.0, Some(Unit::Percent)), Unit::Ratio, Unit::Percent),
            Some(5.0)
        );
        assert_eq!(
            convert(
                o(1500.0, Some(Unit::Milliseconds)),
                Unit::Seconds,
                Unit::Seconds
            ),
            Some(1.5)
        );
        assert_eq!(
            convert(o(2.0, Some(Unit::Seconds)), Unit::Percent, Unit::Percent),
            None
        );
    }

    #[test]
    fn a_bare_number_read_as_a_ratio_must_be_one() {
        let bare = |n| Observed {
            number: n,
            unit: None,
        };
        assert_eq!(
            convert(bare(0.9995), Unit::Ratio, Unit::Percent),
            Some(99.95)
        );
        assert_eq!(convert(bare(1.0), Unit::Ratio, Unit::Percent), Some(100.0));
        assert_eq!(convert(bare(99.95), Unit::Ratio, Unit::Percent), None);
        assert_eq!(convert(bare(-0.1), Unit::Ratio, Unit::Percent), None);
        let sent_as_percent = Observed {
            number: 99.95,
            unit: Some(Unit::Percent),
        };
        assert_eq!(
            convert(sent_as_percent, Unit::Ratio, Unit::Percent),
            Some(99.95)
        );
    }
}
