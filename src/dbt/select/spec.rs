//! Selection specs: dbt's `SelectionCriteria` and its set-operation groups, and the
//! parser for one CLI-style spec string such as `@`, `2+tag:nightly+1` or `models/x`.

use std::sync::Arc;

use serde_json::Value;

use crate::dbt::select::SelectError;
use crate::dbt::select::pyvalue::{py_int, py_repr, py_truthy};

/// How tests (and unit tests) next to selected nodes are pulled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IndirectSelection {
    /// A test is selected when any of its parents is (dbt's default).
    #[default]
    Eager,
    /// Only when all of its parents are selected.
    Cautious,
    /// When all parents are selected or are upstream of the selection.
    Buildable,
    /// Never.
    Empty,
}

impl IndirectSelection {
    /// Parses dbt's spelling (`eager`, `cautious`, `buildable`, `empty`).
    pub fn parse(s: &str) -> Option<IndirectSelection> {
        match s {
            "eager" => Some(IndirectSelection::Eager),
            "cautious" => Some(IndirectSelection::Cautious),
            "buildable" => Some(IndirectSelection::Buildable),
            "empty" => Some(IndirectSelection::Empty),
            _ => None,
        }
    }
}

/// dbt's `MethodName`: every name dbt accepts before `:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Fqn,
    Tag,
    Group,
    Access,
    Source,
    Path,
    File,
    Package,
    Config,
    TestName,
    TestType,
    ResourceType,
    State,
    Exposure,
    Metric,
    Result,
    SourceStatus,
    Version,
    SemanticModel,
    SavedQuery,
    UnitTest,
}

impl Method {
    const NAMES: [(Method, &'static str); 21] = [
        (Method::Fqn, "fqn"),
        (Method::Tag, "tag"),
        (Method::Group, "group"),
        (Method::Access, "access"),
        (Method::Source, "source"),
        (Method::Path, "path"),
        (Method::File, "file"),
        (Method::Package, "package"),
        (Method::Config, "config"),
        (Method::TestName, "test_name"),
        (Method::TestType, "test_type"),
        (Method::ResourceType, "resource_type"),
        (Method::State, "state"),
        (Method::Exposure, "exposure"),
        (Method::Metric, "metric"),
        (Method::Result, "result"),
        (Method::SourceStatus, "source_status"),
        (Method::Version, "version"),
        (Method::SemanticModel, "semantic_model"),
        (Method::SavedQuery, "saved_query"),
        (Method::UnitTest, "unit_test"),
    ];

    pub fn parse(name: &str) -> Option<Method> {
        Self::NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(m, _)| *m)
    }

    pub fn as_str(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(m, _)| *m == self)
            .map_or("", |(_, n)| n)
    }

    /// Every method name dbt accepts, for messages.
    pub fn all_names() -> impl Iterator<Item = &'static str> {
        Self::NAMES.iter().map(|(_, n)| *n)
    }

    /// dbt's inference for a value written without `method:`.
    fn default_for(value: &str) -> Method {
        if value.contains('/') {
            Method::Path
        } else if [".sql", ".py", ".csv"]
            .iter()
            .any(|ext| value.to_lowercase().ends_with(ext))
        {
            Method::File
        } else {
            Method::Fqn
        }
    }
}

/// One leaf of a selection: a method, its value and graph operators.
#[derive(Debug, Clone, PartialEq)]
pub struct Criteria {
    /// The spec as written, for messages.
    pub raw: String,
    pub method: Method,
    /// Dotted parts after the method, e.g. `["meta", "owner"]` in `config.meta.owner`.
    pub method_args: Vec<String>,
    /// A string from the CLI form; any YAML scalar from the dictionary form.
    pub value: Value,
    pub childrens_parents: bool,
    pub parents: bool,
    pub parents_depth: Option<i64>,
    pub children: bool,
    pub children_depth: Option<i64>,
    /// `None`: whatever `--indirect-selection` says (eager unless changed).
    pub indirect_selection: Option<IndirectSelection>,
}

/// A parsed selection: a criteria or a set operation over sub-specs. Each group
/// carries the indirect-selection mode dbt gives it (`None`: the command-line flag),
/// which decides whether cautious/buildable tests are re-admitted after combining.
#[derive(Debug, Clone, PartialEq)]
pub enum Spec {
    Criteria(Box<Criteria>),
    Union(Vec<Spec>, Option<IndirectSelection>),
    Intersection(Vec<Spec>, Option<IndirectSelection>),
    /// First component minus all the others.
    Difference(Vec<Spec>, Option<IndirectSelection>),
    /// `method: selector`: another selector's spec, shared rather than copied (a selector
    /// made of the one before it twice, twenty times over, would otherwise be a million
    /// copies), and evaluated once however often it is referenced.
    Selector(Arc<NamedSpec>),
}

