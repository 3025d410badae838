//! `${{ ... }}` expressions: parsing, and what a string becomes once they are resolved.
//!
//! An expression is a dotted path (`vars.dbt_target`, `steps.deploy.outputs.url`): there are
//! no operators on purpose, so that a plan can always say exactly what a value will be.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::diagnostic::{Diagnostic, Span};
use crate::yaml::{Node, Value};

pub const NAMESPACES: &[&str] = &["env", "vars", "secrets", "git", "steps"];

/// A string with expressions in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Literal(String),
    Expr(Expr),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// The dotted path, split: `["steps", "deploy", "outputs", "url"]`.
    pub path: Vec<String>,
    /// Where the whole `${{ ... }}` stands in the file.
    pub span: Span,
}

impl Expr {
    pub fn text(&self) -> String {
        self.path.join(".")
    }
}

impl Template {
    /// A template of a node that passed its shape check (a string, number or boolean).
    pub fn of(node: &Node) -> Template {
        let text = node.scalar_text().unwrap_or_default();
        match &node.value {
            Value::Str(_) => parse(&text, node).unwrap_or_else(|_| Template::literal(text)),
            _ => Template::literal(text),
        }
    }

    pub fn literal(text: impl Into<String>) -> Template {
        Template {
            parts: vec![Part::Literal(text.into())],
        }
    }

    pub fn exprs(&self) -> impl Iterator<Item = &Expr> {
        self.parts.iter().filter_map(|p| match p {
            Part::Expr(e) => Some(e),
            Part::Literal(_) => None,
        })
    }
}

/// Parses the expressions out of a string node's text.
pub fn parse(text: &str, node: &Node) -> Result<Template, Box<Diagnostic>> {
    parse_at(text, node.span, &node.expr_spans)
}

/// Parses the expressions out of `text`, which starts at `span` in the file; `marks` are where
/// its expressions stand in the file when the text is not a verbatim copy of the source.
pub fn parse_at(text: &str, span: Span, marks: &[Span]) -> Result<Template, Box<Diagnostic>> {
    let mut parts = Vec::new();
    let mut rest = text;
    let mut offset = 0;
    while let Some(open) = rest.find("${{") {
        if open > 0 {
            parts.push(Part::Literal(rest[..open].to_string()));
        }
        let index = parts.iter().filter(|p| matches!(p, Part::Expr(_))).count();
        let mark = marks.get(index).copied();
        let Some(close) = rest[open..].find("}}") else {
            let at = mark.map_or(span.sub(offset + open, 3), |m| Span { len: 3, ..m });
            return Err(Box::new(
                Diagnostic::error(at, "unclosed expression")
                    .label("this `${{` has no `}}`")
                    .expected("`${{ namespace.name }}`"),
            ));
        };
        let inner = &rest[open + 3..open + close];
        let expr_span = mark.unwrap_or_else(|| span.sub(offset + open, close + 2));
        parts.push(Part::Expr(parse_path(inner, expr_span)?));
        let consumed = open + close + 2;
        offset += consumed;
        rest = &rest[consumed..];
    }
    if !rest.is_empty() {
        parts.push(Part::Literal(rest.to_string()));
    }
    Ok(Template { parts })
}

fn parse_path(inner: &str, span: Span) -> Result<Expr, Box<Diagnostic>> {
    let trimmed = inner.trim();
    let path: Vec<String> = trimmed.split('.').map(str::to_string).collect();
    let valid = path.iter().all(|segment| is_identifier(segment));
    if trimmed.is_empty() || !valid {
        return Err(Box::new(
            Diagnostic::error(span, "invalid expression")
                .label(format!("`{trimmed}` is not a dotted name"))
                .expected("a dotted name such as `vars.dbt_target` or `steps.ID.outputs.NAME`"),
        ));
    }
    Ok(Expr { path, span })
}

pub fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Syntax only; what the names refer to is checked with the whole pipeline in view.
pub fn check_syntax(node: &Node, diags: &mut Vec<Diagnostic>) {
    if let Value::Str(text) = &node.value
        && let Err(d) = parse(text, node)
    {
        diags.push(*d);
    }
}

