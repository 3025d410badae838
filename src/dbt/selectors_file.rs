//! `selectors.yml`, or the `selectors` section dbt writes into `manifest.json`.
//!
//! Each selector keeps any extra keys (e.g. an Airflow `schedule`) in
//! [`Selector::extra`]. Note that dbt itself rejects such keys in `selectors.yml`
//! (its schema allows only name, description, definition, default).
//!
//! Definitions are parsed when the file is loaded; a broken definition does not stop
//! the others from being used, but is reported by [`Selector::spec`],
//! [`Selector::evaluate`] and [`SelectorsFile::validate`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;
use serde_json::Value;

use crate::dbt::input_file::{OpenError, open_regular};
use crate::dbt::manifest::Manifest;
use crate::dbt::select::definition::parse_definition;
use crate::dbt::select::{
    EvalOptions, NamedSpec, SelectError, Selection, Spec, evaluate_named, evaluate_spec,
};

/// Why a selectors file could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum SelectorsFileError {
    #[error("cannot read selectors file {}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read selectors file {path}: not a regular file (it is {kind})")]
    NotRegularFile { path: PathBuf, kind: &'static str },
    #[error("selectors file {path} is not valid YAML: {message}")]
    Yaml { path: PathBuf, message: String },
    #[error("selectors file {path}: {reason}")]
    Shape { path: PathBuf, reason: String },
    #[error(
        "selectors file {path} marks more than one selector `default: true`: {first} and {second}"
    )]
    MultipleDefaults {
        path: PathBuf,
        first: String,
        second: String,
    },
}

/// One named selector.
#[derive(Debug, Clone)]
pub struct Selector {
    pub name: String,
    pub description: String,
    /// `default: true`: what dbt runs when no `--select`/`--selector` is given.
    pub default: bool,
    /// The definition as written (string or mapping).
    pub definition: Value,
    /// Keys other than name, description, definition and default, in file order.
    pub extra: IndexMap<String, Value>,
    spec: Result<Arc<NamedSpec>, SelectError>,
}

impl Selector {
    /// The parsed definition, with `method: selector` references resolved (to
    /// [`Spec::Selector`], which shares the referenced selector's spec).
    pub fn spec(&self) -> Result<&Spec, SelectError> {
        self.named().map(|named| &named.spec)
    }

    fn named(&self) -> Result<&Arc<NamedSpec>, SelectError> {
        self.spec.as_ref().map_err(Clone::clone)
    }

    /// `dbt ls --selector NAME` with dbt's default resource types.
    pub fn evaluate<'m>(&self, manifest: &'m Manifest) -> Result<Selection<'m>, SelectError> {
        self.evaluate_with(manifest, &EvalOptions::default())
    }

    pub fn evaluate_with<'m>(
        &self,
        manifest: &'m Manifest,
        options: &EvalOptions,
    ) -> Result<Selection<'m>, SelectError> {
        evaluate_spec(manifest, self.spec()?, options).map_err(|e| SelectError::InSelector {
            selector: self.name.clone(),
            error: Box::new(e),
        })
    }
}

/// All selectors of a project, in file order.
#[derive(Debug, Clone)]
pub struct SelectorsFile {
    origin: PathBuf,
    selectors: Vec<Selector>,
}

/// A selector entry before its definition is parsed.
struct Entry {
    name: String,
    description: String,
    default: bool,
    definition: Value,
    extra: IndexMap<String, Value>,
}

impl SelectorsFile {
    /// Reads `selectors.yml`.
    pub fn from_path(path: &Path) -> Result<SelectorsFile, SelectorsFileError> {
        use std::io::Read;
        let io = |source| SelectorsFileError::Io {
            path: path.to_path_buf(),
            source,
        };
        let (mut file, _) = open_regular(path).map_err(|e| match e {
            OpenError::Io(source) => io(source),
            OpenError::NotRegular(kind) => SelectorsFileError::NotRegularFile {
                path: path.to_path_buf(),
                kind,
            },
        })?;
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(io)?;
        SelectorsFile::from_yaml_str(&text, path)
    }

