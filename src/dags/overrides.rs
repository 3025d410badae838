//! Per-node task settings from the node's `meta`: `config: {meta: {dagship: {pool: heavy,
//! retries: 3}}}` in dbt. They become keyword arguments of that node's tasks.
//!
//! `meta.dagship` is dagship's own namespace, so an unknown key is a mistake (a typo would
//! otherwise be ignored silently) and stops generation with the node and key named.

use std::collections::HashMap;
use std::sync::LazyLock;

use memchr::memmem;

use serde_json::Value;

use crate::dags::python;
use crate::dbt::manifest::Node;
use crate::diagnostic::did_you_mean;

#[derive(Clone, Copy)]
enum Kind {
    Text,
    /// A whole number at least this large.
    Int(i64),
    /// Seconds, or a duration such as `5m` or `1h30m`; written as seconds.
    Seconds,
}

/// The keys dagship reads, in the order they are written out.
const KEYS: [(&str, Kind); 7] = [
    ("pool", Kind::Text),
    ("pool_slots", Kind::Int(1)),
    ("priority_weight", Kind::Int(i64::MIN)),
    ("queue", Kind::Text),
    ("retries", Kind::Int(0)),
    ("retry_delay", Kind::Seconds),
    ("execution_timeout", Kind::Seconds),
];

/// Keyword arguments whose value the DAG file turns into a `timedelta`.
pub const DURATION_KEYS: [&str; 2] = ["retry_delay", "execution_timeout"];

/// Distinct override sets of one DAG, each written once and referred to by index.
#[derive(Debug, Default)]
pub struct Overrides {
    /// Canonical JSON objects (keys in [`KEYS`] order).
    pub distinct: Vec<String>,
    index: HashMap<String, usize>,
}

impl Overrides {
    /// The index of `node`'s settings, if it has any.
    pub fn of(&mut self, node: &Node) -> Result<Option<usize>, String> {
        Ok(settings(node)?.map(|json| self.add(json)))
    }

    /// The index of a set of settings (from [`settings`]), added if new.
    pub fn add(&mut self, json: String) -> usize {
        if let Some(i) = self.index.get(&json) {
            return *i;
        }
        let i = self.distinct.len();
        self.index.insert(json.clone(), i);
        self.distinct.push(json);
        i
    }
}

/// `node`'s settings as canonical JSON, if it has any.
pub fn settings(node: &Node) -> Result<Option<String>, String> {
    // Looking a key up parses the config; most nodes have no settings to find (and a
    // vectorised search says so several times faster than `str::contains`).
    // A key may also be spelled with escapes (`dagshi\u0070`), which only `\u` can do.
    static DAGSHIP: LazyLock<memmem::Finder> = LazyLock::new(|| memmem::Finder::new("dagship"));
    let raw = node.config.raw().as_bytes();
    if DAGSHIP.find(raw).is_none() && memmem::find(raw, b"\\u").is_none() {
        return Ok(None);
    }
    let found = node.config.find(&["meta", "dagship"]);
    let found =
        found.map_err(|e| format!("{}: meta.dagship cannot be read: {e}", node.unique_id))?;
    let Some(meta) = found else {
        return Ok(None);
    };
    let json = canonical(&meta).map_err(|e| format!("{}: meta.dagship{e}", node.unique_id))?;
    Ok((json != "{}").then_some(json))
}

/// Checks `meta.dagship` and writes it as JSON with known keys in a fixed order.
fn canonical(meta: &Value) -> Result<String, String> {
    let Value::Object(map) = meta else {
        return Err(" must be a mapping such as {pool: heavy, retries: 3}".into());
    };
    if let Some(unknown) = map.keys().find(|k| !KEYS.iter().any(|(n, _)| n == k)) {
        let hint = did_you_mean(unknown, KEYS.iter().map(|(n, _)| *n))
            .map(|hint| format!("; {hint}"))
            .unwrap_or_default();
        let known: Vec<&str> = KEYS.iter().map(|(n, _)| *n).collect();
        return Err(format!(
            ": unknown key `{unknown}`{hint} (known: {})",
            known.join(", ")
        ));
    }
    let mut parts = Vec::new();
    for (key, kind) in KEYS {
        let Some(value) = map.get(key).filter(|v| !v.is_null()) else {
            continue;
        };
        let text = value_json(value, kind).ok_or_else(|| {
            let want = match kind {
                Kind::Text => "a string".to_string(),
                Kind::Int(i64::MIN) => "a whole number".to_string(),
                Kind::Int(min) => format!("a whole number ≥ {min}"),
                Kind::Seconds => "seconds, or a duration such as `5m` or `1h30m`".to_string(),
            };
            format!(".{key}: expected {want}, found {value}")
        })?;
        parts.push(format!("{}:{text}", python::json_str(key)));
    }
    Ok(format!("{{{}}}", parts.join(",")))
}

fn value_json(value: &Value, kind: Kind) -> Option<String> {
    match (kind, value) {
        (Kind::Text, Value::String(s)) => Some(python::json_str(s)),
        (Kind::Int(min), Value::Number(n)) => {
            n.as_i64().filter(|i| *i >= min).map(|i| i.to_string())
        }
        (Kind::Seconds, Value::Number(n)) => n.as_u64().map(|i| i.to_string()),
        (Kind::Seconds, Value::String(s)) => crate::shape::parse_duration(s).map(|i| i.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn settings_are_checked_and_written_in_a_fixed_order() {
        let meta = json!({"retries": 3, "pool": "heavy", "retry_delay": "5m"});
        assert_eq!(
            canonical(&meta).unwrap(),
            r#"{"pool":"heavy","retries":3,"retry_delay":300}"#
        );
        let typo = canonical(&json!({"pools": "x"})).unwrap_err();
        assert!(typo.contains("did you mean `pool`"), "{typo}");
        let bad = canonical(&json!({"retries": -1})).unwrap_err();
        assert!(
            bad.contains("retries: expected a whole number ≥ 0"),
            "{bad}"
        );
        assert!(canonical(&json!("heavy")).is_err());
    }
}
