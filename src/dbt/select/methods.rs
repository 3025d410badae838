//! dbt's selector methods (`dbt/graph/selector_methods.py`), one function each.
//!
//! Each method walks the graph members of certain manifest sections only, exactly as
//! dbt's `parsed_nodes`, `all_nodes`, `configurable_nodes`, … iterators do; that choice
//! decides, e.g., that `config.` never matches an exposure and `fqn:` never a source.

use serde_json::Value;

use crate::dbt::fnmatch::Pattern;
use crate::dbt::manifest::{Manifest, Node, ResourceType, Section};
use crate::dbt::select::SelectError;
use crate::dbt::select::graph::NodeSet;
use crate::dbt::select::path::node_matches;
use crate::dbt::select::pyvalue::{py_eq, py_float, py_str, py_truthy};
use crate::dbt::select::spec::{Criteria, Method};

/// The entries `criteria` selects directly (before graph operators).
pub(crate) fn search(m: &Manifest, c: &Criteria) -> Result<NodeSet, SelectError> {
    // Every method but config/access/version feeds its value to string code in dbt
    // (Python would crash on anything else), hence `text()` there.
    let text = || string_value(c);
    Ok(match c.method {
        Method::Config => config(m, &c.method_args, &c.value),
        Method::Access => access(m, &c.value),
        Method::Version => version(m, &c.value)?,
        Method::Path => {
            let paths = m.root_tree().glob(text()?)?;
            collect(m, |n| node_matches(n, &paths))
        }
        Method::Fqn => {
            let sel = FqnSelector::new(text()?);
            collect(m, |n| n.section != Section::Source && fqn_matches(n, &sel))
        }
        Method::Tag => {
            let pat = Pattern::new(text()?);
            collect(m, |n| n.tags.iter().any(|t| pat.matches(t)))
        }
        Method::Group => group(m, text()?),
        Method::Source => source(m, text()?)?,
        Method::File => file(m, text()?),
        Method::Package => package(m, text()?),
        Method::TestName => test_name(m, text()?),
        Method::TestType => test_type(m, text()?)?,
        Method::ResourceType => resource_type(m, c, text()?)?,
        Method::Exposure => by_package_and_name(m, c, text()?, Section::Exposure)?,
        Method::Metric => by_package_and_name(m, c, text()?, Section::Metric)?,
        Method::SemanticModel => by_package_and_name(m, c, text()?, Section::SemanticModel)?,
        Method::SavedQuery => by_package_and_name(m, c, text()?, Section::SavedQuery)?,
        Method::UnitTest => by_package_and_name(m, c, text()?, Section::UnitTest)?,
        Method::State | Method::Result | Method::SourceStatus => {
            return Err(SelectError::UnsupportedMethod {
                method: c.method.as_str().to_string(),
                spec: c.raw.clone(),
            });
        }
    })
}

/// `access:` compares the model's access level with `==` (no wildcards).
fn access(m: &Manifest, value: &Value) -> NodeSet {
    let Some(wanted) = value.as_str() else {
        return m.graph().empty_set();
    };
    collect(m, |n| {
        n.section == Section::Node
            && n.resource_type == ResourceType::Model
            && n.access.as_deref() == Some(wanted)
    })
}

/// `group:` looks at `config.group` of nodes and metrics.
fn group(m: &Manifest, v: &str) -> NodeSet {
    let pat = Pattern::new(v);
    collect(m, |n| {
        matches!(n.section, Section::Node | Section::Metric)
            && config_group(n).is_some_and(|g| pat.matches(&g))
    })
}

/// `file:` matches the file name, with or without its extension.
fn file(m: &Manifest, v: &str) -> NodeSet {
    let pat = Pattern::new(v);
    collect(m, |n| {
        let name = file_name(&n.original_file_path);
        pat.matches(name) || pat.matches(file_stem(name))
    })
}

/// `package:`; `this` means the root project.
fn package(m: &Manifest, v: &str) -> NodeSet {
    let pat = match (v, m.project_name()) {
        ("this", Some(root)) => Pattern::new(root),
        _ => Pattern::new(v),
    };
    collect(m, |n| pat.matches(&n.package_name))
}

