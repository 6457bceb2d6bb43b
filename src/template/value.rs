//! Template values, printed and tested for truth the way Go's text/template does, with the
//! Alertmanager types whose methods templates call (`KV.SortedPairs`, `Alerts.Firing`, …).

use std::collections::BTreeMap;
use std::fmt;

use crate::model::time::Timestamp;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// Text already safe in HTML (`safeHtml`, or the output of `html`): printed as is where
    /// other values are escaped.
    SafeHtml(String),
    List(Vec<Value>),
    /// A struct or a generic map: fields by name.
    Map(BTreeMap<String, Value>),
    /// Alertmanager's `KV` (labels, annotations): `.SortedPairs`, `.Names`, `.Values`, `.Remove`.
    Kv(BTreeMap<String, String>),
    /// Alertmanager's `Pairs` (from `SortedPairs`): ranges as `{Name, Value}`; `.Names`, `.Values`.
    Pairs(Vec<(String, String)>),
    /// Alertmanager's `Alerts`: a list with `.Firing` and `.Resolved`.
    Alerts(Vec<Value>),
    Time(Timestamp),
    /// Nanoseconds, like Go's `time.Duration`.
    Duration(i64),
}

impl Value {
    pub fn number(n: f64) -> Value {
        if n.fract() == 0.0 && n.abs() < 9.0e15 {
            Value::Int(n as i64)
        } else {
            Value::Float(n)
        }
    }

    /// Go's truth: false, 0, nil and empty strings, lists and maps are false.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) | Value::SafeHtml(s) => !s.is_empty(),
            Value::List(l) | Value::Alerts(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Kv(m) => !m.is_empty(),
            Value::Pairs(p) => !p.is_empty(),
            Value::Time(_) => true,
            Value::Duration(d) => *d != 0,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Duration(d) => Some(*d as f64),
            _ => None,
        }
    }

    /// The elements `range` visits, with their keys (indexes for lists).
    pub fn entries(&self) -> Option<Vec<(Value, Value)>> {
        let indexed = |items: &[Value]| {
            items
                .iter()
                .enumerate()
                .map(|(i, v)| (Value::Int(i as i64), v.clone()))
                .collect()
        };
        match self {
            Value::List(l) | Value::Alerts(l) => Some(indexed(l)),
            Value::Map(m) => Some(
                m.iter()
                    .map(|(k, v)| (Value::Str(k.clone()), v.clone()))
                    .collect(),
            ),
            Value::Kv(m) => Some(
                m.iter()
                    .map(|(k, v)| (Value::Str(k.clone()), Value::Str(v.clone())))
                    .collect(),
            ),
            Value::Pairs(p) => Some(
                p.iter()
                    .enumerate()
                    .map(|(i, (n, v))| (Value::Int(i as i64), pair(n, v)))
                    .collect(),
            ),
            Value::Int(n) => Some((0..*n).map(|i| (Value::Int(i), Value::Int(i))).collect()),
            Value::Nil => Some(Vec::new()),
            _ => None,
        }
    }

    /// Go's `len`: bytes of a string, elements of a list or map.
    pub fn length(&self) -> Option<usize> {
        match self {
            Value::Str(s) | Value::SafeHtml(s) => Some(s.len()),
            Value::List(l) | Value::Alerts(l) => Some(l.len()),
            Value::Map(m) => Some(m.len()),
            Value::Kv(m) => Some(m.len()),
            Value::Pairs(p) => Some(p.len()),
            _ => None,
        }
    }

    /// `.name` on this value: a method of an Alertmanager type, else a field or map key.
    pub fn field(&self, name: &str) -> Result<Value, String> {
        match (self, name) {
            (Value::Kv(m), "SortedPairs") => Ok(Value::Pairs(
                m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            )),
            (Value::Kv(m), "Names") => Ok(Value::List(m.keys().cloned().map(Value::Str).collect())),
            (Value::Kv(m), "Values") => {
                Ok(Value::List(m.values().cloned().map(Value::Str).collect()))
            }
            (Value::Kv(m), key) => Ok(Value::Str(m.get(key).cloned().unwrap_or_default())),
            (Value::Pairs(p), "Names") => Ok(Value::List(
                p.iter().map(|(n, _)| Value::Str(n.clone())).collect(),
            )),
            (Value::Pairs(p), "Values") => Ok(Value::List(
                p.iter().map(|(_, v)| Value::Str(v.clone())).collect(),
            )),
            (Value::Alerts(a), "Firing") => Ok(Value::Alerts(with_status(a, "firing"))),
            (Value::Alerts(a), "Resolved") => Ok(Value::Alerts(with_status(a, "resolved"))),
            (Value::Map(m), key) => Ok(m.get(key).cloned().unwrap_or(Value::Nil)),
            (Value::Nil, _) => Ok(Value::Nil),
            (other, key) => Err(format!("can't evaluate field {key} in {}", other.kind())),
        }
    }

    /// A method called with arguments: `.CommonLabels.Remove .GroupLabels.Names`.
    pub fn method(&self, name: &str, args: &[Value]) -> Result<Value, String> {
        match (self, name) {
            (Value::Kv(m), "Remove") => {
                let drop: Vec<String> = match args.first() {
                    Some(Value::List(l)) => l.iter().map(|v| v.to_string()).collect(),
                    Some(v) => vec![v.to_string()],
                    None => Vec::new(),
                };
                Ok(Value::Kv(
                    m.iter()
                        .filter(|(k, _)| !drop.contains(k))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                ))
            }
            (other, name) => Err(format!(
                "{name} is not a method of {} taking arguments",
                other.kind()
            )),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::SafeHtml(_) => "template.HTML",
            Value::List(_) => "slice",
            Value::Map(_) => "map",
            Value::Kv(_) => "template.KV",
            Value::Pairs(_) => "template.Pairs",
            Value::Alerts(_) => "template.Alerts",
            Value::Time(_) => "time.Time",
            Value::Duration(_) => "time.Duration",
        }
    }
}