/// A selector's parsed definition, by name.
#[derive(Clone)]
pub struct NamedSpec {
    pub name: String,
    pub spec: Spec,
}

/// Only the name: the definition may be referenced exponentially many times over.
impl std::fmt::Debug for NamedSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamedSpec")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl PartialEq for NamedSpec {
    fn eq(&self, other: &NamedSpec) -> bool {
        std::ptr::eq(self, other) || (self.name == other.name && self.spec == other.spec)
    }
}

/// dbt's `RAW_SELECTOR_PATTERN`, split into its groups.
#[derive(Debug, Default, PartialEq)]
struct RawParts<'a> {
    childrens_parents: bool,
    parents: Option<&'a str>,
    method: Option<&'a str>,
    value: &'a str,
    children: Option<&'a str>,
}

/// Matches `\A(@)?((\d*)\+)?(([\w.]+):)?(.*?)(\+(\d*))?\Z` by hand. Every optional group
/// is greedy and the lazy value can always absorb the rest, so the first choice made at
/// each step is the one the regex keeps. `.` does not match a newline, so a spec with a
/// newline does not match at all.
fn split_raw(raw: &str) -> Option<RawParts<'_>> {
    if raw.contains('\n') {
        return None;
    }
    let mut parts = RawParts::default();
    let mut rest = raw;
    if let Some(r) = rest.strip_prefix('@') {
        parts.childrens_parents = true;
        rest = r;
    }
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if rest[digits..].starts_with('+') {
        parts.parents = Some(&rest[..digits]);
        rest = &rest[digits + 1..];
    }
    let word = rest.len() - rest.trim_start_matches(is_method_char).len();
    if word > 0 && rest[word..].starts_with(':') {
        parts.method = Some(&rest[..word]);
        rest = &rest[word + 1..];
    }
    parts.value = rest;
    if let Some(plus) = rest.rfind('+')
        && rest[plus + 1..].chars().all(|c| c.is_ascii_digit())
    {
        parts.value = &rest[..plus];
        parts.children = Some(&rest[plus + 1..]);
    }
    Some(parts)
}

/// Python's `[\w.]` on str patterns.
fn is_method_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '.'
}

impl Criteria {
    /// Parses one CLI-style spec (no spaces or commas are interpreted here).
    pub fn from_single_spec(raw: &str) -> Result<Criteria, SelectError> {
        let parts = split_raw(raw).ok_or_else(|| SelectError::InvalidSpec {
            spec: raw.to_string(),
            reason: "it does not match dbt's selector syntax (a newline?)".into(),
        })?;
        let (method, method_args) = match parts.method {
            Some(m) => parse_method_name(m, raw)?,
            None => (Method::default_for(parts.value), Vec::new()),
        };
        // Past i64 a depth is as good as unlimited.
        let depth = |d: Option<&str>| {
            d.filter(|s| !s.is_empty())
                .map(|s| s.parse::<i64>().unwrap_or(i64::MAX))
        };
        let criteria = Criteria {
            raw: raw.to_string(),
            method,
            method_args,
            value: Value::String(parts.value.to_string()),
            childrens_parents: parts.childrens_parents,
            parents: parts.parents.is_some(),
            parents_depth: depth(parts.parents),
            children: parts.children.is_some(),
            children_depth: depth(parts.children),
            indirect_selection: None,
        };
        criteria.validated()
    }

    /// dbt's `selection_criteria_from_dict`, for the YAML dictionary form.
    pub fn from_dict(dict: &serde_json::Map<String, Value>) -> Result<Criteria, SelectError> {
        let raw = py_repr(&Value::Object(dict.clone()));
        let Some(value) = dict.get("value") else {
            return Err(invalid_spec(&raw, "it has no `value`".into()));
        };
        let (method, method_args) = dict_method(dict.get("method"), value, &raw)?;
        let indirect_selection = dict_indirect(dict, &raw)?;
        let flag = |key: &str| dict.get(key).is_some_and(py_truthy);
        let criteria = Criteria {
            raw: raw.clone(),
            method,
            method_args,
            value: value.clone(),
            childrens_parents: flag("childrens_parents"),
            parents: flag("parents"),
            parents_depth: dict_depth(dict, "parents_depth", &raw)?,
            children: flag("children"),
            children_depth: dict_depth(dict, "children_depth", &raw)?,
            indirect_selection,
        };
        criteria.validated()
    }

    fn validated(self) -> Result<Criteria, SelectError> {
        if self.children && self.childrens_parents {
            return Err(SelectError::InvalidSpec {
                spec: self.raw,
                reason: "the \"@\" prefix and \"+\" suffix are incompatible".into(),
            });
        }
        Ok(self)
    }
}

fn invalid_spec(raw: &str, reason: String) -> SelectError {
    SelectError::InvalidSpec {
        spec: raw.to_string(),
        reason,
    }
}

