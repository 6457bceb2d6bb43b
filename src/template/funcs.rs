//! Go's template builtins and Alertmanager's template functions.

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};

use super::value::{go_float, Value};

type R = Result<Value, String>;

fn arg<'a>(args: &'a [Value], i: usize, name: &str) -> Result<&'a Value, String> {
    args.get(i)
        .ok_or_else(|| format!("missing argument {} ({name})", i + 1))
}

fn string(v: &Value) -> String {
    v.to_string()
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::List(l) | Value::Alerts(l) => l.iter().map(string).collect(),
        Value::Pairs(p) => p.iter().map(|(_, v)| v.clone()).collect(),
        Value::Nil => Vec::new(),
        other => vec![string(other)],
    }
}

pub fn call(name: &str, args: &[Value]) -> R {
    match name {
        // Go builtins.
        "and" => Ok(args
            .iter()
            .find(|v| !v.truthy())
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Nil)),
        "or" => Ok(args
            .iter()
            .find(|v| v.truthy())
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Nil)),
        "not" => Ok(Value::Bool(!arg(args, 0, "value")?.truthy())),
        "len" => arg(args, 0, "value")?
            .length()
            .map(|n| Value::Int(n as i64))
            .ok_or_else(|| "len of a value with no length".into()),
        "index" => index(args),
        "slice" => slice(args),
        "print" => Ok(Value::Str(go_print(args, false))),
        "println" => Ok(Value::Str(go_print(args, true) + "\n")),
        "printf" => {
            let format = string(arg(args, 0, "format")?);
            Ok(Value::Str(printf(&format, &args[1..])))
        }
        "eq" => {
            let first = arg(args, 0, "value")?;
            Ok(Value::Bool(args[1..].iter().any(|v| equal(first, v))))
        }
        "ne" => Ok(Value::Bool(!equal(arg(args, 0, "a")?, arg(args, 1, "b")?))),
        "lt" | "le" | "gt" | "ge" => {
            let ord = compare(arg(args, 0, "a")?, arg(args, 1, "b")?)?;
            Ok(Value::Bool(match name {
                "lt" => ord.is_lt(),
                "le" => ord.is_le(),
                "gt" => ord.is_gt(),
                _ => ord.is_ge(),
            }))
        }
        "html" => Ok(Value::SafeHtml(html_escape(&go_print(args, false)))),
        "js" => Ok(Value::Str(js_escape(&go_print(args, false)))),
        "urlquery" => Ok(Value::Str(
            url::form_urlencoded::byte_serialize(go_print(args, false).as_bytes()).collect(),
        )),
        // Alertmanager's functions.
        "toUpper" => Ok(Value::Str(string(arg(args, 0, "s")?).to_uppercase())),
        "toLower" => Ok(Value::Str(string(arg(args, 0, "s")?).to_lowercase())),
        "title" => Ok(Value::Str(title(&string(arg(args, 0, "s")?)))),
        "trimSpace" => Ok(Value::Str(string(arg(args, 0, "s")?).trim().to_string())),
        "join" => {
            let sep = string(arg(args, 0, "sep")?);
            Ok(Value::Str(strings(arg(args, 1, "list")?).join(&sep)))
        }
        "match" => {
            let re =
                regex::Regex::new(&string(arg(args, 0, "pattern")?)).map_err(|e| e.to_string())?;
            Ok(Value::Bool(re.is_match(&string(arg(args, 1, "s")?))))
        }
        "reReplaceAll" => {
            let re =
                regex::Regex::new(&string(arg(args, 0, "pattern")?)).map_err(|e| e.to_string())?;
            let repl = string(arg(args, 1, "replacement")?);
            Ok(Value::Str(
                re.replace_all(&string(arg(args, 2, "text")?), repl.as_str())
                    .into_owned(),
            ))
        }
        "safeHtml" => Ok(Value::SafeHtml(string(arg(args, 0, "s")?))),
        "safeUrl" => Ok(Value::Str(string(arg(args, 0, "s")?))),
        "urlUnescape" => {
            let s = string(arg(args, 0, "s")?);
            Ok(Value::Str(
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or(s),
            ))
        }
        "stringSlice" | "list" => Ok(Value::List(args.to_vec())),
        "append" => {
            let mut list = match arg(args, 0, "list")? {
                Value::List(l) | Value::Alerts(l) => l.clone(),
                Value::Nil => Vec::new(),
                other => return Err(format!("cannot append to {}", other.kind())),
            };
            list.extend(args[1..].iter().cloned());
            Ok(Value::List(list))
        }
        "dict" => {
            if args.len() % 2 != 0 {
                return Err("dict needs key and value pairs".into());
            }
            Ok(Value::Map(
                args.chunks(2)
                    .map(|kv| (string(&kv[0]), kv[1].clone()))
                    .collect::<BTreeMap<_, _>>(),
            ))
        }
        "toJson" => serde_json::to_string(&to_json(arg(args, 0, "value")?))
            .map(Value::Str)
            .map_err(|e| e.to_string()),
        "date" => {
            let layout = string(arg(args, 0, "layout")?);
            match arg(args, 1, "time")? {
                Value::Time(t) => Ok(Value::Str(
                    t.format(&go_layout_to_chrono(&layout)).to_string(),
                )),
                other => Err(format!("date needs a time, not {}", other.kind())),
            }
        }
        "tz" => {
            let zone: chrono_tz::Tz = string(arg(args, 0, "location")?)
                .parse()
                .map_err(|e: chrono_tz::ParseError| e.to_string())?;
            match arg(args, 1, "time")? {
                // Times stay UTC instants; the zone's wall clock is what `date` then prints.
                Value::Time(t) => {
                    let local = t.with_timezone(&zone).naive_local();
                    Ok(Value::Time(Utc.from_utc_datetime(&local)))
                }
                other => Err(format!("tz needs a time, not {}", other.kind())),
            }
        }
        "since" => match arg(args, 0, "time")? {
            Value::Time(t) => Ok(Value::Duration(
                (Utc::now() - *t).num_nanoseconds().unwrap_or(i64::MAX),
            )),
            other => Err(format!("since needs a time, not {}", other.kind())),
        },
        "humanizeDuration" => {
            let v = arg(args, 0, "duration")?;
            let secs = match v {
                Value::Duration(n) => *n as f64 / 1e9,
                Value::Str(s) => s
                    .trim()
                    .parse::<f64>()
                    .map_err(|_| format!("{s:?} is not a number"))?,
                other => other
                    .as_f64()
                    .ok_or_else(|| format!("{} is not a number", other.kind()))?,
            };
            Ok(Value::Str(humanize_duration(secs)))
        }
        other => Err(format!("function {other:?} not defined")),
    }
}