/// `test_name:` matches a generic test's macro name, or a unit test's own name.
fn test_name(m: &Manifest, v: &str) -> NodeSet {
    let pat = Pattern::new(v);
    collect(m, |n| match (n.section, n.resource_type) {
        (Section::Node, ResourceType::Test) if n.is_generic_test => n
            .test_metadata_name
            .as_deref()
            .is_some_and(|t| pat.matches(t)),
        (Section::UnitTest, ResourceType::UnitTest) => pat.matches(&n.name),
        _ => false,
    })
}

fn resource_type(m: &Manifest, c: &Criteria, v: &str) -> Result<NodeSet, SelectError> {
    let rt = ResourceType::parse(v).ok_or_else(|| invalid(c, v, resource_type_reason()))?;
    Ok(collect(m, |n| n.resource_type == rt))
}

fn string_value(c: &Criteria) -> Result<&str, SelectError> {
    c.value.as_str().ok_or_else(|| SelectError::InvalidValue {
        method: c.method.as_str().to_string(),
        value: py_str(&c.value),
        reason: "this method needs a string value".into(),
    })
}

fn invalid(c: &Criteria, v: &str, reason: String) -> SelectError {
    SelectError::InvalidValue {
        method: c.method.as_str().to_string(),
        value: v.to_string(),
        reason,
    }
}

fn resource_type_reason() -> String {
    let names: Vec<&str> = ResourceType::all_names().collect();
    format!("expected one of: {}", names.join(", "))
}

/// Graph members satisfying `pred`.
fn collect(m: &Manifest, mut pred: impl FnMut(&Node) -> bool) -> NodeSet {
    let graph = m.graph();
    let mut out = graph.empty_set();
    for i in graph.members().iter() {
        if pred(m.at(i)) {
            out.insert(i);
        }
    }
    out
}

fn config_group(n: &Node) -> Option<String> {
    match n.config.get("group")? {
        Value::String(g) if !g.is_empty() => Some(g),
        _ => None,
    }
}

/// `Path(p).name`.
fn file_name(p: &str) -> &str {
    p.split('/')
        .rfind(|s| !s.is_empty() && *s != ".")
        .unwrap_or("")
}

/// `Path(p).stem`: the name without its last suffix (a leading dot is no suffix).
fn file_stem(name: &str) -> &str {
    match name.rfind('.') {
        Some(i) if i > 0 && i < name.len() - 1 => &name[..i],
        _ => name,
    }
}

/// `source:` takes `source`, `source.table` or `package.source.table`.
fn source(m: &Manifest, v: &str) -> Result<NodeSet, SelectError> {
    let parts: Vec<&str> = v.split('.').collect();
    let (pkg, src, table) = match parts.as_slice() {
        [s] => ("*", *s, "*"),
        [s, t] => ("*", *s, *t),
        [p, s, t] => (*p, *s, *t),
        _ => {
            return Err(SelectError::InvalidValue {
                method: "source".into(),
                value: v.into(),
                reason: "sources are written `source`, `source.table` or `package.source.table`"
                    .into(),
            });
        }
    };
    let (pkg, src, table) = (Pattern::new(pkg), Pattern::new(src), Pattern::new(table));
    Ok(collect(m, |n| {
        n.section == Section::Source
            && pkg.matches(&n.package_name)
            && src.matches(n.source_name.as_deref().unwrap_or_default())
            && table.matches(&n.name)
    }))
}

/// `exposure:`, `metric:`, `semantic_model:`, `saved_query:`, `unit_test:` take
/// `name` or `package.name`.
fn by_package_and_name(
    m: &Manifest,
    c: &Criteria,
    v: &str,
    section: Section,
) -> Result<NodeSet, SelectError> {
    let parts: Vec<&str> = v.split('.').collect();
    let (pkg, name) = match parts.as_slice() {
        [n] => ("*", *n),
        [p, n] => (*p, *n),
        _ => return Err(invalid(c, v, "expected `name` or `package.name`".into())),
    };
    let (pkg, name) = (Pattern::new(pkg), Pattern::new(name));
    Ok(collect(m, |n| {
        n.section == section && pkg.matches(&n.package_name) && name.matches(&n.name)
    }))
}

