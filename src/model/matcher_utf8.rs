//! Alertmanager 0.27's UTF-8 matcher syntax (its `matcher/parse`): names and values are either
//! double-quoted Go strings (`"service.name"="api"`) or runs of characters that are not
//! reserved (`{}!=~,\"'` and back-quote, and white space). The classic syntax stays the
//! default; this one is what it falls back to.

use super::{MatchType, Matcher, MatcherError};

fn is_reserved(c: char) -> bool {
    c.is_whitespace() || "{}!=~,\\\"'`".contains(c)
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    Comma,
    Op(MatchType),
    Text(String),
}

fn bad(input: &str, why: impl std::fmt::Display) -> MatcherError {
    MatcherError::BadFormat(format!("{input}: {why}"))
}

fn lex(input: &str) -> Result<Vec<Token>, MatcherError> {
    let mut tokens = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '{' => tokens.push(Token::Open),
            '}' => tokens.push(Token::Close),
            ',' => tokens.push(Token::Comma),
            '=' => {
                if chars.next_if(|&(_, c)| c == '~').is_some() {
                    tokens.push(Token::Op(MatchType::Regex));
                } else {
                    tokens.push(Token::Op(MatchType::Equal));
                }
            }
            '!' => match chars.next() {
                Some((_, '=')) => tokens.push(Token::Op(MatchType::NotEqual)),
                Some((_, '~')) => tokens.push(Token::Op(MatchType::NotRegex)),
                _ => return Err(bad(input, format_args!("expected = or ~ after ! at {at}"))),
            },
            '"' => {
                let mut raw = String::new();
                let mut escaped = false;
                let mut closed = false;
                for (_, c) in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        closed = true;
                        break;
                    }
                    raw.push(c);
                }
                if !closed {
                    return Err(MatcherError::UnescapedQuote(input.to_string()));
                }
                tokens.push(Token::Text(unquote(&raw).map_err(|e| bad(input, e))?));
            }
            c if is_reserved(c) => {
                return Err(bad(input, format_args!("unexpected {c:?} at {at}")));
            }
            c => {
                let mut text = String::from(c);
                while let Some((_, c)) = chars.next_if(|&(_, c)| !is_reserved(c)) {
                    text.push(c);
                }
                tokens.push(Token::Text(text));
            }
        }
    }
    Ok(tokens)
}

/// The body of a Go double-quoted string, unescaped as `strconv.Unquote` does.
fn unquote(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let escape = chars.next().ok_or("trailing backslash")?;
        let simple = match escape {
            'a' => Some('\u{7}'),
            'b' => Some('\u{8}'),
            'f' => Some('\u{c}'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\u{b}'),
            '\\' => Some('\\'),
            '"' => Some('"'),
            _ => None,
        };
        if let Some(c) = simple {
            out.push(c);
            continue;
        }
        let digits = match escape {
            'x' => 2,
            'u' => 4,
            'U' => 8,
            _ => return Err(format!("invalid escape \\{escape}")),
        };
        let hex: String = chars.by_ref().take(digits).collect();
        let code =
            u32::from_str_radix(&hex, 16).map_err(|_| format!("invalid escape \\{escape}{hex}"))?;
        let c =
            char::from_u32(code).ok_or_else(|| format!("invalid code point \\{escape}{hex}"))?;
        out.push(c);
    }
    Ok(out)
}

/// One `name op value` from the front of `tokens`.
fn matcher(
    input: &str,
    tokens: &mut std::iter::Peekable<std::vec::IntoIter<Token>>,
) -> Result<Matcher, MatcherError> {
    let Some(Token::Text(name)) = tokens.next() else {
        return Err(bad(input, "expected a label name"));
    };
    let Some(Token::Op(kind)) = tokens.next() else {
        return Err(bad(input, "expected one of =, !=, =~ or !~"));
    };
    let value = match tokens.peek() {
        Some(Token::Text(_)) => match tokens.next() {
            Some(Token::Text(v)) => v,
            _ => String::new(),
        },
        _ => return Err(bad(input, "expected a label value")),
    };
    if name.is_empty() {
        return Err(bad(input, "empty label name"));
    }
    Matcher::new(kind, name, value)
}

/// A single matcher in the UTF-8 syntax (no braces).
pub fn parse_matcher(input: &str) -> Result<Matcher, MatcherError> {
    let trimmed = input.trim();
    if trimmed.starts_with('{') || trimmed.ends_with('}') {
        return Err(bad(input, "unexpected open or close brace"));
    }
    let mut tokens = lex(trimmed)?.into_iter().peekable();
    let m = matcher(input, &mut tokens)?;
    match tokens.next() {
        None => Ok(m),
        Some(_) => Err(bad(input, "expected the end of the matcher")),
    }
}

/// Zero or more comma-separated matchers, optionally in braces, a trailing comma allowed.
pub fn parse_matchers(input: &str) -> Result<Vec<Matcher>, MatcherError> {
    let mut tokens = lex(input)?;
    if tokens.first() == Some(&Token::Open) {
        if tokens.last() != Some(&Token::Close) {
            return Err(bad(input, "expected a closing brace"));
        }
        tokens.remove(0);
        tokens.pop();
    }
    let mut tokens = tokens.into_iter().peekable();
    let mut out = Vec::new();
    while tokens.peek().is_some() {
        out.push(matcher(input, &mut tokens)?);
        match tokens.next() {
            None => break,
            Some(Token::Comma) => {}
            Some(_) => return Err(bad(input, "expected a comma between matchers")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(input: &str) -> Vec<String> {
        parse_matchers(input)
            .unwrap()
            .iter()
            .map(|m| format!("{}|{}|{}", m.name, m.kind.as_str(), m.value))
            .collect()
    }

    #[test]
    fn quoted_utf8_names_and_unquoted_values() {
        assert_eq!(
            shown(r#"{"service.name"="api", 🙂!~"a\u00e9.*", env=prod,}"#),
            ["service.name|=|api", "🙂|!~|aé.*", "env|=|prod"]
        );
        assert_eq!(shown("{}"), Vec::<String>::new());
        assert_eq!(shown(""), Vec::<String>::new());
        assert_eq!(parse_matcher(r#""foo bar"=~"x\ty""#).unwrap().value, "x\ty");
    }

    #[test]
    fn bad_input_is_refused() {
        for input in [
            r#"{a="b""#,
            r#"a="b"#,
            "a",
            "=b",
            "a b=c",
            r#"a="\q""#,
            "a!b",
            "{a=b}}",
        ] {
            assert!(parse_matchers(input).is_err(), "{input}");
        }
        assert!(
            parse_matcher("{a=b}").is_err(),
            "a single matcher has no braces"
        );
        assert!(parse_matcher("a=b,c=d").is_err());
    }
}