fn index(args: &[Value]) -> R {
    let mut v = arg(args, 0, "collection")?.clone();
    for key in &args[1..] {
        v = match (&v, key) {
            (Value::List(l) | Value::Alerts(l), k) => {
                let i = k.as_f64().ok_or("index of a list must be a number")? as usize;
                l.get(i)
                    .cloned()
                    .ok_or_else(|| format!("index {i} out of range"))?
            }
            (Value::Map(m), k) => m.get(&string(k)).cloned().unwrap_or(Value::Nil),
            (Value::Kv(m), k) => Value::Str(m.get(&string(k)).cloned().unwrap_or_default()),
            (Value::Nil, _) => Value::Nil,
            (other, _) => return Err(format!("can't index {}", other.kind())),
        };
    }
    Ok(v)
}

fn slice(args: &[Value]) -> R {
    let v = arg(args, 0, "value")?;
    let bound = |i: usize, default: usize| -> Result<usize, String> {
        args.get(i).map_or(Ok(default), |b| {
            b.as_f64()
                .map(|f| f as usize)
                .ok_or_else(|| "slice bounds must be numbers".into())
        })
    };
    match v {
        Value::Str(s) => {
            let (a, b) = (bound(1, 0)?, bound(2, s.len())?);
            s.get(a..b)
                .map(|x| Value::Str(x.to_string()))
                .ok_or_else(|| "slice out of range".into())
        }
        Value::List(l) => {
            let (a, b) = (bound(1, 0)?, bound(2, l.len())?);
            l.get(a..b)
                .map(|x| Value::List(x.to_vec()))
                .ok_or_else(|| "slice out of range".into())
        }
        other => Err(format!("can't slice {}", other.kind())),
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => {
            let textual = |v: &Value| matches!(v, Value::Str(_) | Value::SafeHtml(_));
            a == b || (textual(a) && textual(b) && string(a) == string(b))
        }
    }
}

fn compare(a: &Value, b: &Value) -> Result<std::cmp::Ordering, String> {
    match (a, b) {
        (Value::Str(x) | Value::SafeHtml(x), Value::Str(y) | Value::SafeHtml(y)) => Ok(x.cmp(y)),
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x
                .partial_cmp(&y)
                .ok_or_else(|| "incomparable numbers".into()),
            _ => Err(format!(
                "incompatible types for comparison: {} and {}",
                a.kind(),
                b.kind()
            )),
        },
    }
}

