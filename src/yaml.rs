//! The pipeline file as a tree of YAML nodes, each carrying where it came from.
//!
//! serde-saphyr does the parsing (YAML 1.2, budgets against hostile input, locations). We stop
//! at an untyped tree on purpose: typed serde deserialisation stops at the first mistake, while a
//! user fixing a pipeline file wants every mistake at once, each pointing at its line.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Budget, DuplicateKeyPolicy, Options, Spanned};

use crate::diagnostic::{Diagnostic, Span};

/// Nesting deeper than this is certainly a mistake in a pipeline file (and would cost stack).
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub span: Span,
    pub value: Value,
    /// For strings holding `${{ }}`: where each expression stands in the file. Block scalars,
    /// escapes and folded lines make positions in the value differ from positions in the file.
    pub expr_spans: Vec<Span>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

/// A mapping key: pipeline files only ever use string keys.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: String,
    pub span: Span,
}

impl Node {
    pub fn new(span: Span, value: Value) -> Node {
        Node {
            span,
            value,
            expr_spans: Vec::new(),
        }
    }

    /// What a user would call this value's type, for "expected X, found Y" messages.
    pub fn type_name(&self) -> &'static str {
        match &self.value {
            Value::Null => "nothing (null)",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Key, Node)]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// The value under `key` when this node is a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(_, v)| v)
    }

    /// Scalars as the text a user wrote (numbers and booleans included), for string inputs.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            _ => None,
        }
    }
}

/// Parses YAML text into a node tree. Syntax errors come back as one diagnostic with a location.
pub fn parse(text: &str) -> Result<Node, Box<Diagnostic>> {
    let empty = Node::new(Span::point(0, 1, 1), Value::Null);
    if text.trim().is_empty() {
        return Ok(empty);
    }
    let mut options = Options::default();
    // Duplicates reach our own checks, which can say "defined twice, first at line N".
    options.duplicate_keys = DuplicateKeyPolicy::LastWins;
    let mut budget = Budget::default();
    budget.max_depth = MAX_DEPTH;
    // A generated pipeline of thousands of steps is legitimate; the defaults stop at 250k nodes.
    budget.max_nodes = 20_000_000;
    budget.max_events = 40_000_000;
    options.budget = Some(budget);
    match serde_saphyr::from_str_with_options::<Spanned<RawValue>>(text, options) {
        // Only comments: there is no node to point at, so point at the start.
        Ok(root) if matches!(root.value, RawValue::Null) => Ok(empty),
        Ok(root) => Ok(to_node(text, root)),
        Err(err) => Err(Box::new(syntax_error(text, &err))),
    }
}

fn syntax_error(text: &str, err: &serde_saphyr::Error) -> Diagnostic {
    let message = first_line(&err.without_snippet().to_string());
    let at = match err.location() {
        Some(loc) if loc.line() > 0 => {
            let line = loc.line() as usize;
            let column = loc.column() as usize;
            Span::point(offset_of(text, line, column), line, column)
        }
        _ => Span::point(0, 1, 1),
    };
    // The parser notices some mistakes later than where they are: point at the cause.
    if let Some(open) = unclosed_bracket(text, at.start) {
        let close = if text.as_bytes()[open.start] == b'[' {
            ']'
        } else {
            '}'
        };
        return Diagnostic::error(open, "invalid YAML: this bracket is never closed")
            .label(format!("no matching `{close}`"))
            .expected(format!("`{close}` at the end of the list or mapping"));
    }
    if message.contains("tab") {
        let tab = tab_indent(text, at.line).unwrap_or(at);
        return Diagnostic::error(tab, "invalid YAML: a tab indents this line")
            .label("tab")
            .expected("spaces for indentation (YAML does not allow tabs there)");
    }
    if message.contains("Depth") || message.contains("depth") {
        return Diagnostic::error(at, "invalid YAML: nested too deeply")
            .label(format!("deeper than {MAX_DEPTH} levels here"))
            .expected(format!(
                "a pipeline file nested at most {MAX_DEPTH} levels deep"
            ));
    }
    if message.contains("budget") {
        return Diagnostic::error(at, "invalid YAML: the file is too large to read")
            .label("reading stopped here")
            .expected("a pipeline file of at most a few million values");
    }
    Diagnostic::error(at, format!("invalid YAML: {message}")).expected("valid YAML")
}

/// The last flow bracket (`[` or `{`) opened before `offset` and not closed, outside quotes
/// and comments: an unclosed `needs: [a` makes the parser stumble on the next line.
fn unclosed_bracket(text: &str, offset: usize) -> Option<Span> {
    let mut open: Vec<usize> = Vec::new();
    for (line_start, line) in line_starts(text) {
        if line_start >= offset {
            break;
        }
        let mut quote: Option<char> = None;
        for (i, c) in line.char_indices() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '#') if i == 0 || line[..i].ends_with(' ') => break,
                (None, '[' | '{') => open.push(line_start + i),
                (None, ']' | '}') => {
                    open.pop();
                }
                _ => {}
            }
        }
    }
    let start = *open.last()?;
    let (line, column) = line_column(text, start);
    Some(Span::new(start, 1, line, column))
}

/// The first line at or after `from_line - 1` whose indentation holds a tab.
fn tab_indent(text: &str, from_line: usize) -> Option<Span> {
    line_starts(text)
        .enumerate()
        .skip(from_line.saturating_sub(2))
        .find(|(_, (_, line))| {
            line.chars()
                .take_while(|c| c.is_whitespace())
                .any(|c| c == '\t')
        })
        .map(|(n, (start, line))| {
            let col = line.find('\t').unwrap_or(0);
            Span::new(start + col, 1, n + 1, col + 1)
        })
}