/// `test_type:`. dbt tests `selector in ("data")`, a *substring* test on the string
/// "data" (likewise "singular", "unit"), so e.g. `test_type:a` means data tests.
fn test_type(m: &Manifest, v: &str) -> Result<NodeSet, SelectError> {
    let (generic, singular, unit) = if v == "generic" || v == "schema" {
        (true, false, false)
    } else if "data".contains(v) {
        (true, true, false)
    } else if "singular".contains(v) {
        (false, true, false)
    } else if "unit".contains(v) {
        (false, false, true)
    } else {
        return Err(SelectError::InvalidValue {
            method: "test_type".into(),
            value: v.into(),
            reason: "expected generic, singular, unit or data".into(),
        });
    };
    Ok(collect(m, |n| match (n.section, n.resource_type) {
        (Section::Node, ResourceType::Test) if n.is_generic_test => generic,
        (Section::Node, ResourceType::Test) => singular,
        (Section::UnitTest, _) => unit,
        _ => false,
    }))
}

/// `fqn:` as dbt's `QualifiedNameSelectorMethod`: the fqn with or without its package.
fn fqn_matches(n: &Node, sel: &FqnSelector) -> bool {
    let versioned = n.resource_type == ResourceType::Model && n.version.is_some();
    sel.is_selected(&n.fqn, versioned)
        || (!n.fqn.is_empty() && sel.is_selected(&n.fqn[1..], versioned))
}

/// An fqn's parts, dots inside a part (versioned or dotted model names) acting as
/// separators too, as dbt matches fqns.
pub(crate) fn flat_fqn(fqn: &[Box<str>]) -> impl Iterator<Item = &str> {
    // A closure rather than `'.'`: the char searcher's set-up outweighs these short parts.
    #[allow(clippy::manual_pattern_char_comparison)]
    fqn.iter().flat_map(|p| p.split(|c| c == '.'))
}

/// An fqn selector, pre-split once for all nodes.
struct FqnSelector<'a> {
    raw: &'a str,
    parts: Vec<&'a str>,
    /// `"_".join(parts[-2:])`, compared with a versioned model's `name_vN`.
    last_two: String,
    /// First part holding a wildcard, and the pattern from there on.
    wildcard: Option<(usize, Pattern)>,
    /// A dotless wildcard selector also matches the leaf alone.
    leaf: Option<Pattern>,
}

