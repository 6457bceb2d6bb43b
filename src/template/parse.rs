//! Pieces into a tree: actions, if/else, range, with, define, template, block.

use std::collections::HashMap;

use super::lexer::{Piece, Token};
use super::value::Value;
use super::TemplateError;

#[derive(Debug, Clone)]
pub enum Node {
    Text(String),
    Action(Pipeline),
    If {
        branches: Vec<(Pipeline, Vec<Node>)>,
        otherwise: Vec<Node>,
    },
    With {
        branches: Vec<(Pipeline, Vec<Node>)>,
        otherwise: Vec<Node>,
    },
    Range {
        pipe: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    Template {
        name: String,
        pipe: Option<Pipeline>,
        line: usize,
    },
    Break,
    Continue,
}

#[derive(Debug, Clone, Default)]
pub struct Pipeline {
    pub vars: Vec<String>,
    /// `=` rather than `:=`.
    pub assign: bool,
    pub commands: Vec<Vec<Operand>>,
}

#[derive(Debug, Clone)]
pub enum Operand {
    /// `.A.B`: fields of dot.
    Field(Vec<String>),
    Dot,
    /// `$x.A.B`
    Variable(String, Vec<String>),
    /// A function name.
    Function(String),
    Literal(Value),
    /// `(pipeline).A.B`
    Sub(Box<Pipeline>, Vec<String>),
}

struct Parser<'a> {
    pieces: &'a [Piece],
    pos: usize,
    defines: HashMap<String, Vec<Node>>,
}

/// A template's top-level nodes and every template it `define`s (or declares with `block`).
pub type Parsed = (Vec<Node>, HashMap<String, Vec<Node>>);

/// Parses a template.
pub fn parse(pieces: &[Piece]) -> Result<Parsed, TemplateError> {
    let mut p = Parser {
        pieces,
        pos: 0,
        defines: HashMap::new(),
    };
    let (nodes, end) = p.list()?;
    if let Some((word, line)) = end {
        return Err(TemplateError::Parse {
            line,
            message: format!("unexpected {{{{{word}}}}}"),
        });
    }
    Ok((nodes, p.defines))
}

impl Parser<'_> {
    /// Nodes until `end`, `else` or the end of input; returns which keyword stopped it.
    #[allow(clippy::type_complexity)]
    fn list(&mut self) -> Result<(Vec<Node>, Option<(String, usize)>), TemplateError> {
        let mut nodes = Vec::new();
        while let Some(piece) = self.pieces.get(self.pos) {
            self.pos += 1;
            match piece {
                Piece::Text(t) => nodes.push(Node::Text(t.clone())),
                Piece::Action { tokens, line } => {
                    let line = *line;
                    let keyword = match tokens.first() {
                        Some(Token::Ident(w)) => w.as_str(),
                        _ => "",
                    };
                    let rest = tokens.get(1..).unwrap_or(&[]);
                    match keyword {
                        "end" => return Ok((nodes, Some(("end".into(), line)))),
                        "else" => return Ok((nodes, Some(("else".into(), line)))),
                        "if" | "with" => {
                            let node = self.conditional(keyword, rest, line)?;
                            nodes.push(node);
                        }
                        "range" => {
                            let pipe = pipeline(rest, line)?;
                            let (body, end) = self.list()?;
                            let otherwise = match end {
                                Some((w, _)) if w == "else" => self.expect_end(line)?,
                                Some((w, _)) if w == "end" => Vec::new(),
                                _ => return Err(unclosed("range", line)),
                            };
                            nodes.push(Node::Range {
                                pipe,
                                body,
                                otherwise,
                            });
                        }
                        "define" | "block" => {
                            let name = match rest.first() {
                                Some(Token::Str(n)) => n.clone(),
                                _ => {
                                    return Err(TemplateError::Parse {
                                        line,
                                        message: format!("{keyword} needs a quoted name"),
                                    })
                                }
                            };
                            let (body, end) = self.list()?;
                            if !matches!(end, Some((ref w, _)) if w == "end") {
                                return Err(unclosed(keyword, line));
                            }
                            self.defines.insert(name.clone(), body);
                            if keyword == "block" {
                                let pipe = if rest.len() > 1 {
                                    Some(pipeline(&rest[1..], line)?)
                                } else {
                                    None
                                };
                                nodes.push(Node::Template { name, pipe, line });
                            }
                        }
                        "template" => {
                            let name = match rest.first() {
                                Some(Token::Str(n)) => n.clone(),
                                _ => {
                                    return Err(TemplateError::Parse {
                                        line,
                                        message: "template needs a quoted name".into(),
                                    })
                                }
                            };
                            let pipe = if rest.len() > 1 {
                                Some(pipeline(&rest[1..], line)?)
                            } else {
                                None
                            };
                            nodes.push(Node::Template { name, pipe, line });
                        }
                        "break" => nodes.push(Node::Break),
                        "continue" => nodes.push(Node::Continue),
                        _ => nodes.push(Node::Action(pipeline(tokens, line)?)),
                    }
                }
            }
        }
        Ok((nodes, None))
    }

    fn expect_end(&mut self, line: usize) -> Result<Vec<Node>, TemplateError> {
        let (nodes, end) = self.list()?;
        match end {
            Some((w, _)) if w == "end" => Ok(nodes),
            _ => Err(unclosed("else", line)),
        }
    }

    /// `if`/`with` with any number of `else if`/`else with` and a final `else`.
    fn conditional(
        &mut self,
        keyword: &str,
        rest: &[Token],
        line: usize,
    ) -> Result<Node, TemplateError> {
        let mut branches = vec![(pipeline(rest, line)?, Vec::new())];
        loop {
            let (body, end) = self.list()?;
            if let Some(last) = branches.last_mut() {
                last.1 = body;
            }
            match end {
                Some((w, _)) if w == "end" => break,
                Some((w, else_line)) if w == "else" => {
                    // `{{else if …}}` arrives as an `else` piece whose tokens continue.
                    let Some(Piece::Action { tokens, .. }) = self.pieces.get(self.pos - 1) else {
                        break;
                    };
                    match tokens.get(1) {
                        Some(Token::Ident(k)) if k == keyword => {
                            branches.push((pipeline(&tokens[2..], else_line)?, Vec::new()));
                        }
                        _ => {
                            let otherwise = self.expect_end(line)?;
                            return Ok(make_conditional(keyword, branches, otherwise));
                        }
                    }
                }
                _ => return Err(unclosed(keyword, line)),
            }
        }
        Ok(make_conditional(keyword, branches, Vec::new()))
    }
}

