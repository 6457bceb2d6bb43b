//! Splits a template into text and `{{ … }}` actions, and actions into tokens.

use super::TemplateError;

#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    /// `.Field` (possibly the first of a chain: `.A.B` is Field(A), Field(B)).
    Field(String),
    /// `.Name` glued to what precedes it (`$x.Name`, `(…).Name`, `.A.Name`): a chain link.
    Chain(String),
    /// `.` alone.
    Dot,
    /// `$name` or `$`.
    Variable(String),
    Ident(String),
    Str(String),
    Number(f64),
    Bool(bool),
    Nil,
    Pipe,
    LeftParen,
    RightParen,
    Declare,
    Assign,
    Comma,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Text(String),
    Action { tokens: Vec<Token>, line: usize },
}

/// Cuts the source into pieces, applying `{{-` / `-}}` whitespace trimming and dropping
/// `{{/* comments */}}`.
pub fn split(src: &str) -> Result<Vec<Piece>, TemplateError> {
    let mut pieces = Vec::new();
    let mut rest = src;
    let mut line = 1;
    let mut trim_next_text = false;
    while !rest.is_empty() {
        let Some(open) = rest.find("{{") else {
            let text = if trim_next_text {
                rest.trim_start()
            } else {
                rest
            };
            pieces.push(Piece::Text(text.to_string()));
            break;
        };
        let mut text = &rest[..open];
        if trim_next_text {
            text = text.trim_start();
        }
        let after_open = &rest[open + 2..];
        let trim_left = after_open.starts_with("- ")
            || after_open.starts_with("-\t")
            || after_open.starts_with("-\n");
        if trim_left {
            text = text.trim_end();
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text.to_string()));
        }
        line += rest[..open].matches('\n').count();
        let body_start = if trim_left { 1 } else { 0 };
        let inner = after_open[body_start..].trim_start();
        if inner.starts_with("/*") {
            // A comment: `{{/* … */}}`, quotes inside it mean nothing.
            let comment_start = after_open.len() - inner.len();
            let end = inner.find("*/").ok_or(TemplateError::Parse {
                line,
                message: "unclosed comment".into(),
            })?;
            let after_comment = &after_open[comment_start + end + 2..];
            let tail = after_comment.trim_start();
            let trim_right = tail.starts_with("-}}");
            let close_at = if trim_right {
                tail.find("}}").map(|i| i + 2)
            } else {
                tail.strip_prefix("}}").map(|_| 2)
            }
            .ok_or(TemplateError::Parse {
                line,
                message: "comment must end with */}}".into(),
            })?;
            line += after_open[..comment_start + end].matches('\n').count();
            trim_next_text = trim_right;
            rest = &tail[close_at..];
            continue;
        }
        let close = find_close(after_open).ok_or(TemplateError::Parse {
            line,
            message: "unclosed action".into(),
        })?;
        let mut body = &after_open[body_start..close];
        let trim_right = body.ends_with(" -") || body.ends_with("\t-") || body.ends_with("\n-");
        if trim_right {
            body = &body[..body.len() - 1];
        }
        pieces.push(Piece::Action {
            tokens: tokenize(body, line)?,
            line,
        });
        line += after_open[..close].matches('\n').count();
        trim_next_text = trim_right;
        rest = &after_open[close + 2..];
    }
    Ok(pieces)
}

/// The end of an action, skipping `}}` inside string literals.
fn find_close(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) => {
                if b == b'\\' && q == b'"' {
                    i += 1;
                } else if b == q {
                    quote = None;
                }
            }
            None => {
                if b == b'"' || b == b'`' || b == b'\'' {
                    quote = Some(b);
                } else if b == b'}' && bytes.get(i + 1) == Some(&b'}') {
                    return Some(i);
                }
            }
        }
        i += 1;
    }
    None
}

