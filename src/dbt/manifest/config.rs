//! A node's `config` block, kept whole (any key may be selected with `config.<key>`)
//! but lean: as its JSON text. A parsed config costs ~4 KB per model (forty keys, most
//! null, several nested objects), about ten times its text; keeping text cut a large
//! manifest's memory by half. The keys every run needs (`enabled`, `materialized`)
//! are read once at load; the rest are parsed only by `config.` selection.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::cursor::{Cursor, Problem, Read, Stop};

/// The `config` object of a manifest entry, as written in the manifest.
#[derive(Debug, Clone, Default)]
pub struct Config {
    raw: Option<Arc<str>>,
}

impl Config {
    /// A config from the JSON text of an object (the manifest reader has checked that
    /// its brackets pair up; see [`Config::find`] for a value that does not parse).
    pub fn from_json_text(text: &str) -> Config {
        Config {
            raw: Some(text.into()),
        }
    }

    /// A config sharing its text with other entries'.
    pub(crate) fn shared(text: Arc<str>) -> Config {
        Config { raw: Some(text) }
    }

    #[cfg(test)]
    pub(crate) fn raw_shared(&self) -> Option<Arc<str>> {
        self.raw.clone()
    }

    /// The JSON text (`{}` when the entry has no config).
    pub fn raw(&self) -> &str {
        self.raw.as_deref().unwrap_or("{}")
    }

    /// All top-level keys, parsed (a repeated key keeps its last value).
    pub fn to_map(&self) -> Map<String, Value> {
        serde_json::from_str(self.raw()).unwrap_or_default()
    }

    /// The value of a top-level key.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.lookup(&[key])
    }

    /// The value at a key path into nested objects (`["meta", "owner"]`). `None` when a
    /// key is missing or a step is not an object, as dbt's `config.a.b` selection, and
    /// when the value cannot be read (see [`Config::find`]).
    pub fn lookup<S: AsRef<str>>(&self, path: &[S]) -> Option<Value> {
        self.find(path).ok().flatten()
    }

    /// [`Config::lookup`], telling a value that cannot be read from an absent one. Keys
    /// off the path are skipped, not parsed: how deep they nest does not matter (a
    /// parser gives up past 128 levels, which would hide every key beside them). Only the
    /// value found is parsed, strictly.
    pub fn find<S: AsRef<str>>(&self, path: &[S]) -> Result<Option<Value>, ConfigError> {
        let text = self.raw().as_bytes();
        let mut c = Cursor::new(text);
        for key in path {
            if c.peek() != Some(b'{') {
                return Ok(None);
            }
            match last_value_of(&mut c, key.as_ref().as_bytes()) {
                Ok(Some(at)) => c.seek(at),
                Ok(None) => return Ok(None),
                Err(stop) => return Err(ConfigError::new(stop)),
            }
        }
        c.parse().map(Some).map_err(ConfigError::new)
    }
}

/// Where the value of the last `key` of the object at `c` starts (a repeated key keeps
/// its last value, as in every JSON reader); reads the whole object.
fn last_value_of(c: &mut Cursor<'_>, key: &[u8]) -> Read<Option<usize>> {
    let mut found = None;
    c.each_key("a config object", |c, k| {
        if k == key {
            c.peek();
            found = Some(c.offset());
        }
        c.skip()
    })?;
    Ok(found)
}

/// Why a value in a config could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} (at byte {offset} of the config)")]
pub struct ConfigError {
    pub offset: usize,
    pub message: String,
}

impl ConfigError {
    fn new(stop: Stop) -> ConfigError {
        let message = match stop.problem {
            Problem::Shape(message) => message,
            // Only the manifest's walk stops for these.
            other => format!("{other:?}"),
        };
        ConfigError {
            offset: stop.offset,
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lookups_descend_and_skip() {
        let c = Config::from_json_text(
            r#"{"materialized": "view", "meta": {"owner": {"name": "a"}}, "tags": ["x"], "materialized": "table"}"#,
        );
        assert_eq!(c.get("materialized"), Some(json!("table")));
        assert_eq!(c.lookup(&["meta", "owner", "name"]), Some(json!("a")));
        assert_eq!(c.lookup(&["tags", "0"]), None);
        assert_eq!(c.get("absent"), None);
        assert_eq!(c.to_map().len(), 3);
        let empty = Config::default();
        assert_eq!((empty.raw(), empty.get("x")), ("{}", None));
    }

    #[test]
    fn nesting_beside_the_path_does_not_hide_it() {
        for depth in [10, 126, 127, 128, 129, 1000, 100_000] {
            let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            let text = format!(
                r#"{{"before": {deep}, "meta": {{"x": {deep}, "dagshi\u0070": {{"pools": 1}}, "y": {deep}}}, "after": {deep}}}"#
            );
            let c = Config::from_json_text(&text);
            assert_eq!(
                c.find(&["meta", "dagship"]),
                Ok(Some(json!({"pools": 1}))),
                "depth {depth}"
            );
        }
    }

    #[test]
    fn a_value_that_cannot_be_read_is_an_error_not_an_absence() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let c = Config::from_json_text(&format!(r#"{{"meta": {{"dagship": {deep}}}}}"#));
        let err = c.find(&["meta", "dagship"]).unwrap_err();
        assert!(err.message.contains("recursion limit"), "{err}");
        assert_eq!(c.lookup(&["meta", "dagship"]), None);
        let bad = Config::from_json_text(r#"{"meta": {"dagship": {"pool" "x"}}}"#);
        assert!(bad.find(&["meta", "dagship"]).is_err());
        assert_eq!(bad.find(&["meta", "other"]), Ok(None));
    }
}