fn make_conditional(
    keyword: &str,
    branches: Vec<(Pipeline, Vec<Node>)>,
    otherwise: Vec<Node>,
) -> Node {
    if keyword == "if" {
        Node::If {
            branches,
            otherwise,
        }
    } else {
        Node::With {
            branches,
            otherwise,
        }
    }
}

fn unclosed(what: &str, line: usize) -> TemplateError {
    TemplateError::Parse {
        line,
        message: format!("unclosed {{{{{what}}}}} (missing {{{{end}}}})"),
    }
}

/// `$x := a | b c` and the like.
pub fn pipeline(tokens: &[Token], line: usize) -> Result<Pipeline, TemplateError> {
    let mut p = Pipeline::default();
    let mut rest = tokens;
    // Declarations: `$x :=`, `$i, $e :=`, `$x =`.
    if let Some(decl) = rest
        .iter()
        .position(|t| matches!(t, Token::Declare | Token::Assign))
    {
        let names: Vec<&Token> = rest[..decl]
            .iter()
            .filter(|t| !matches!(t, Token::Comma))
            .collect();
        if !names.is_empty() && names.iter().all(|t| matches!(t, Token::Variable(_))) {
            p.vars = names
                .iter()
                .filter_map(|t| {
                    if let Token::Variable(v) = t {
                        Some(v.clone())
                    } else {
                        None
                    }
                })
                .collect();
            p.assign = matches!(rest[decl], Token::Assign);
            rest = &rest[decl + 1..];
        }
    }
    let mut i = 0;
    let mut command = Vec::new();
    while i < rest.len() {
        match &rest[i] {
            Token::Pipe => {
                if command.is_empty() {
                    return Err(TemplateError::Parse {
                        line,
                        message: "missing command before |".into(),
                    });
                }
                p.commands.push(std::mem::take(&mut command));
                i += 1;
            }
            _ => {
                let (operand, used) = operand(&rest[i..], line)?;
                command.push(operand);
                i += used;
            }
        }
    }
    if command.is_empty() {
        return Err(TemplateError::Parse {
            line,
            message: "missing value in action".into(),
        });
    }
    p.commands.push(command);
    Ok(p)
}

/// One operand and how many tokens it used.
fn operand(tokens: &[Token], line: usize) -> Result<(Operand, usize), TemplateError> {
    let chain = |from: usize| -> (Vec<String>, usize) {
        let mut names = Vec::new();
        let mut j = from;
        while let Some(Token::Chain(n)) = tokens.get(j) {
            names.push(n.clone());
            j += 1;
        }
        (names, j)
    };
    match &tokens[0] {
        Token::Field(name) => {
            let (mut rest, used) = chain(1);
            rest.insert(0, name.clone());
            Ok((Operand::Field(rest), used))
        }
        Token::Dot => Ok((Operand::Dot, 1)),
        Token::Variable(v) => {
            let (names, used) = chain(1);
            Ok((Operand::Variable(v.clone(), names), used))
        }
        Token::Ident(f) => Ok((Operand::Function(f.clone()), 1)),
        Token::Str(s) => Ok((Operand::Literal(Value::Str(s.clone())), 1)),
        Token::Number(n) => Ok((Operand::Literal(Value::number(*n)), 1)),
        Token::Bool(b) => Ok((Operand::Literal(Value::Bool(*b)), 1)),
        Token::Nil => Ok((Operand::Literal(Value::Nil), 1)),
        Token::LeftParen => {
            let mut depth = 0;
            let close = tokens
                .iter()
                .position(|t| {
                    match t {
                        Token::LeftParen => depth += 1,
                        Token::RightParen => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .ok_or(TemplateError::Parse {
                    line,
                    message: "unclosed (".into(),
                })?;
            let inner = pipeline(&tokens[1..close], line)?;
            let (names, used) = chain(close + 1);
            Ok((Operand::Sub(Box::new(inner), names), used))
        }
        other => Err(TemplateError::Parse {
            line,
            message: format!("unexpected {other:?}"),
        }),
    }
}