fn tokenize(body: &str, line: usize) -> Result<Vec<Token>, TemplateError> {
    let err = |m: String| TemplateError::Parse { line, message: m };
    let chars: Vec<char> = body.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let ident_char = |c: char| c.is_alphanumeric() || c == '_';
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '|' => {
                tokens.push(Token::Pipe);
                i += 1;
            }
            '(' => {
                tokens.push(Token::LeftParen);
                i += 1;
            }
            ')' => {
                tokens.push(Token::RightParen);
                i += 1;
            }
            ',' => {
                tokens.push(Token::Comma);
                i += 1;
            }
            ':' if chars.get(i + 1) == Some(&'=') => {
                tokens.push(Token::Declare);
                i += 2;
            }
            '=' => {
                tokens.push(Token::Assign);
                i += 1;
            }
            '.' => {
                let start = i + 1;
                let mut j = start;
                while j < chars.len() && ident_char(chars[j]) {
                    j += 1;
                }
                let glued = i > 0
                    && !chars[i - 1].is_whitespace()
                    && matches!(
                        tokens.last(),
                        Some(
                            Token::Variable(_)
                                | Token::RightParen
                                | Token::Field(_)
                                | Token::Chain(_)
                        )
                    );
                let name: String = chars[start..j].iter().collect();
                if j == start {
                    tokens.push(Token::Dot);
                } else if glued {
                    tokens.push(Token::Chain(name));
                } else {
                    tokens.push(Token::Field(name));
                }
                i = j;
            }
            '$' => {
                let start = i + 1;
                let mut j = start;
                while j < chars.len() && ident_char(chars[j]) {
                    j += 1;
                }
                tokens.push(Token::Variable(chars[start..j].iter().collect()));
                i = j;
            }
            '"' => {
                let mut s = String::new();
                let mut j = i + 1;
                loop {
                    let Some(&ch) = chars.get(j) else {
                        return Err(err("unterminated string".into()));
                    };
                    match ch {
                        '"' => break,
                        '\\' => {
                            j += 1;
                            match chars.get(j) {
                                Some('n') => s.push('\n'),
                                Some('t') => s.push('\t'),
                                Some('r') => s.push('\r'),
                                Some('\\') => s.push('\\'),
                                Some('"') => s.push('"'),
                                Some(other) => {
                                    s.push('\\');
                                    s.push(*other);
                                }
                                None => return Err(err("unterminated string".into())),
                            }
                        }
                        ch => s.push(ch),
                    }
                    j += 1;
                }
                tokens.push(Token::Str(s));
                i = j + 1;
            }
            '`' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&ch| ch == '`')
                    .ok_or_else(|| err("unterminated raw string".into()))?;
                tokens.push(Token::Str(chars[i + 1..i + 1 + end].iter().collect()));
                i += end + 2;
            }
            '\'' => {
                let ch = *chars
                    .get(i + 1)
                    .ok_or_else(|| err("bad character constant".into()))?;
                if chars.get(i + 2) != Some(&'\'') {
                    return Err(err("bad character constant".into()));
                }
                tokens.push(Token::Number(f64::from(u32::from(ch))));
                i += 3;
            }
            c if c.is_ascii_digit()
                || ((c == '-' || c == '+')
                    && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                let start = i;
                let mut j = i + 1;
                while j < chars.len()
                    && (chars[j].is_ascii_alphanumeric() || chars[j] == '.' || chars[j] == '_')
                {
                    j += 1;
                }
                let text: String = chars[start..j].iter().filter(|&&c| c != '_').collect();
                let n = if let Some(hex) = text.strip_prefix("0x") {
                    i64::from_str_radix(hex, 16)
                        .map(|v| v as f64)
                        .map_err(|_| err(format!("bad number {text}")))?
                } else {
                    text.parse::<f64>()
                        .map_err(|_| err(format!("bad number {text}")))?
                };
                tokens.push(Token::Number(n));
                i = j;
            }
            c if ident_char(c) => {
                let start = i;
                let mut j = i;
                while j < chars.len() && ident_char(chars[j]) {
                    j += 1;
                }
                let word: String = chars[start..j].iter().collect();
                tokens.push(match word.as_str() {
                    "true" => Token::Bool(true),
                    "false" => Token::Bool(false),
                    "nil" => Token::Nil,
                    _ => Token::Ident(word),
                });
                i = j;
            }
            other => return Err(err(format!("unexpected {other:?} in action"))),
        }
    }
    Ok(tokens)
}