/// The method of a dictionary spec; without one, inferred from the value as on the CLI.
fn dict_method(
    method: Option<&Value>,
    value: &Value,
    raw: &str,
) -> Result<(Method, Vec<String>), SelectError> {
    match (method, value) {
        (Some(Value::String(m)), _) => parse_method_name(m, raw),
        (Some(Value::Null) | None, Value::String(v)) => Ok((Method::default_for(v), Vec::new())),
        (Some(Value::Null) | None, _) => Err(invalid_spec(
            raw,
            "a value without a method must be a string".into(),
        )),
        (Some(other), _) => Err(invalid_spec(
            raw,
            format!("method {} is not a string", py_repr(other)),
        )),
    }
}

/// `indirect_selection:` of a dictionary spec; `None` leaves it to the command line.
fn dict_indirect(
    dict: &serde_json::Map<String, Value>,
    raw: &str,
) -> Result<Option<IndirectSelection>, SelectError> {
    let Some(v) = dict.get("indirect_selection") else {
        return Ok(None);
    };
    match v.as_str().and_then(IndirectSelection::parse) {
        Some(mode) => Ok(Some(mode)),
        None => Err(invalid_spec(
            raw,
            format!(
                "indirect_selection {} is not one of eager, cautious, buildable, empty",
                py_repr(v)
            ),
        )),
    }
}

/// dbt's `_match_to_int`: a falsy value (including `0`!) means "no limit".
fn dict_depth(
    dict: &serde_json::Map<String, Value>,
    key: &str,
    raw: &str,
) -> Result<Option<i64>, SelectError> {
    match dict.get(key) {
        Some(v) if py_truthy(v) => py_int(v).map(Some).ok_or_else(|| SelectError::InvalidSpec {
            spec: raw.to_string(),
            reason: format!("could not handle {key} {}", py_repr(v)),
        }),
        _ => Ok(None),
    }
}

/// `config.meta.owner` → (Config, ["meta", "owner"]); unknown names are an error.
fn parse_method_name(name: &str, raw: &str) -> Result<(Method, Vec<String>), SelectError> {
    let mut parts = name.split('.');
    let head = parts.next().unwrap_or_default();
    let method = Method::parse(head).ok_or_else(|| SelectError::UnknownMethod {
        method: head.to_string(),
        spec: raw.to_string(),
    })?;
    Ok((method, parts.map(str::to_string).collect()))
}

/// dbt's `--select`/`--exclude` parsing: each argument is split on single spaces into
/// a union, each piece on commas into an intersection. `None` means "not given".
pub fn parse_difference(
    select: Option<&[&str]>,
    exclude: Option<&[&str]>,
) -> Result<Spec, SelectError> {
    const DEFAULT_INCLUDES: [&str; 5] = [
        "fqn:*",
        "source:*",
        "exposure:*",
        "metric:*",
        "semantic_model:*",
    ];
    let included = parse_union(select.unwrap_or(&DEFAULT_INCLUDES))?;
    let excluded = parse_union(exclude.unwrap_or(&[]))?;
    // dbt builds this difference with the class default, not the flag.
    Ok(Spec::Difference(
        vec![included, excluded],
        Some(IndirectSelection::Eager),
    ))
}

fn parse_union(args: &[&str]) -> Result<Spec, SelectError> {
    let mut members = Vec::new();
    for raw_spec in args.iter().flat_map(|a| a.split(' ')) {
        let parts = raw_spec
            .split(',')
            .map(|p| Criteria::from_single_spec(p).map(|c| Spec::Criteria(Box::new(c))))
            .collect::<Result<Vec<_>, _>>()?;
        members.push(Spec::Intersection(parts, None));
    }
    Ok(Spec::Union(members, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(s: &str) -> RawParts<'_> {
        split_raw(s).unwrap()
    }

    #[test]
    fn raw_split_follows_the_regex() {
        let p = parts("@2+config.materialized:view+3");
        assert!(p.childrens_parents);
        assert_eq!(p.parents, Some("2"));
        assert_eq!(p.method, Some("config.materialized"));
        assert_eq!(p.value, "view");
        assert_eq!(p.children, Some("3"));
        let p = parts("a+b");
        assert_eq!(
            (p.parents, p.method, p.value, p.children),
            (None, None, "a+b", None)
        );
        let p = parts("a++");
        assert_eq!((p.value, p.children), ("a+", Some("")));
        let p = parts("1+");
        assert_eq!((p.parents, p.value, p.children), (Some("1"), "", None));
        let p = parts("tag:a:b");
        assert_eq!((p.method, p.value), (Some("tag"), "a:b"));
        let p = parts("models/x:y");
        assert_eq!((p.method, p.value), (None, "models/x:y"));
        assert!(split_raw("tag:a\nb").is_none());
    }
}