    /// Parses `selectors.yml` text; `origin` names it in messages.
    pub fn from_yaml_str(text: &str, origin: &Path) -> Result<SelectorsFile, SelectorsFileError> {
        let doc = read_yaml_like_pyyaml(text).map_err(|e| SelectorsFileError::Yaml {
            path: origin.to_path_buf(),
            message: e.to_string(),
        })?;
        let shape = |reason: String| SelectorsFileError::Shape {
            path: origin.to_path_buf(),
            reason,
        };
        let list = match &doc {
            Value::Null => &Vec::new(),
            Value::Object(top) => match top.get("selectors") {
                Some(Value::Array(list)) => list,
                Some(Value::Null) | None => &Vec::new(),
                Some(_) => return Err(shape("`selectors` must be a list".into())),
            },
            _ => return Err(shape("expected a mapping with a `selectors` list".into())),
        };
        let entries = list
            .iter()
            .enumerate()
            .map(|(i, v)| {
                entry_from_value(v, None).map_err(|r| shape(format!("selector #{}: {r}", i + 1)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        SelectorsFile::build(origin, entries, Resolution::FileOrder)
    }

    /// The `selectors` section of `manifest.json` (already rendered by dbt), for
    /// projects that ship no `selectors.yml` next to the manifest.
    pub fn from_manifest(manifest: &Manifest) -> Result<SelectorsFile, SelectorsFileError> {
        let origin = PathBuf::from("manifest.json#/selectors");
        let shape = |reason: String| SelectorsFileError::Shape {
            path: origin.clone(),
            reason,
        };
        let entries = manifest
            .selectors_section()
            .iter()
            .map(|(key, v)| {
                entry_from_value(v, Some(key)).map_err(|r| shape(format!("selector `{key}`: {r}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        // The section is keyed by name, so file order is lost: resolve by name.
        SelectorsFile::build(&origin, entries, Resolution::ByName)
    }

    /// `selectors.yml` when given, else the manifest's own section.
    pub fn load(
        path: Option<&Path>,
        manifest: &Manifest,
    ) -> Result<SelectorsFile, SelectorsFileError> {
        match path {
            Some(p) => SelectorsFile::from_path(p),
            None => SelectorsFile::from_manifest(manifest),
        }
    }

    fn build(
        origin: &Path,
        entries: Vec<Entry>,
        how: Resolution,
    ) -> Result<SelectorsFile, SelectorsFileError> {
        let mut defaults = entries.iter().filter(|e| e.default);
        if let (Some(first), Some(second)) = (defaults.next(), defaults.next()) {
            return Err(SelectorsFileError::MultipleDefaults {
                path: origin.to_path_buf(),
                first: first.name.clone(),
                second: second.name.clone(),
            });
        }
        let specs = resolve_all(&entries, how);
        let selectors = entries
            .into_iter()
            .zip(specs)
            .map(|(e, spec)| Selector {
                name: e.name,
                description: e.description,
                default: e.default,
                definition: e.definition,
                extra: e.extra,
                spec,
            })
            .collect();
        Ok(SelectorsFile {
            origin: origin.to_path_buf(),
            selectors,
        })
    }

    /// Where the selectors came from (a path, or `manifest.json#/selectors`).
    pub fn origin(&self) -> &Path {
        &self.origin
    }

    pub fn selectors(&self) -> &[Selector] {
        &self.selectors
    }

    /// The selector dbt would use for `--selector NAME` (the last one of that name).
    pub fn get(&self, name: &str) -> Option<&Selector> {
        self.selectors.iter().rev().find(|s| s.name == name)
    }

    /// The selector marked `default: true`, if any.
    pub fn default_selector(&self) -> Option<&Selector> {
        self.selectors.iter().find(|s| s.default)
    }

    /// `dbt ls --selector NAME`.
    pub fn evaluate<'m>(
        &self,
        name: &str,
        manifest: &'m Manifest,
    ) -> Result<Selection<'m>, SelectError> {
        self.get(name)
            .ok_or_else(|| self.unknown(name))?
            .evaluate(manifest)
    }

    /// `dbt ls --selector NAME` for each of `names`, with a selector that several of
    /// them reference evaluated once for all: the work grows with the file's size.
    pub fn evaluate_all<'m>(
        &self,
        names: &[&str],
        manifest: &'m Manifest,
        options: &EvalOptions,
    ) -> Vec<Result<Selection<'m>, SelectError>> {
        let found: Vec<Result<&Arc<NamedSpec>, SelectError>> = names
            .iter()
            .map(|name| {
                // A definition that does not parse names its selector already.
                self.get(name).ok_or_else(|| self.unknown(name))?.named()
            })
            .collect();
        let parsed: Vec<&Arc<NamedSpec>> = found.iter().filter_map(|f| f.clone().ok()).collect();
        let mut evaluated = evaluate_named(manifest, &parsed, options).into_iter();
        found
            .into_iter()
            .map(|named| {
                let named = named?;
                let result = evaluated.next().expect("one result per parsed selector");
                result.map_err(|error| SelectError::InSelector {
                    selector: named.name.clone(),
                    error: Box::new(error),
                })
            })
            .collect()
    }

    /// The first broken definition, if any: dbt refuses a file with one.
    pub fn validate(&self) -> Result<(), SelectError> {
        self.selectors.iter().try_for_each(|s| s.spec().map(|_| ()))
    }

    fn unknown(&self, name: &str) -> SelectError {
        let names: Vec<&str> = self.selectors.iter().map(|s| s.name.as_str()).collect();
        SelectError::UnknownSelector {
            name: name.to_string(),
            hint: format!(
                " in {}; known selectors: {}",
                self.origin.display(),
                names.join(", ")
            ),
        }
    }
}

/// Reads YAML as dbt's PyYAML would: a repeated key wins, and exactly the YAML 1.1
/// words true/false/yes/no/on/off (in lower, Title or UPPER case) are booleans when
/// unquoted. serde-saphyr knows either YAML 1.2's true/false or a wider YAML 1.1 set
/// (`y`, `n`, any case); reading twice tells the unquoted words apart from strings.
fn read_yaml_like_pyyaml(text: &str) -> Result<Value, serde_saphyr::Error> {
    let read = |strict_booleans: bool| {
        let options = serde_saphyr::options! {
            duplicate_keys: serde_saphyr::DuplicateKeyPolicy::LastWins,
            strict_booleans: strict_booleans,
        };
        serde_saphyr::from_str_with_options::<Value>(text, options)
    };
    let (strict, loose) = (read(true)?, read(false)?);
    Ok(merge_booleans(strict, &loose))
}

/// Where the loose read saw a boolean but the strict one a string, the word was
/// unquoted: keep it a boolean only if PyYAML would.
fn merge_booleans(strict: Value, loose: &Value) -> Value {
    const PYYAML_BOOLS: [&str; 18] = [
        "yes", "Yes", "YES", "no", "No", "NO", "true", "True", "TRUE", "false", "False", "FALSE",
        "on", "On", "ON", "off", "Off", "OFF",
    ];
    match (strict, loose) {
        (Value::String(s), Value::Bool(b)) if PYYAML_BOOLS.contains(&s.as_str()) => Value::Bool(*b),
        (Value::Bool(_), Value::Bool(_)) => loose.clone(),
        (Value::Array(items), Value::Array(others)) => Value::Array(
            items
                .into_iter()
                .zip(others)
                .map(|(a, b)| merge_booleans(a, b))
                .collect(),
        ),
        (Value::Object(map), Value::Object(others)) => Value::Object(
            map.into_iter()
                .map(|(k, v)| match others.get(&k) {
                    Some(o) => {
                        let merged = merge_booleans(v, o);
                        (k, merged)
                    }
                    None => (k, v),
                })
                .collect(),
        ),
        (strict, _) => strict,
    }
}

fn entry_from_value(v: &Value, key: Option<&str>) -> Result<Entry, String> {
    let Value::Object(map) = v else {
        return Err("expected a mapping with `name` and `definition`".into());
    };
    let name = match (map.get("name"), key) {
        (Some(Value::String(n)), _) => n.clone(),
        (None, Some(k)) => k.to_string(),
        (Some(_), _) => return Err("`name` must be a string".into()),
        (None, None) => return Err("missing `name`".into()),
    };
    let definition = match map.get("definition") {
        Some(d @ (Value::String(_) | Value::Object(_))) => d.clone(),
        Some(_) => {
            return Err(format!(
                "`{name}`: `definition` must be a string or a mapping"
            ));
        }
        None => return Err(format!("`{name}`: missing `definition`")),
    };
    let default = match map.get("default") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(format!("`{name}`: `default` must be true or false")),
    };
    let description = map
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let known = ["name", "description", "definition", "default"];
    let extra = map
        .iter()
        .filter(|(k, _)| !known.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(Entry {
        name,
        description: description.to_string(),
        default,
        definition,
        extra,
    })
}

/// Which selectors a `method: selector` reference may name.
#[derive(Clone, Copy, PartialEq)]
enum Resolution {
    /// Only those defined above it (dbt parses selectors.yml top to bottom).
    FileOrder,
    /// Any other selector (the manifest section has lost the file order).
    ByName,
}

fn resolve_all(entries: &[Entry], how: Resolution) -> Vec<Result<Arc<NamedSpec>, SelectError>> {
    let mut resolver = Resolver {
        entries,
        how,
        done: HashMap::new(),
        in_progress: Vec::new(),
    };
    (0..entries.len()).map(|i| resolver.resolve(i)).collect()
}

/// Parses definitions on demand, so `method: selector` can reuse a parsed selector.
struct Resolver<'a> {
    entries: &'a [Entry],
    how: Resolution,
    done: HashMap<usize, Result<Arc<NamedSpec>, SelectError>>,
    /// Selectors being parsed right now, to catch reference cycles.
    in_progress: Vec<usize>,
}

impl Resolver<'_> {
    fn resolve(&mut self, i: usize) -> Result<Arc<NamedSpec>, SelectError> {
        if let Some(done) = self.done.get(&i) {
            return done.clone();
        }
        let name = &self.entries[i].name;
        if self.in_progress.contains(&i) {
            return Err(definition_error(
                name,
                "it refers to itself through `method: selector`".into(),
            ));
        }
        self.in_progress.push(i);
        let result = self.parse(i).map(|spec| {
            let name = name.clone();
            Arc::new(NamedSpec { name, spec })
        });
        self.in_progress.pop();
        self.done.insert(i, result.clone());
        result
    }

    fn parse(&mut self, i: usize) -> Result<Spec, SelectError> {
        let entry = &self.entries[i];
        if let Some(jinja) = find_jinja(&entry.definition) {
            return Err(definition_error(
                &entry.name,
                format!(
                    "`{jinja}` uses Jinja, which only dbt can render; omit selectors.yml to use \
                     the rendered selectors dbt stored in manifest.json"
                ),
            ));
        }
        let mut lookup = |v: &Value| self.referenced(i, v);
        parse_definition(&entry.definition, &mut lookup).map_err(|e| SelectError::InSelector {
            selector: entry.name.clone(),
            error: Box::new(e),
        })
    }

    /// The spec of the selector that selector `i` names in `method: selector`.
    fn referenced(&mut self, i: usize, target: &Value) -> Result<Spec, SelectError> {
        let target = target.as_str().unwrap_or_default();
        let candidates = match self.how {
            Resolution::FileOrder => &self.entries[..i],
            Resolution::ByName => self.entries,
        };
        match candidates.iter().rposition(|e| e.name == target) {
            Some(j) => self.resolve(j).map(Spec::Selector),
            None => Err(SelectError::UnknownSelector {
                name: target.to_string(),
                hint: match self.how {
                    Resolution::FileOrder => {
                        " above the selector that uses it (dbt reads selectors top to bottom)"
                    }
                    Resolution::ByName => "",
                }
                .to_string(),
            }),
        }
    }
}

fn definition_error(selector: &str, reason: String) -> SelectError {
    SelectError::InvalidDefinition {
        selector: selector.to_string(),
        reason,
    }
}

/// The first string using Jinja (`{{`, `{%`, `{#`) anywhere in a definition.
fn find_jinja(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) if ["{{", "{%", "{#"].iter().any(|t| s.contains(t)) => Some(s),
        Value::Array(items) => items.iter().find_map(find_jinja),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            (["{{", "{%", "{#"].iter().any(|t| k.contains(t)))
                .then_some(k.as_str())
                .or_else(|| find_jinja(v))
        }),
        _ => None,
    }
}