/// Go's `fmt.Sprint`: spaces only between operands when neither is a string.
fn go_print(args: &[Value], always_space: bool) -> String {
    let mut out = String::new();
    for (i, v) in args.iter().enumerate() {
        if i > 0
            && (always_space
                || !(matches!(v, Value::Str(_)) || matches!(args[i - 1], Value::Str(_))))
        {
            out.push(' ');
        }
        out.push_str(&v.to_string());
    }
    out
}

/// The common `fmt.Sprintf` verbs: %s %v %d %f %g %e %q %t %x %X %%, with flags `-`, `+`, `0`,
/// width and precision.
pub fn printf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    let mut next = 0;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flags = String::new();
        while let Some(&f) = chars.peek() {
            if "-+0 #".contains(f) {
                flags.push(f);
                chars.next();
            } else {
                break;
            }
        }
        let mut width = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        let mut precision: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                chars.next();
            }
            precision = Some(p.parse().unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(v) = args.get(next) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        next += 1;
        let body = match verb {
            'd' => match v.as_f64() {
                Some(n) => {
                    let s = format!("{}", n as i64);
                    if flags.contains('+') && n >= 0.0 {
                        format!("+{s}")
                    } else {
                        s
                    }
                }
                None => format!("%!d({})", v),
            },
            'f' | 'F' => match v.as_f64() {
                Some(n) => format!("{:.*}", precision.unwrap_or(6), n),
                None => format!("%!f({})", v),
            },
            'e' => match v.as_f64() {
                Some(n) => go_float_exp(n, precision.unwrap_or(6)),
                None => format!("%!e({})", v),
            },
            'g' => match v.as_f64() {
                Some(n) => match precision {
                    Some(p) => significant(n, p.max(1)),
                    None => go_float(n),
                },
                None => format!("%!g({})", v),
            },
            'q' => format!("{:?}", string(v)),
            't' => match v {
                Value::Bool(b) => b.to_string(),
                other => format!("%!t({other})"),
            },
            'x' | 'X' => {
                let s = match v.as_f64() {
                    Some(n) => format!("{:x}", n as i64),
                    None => string(v).bytes().map(|b| format!("{b:02x}")).collect(),
                };
                if verb == 'X' {
                    s.to_uppercase()
                } else {
                    s
                }
            }
            's' | 'v' => {
                let s = string(v);
                match precision {
                    Some(p) if verb == 's' => s.chars().take(p).collect(),
                    _ => s,
                }
            }
            other => format!("%!{other}({v})"),
        };
        let width: usize = width.parse().unwrap_or(0);
        let pad = width.saturating_sub(body.chars().count());
        if flags.contains('-') {
            out.push_str(&body);
            out.push_str(&" ".repeat(pad));
        } else if flags.contains('0') && v.as_f64().is_some() {
            out.push_str(&"0".repeat(pad));
            out.push_str(&body);
        } else {
            out.push_str(&" ".repeat(pad));
            out.push_str(&body);
        }
    }
    out
}

fn go_float_exp(n: f64, precision: usize) -> String {
    let s = format!("{:.*e}", precision, n);
    match s.split_once('e') {
        Some((m, e)) => {
            let (sign, digits) = e.strip_prefix('-').map_or(("+", e), |d| ("-", d));
            format!("{m}e{sign}{digits:0>2}")
        }
        None => s,
    }
}

/// `%.Ng`: N significant digits, trailing zeros dropped.
fn significant(v: f64, digits: usize) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let magnitude = v.abs().log10().floor() as i32;
    if magnitude < -4 || magnitude >= digits as i32 {
        let s = go_float_exp(v, digits.saturating_sub(1));
        let (m, e) = s.split_once('e').unwrap_or((&s, ""));
        let m = if m.contains('.') {
            m.trim_end_matches('0').trim_end_matches('.')
        } else {
            m
        };
        return format!("{m}e{e}");
    }
    let decimals = (digits as i32 - 1 - magnitude).max(0) as usize;
    let s = format!("{:.*}", decimals, v);
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Prometheus' `humanizeDuration` of seconds: `1d 2h 3m 4s`, `1m 30s`, `2.5s`, `250ms`.
pub fn humanize_duration(v: f64) -> String {
    if v == 0.0 {
        return "0s".into();
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        let total = v.abs() as i64;
        let (days, hours, minutes, seconds) = (
            total / 86_400,
            (total / 3600) % 24,
            (total / 60) % 60,
            total % 60,
        );
        return if days != 0 {
            format!("{sign}{days}d {hours}h {minutes}m {seconds}s")
        } else if hours != 0 {
            format!("{sign}{hours}h {minutes}m {seconds}s")
        } else if minutes != 0 {
            format!("{sign}{minutes}m {seconds}s")
        } else {
            format!("{sign}{}s", significant(v.abs(), 4))
        };
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", significant(v, 4))
}

/// Go's `strings.Title`: each word's first letter in upper case.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut at_start = true;
    for c in s.chars() {
        if at_start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        at_start = !(c.is_alphanumeric() || c == '_' || c == '\'');
    }
    out
}

pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            '\n' => out.push_str("\\u000A"),
            c => out.push(c),
        }
    }
    out
}

fn to_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Nil => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => J::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        Value::Str(s) | Value::SafeHtml(s) => J::String(s.clone()),
        Value::List(l) | Value::Alerts(l) => J::Array(l.iter().map(to_json).collect()),
        Value::Map(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
        Value::Kv(m) => J::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), J::String(v.clone())))
                .collect(),
        ),
        Value::Pairs(p) => J::Array(
            p.iter()
                .map(|(n, v)| serde_json::json!({"Name": n, "Value": v}))
                .collect(),
        ),
        Value::Time(t) => J::String(crate::model::time::format_rfc3339_nano(t)),
        Value::Duration(d) => J::from(*d),
    }
}

/// Go's reference-time layout (`2006-01-02 15:04:05 MST`) as a chrono format string.
fn go_layout_to_chrono(layout: &str) -> String {
    const TOKENS: [(&str, &str); 28] = [
        ("January", "%B"),
        ("Monday", "%A"),
        ("Jan", "%b"),
        ("Mon", "%a"),
        ("2006", "%Y"),
        ("Z07:00", "%:z"),
        ("-07:00", "%:z"),
        ("-0700", "%z"),
        ("MST", "%Z"),
        (".000000000", "%.9f"),
        (".999999999", "%.f"),
        (".000000", "%.6f"),
        (".000", "%.3f"),
        ("15", "%H"),
        ("01", "%m"),
        ("02", "%d"),
        ("_2", "%e"),
        ("03", "%I"),
        ("04", "%M"),
        ("05", "%S"),
        ("06", "%y"),
        ("PM", "%p"),
        ("pm", "%P"),
        ("1", "%-m"),
        ("2", "%-d"),
        ("3", "%-I"),
        ("4", "%-M"),
        ("5", "%-S"),
    ];
    let mut out = String::new();
    let mut rest = layout;
    'outer: while !rest.is_empty() {
        for (go, chrono) in TOKENS {
            if let Some(r) = rest.strip_prefix(go) {
                out.push_str(chrono);
                rest = r;
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        if c == '%' {
            out.push_str("%%");
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printf_verbs() {
        let args = [
            Value::Float(1.23456),
            Value::Int(42),
            Value::Str("x".into()),
            Value::Str("x".into()),
            Value::Int(7),
            Value::Str("a".into()),
        ];
        assert_eq!(
            printf("%.2f|%d|%s|%q|%5d|%-3s|%%", &args),
            "1.23|42|x|\"x\"|    7|a  |%"
        );
        assert_eq!(printf("%v %v", &[Value::Int(1)]), "1 %!v(MISSING)");
    }

    #[test]
    fn humanize_like_prometheus() {
        assert_eq!(humanize_duration(0.0), "0s");
        assert_eq!(humanize_duration(1.5), "1.5s");
        assert_eq!(humanize_duration(90.0), "1m 30s");
        assert_eq!(humanize_duration(3725.0), "1h 2m 5s");
        assert_eq!(humanize_duration(90_061.0), "1d 1h 1m 1s");
        assert_eq!(humanize_duration(0.25), "250ms");
    }

    #[test]
    fn go_layouts() {
        assert_eq!(
            go_layout_to_chrono("2006-01-02 15:04:05 MST"),
            "%Y-%m-%d %H:%M:%S %Z"
        );
        assert_eq!(
            go_layout_to_chrono("Jan 2, 2006 at 3:04pm"),
            "%b %-d, %Y at %-I:%M%P"
        );
    }

    #[test]
    fn title_and_join() {
        assert_eq!(title("disk full on node-1"), "Disk Full On Node-1");
        let list = Value::List(vec![Value::Str("a".into()), Value::Str("b".into())]);
        assert_eq!(
            call("join", &[Value::Str(", ".into()), list]).unwrap(),
            Value::Str("a, b".into())
        );
    }
}
