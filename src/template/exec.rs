//! Runs a parsed template over a value.

use std::collections::HashMap;

use super::funcs;
use super::parse::{Node, Operand, Pipeline};
use super::value::Value;
use super::TemplateError;

/// How a list of nodes ended: normally, or by `{{break}}` / `{{continue}}` inside a range.
enum Flow {
    Normal,
    Break,
    Continue,
}

const MAX_DEPTH: usize = 100;

pub struct Exec<'a> {
    pub defines: &'a HashMap<String, Vec<Node>>,
    vars: Vec<(String, Value)>,
    pub out: String,
    depth: usize,
    /// HTML mode: every printed value is escaped unless it is `SafeHtml`, as html/template
    /// does for text between tags.
    pub escape_html: bool,
}

fn err(m: impl Into<String>) -> TemplateError {
    TemplateError::Exec(m.into())
}

impl<'a> Exec<'a> {
    pub fn new(defines: &'a HashMap<String, Vec<Node>>, root: &Value) -> Exec<'a> {
        Exec {
            defines,
            vars: vec![(String::new(), root.clone())],
            out: String::new(),
            depth: 0,
            escape_html: false,
        }
    }

    pub fn run(&mut self, nodes: &[Node], dot: &Value) -> Result<(), TemplateError> {
        self.walk(nodes, dot).map(|_| ())
    }

    fn walk(&mut self, nodes: &[Node], dot: &Value) -> Result<Flow, TemplateError> {
        for node in nodes {
            match node {
                Node::Text(t) => self.out.push_str(t),
                Node::Action(pipe) => {
                    let v = self.pipeline(pipe, dot)?;
                    if pipe.vars.is_empty() {
                        match &v {
                            Value::SafeHtml(s) => self.out.push_str(s),
                            other if self.escape_html => {
                                self.out.push_str(&funcs::html_escape(&other.to_string()))
                            }
                            other => self.out.push_str(&other.to_string()),
                        }
                    }
                }
                Node::If {
                    branches,
                    otherwise,
                }
                | Node::With {
                    branches,
                    otherwise,
                } => {
                    let is_with = matches!(node, Node::With { .. });
                    let mark = self.vars.len();
                    let mut taken = false;
                    for (cond, body) in branches {
                        let v = self.pipeline(cond, dot)?;
                        if v.truthy() {
                            let inner = if is_with { v } else { dot.clone() };
                            let flow = self.walk(body, &inner)?;
                            self.vars.truncate(mark);
                            if !matches!(flow, Flow::Normal) {
                                return Ok(flow);
                            }
                            taken = true;
                            break;
                        }
                    }
                    if !taken {
                        let flow = self.walk(otherwise, dot)?;
                        self.vars.truncate(mark);
                        if !matches!(flow, Flow::Normal) {
                            return Ok(flow);
                        }
                    }
                }
                Node::Range {
                    pipe,
                    body,
                    otherwise,
                } => {
                    let mark = self.vars.len();
                    // The declared variables get each key/element, not the whole value.
                    let mut plain = pipe.clone();
                    plain.vars.clear();
                    let v = self.pipeline(&plain, dot)?;
                    let entries = v
                        .entries()
                        .ok_or_else(|| err(format!("range can't iterate over {}", v.kind())))?;
                    if entries.is_empty() {
                        self.walk(otherwise, dot)?;
                    }
                    for (key, element) in entries {
                        match pipe.vars.as_slice() {
                            [e] => self.vars.push((e.clone(), element.clone())),
                            [k, e] => {
                                self.vars.push((k.clone(), key));
                                self.vars.push((e.clone(), element.clone()));
                            }
                            _ => {}
                        }
                        let flow = self.walk(body, &element)?;
                        self.vars.truncate(mark);
                        if matches!(flow, Flow::Break) {
                            break;
                        }
                    }
                    self.vars.truncate(mark);
                }
                Node::Template { name, pipe, line } => {
                    let body = self
                        .defines
                        .get(name)
                        .ok_or_else(|| err(format!("line {line}: no such template {name:?}")))?;
                    let data = match pipe {
                        Some(p) => self.pipeline(p, dot)?,
                        None => Value::Nil,
                    };
                    self.depth += 1;
                    if self.depth > MAX_DEPTH {
                        return Err(err(format!("template {name:?} nests too deeply")));
                    }
                    // A called template sees only its argument: `$` is that value.
                    let saved =
                        std::mem::replace(&mut self.vars, vec![(String::new(), data.clone())]);
                    let result = self.walk(body, &data);
                    self.vars = saved;
                    self.depth -= 1;
                    result?;
                }
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    fn variable(&self, name: &str) -> Result<Value, TemplateError> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| err(format!("undefined variable ${name}")))
    }

    fn pipeline(&mut self, pipe: &Pipeline, dot: &Value) -> Result<Value, TemplateError> {
        let mut last: Option<Value> = None;
        for command in &pipe.commands {
            last = Some(self.command(command, dot, last)?);
        }
        let value = last.unwrap_or(Value::Nil);
        if let Some(name) = pipe.vars.first() {
            if pipe.assign {
                let slot = self
                    .vars
                    .iter_mut()
                    .rev()
                    .find(|(n, _)| n == name)
                    .ok_or_else(|| err(format!("undefined variable ${name}")))?;
                slot.1 = value.clone();
            } else {
                self.vars.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn command(
        &mut self,
        ops: &[Operand],
        dot: &Value,
        piped: Option<Value>,
    ) -> Result<Value, TemplateError> {
        let Some(first) = ops.first() else {
            return Ok(Value::Nil);
        };
        if let Operand::Function(name) = first {
            let mut args = Vec::with_capacity(ops.len());
            for op in &ops[1..] {
                args.push(self.operand(op, dot)?);
            }
            args.extend(piped);
            return funcs::call(name, &args).map_err(|e| err(format!("{name}: {e}")));
        }
        let has_args = ops.len() > 1 || piped.is_some();
        if has_args {
            // A method called with arguments: `.KV.Remove .Names`.
            let (receiver, method) = match first {
                Operand::Field(chain) if !chain.is_empty() => (
                    self.chain(dot.clone(), &chain[..chain.len() - 1])?,
                    chain[chain.len() - 1].clone(),
                ),
                Operand::Variable(v, chain) if !chain.is_empty() => (
                    self.chain(self.variable(v)?, &chain[..chain.len() - 1])?,
                    chain[chain.len() - 1].clone(),
                ),
                _ => return Err(err("can't give an argument to a non-function")),
            };
            let mut args = Vec::new();
            for op in &ops[1..] {
                args.push(self.operand(op, dot)?);
            }
            args.extend(piped);
            return receiver.method(&method, &args).map_err(err);
        }
        self.operand(first, dot)
    }

    fn chain(&self, mut v: Value, names: &[String]) -> Result<Value, TemplateError> {
        for n in names {
            v = v.field(n).map_err(err)?;
        }
        Ok(v)
    }

    fn operand(&mut self, op: &Operand, dot: &Value) -> Result<Value, TemplateError> {
        match op {
            Operand::Dot => Ok(dot.clone()),
            Operand::Field(chain) => self.chain(dot.clone(), chain),
            Operand::Variable(name, chain) => {
                let v = self.variable(name)?;
                self.chain(v, chain)
            }
            Operand::Literal(v) => Ok(v.clone()),
            Operand::Function(name) => {
                funcs::call(name, &[]).map_err(|e| err(format!("{name}: {e}")))
            }
            Operand::Sub(pipe, chain) => {
                let v = self.pipeline(pipe, dot)?;
                self.chain(v, chain)
            }
        }
    }
}