fn line_starts(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split_inclusive('\n').scan(0, |start, line| {
        let this = *start;
        *start += line.len();
        Some((this, line.trim_end_matches(['\n', '\r'])))
    })
}

/// 1-based line and character column of a byte offset.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or(message).trim();
    // serde-saphyr appends "at line X column Y"; we show the location ourselves.
    match line.find(" at line ") {
        Some(i) => line[..i].to_string(),
        None => line.to_string(),
    }
}

/// Byte offset of a 1-based (line, character column) position.
pub fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let rest = &text[line_start.min(text.len())..];
    let within: usize = rest
        .chars()
        .take(column.saturating_sub(1))
        .take_while(|c| *c != '\n')
        .map(char::len_utf8)
        .sum();
    line_start + within
}

fn to_node(text: &str, spanned: Spanned<RawValue>) -> Node {
    let loc = spanned.referenced;
    let line = loc.line().max(1) as usize;
    let column = loc.column().max(1) as usize;
    let start = loc
        .span()
        .byte_offset()
        .map(|b| b as usize)
        .unwrap_or_else(|| offset_of(text, line, column));
    let len = loc.span().byte_len().map(|l| l as usize).unwrap_or(0);
    let mut span = Span::new(start, len, line, column);
    if matches!(spanned.value, RawValue::Str(_)) && is_quote(text.as_bytes().get(start)) {
        // Point inside the quotes, so columns of expressions in the string are exact.
        span = Span::new(start + 1, len.saturating_sub(2), line, column + 1);
    }
    let expr_spans = match &spanned.value {
        RawValue::Str(s) if s.contains("${{") => {
            expression_spans(text, span.start, s.matches("${{").count())
        }
        _ => Vec::new(),
    };
    let value = match spanned.value {
        RawValue::Null => Value::Null,
        RawValue::Bool(b) => Value::Bool(b),
        RawValue::Int(i) => Value::Int(i),
        RawValue::Float(f) => Value::Float(f),
        RawValue::Str(s) => Value::Str(s),
        RawValue::Seq(items) => Value::Seq(items.into_iter().map(|i| to_node(text, i)).collect()),
        RawValue::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| {
                    let key = to_node(text, k);
                    let name = key.scalar_text().unwrap_or_default();
                    (
                        Key {
                            name,
                            span: key.span,
                        },
                        to_node(text, v),
                    )
                })
                .collect(),
        ),
    };
    Node {
        span,
        value,
        expr_spans,
    }
}

/// Where the first `count` expressions after `start` stand in the file: the k-th `${{` of a
/// string's value is the k-th `${{` of its source text, whatever escapes or folding did.
fn expression_spans(text: &str, start: usize, count: usize) -> Vec<Span> {
    let source = &text[start..];
    source
        .match_indices("${{")
        .take(count)
        .map(|(i, _)| {
            let at = start + i;
            let line_end = text[at..].find('\n').map_or(text.len(), |e| at + e);
            let end = text[at..line_end]
                .find("}}")
                .map_or(line_end, |e| at + e + 2);
            let (line, column) = line_column(text, at);
            Span::new(at, end - at, line, column)
        })
        .collect()
}

fn is_quote(byte: Option<&u8>) -> bool {
    matches!(byte, Some(b'"') | Some(b'\''))
}

/// The deserialisation target: any YAML value, every child wrapped in `Spanned`.
#[derive(Debug)]
enum RawValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<RawValue>>),
    Map(Vec<(Spanned<RawValue>, Spanned<RawValue>)>),
}

impl<'de> Deserialize<'de> for RawValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = RawValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<RawValue, E> {
        Ok(RawValue::Null)
    }
    fn visit_none<E>(self) -> Result<RawValue, E> {
        Ok(RawValue::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<RawValue, D::Error> {
        RawValue::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<RawValue, E> {
        Ok(RawValue::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<RawValue, E> {
        Ok(RawValue::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawValue, E> {
        i64::try_from(v)
            .map(RawValue::Int)
            .map_err(|_| E::custom("integer too large"))
    }
    fn visit_f64<E>(self, v: f64) -> Result<RawValue, E> {
        Ok(RawValue::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<RawValue, E> {
        Ok(RawValue::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<RawValue, E> {
        Ok(RawValue::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawValue, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(RawValue::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawValue, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(RawValue::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_locations_of_nested_values() {
        let node = parse("a:\n  b: [1, x]\n  c: 'é'\n").unwrap();
        let b = node.get("a").unwrap().get("b").unwrap();
        assert_eq!((b.span.line, b.span.column), (2, 6));
        let x = &b.as_seq().unwrap()[1];
        assert_eq!(x.as_str(), Some("x"));
        assert_eq!((x.span.line, x.span.column), (2, 10));
        let (key, _) = &node.get("a").unwrap().as_map().unwrap()[1];
        assert_eq!(
            (key.name.as_str(), key.span.line, key.span.column),
            ("c", 3, 3)
        );
    }

    #[test]
    fn keeps_duplicate_keys_for_our_own_checks() {
        let node = parse("steps:\n  a: 1\n  a: 2\n").unwrap();
        assert_eq!(node.get("steps").unwrap().as_map().unwrap().len(), 2);
    }

    #[test]
    fn syntax_errors_have_a_location() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.span.line >= 1, "{err:?}");
        assert!(err.message.starts_with("invalid YAML"));
    }

    #[test]
    fn offsets_count_characters_not_bytes() {
        let text = "é: 1\nab: 2\n";
        assert_eq!(offset_of(text, 1, 2), 2);
        assert_eq!(offset_of(text, 2, 2), 7);
    }
}