/// A value after expressions were resolved. Secrets and outputs of steps that have not run yet
/// stay symbolic, so that showing a value never reveals a secret by accident.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resolved {
    pub parts: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Secret {
        name: String,
        value: Option<String>,
    },
    Pending {
        step: String,
        output: String,
    },
    /// A value that cannot be known here, e.g. `git.sha` outside a repository.
    Unknown(String),
}

/// Why a value cannot be revealed yet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unrevealed {
    #[error("secret `{name}` is not set")]
    SecretNotSet { name: String },
    #[error("output `{output}` of step `{step}` is not known")]
    Pending { step: String, output: String },
    #[error("`{what}` is unknown here")]
    Unknown { what: String },
}

impl Resolved {
    pub fn text(text: impl Into<String>) -> Resolved {
        Resolved {
            parts: vec![Piece::Text(text.into())],
        }
    }

    pub fn push_text(&mut self, text: &str) {
        if let Some(Piece::Text(last)) = self.parts.last_mut() {
            last.push_str(text);
        } else {
            self.parts.push(Piece::Text(text.to_string()));
        }
    }

    /// The real value, for running a program. Fails on what is not known yet.
    pub fn reveal(&self) -> Result<String, Unrevealed> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Piece::Text(t) => out.push_str(t),
                Piece::Secret { value: Some(v), .. } => out.push_str(v),
                Piece::Secret { name, value: None } => {
                    return Err(Unrevealed::SecretNotSet { name: name.clone() });
                }
                Piece::Pending { step, output } => {
                    return Err(Unrevealed::Pending {
                        step: step.clone(),
                        output: output.clone(),
                    });
                }
                Piece::Unknown(what) => return Err(Unrevealed::Unknown { what: what.clone() }),
            }
        }
        Ok(out)
    }

    /// The names of secrets used here whose value is not set.
    pub fn missing_secrets(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Piece::Secret { name, value: None } => Some(name.as_str()),
            _ => None,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.parts
            .iter()
            .all(|p| matches!(p, Piece::Text(t) if t.is_empty()))
    }
}

/// Display form: secrets as `***`, pending outputs as `(known after ID)`.
impl fmt::Display for Resolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in &self.parts {
            match part {
                Piece::Text(t) => f.write_str(t)?,
                Piece::Secret { .. } => f.write_str("***")?,
                Piece::Pending { step, .. } => write!(f, "(known after {step})")?,
                Piece::Unknown(what) => write!(f, "(unknown {what})")?,
            }
        }
        Ok(())
    }
}

impl Serialize for Resolved {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span() -> Span {
        Span::new(100, 40, 7, 10)
    }

    #[test]
    fn splits_literals_and_expressions() {
        let t = parse_at("img:${{ git.sha }}-x", span(), &[]).unwrap();
        assert_eq!(t.parts.len(), 3);
        let e = t.exprs().next().unwrap();
        assert_eq!(e.path, ["git", "sha"]);
        assert_eq!((e.span.column, e.span.len), (14, 14));
    }

    #[test]
    fn rejects_unclosed_and_malformed() {
        let err = parse_at("a ${{ vars.x", span(), &[]).unwrap_err();
        assert_eq!(
            (err.message.as_str(), err.span.column),
            ("unclosed expression", 12)
        );
        let err = parse_at("${{ vars..x }}", span(), &[]).unwrap_err();
        assert_eq!(err.message, "invalid expression");
        assert!(parse_at("${{ 1 + 2 }}", span(), &[]).is_err());
    }

    #[test]
    fn display_never_shows_secrets() {
        let r = Resolved {
            parts: vec![
                Piece::Text("postgres://".into()),
                Piece::Secret {
                    name: "PW".into(),
                    value: Some("hunter2".into()),
                },
                Piece::Pending {
                    step: "deploy".into(),
                    output: "url".into(),
                },
            ],
        };
        assert_eq!(r.to_string(), "postgres://***(known after deploy)");
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            "\"postgres://***(known after deploy)\""
        );
    }
}
