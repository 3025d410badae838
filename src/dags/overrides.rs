//! Per-node task settings from the node's `meta`: `config: {meta: {dagship: {pool: heavy,
//! retries: 3}}}` in dbt. They become keyword arguments of that node's tasks.
//!
//! `meta.dagship` is dagship's own namespace, so an unknown key is a mistake (a typo would
//! otherwise be ignored silently) and stops generation with the node and key named. Values
//! are held to Airflow's limits ([`crate::dags::options::LimitError`]): a duration past what
//! a `timedelta` holds would make the whole file an import error in Airflow.

use std::collections::HashMap;
use std::sync::LazyLock;

use memchr::memmem;

use serde_json::Value;

use crate::dags::options::{self as limits, LimitError};
use crate::dags::python;
use crate::dbt::manifest::Node;
use crate::diagnostic::did_you_mean;

#[derive(Clone, Copy)]
enum Kind {
    /// A name Airflow keeps in the `String(256)` column named.
    Name(&'static str),
    /// A whole number at least this large, kept in the `Integer` column named (none when
    /// Airflow clamps the value itself).
    Int(i64, Option<&'static str>),
    /// Seconds, or a duration such as `5m` or `1h30m`; written as seconds, which the file
    /// turns into a `timedelta`.
    Seconds,
    /// As `Seconds`, and more than zero: a time limit.
    Timeout,
}

impl Kind {
    fn want(self) -> String {
        match self {
            Kind::Name(_) => "a string".to_string(),
            Kind::Int(i64::MIN, _) => "a whole number".to_string(),
            Kind::Int(min, _) => format!("a whole number ≥ {min}"),
            Kind::Seconds | Kind::Timeout => {
                "seconds, or a duration such as `5m` or `1h30m`".to_string()
            }
        }
    }
}

/// The keys dagship reads, in the order they are written out.
const KEYS: [(&str, Kind); 7] = [
    ("pool", Kind::Name("slot_pool.pool")),
    ("pool_slots", Kind::Int(1, Some("task_instance.pool_slots"))),
    // Airflow clamps priority weights into 32 bits itself (`db_safe_priority`).
    ("priority_weight", Kind::Int(i64::MIN, None)),
    ("queue", Kind::Name("task_instance.queue")),
    ("retries", Kind::Int(0, Some("task_instance.max_tries"))),
    ("retry_delay", Kind::Seconds),
    ("execution_timeout", Kind::Timeout),
];

/// What is wrong with a node's `meta.dagship`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum MetaError {
    #[error("meta.dagship must be a mapping such as {{pool: heavy, retries: 3}}")]
    NotAMapping,
    #[error(
        "meta.dagship: unknown key `{key}`{} (known: {})",
        hint.as_ref().map(|h| format!("; {h}")).unwrap_or_default(),
        KEYS.map(|(name, _)| name).join(", ")
    )]
    UnknownKey { key: String, hint: Option<String> },
    #[error("meta.dagship.{key}: expected {want}, found {found}")]
    Type {
        key: &'static str,
        want: String,
        found: String,
    },
    /// The error names the setting (`meta.dagship.retry_delay`).
    #[error("{error}")]
    Limit {
        key: &'static str,
        error: LimitError,
    },
}

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

/// `node`'s settings as canonical JSON, if it has any; an error names the node.
pub(super) fn settings(node: &Node) -> Result<Option<String>, String> {
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
    let json = canonical(&meta).map_err(|e| format!("{}: {e}", node.unique_id))?;
    Ok((json != "{}").then_some(json))
}

