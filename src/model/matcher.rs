use std::fmt;

use regex::Regex;
use thiserror::Error;

use super::labels::LabelSet;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum MatcherError {
    #[error("bad matcher format: {0}")]
    BadFormat(String),
    #[error("matcher value contains unescaped double quote: {0}")]
    UnescapedQuote(String),
    #[error("invalid regular expression {value:?}: {reason}")]
    BadRegex { value: String, reason: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MatchType {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

impl MatchType {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchType::Equal => "=",
            MatchType::NotEqual => "!=",
            MatchType::Regex => "=~",
            MatchType::NotRegex => "!~",
        }
    }

    pub fn is_regex(self) -> bool {
        matches!(self, MatchType::Regex | MatchType::NotRegex)
    }

    pub fn is_equal(self) -> bool {
        matches!(self, MatchType::Equal | MatchType::Regex)
    }

    pub fn from_flags(is_regex: bool, is_equal: bool) -> MatchType {
        match (is_regex, is_equal) {
            (false, true) => MatchType::Equal,
            (false, false) => MatchType::NotEqual,
            (true, true) => MatchType::Regex,
            (true, false) => MatchType::NotRegex,
        }
    }
}

/// One label matcher. Regular expressions are anchored at both ends and use RE2's ASCII
/// classes, as Alertmanager's Go regexps do.
#[derive(Clone)]
pub struct Matcher {
    pub name: String,
    pub value: String,
    pub kind: MatchType,
    regex: Option<Regex>,
}

impl Matcher {
    pub fn new(
        kind: MatchType,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Matcher, MatcherError> {
        let value = value.into();
        let regex = if kind.is_regex() {
            Some(compile_anchored(&value)?)
        } else {
            None
        };
        Ok(Matcher {
            name: name.into(),
            value,
            kind,
            regex,
        })
    }

    pub fn matches_value(&self, value: &str) -> bool {
        match (&self.kind, &self.regex) {
            (MatchType::Equal, _) => self.value == value,
            (MatchType::NotEqual, _) => self.value != value,
            (MatchType::Regex, Some(re)) => re.is_match(value),
            (MatchType::NotRegex, Some(re)) => !re.is_match(value),
            (_, None) => false,
        }
    }

    pub fn matches(&self, labels: &LabelSet) -> bool {
        self.matches_value(labels.value_or_empty(&self.name))
    }

    /// Parses one matcher such as `severity="critical"` or `job=~api.*`.
    /// One matcher, as the process's label mode reads it: the classic syntax, falling back to
    /// the UTF-8 syntax (Alertmanager 0.27+'s default), or only one of the two.
    pub fn parse(input: &str) -> Result<Matcher, MatcherError> {
        use super::labels::{label_mode, LabelMode};
        match label_mode() {
            LabelMode::Classic => Matcher::parse_classic(input),
            LabelMode::Utf8Strict => super::matcher_utf8::parse_matcher(input),
            LabelMode::Fallback => Matcher::parse_classic(input)
                .or_else(|classic| super::matcher_utf8::parse_matcher(input).map_err(|_| classic)),
        }
    }

    fn parse_classic(input: &str) -> Result<Matcher, MatcherError> {
        let (name, kind, raw) =
            split_matcher(input).ok_or_else(|| MatcherError::BadFormat(input.to_string()))?;
        let value = unescape_value(raw)?;
        Matcher::new(kind, name, value)
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.value == other.value && self.kind == other.kind
    }
}

impl Eq for Matcher {}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Matcher {
    /// `name="value"` with OpenMetrics escaping, as Alertmanager prints matchers in route keys.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A UTF-8 name that the classic syntax cannot hold is quoted, as Alertmanager 0.27+ does.
        if self
            .name
            .chars()
            .any(|c| c.is_whitespace() || "{}!=~,\\\"'`".contains(c))
        {
            write!(f, "{:?}{}\"", self.name, self.kind.as_str())?;
        } else {
            write!(f, "{}{}\"", self.name, self.kind.as_str())?;
        }
        for c in self.value.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '"' => f.write_str("\\\"")?,
                c => write!(f, "{c}")?,
            }
        }
        f.write_str("\"")
    }
}

/// A conjunction of matchers, kept in Alertmanager's sort order (name, value, type).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Matchers(pub Vec<Matcher>);

