//! Declarative shapes of the pipeline file's values.
//!
//! One description per field drives three things that must never disagree: checking a YAML
//! node (with "did you mean" for unknown keys), the JSON Schema that `dagship schema` prints for
//! editors, and the step kinds' documentation.

use crate::diagnostic::{Diagnostic, Span, did_you_mean, one_of};
use crate::expr;
use crate::yaml::{Node, Value};

#[derive(Debug)]
pub enum Shape {
    /// A literal string: no `${{ }}` allowed.
    Str,
    /// A string that may contain `${{ }}` expressions; numbers and booleans count as their text.
    Template,
    Bool,
    Int {
        min: i64,
        max: i64,
    },
    /// `90s`, `30m`, `1h30m`, or a whole number of seconds.
    Duration,
    Enum(&'static [&'static str]),
    List(&'static Shape),
    /// A mapping with free-form keys.
    Map(&'static Shape),
    Record(&'static Record),
    /// The first alternative whose outer type matches the node is the one checked.
    OneOf(&'static [Shape]),
    /// A string, number or boolean, taken as its text; no expressions.
    Scalar,
    /// Anything; checked elsewhere (a step's `with`, which depends on its kind).
    Any,
    /// A value that must also follow the rule of the service that reads it (a bucket name,
    /// an Airflow schedule), checked where it is written. A value holding `${{ }}` is
    /// checked once resolved, when its step starts.
    Valid(&'static Rule),
}

/// The rule of a [`Shape::Valid`] value.
#[derive(Debug)]
pub struct Rule {
    /// The shape of the value itself (`Str`, `Template`, `Duration`).
    pub shape: &'static Shape,
    /// What a valid value looks like, in words, for a diagnostic's "expected": "a region
    /// such as `europe-west1`".
    pub describe: &'static str,
    /// `null` is a valid value too (an Airflow schedule: none).
    pub null: bool,
    /// Why a value (its text, as the user wrote it) breaks the rule: a sentence naming the
    /// value, the rule and where the service documents it.
    pub check: fn(&str) -> Result<(), String>,
}

#[derive(Debug)]
pub struct Record {
    pub fields: &'static [Field],
    /// When not empty, exactly one of these keys must be present.
    pub exactly_one_of: &'static [&'static str],
}

#[derive(Debug)]
pub struct Field {
    pub name: &'static str,
    pub shape: Shape,
    pub required: bool,
    pub doc: &'static str,
}

impl Field {
    pub const fn required(name: &'static str, shape: Shape, doc: &'static str) -> Field {
        Field {
            name,
            shape,
            required: true,
            doc,
        }
    }
    pub const fn optional(name: &'static str, shape: Shape, doc: &'static str) -> Field {
        Field {
            name,
            shape,
            required: false,
            doc,
        }
    }
}

pub const STRINGS: Shape = Shape::List(&Shape::Str);
pub const TEMPLATES: Shape = Shape::List(&Shape::Template);
/// A single value or a list of them (`select: tag:daily` or `select: [a, b]`).
pub const TEMPLATE_OR_LIST: Shape = Shape::OneOf(&[Shape::Template, TEMPLATES]);

impl Shape {
    /// What a value of this shape looks like, in words.
    pub fn describe(&self) -> String {
        match self {
            Shape::Str | Shape::Template => "a string".into(),
            Shape::Scalar => "a string, number or boolean".into(),
            Shape::Any => "any value".into(),
            Shape::Bool => "`true` or `false`".into(),
            Shape::Int { min, max } if min == max => format!("`{min}`"),
            Shape::Int { min, max } => format!("a whole number from {min} to {max}"),
            Shape::Duration => "a duration such as `90s`, `30m` or `1h30m`".into(),
            Shape::Enum(names) => format!("one of {}", one_of(names)),
            Shape::List(item) => format!("a list of {}", item.plural()),
            Shape::Map(value) => format!("a mapping of {}", value.plural()),
            Shape::Record(record) => {
                let names: Vec<&str> = record.fields.iter().map(|f| f.name).collect();
                format!("a mapping with keys among {}", one_of(&names))
            }
            Shape::OneOf(options) => {
                let words: Vec<String> = options.iter().map(Shape::describe).collect();
                words.join(", or ")
            }
            // The rule itself is told where a value breaks it (`Rule::describe`); the
            // reference's field descriptions say what the value is.
            Shape::Valid(rule) => rule.shape.describe(),
        }
    }

    /// Values of this shape, in the plural: "a list of strings".
    fn plural(&self) -> String {
        match self {
            Shape::Str | Shape::Template => "strings".into(),
            Shape::Scalar => "strings, numbers or booleans".into(),
            Shape::Bool => "booleans".into(),
            Shape::Int { .. } => "whole numbers".into(),
            Shape::Duration => "durations".into(),
            Shape::Enum(names) => format!("values among {}", one_of(names)),
            Shape::List(_) => "lists".into(),
            Shape::Map(_) | Shape::Record(_) => "mappings".into(),
            Shape::OneOf(_) | Shape::Any => "values".into(),
            Shape::Valid(rule) => rule.shape.plural(),
        }
    }

    /// Checks `node` against this shape, pushing one diagnostic per mistake found.
    pub fn check(&self, node: &Node, path: &str, diags: &mut Vec<Diagnostic>) {
        self.check_within(node, path, node.span, diags)
    }

    /// As [`Shape::check`]; `owner` is the key holding the node, where a missing field is shown.
    fn check_within(&self, node: &Node, path: &str, owner: Span, diags: &mut Vec<Diagnostic>) {
        match (self, &node.value) {
            (Shape::Str, Value::Str(s)) => {
                if s.contains("${{") {
                    diags.push(
                        Diagnostic::error(node.span, format!("`{path}` cannot hold an expression"))
                            .label("expressions are evaluated only in a step's `with` and `env`")
                            .expected("a plain string"),
                    );
                }
            }
            (Shape::Template, Value::Str(_)) => expr::check_syntax(node, diags),
            (Shape::Template, Value::Int(_) | Value::Float(_) | Value::Bool(_)) => {}
            (Shape::Scalar, Value::Str(_)) => Shape::Str.check(node, path, diags),
            (Shape::Scalar, Value::Int(_) | Value::Float(_) | Value::Bool(_)) => {}
            (Shape::Any, _) => {}
            (Shape::Bool, Value::Bool(_)) => {}
            (Shape::Int { min, max }, Value::Int(i)) if i < min || i > max => {
                diags.push(self.mismatch(node, path, &format!("{i}")));
            }
            (Shape::Int { .. }, Value::Int(_)) => {}
            (Shape::Duration, Value::Int(i)) if *i >= 0 => {}
            (Shape::Duration, Value::Str(s)) if parse_duration(s).is_some() => {}
            (Shape::Enum(names), Value::Str(s)) if names.contains(&s.as_str()) => {}
            (Shape::Enum(names), Value::Str(s)) => {
                let mut d = self.mismatch(node, path, &format!("`{s}`"));
                if let Some(help) = did_you_mean(s, names.iter().copied()) {
                    d = d.help(help);
                }
                diags.push(d);
            }
            (Shape::List(item), Value::Seq(items)) => {
                for (i, child) in items.iter().enumerate() {
                    item.check(child, &format!("{path}[{i}]"), diags);
                }
            }
            (Shape::Map(value), Value::Map(entries)) => {
                check_duplicate_keys(node, path, diags);
                for (key, child) in entries {
                    value.check_within(child, &format!("{path}.{}", key.name), key.span, diags);
                }
            }
            (Shape::Record(record), Value::Map(_)) => record.check_within(node, path, owner, diags),
            (Shape::OneOf(options), _) => match options.iter().find(|o| o.accepts_type_of(node)) {
                Some(option) => option.check_within(node, path, owner, diags),
                None => diags.push(self.mismatch(node, path, node.type_name())),
            },
            (Shape::Valid(rule), Value::Null) if rule.null => {}
            (Shape::Valid(rule), _) => rule.check_within(node, path, owner, diags),
            _ => diags.push(self.mismatch(node, path, node.type_name())),
        }
    }

    fn mismatch(&self, node: &Node, path: &str, found: &str) -> Diagnostic {
        Diagnostic::error(node.span, format!("wrong value for `{path}`"))
            .label(format!("found {found}"))
            .expected(self.describe())
    }

    /// Whether the node's outer type is the one this shape wants (for choosing in `OneOf`).
    fn accepts_type_of(&self, node: &Node) -> bool {
        match (self, &node.value) {
            (
                Shape::Template | Shape::Scalar,
                Value::Str(_) | Value::Int(_) | Value::Float(_) | Value::Bool(_),
            ) => true,
            (Shape::Any, _) => true,
            (Shape::Str | Shape::Enum(_) | Shape::Duration, Value::Str(_)) => true,
            (Shape::Bool, Value::Bool(_)) => true,
            (Shape::Int { .. } | Shape::Duration, Value::Int(_)) => true,
            (Shape::List(_), Value::Seq(_)) => true,
            (Shape::Map(_) | Shape::Record(_), Value::Map(_)) => true,
            (Shape::OneOf(options), _) => options.iter().any(|o| o.accepts_type_of(node)),
            (Shape::Valid(rule), Value::Null) => rule.null,
            (Shape::Valid(rule), _) => rule.shape.accepts_type_of(node),
            _ => false,
        }
    }
}

impl Rule {
    /// The value's shape first; a value of the right shape written as it is (no `${{ }}`)
    /// must then follow the rule.
    fn check_within(&self, node: &Node, path: &str, owner: Span, diags: &mut Vec<Diagnostic>) {
        let before = diags.len();
        self.shape.check_within(node, path, owner, diags);
        let literal = match &node.value {
            Value::Str(s) if s.contains("${{") => None,
            _ => node.scalar_text(),
        };
        if diags.len() > before {
            return;
        }
        if let Some(text) = literal
            && let Err(problem) = (self.check)(&text)
        {
            diags.push(
                Diagnostic::error(node.span, problem)
                    .label(format!("`{path}`"))
                    .expected(self.describe),
            );
        }
    }
}

/// A duration that must be more than zero: a time limit of `0s` is a mistake.
pub const POSITIVE_DURATION: Shape = Shape::Valid(&Rule {
    shape: &Shape::Duration,
    describe: "a duration of one second or more, such as `90s`, `30m` or `1h30m`",
    null: false,
    check: |text| match parse_duration(text) {
        Some(0) => Err(format!(
            "`{text}` is no time at all; a time limit must be more than zero"
        )),
        _ => Ok(()),
    },
});

impl Record {
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    pub fn check(&self, node: &Node, path: &str, diags: &mut Vec<Diagnostic>) {
        self.check_within(node, path, node.span, diags)
    }

    /// As [`Record::check`]; missing fields are shown at `owner`, the key holding the mapping.
    pub fn check_within(&self, node: &Node, path: &str, owner: Span, diags: &mut Vec<Diagnostic>) {
        let Some(entries) = node.as_map() else {
            diags.push(
                Diagnostic::error(node.span, format!("wrong value for `{path}`"))
                    .label(format!("found {}", node.type_name()))
                    .expected("a mapping"),
            );
            return;
        };
        check_duplicate_keys(node, path, diags);
        let names: Vec<&str> = self.fields.iter().map(|f| f.name).collect();
        for (key, child) in entries {
            let child_path = join(path, &key.name);
            match self.field(&key.name) {
                Some(field) => field
                    .shape
                    .check_within(child, &child_path, key.span, diags),
                None => diags.push(unknown_key(key, path, &names)),
            }
        }
        for field in self.fields.iter().filter(|f| f.required) {
            if node.get(field.name).is_none() {
                diags.push(
                    Diagnostic::error(owner, format!("missing `{}`", join(path, field.name)))
                        .label(format!("`{}` is missing here", field.name))
                        .expected(format!("`{}`: {}", field.name, field.shape.describe())),
                );
            }
        }
        self.check_exactly_one(owner, node, path, diags);
    }

    fn check_exactly_one(&self, owner: Span, node: &Node, path: &str, diags: &mut Vec<Diagnostic>) {
        if self.exactly_one_of.is_empty() {
            return;
        }
        let present: Vec<&str> = self
            .exactly_one_of
            .iter()
            .copied()
            .filter(|k| node.get(k).is_some())
            .collect();
        if present.len() != 1 {
            let found = if present.is_empty() {
                "none of them".to_string()
            } else {
                one_of(&present).replace(" or ", " and ")
            };
            diags.push(
                Diagnostic::error(owner, format!("`{path}` needs exactly one target"))
                    .label(format!("found {found}"))
                    .expected(format!("exactly one of {}", one_of(self.exactly_one_of))),
            );
        }
    }
}

pub fn unknown_key(key: &crate::yaml::Key, path: &str, names: &[&str]) -> Diagnostic {
    let place = if path.is_empty() {
        "at the top level".to_string()
    } else {
        format!("in `{path}`")
    };
    let mut d = Diagnostic::error(key.span, format!("unknown key `{}` {place}", key.name))
        .label("not a known key")
        .expected(format!("one of {}", one_of(names)));
    if let Some(help) = did_you_mean(&key.name, names.iter().copied()) {
        d = d.help(help);
    }
    d
}

/// YAML allows a key twice and keeps the last; in a pipeline file that is always a mistake.
pub fn check_duplicate_keys(node: &Node, path: &str, diags: &mut Vec<Diagnostic>) {
    let Some(entries) = node.as_map() else { return };
    for (i, (key, _)) in entries.iter().enumerate() {
        if let Some((first, _)) = entries[..i].iter().find(|(k, _)| k.name == key.name) {
            let what = if path == "steps" {
                format!("duplicate step id `{}`", key.name)
            } else {
                format!("duplicate key `{}` in `{path}`", key.name)
            };
            diags.push(
                Diagnostic::error(key.span, what)
                    .label(format!("first defined at line {}", first.span.line))
                    .expected("each key once"),
            );
        }
    }
}

pub fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// Parses `90s`, `30m`, `2h`, `1h30m`, `1d` into seconds.
pub fn parse_duration(text: &str) -> Option<u64> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(seconds);
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return None,
        };
        let n: u64 = number.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        number.clear();
    }
    (number.is_empty() && !text.is_empty()).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;

    const INNER: Record = Record {
        fields: &[
            Field::required("name", Shape::Str, ""),
            Field::optional("timeout", Shape::Duration, ""),
            Field::optional("tags", STRINGS, ""),
        ],
        exactly_one_of: &[],
    };

    fn errors(yaml: &str) -> Vec<Diagnostic> {
        let mut diags = Vec::new();
        INNER.check(&parse(yaml).unwrap(), "step", &mut diags);
        diags
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Some(90));
        assert_eq!(parse_duration("1h30m"), Some(5400));
        assert_eq!(parse_duration("45"), Some(45));
        assert_eq!(parse_duration("1x"), None);
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration("10m5"), None);
    }

    #[test]
    fn reports_every_mistake_with_its_place() {
        let diags = errors("nmae: x\ntimeout: soon\ntags: [a, 3]\n");
        let messages: Vec<String> = diags.iter().map(|d| d.message.clone()).collect();
        assert_eq!(
            messages,
            [
                "unknown key `nmae` in `step`",
                "wrong value for `step.timeout`",
                "wrong value for `step.tags[1]`",
                "missing `step.name`",
            ]
        );
        assert_eq!(diags[0].help.as_deref(), Some("did you mean `name`?"));
        assert_eq!((diags[1].span.line, diags[1].span.column), (2, 10));
        assert_eq!((diags[2].span.line, diags[2].span.column), (3, 11));
    }
}