/// Checks `meta.dagship` and writes it as JSON with known keys in a fixed order.
fn canonical(meta: &Value) -> Result<String, MetaError> {
    let Value::Object(map) = meta else {
        return Err(MetaError::NotAMapping);
    };
    if let Some(unknown) = map.keys().find(|k| !KEYS.iter().any(|(n, _)| n == k)) {
        return Err(MetaError::UnknownKey {
            key: unknown.clone(),
            hint: did_you_mean(unknown, KEYS.iter().map(|(n, _)| *n)),
        });
    }
    let mut parts = Vec::new();
    for (key, kind) in KEYS {
        let Some(value) = map.get(key).filter(|v| !v.is_null()) else {
            continue;
        };
        let text = value_json(key, value, kind)?;
        parts.push(format!("{}:{text}", python::json_str(key)));
    }
    Ok(format!("{{{}}}", parts.join(",")))
}

/// One setting as JSON, held to Airflow's limits.
fn value_json(key: &'static str, value: &Value, kind: Kind) -> Result<String, MetaError> {
    let wrong = || MetaError::Type {
        key,
        want: kind.want(),
        found: value.to_string(),
    };
    let limit = |error| MetaError::Limit { key, error };
    let setting = format!("meta.dagship.{key}");
    match (kind, value) {
        (Kind::Name(column), Value::String(s)) => {
            limits::check_name(&setting, column, s).map_err(limit)?;
            Ok(python::json_str(s))
        }
        (Kind::Int(min, column), Value::Number(n)) => {
            let i = n.as_i64().filter(|i| *i >= min).ok_or_else(wrong)?;
            if let Some(column) = column {
                limits::check_integer(&setting, column, i.unsigned_abs()).map_err(limit)?;
            }
            Ok(i.to_string())
        }
        (Kind::Seconds | Kind::Timeout, _) => {
            let seconds = match value {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => crate::shape::parse_duration(s),
                _ => None,
            }
            .ok_or_else(wrong)?;
            let checked = match kind {
                Kind::Timeout => limits::check_timeout(&setting, seconds),
                _ => limits::check_timedelta(&setting, seconds),
            };
            checked.map_err(limit)?;
            Ok(seconds.to_string())
        }
        _ => Err(wrong()),
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
        let typo = canonical(&json!({"pools": "x"})).unwrap_err().to_string();
        assert!(typo.contains("did you mean `pool`"), "{typo}");
        let bad = canonical(&json!({"retries": -1})).unwrap_err().to_string();
        assert!(
            bad.contains("retries: expected a whole number ≥ 0"),
            "{bad}"
        );
        assert_eq!(canonical(&json!("heavy")), Err(MetaError::NotAMapping));
    }

    #[test]
    fn settings_are_held_to_airflows_limits() {
        let max = limits::TIMEDELTA_MAX_SECONDS;
        let at_limit = json!({"retry_delay": max, "execution_timeout": max, "retries": i32::MAX});
        assert!(canonical(&at_limit).is_ok());
        let limit_of = |meta: Value| match canonical(&meta) {
            Err(MetaError::Limit { key, .. }) => Some(key),
            _ => None,
        };
        assert_eq!(
            limit_of(json!({"retry_delay": max + 1})),
            Some("retry_delay")
        );
        assert_eq!(
            limit_of(json!({"execution_timeout": "1000000000d"})),
            Some("execution_timeout")
        );
        assert_eq!(
            limit_of(json!({"execution_timeout": 0})),
            Some("execution_timeout")
        );
        assert_eq!(limit_of(json!({"retry_delay": 0})), None);
        assert_eq!(limit_of(json!({"retries": 1u64 << 31})), Some("retries"));
        assert_eq!(
            limit_of(json!({"pool_slots": 1u64 << 31})),
            Some("pool_slots")
        );
        assert_eq!(limit_of(json!({"queue": "q".repeat(257)})), Some("queue"));
        assert_eq!(
            canonical(&json!({"execution_timeout": 0}))
                .unwrap_err()
                .to_string(),
            "meta.dagship.execution_timeout of 0 seconds: Airflow takes a zero `execution_timeout` for no \
             time limit at all; give one second or more, or leave it out"
        );
    }
}