impl Matchers {
    pub fn sorted(mut matchers: Vec<Matcher>) -> Matchers {
        matchers.sort_by(|a, b| (&a.name, &a.value, a.kind).cmp(&(&b.name, &b.value, b.kind)));
        Matchers(matchers)
    }

    pub fn matches(&self, labels: &LabelSet) -> bool {
        self.0.iter().all(|m| m.matches(labels))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Matcher> {
        self.0.iter()
    }
}

impl fmt::Display for Matchers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, m) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{m}")?;
        }
        f.write_str("}")
    }
}

impl fmt::Debug for Matchers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn compile_anchored(value: &str) -> Result<Regex, MatcherError> {
    // (?-u) would make `.` byte-wise; instead keep Unicode but force ASCII classes as RE2 has them.
    let translated = ascii_perl_classes(value);
    Regex::new(&format!("^(?:{translated})$")).map_err(|e| MatcherError::BadRegex {
        value: value.to_string(),
        reason: e.to_string(),
    })
}

/// Rewrites `\d \w \s` (and their negations) outside character classes to ASCII-only forms,
/// and inside classes to their ASCII ranges, so they mean what they mean in Go's RE2.
fn ascii_perl_classes(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(next) = chars.next() else {
                    out.push('\\');
                    break;
                };
                let (inside, outside) = match next {
                    'd' => ("0-9", "[0-9]"),
                    'D' => ("", "[^0-9]"),
                    'w' => ("0-9A-Za-z_", "[0-9A-Za-z_]"),
                    'W' => ("", "[^0-9A-Za-z_]"),
                    's' => ("\\t\\n\\f\\r ", "[\\t\\n\\f\\r ]"),
                    'S' => ("", "[^\\t\\n\\f\\r ]"),
                    _ => {
                        out.push('\\');
                        out.push(next);
                        continue;
                    }
                };
                if !in_class {
                    out.push_str(outside);
                } else if !inside.is_empty() {
                    out.push_str(inside);
                } else {
                    // A negated class inside a class: keep the ASCII meaning via the class form.
                    out.push_str(match next {
                        'D' => "[:^digit:]",
                        'W' => "[:^word:]",
                        _ => "[:^space:]",
                    });
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                // A leading `]` or `^]` is literal and does not close the class.
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push_str("\\]");
                    chars.next();
                }
            }
            '[' if in_class && chars.peek() == Some(&':') => {
                // A POSIX class like [:alpha:] inside a bracket expression.
                out.push('[');
                for c2 in chars.by_ref() {
                    out.push(c2);
                    if c2 == ']' {
                        break;
                    }
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            c => out.push(c),
        }
    }
    out
}

/// Splits `name op value` the way Alertmanager's matcher regex does:
/// `^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|=|!=|!~)\s*(.*?)\s*$`.
fn split_matcher(input: &str) -> Option<(&str, MatchType, &str)> {
    let s = input.trim_start();
    let name_len = s
        .char_indices()
        .find(|&(i, c)| {
            !(c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit()))
        })
        .map_or(s.len(), |(i, _)| i);
    if name_len == 0 {
        return None;
    }
    let name = &s[..name_len];
    let rest = s[name_len..].trim_start();
    let (kind, rest) = if let Some(r) = rest.strip_prefix("=~") {
        (MatchType::Regex, r)
    } else if let Some(r) = rest.strip_prefix("!=") {
        (MatchType::NotEqual, r)
    } else if let Some(r) = rest.strip_prefix("!~") {
        (MatchType::NotRegex, r)
    } else if let Some(r) = rest.strip_prefix('=') {
        (MatchType::Equal, r)
    } else {
        return None;
    };
    Some((name, kind, rest.trim()))
}

fn unescape_value(raw: &str) -> Result<String, MatcherError> {
    let (body, quoted) = match raw.strip_prefix('"') {
        Some(rest) => (rest, true),
        None => (raw, false),
    };
    let mut expect_trailing_quote = quoted;
    let mut value = String::with_capacity(body.len());
    let mut escaped = false;
    let last = body.len().saturating_sub(1);
    for (i, c) in body.char_indices() {
        if escaped {
            escaped = false;
            match c {
                'n' => value.push('\n'),
                '"' | '\\' => value.push(c),
                other => {
                    value.push('\\');
                    value.push(other);
                }
            }
            continue;
        }
        match c {
            '\\' if i < last => escaped = true,
            '\\' => value.push('\\'),
            '"' => {
                if !expect_trailing_quote || i < last {
                    return Err(MatcherError::UnescapedQuote(raw.to_string()));
                }
                expect_trailing_quote = false;
            }
            c => value.push(c),
        }
    }
    if expect_trailing_quote {
        return Err(MatcherError::UnescapedQuote(raw.to_string()));
    }
    Ok(value)
}