impl<'a> FqnSelector<'a> {
    fn new(raw: &'a str) -> FqnSelector<'a> {
        let parts: Vec<&str> = raw.split('.').collect();
        let wild = parts.iter().position(|p| p.contains(['*', '?', '[', ']']));
        FqnSelector {
            raw,
            last_two: parts[parts.len().saturating_sub(2)..].join("_"),
            wildcard: wild.map(|i| (i, Pattern::new(&parts[i..].join(".")))),
            leaf: (wild.is_some() && !raw.contains('.')).then(|| Pattern::new(raw)),
            parts,
        }
    }

    /// Port of dbt's `is_selected_node`.
    fn is_selected(&self, fqn: &[Box<str>], versioned: bool) -> bool {
        let Some(last) = fqn.last() else {
            return false;
        };
        let versioned = versioned && fqn.len() >= 2;
        let leaf = if versioned { &fqn[fqn.len() - 2] } else { last };
        if versioned {
            if **leaf == *self.raw || fqn[fqn.len() - 2..].join("_") == self.last_two {
                return true;
            }
        } else if **last == *self.raw {
            return true;
        }
        // `fqn:*` (dbt's default selection) matches every entry: no need to build strings.
        if let Some((0, pat)) = &self.wildcard
            && pat.matches_everything()
        {
            return true;
        }
        let flat: Vec<&str> = flat_fqn(fqn).collect();
        if flat.len() < self.parts.len() {
            return false;
        }
        let fixed = self.wildcard.as_ref().map_or(self.parts.len(), |(i, _)| *i);
        if self.parts[..fixed].iter().zip(&flat).any(|(p, f)| p != f) {
            return false;
        }
        match (&self.wildcard, &self.leaf) {
            (None, _) => true,
            (Some((i, pat)), leaf_pat) => {
                pat.matches(&flat[*i..].join("."))
                    || leaf_pat.as_ref().is_some_and(|p| p.matches(leaf))
            }
        }
    }
}

/// `config.<key>[.<key>…]:value` over nodes and sources, with dbt's comparison rules.
fn config(m: &Manifest, keys: &[String], selector: &Value) -> NodeSet {
    // `config.severity` compares case-insensitively, through str(selector).
    let severity = keys.len() == 1 && keys[0] == "severity";
    let ci_selector = py_str(selector).to_uppercase();
    let means_true = ci_selector == "TRUE";
    let means_false = ci_selector == "FALSE";
    let equal = |v: &Value| {
        if severity {
            v.as_str().is_some_and(|s| s.to_uppercase() == ci_selector)
        } else {
            py_eq(selector, v)
        }
    };
    // The common case needs no parsing: dbt validates `materialized` as a string.
    if let ([key], Value::String(wanted)) = (keys, selector)
        && key == "materialized"
    {
        return collect(m, |n| {
            matches!(n.section, Section::Node | Section::Source)
                && n.materialized.as_deref() == Some(wanted.as_str())
        });
    }
    collect(m, |n| {
        if !matches!(n.section, Section::Node | Section::Source) {
            return false;
        }
        // With no keys dbt compares the whole config object, which never matches.
        let Some(found) = n.config.lookup(keys) else {
            return false;
        };
        match &found {
            Value::Array(items) => {
                items.iter().any(&equal)
                    || (means_true && items.iter().any(|i| py_eq(i, &Value::Bool(true))))
                    || (means_false && items.iter().any(|i| py_eq(i, &Value::Bool(false))))
            }
            other => {
                equal(other)
                    || (means_true && *other == Value::Bool(true))
                    || (means_false && *other == Value::Bool(false))
            }
        }
    })
}

/// `version:latest|prerelease|old|none` over models.
fn version(m: &Manifest, selector: &Value) -> Result<NodeSet, SelectError> {
    let keyword = selector.as_str().unwrap_or_default();
    let mut bad = false;
    let set = collect(m, |n| {
        if n.section != Section::Node || n.resource_type != ResourceType::Model {
            return false;
        }
        let (v, latest) = (n.version.as_deref(), n.latest_version.as_deref());
        let both = v
            .filter(|v| py_truthy(v))
            .zip(latest.filter(|l| py_truthy(l)));
        match keyword {
            "latest" => v.zip(latest).is_some_and(|(a, b)| py_eq(a, b)),
            "prerelease" => both.is_some_and(|(a, b)| version_lt(b, a)),
            "old" => both.is_some_and(|(a, b)| version_lt(a, b)),
            "none" => v.is_none(),
            _ => {
                bad = true;
                false
            }
        }
    });
    // dbt raises only once it meets a model, so an unknown keyword is fine without any.
    if bad {
        return Err(SelectError::InvalidValue {
            method: "version".into(),
            value: py_str(selector),
            reason: "expected one of: latest, prerelease, old, none".into(),
        });
    }
    Ok(set)
}

/// dbt's `UnparsedVersion.__lt__`: numeric when both parse as floats, else textual.
fn version_lt(a: &Value, b: &Value) -> bool {
    match (py_float(a), py_float(b)) {
        (Some(x), Some(y)) => x < y,
        _ => py_str(a) < py_str(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fqn(parts: &[&str]) -> Vec<Box<str>> {
        parts.iter().map(|s| Box::from(*s)).collect()
    }

    fn sel(fqn: &[Box<str>], selector: &str, versioned: bool) -> bool {
        FqnSelector::new(selector).is_selected(fqn, versioned)
    }

    #[test]
    fn fqn_rules() {
        let f = fqn(&["pkg", "staging", "stg_orders"]);
        assert!(sel(&f, "stg_orders", false));
        assert!(sel(&f, "pkg.staging", false));
        assert!(sel(&f, "pkg.staging.*", false));
        assert!(sel(&f, "pkg.*", false));
        assert!(sel(&f, "stg_*", false));
        assert!(!sel(&f, "staging", false));
        assert!(sel(&f[1..], "staging", false));
        assert!(!sel(&f, "pkg.stg*", false));
        let v = fqn(&["pkg", "marts", "dim", "v2"]);
        assert!(sel(&v, "dim", true));
        assert!(sel(&v, "dim.v2", true));
        assert!(sel(&v, "dim_v2", true));
        assert!(sel(&v, "di*", true));
    }

    #[test]
    fn file_names_and_stems() {
        assert_eq!(file_name("models/a/b.sql"), "b.sql");
        assert_eq!(file_stem("b.sql"), "b");
        assert_eq!(file_stem(".env"), ".env");
        assert_eq!(file_stem("x."), "x.");
        assert_eq!(file_stem("a.b.yml"), "a.b");
    }
}