fn pair(name: &str, value: &str) -> Value {
    Value::Map(BTreeMap::from([
        ("Name".to_string(), Value::Str(name.into())),
        ("Value".to_string(), Value::Str(value.into())),
    ]))
}

fn with_status(alerts: &[Value], status: &str) -> Vec<Value> {
    alerts
        .iter()
        .filter(
            |a| matches!(a, Value::Map(m) if m.get("Status") == Some(&Value::Str(status.into()))),
        )
        .cloned()
        .collect()
}

/// Go's `time.Duration.String()`: `1h2m3.5s`, `250ms`, `0s`.
pub fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    if n < 1_000_000_000 {
        let (v, unit) = if n < 1_000 {
            (n as f64, "ns")
        } else if n < 1_000_000 {
            (n as f64 / 1e3, "µs")
        } else {
            (n as f64 / 1e6, "ms")
        };
        return format!("{sign}{}{unit}", trim_float(v));
    }
    let secs = n / 1_000_000_000;
    let frac = n % 1_000_000_000;
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::from(sign);
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    let s = s as f64 + frac as f64 / 1e9;
    out.push_str(&format!("{}s", trim_float(s)));
    out
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.9}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// Go's `%v` for a float64: the shortest form, exponent past 1e21.
pub fn go_float(f: f64) -> String {
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f.is_nan() {
        return "NaN".into();
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-4..1e21).contains(&abs) {
        let s = format!("{f:e}");
        // Rust writes 1e21 / 1.5e-5; Go writes 1e+21 / 1.5e-05.
        return match s.split_once('e') {
            Some((m, e)) => {
                let (sign, digits) = e.strip_prefix('-').map_or(("+", e), |d| ("-", d));
                format!("{m}e{sign}{digits:0>2}")
            }
            None => s,
        };
    }
    format!("{f}")
}

/// Writes items between `open` and `]`, separated by spaces, as Go's fmt prints slices and maps.
fn write_joined<I: Iterator<Item = String>>(
    f: &mut fmt::Formatter<'_>,
    open: &str,
    items: I,
) -> fmt::Result {
    f.write_str(open)?;
    for (i, item) in items.enumerate() {
        if i > 0 {
            f.write_str(" ")?;
        }
        f.write_str(&item)?;
    }
    f.write_str("]")
}

impl fmt::Display for Value {
    /// Go's `fmt.Sprint` of the value, as an action prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("<no value>"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => f.write_str(&go_float(*x)),
            Value::Str(s) | Value::SafeHtml(s) => f.write_str(s),
            Value::List(l) | Value::Alerts(l) => {
                write_joined(f, "[", l.iter().map(|v| v.to_string()))
            }
            Value::Map(m) => write_joined(f, "map[", m.iter().map(|(k, v)| format!("{k}:{v}"))),
            Value::Kv(m) => write_joined(f, "map[", m.iter().map(|(k, v)| format!("{k}:{v}"))),
            Value::Pairs(p) => write_joined(f, "[", p.iter().map(|(n, v)| format!("{{{n} {v}}}"))),
            Value::Time(t) => write!(f, "{}", t.format("%Y-%m-%d %H:%M:%S%.f +0000 UTC")),
            Value::Duration(d) => f.write_str(&go_duration(*d)),
        }
    }
}