/// Parses a matcher list such as `{a="b",c!~"d.*"}`; braces are optional, commas inside quotes
/// do not split.
pub fn parse_matchers(input: &str) -> Result<Vec<Matcher>, MatcherError> {
    use super::labels::{label_mode, LabelMode};
    match label_mode() {
        LabelMode::Classic => parse_classic_matchers(input),
        LabelMode::Utf8Strict => super::matcher_utf8::parse_matchers(input),
        LabelMode::Fallback => parse_classic_matchers(input)
            .or_else(|classic| super::matcher_utf8::parse_matchers(input).map_err(|_| classic)),
    }
}

fn parse_classic_matchers(input: &str) -> Result<Vec<Matcher>, MatcherError> {
    let s = input.trim();
    let s = s.strip_prefix('{').unwrap_or(s);
    let s = s.strip_suffix('}').unwrap_or(s);
    let mut tokens = Vec::new();
    let mut token = String::new();
    let mut inside_quotes = false;
    let mut escaped = false;
    for c in s.chars() {
        match c {
            ',' if !inside_quotes => {
                tokens.push(std::mem::take(&mut token));
                continue;
            }
            ',' => {}
            '"' => {
                if escaped {
                    escaped = false;
                } else {
                    inside_quotes = !inside_quotes;
                }
            }
            '\\' => escaped = !escaped,
            _ => escaped = false,
        }
        token.push(c);
    }
    let tail = token.trim();
    if !tail.is_empty() {
        tokens.push(tail.to_string());
    }
    tokens.iter().map(|t| Matcher::parse(t)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> LabelSet {
        pairs.iter().map(|(k, v)| (*k, *v)).collect()
    }

    #[test]
    fn parses_every_operator_and_quoting() {
        let ms = parse_matchers(r#"{a="b", c!~"d.*",e=~f|g, h != "i,j"}"#).unwrap();
        let shown: Vec<String> = ms.iter().map(|m| m.to_string()).collect();
        assert_eq!(
            shown,
            [r#"a="b""#, r#"c!~"d.*""#, r#"e=~"f|g""#, r#"h!="i,j""#]
        );
    }

    #[test]
    fn unescapes_like_alertmanager() {
        let m = Matcher::parse(r#"a="x\"y\nz\q""#).unwrap();
        assert_eq!(m.value, "x\"y\nz\\q");
        assert!(matches!(
            Matcher::parse(r#"a="b"c""#),
            Err(MatcherError::UnescapedQuote(_))
        ));
        assert!(matches!(
            Matcher::parse(r#"a="b"#),
            Err(MatcherError::UnescapedQuote(_))
        ));
        assert!(matches!(
            Matcher::parse("a"),
            Err(MatcherError::BadFormat(_))
        ));
        assert!(matches!(
            Matcher::parse("=b"),
            Err(MatcherError::BadFormat(_))
        ));
    }

    #[test]
    fn regexes_are_anchored_and_ascii() {
        let m = Matcher::parse(r#"x=~"a\d+""#).unwrap();
        assert!(m.matches(&labels(&[("x", "a12")])));
        assert!(!m.matches(&labels(&[("x", "ba12")])));
        assert!(
            !m.matches(&labels(&[("x", "a١")])),
            "Arabic digit is not \\d in RE2"
        );
        let w = Matcher::parse(r#"x=~"[\w-]+""#).unwrap();
        assert!(w.matches(&labels(&[("x", "ab-c_1")])));
        assert!(!w.matches(&labels(&[("x", "é")])));
    }

    #[test]
    fn missing_label_is_empty() {
        let m = Matcher::parse(r#"team!="db""#).unwrap();
        assert!(m.matches(&labels(&[])));
        let e = Matcher::parse(r#"team="""#).unwrap();
        assert!(e.matches(&labels(&[("a", "b")])));
    }

    #[test]
    fn sorted_matchers_print_as_route_keys() {
        let ms = Matchers::sorted(parse_matchers(r#"b="1",a=~"x""#).unwrap());
        assert_eq!(ms.to_string(), r#"{a=~"x",b="1"}"#);
    }
}
