//! YAML selector definitions (`selectors.yml`) to [`Spec`], as dbt's `graph/cli.py`.
//!
//! A definition is a CLI-style string (always ONE spec: spaces and commas are not split
//! here, unlike `--select`), a `{method, value, ...}` dictionary, a one-key dictionary
//! `{tag: nightly}`, or a `union`/`intersection` list whose `exclude` item is subtracted
//! from the whole group.

use serde_json::{Map, Value};

use crate::dbt::select::SelectError;
use crate::dbt::select::pyvalue::py_repr;
use crate::dbt::select::spec::{Criteria, IndirectSelection, Spec};

/// Resolves `method: selector` references to an already parsed selector.
pub(crate) type Lookup<'a> = dyn FnMut(&Value) -> Result<Spec, SelectError> + 'a;

/// YAML groups get the class default, not the `--indirect-selection` flag.
const GROUP_MODE: Option<IndirectSelection> = Some(IndirectSelection::Eager);

/// Parses a selector's `definition` (dbt's `parse_from_definition(rootlevel=True)`).
pub(crate) fn parse_definition(def: &Value, lookup: &mut Lookup) -> Result<Spec, SelectError> {
    parse(def, true, lookup)
}

fn parse(def: &Value, rootlevel: bool, lookup: &mut Lookup) -> Result<Spec, SelectError> {
    if let Value::Object(d) = def
        && (d.contains_key("union") || d.contains_key("intersection"))
        && rootlevel
        && d.len() > 1
    {
        let keys: Vec<&str> = d.keys().map(String::as_str).collect();
        return Err(invalid(format!(
            "only a single 'union' or 'intersection' key is allowed in a root level \
             selector definition; found {}",
            keys.join(",")
        )));
    }
    match def {
        Value::String(s) => Ok(Spec::Criteria(Box::new(Criteria::from_single_spec(s)?))),
        Value::Object(d) if d.contains_key("union") => set_operation(d, "union", lookup),
        Value::Object(d) if d.contains_key("intersection") => {
            set_operation(d, "intersection", lookup)
        }
        Value::Object(d) => dict_definition(d, lookup),
        other => Err(invalid(format!(
            "expected union, intersection, a string or a dictionary, found {}",
            py_repr(other)
        ))),
    }
}

fn invalid(reason: String) -> SelectError {
    SelectError::InvalidSpec {
        spec: "selector definition".into(),
        reason,
    }
}

/// dbt's `_get_list_dicts`: a list of strings and dictionaries.
fn list_items<'a>(d: &'a Map<String, Value>, key: &str) -> Result<&'a [Value], SelectError> {
    let Some(Value::Array(items)) = d.get(key) else {
        return Err(invalid(format!(
            "invalid value for key \"{key}\": expected a list"
        )));
    };
    if let Some(bad) = items.iter().find(|i| !(i.is_object() || i.is_string())) {
        return Err(invalid(format!(
            "invalid item {} in \"{key}\": expected a dictionary or a string",
            py_repr(bad)
        )));
    }
    Ok(items)
}

fn set_operation(
    d: &Map<String, Value>,
    key: &str,
    lookup: &mut Lookup,
) -> Result<Spec, SelectError> {
    let (include, exclude) = include_exclude(list_items(d, key)?, lookup)?;
    let group = if key == "union" {
        Spec::Union(include, GROUP_MODE)
    } else {
        Spec::Intersection(include, GROUP_MODE)
    };
    Ok(match exclude {
        None => group,
        Some(e) => Spec::Difference(vec![group, e], GROUP_MODE),
    })
}

/// Splits group items into included specs and at most one `exclude` (any other key of
/// the `exclude` item is ignored, as in dbt).
fn include_exclude(
    items: &[Value],
    lookup: &mut Lookup,
) -> Result<(Vec<Spec>, Option<Spec>), SelectError> {
    let mut include = Vec::new();
    let mut exclude: Option<Spec> = None;
    for item in items {
        match item {
            Value::Object(d) if d.contains_key("exclude") => {
                // An empty `exclude: []` leaves nothing, so another one is then allowed.
                if exclude.is_some() {
                    return Err(invalid(
                        "you cannot provide multiple exclude arguments to the same selector set operator".into(),
                    ));
                }
                exclude = exclusions(d, lookup)?;
            }
            other => include.push(parse(other, false, lookup)?),
        }
    }
    Ok((include, exclude))
}

fn exclusions(d: &Map<String, Value>, lookup: &mut Lookup) -> Result<Option<Spec>, SelectError> {
    let mut parsed = list_items(d, "exclude")?
        .iter()
        .map(|i| parse(i, false, lookup))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(match parsed.len() {
        0 => None,
        1 => parsed.pop(),
        _ => Some(Spec::Union(parsed, GROUP_MODE)),
    })
}

/// dbt's `parse_dict_definition`.
fn dict_definition(d: &Map<String, Value>, lookup: &mut Lookup) -> Result<Spec, SelectError> {
    if let Some((key, value)) = d.iter().next()
        && d.len() == 1
    {
        // `{tag: nightly}`: the key is the method (so `{exclude: …}` alone is an error).
        let mut dict = Map::new();
        dict.insert("method".into(), Value::String(key.clone()));
        dict.insert("value".into(), value.clone());
        return Ok(Spec::Criteria(Box::new(Criteria::from_dict(&dict)?)));
    }
    if d.get("method").and_then(Value::as_str) == Some("selector") {
        // Other keys (graph operators, exclude) are ignored, as dbt does.
        return lookup(d.get("value").unwrap_or(&Value::Null));
    }
    if !(d.contains_key("method") && d.contains_key("value")) {
        let keys: Vec<&str> = d.keys().map(String::as_str).collect();
        return Err(invalid(format!(
            "expected either 1 key or else \"method\" and \"value\" keys, but got [{}]",
            keys.join(", ")
        )));
    }
    let mut dict = d.clone();
    let exclude = match dict.remove("exclude") {
        Some(_) => exclusions(d, lookup)?,
        None => None,
    };
    let base = Spec::Criteria(Box::new(Criteria::from_dict(&dict)?));
    Ok(match exclude {
        None => base,
        Some(e) => Spec::Difference(vec![base, e], GROUP_MODE),
    })
}
