//! A node's `config` block, kept whole (any key may be selected with `config.<key>`)
//! but lean: as its JSON text. A parsed config costs ~4 KB per model (forty keys, most
//! null, several nested objects), about ten times its text; keeping text cut a large
//! manifest's memory by half. The keys every run needs (`enabled`, `materialized`)
//! are read once at load; the rest are parsed only by `config.` selection.

use std::fmt;
use std::sync::Arc;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

/// The `config` object of a manifest entry, as written in the manifest.
#[derive(Debug, Clone, Default)]
pub struct Config {
    raw: Option<Arc<str>>,
}

impl Config {
    /// A config from the JSON text of an object (the manifest reader has checked that
    /// its brackets balance; a key that does not parse reads as absent).
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
    /// key is missing or a step is not an object, as dbt's `config.a.b` selection.
    pub fn lookup<S: AsRef<str>>(&self, path: &[S]) -> Option<Value> {
        let (first, rest) = path.split_first()?;
        let mut de = serde_json::Deserializer::from_str(self.raw());
        let mut value = DeserializeSeed::deserialize(KeySeeker(first.as_ref()), &mut de).ok()??;
        for key in rest {
            value = value.as_object_mut()?.remove(key.as_ref())?;
        }
        Some(value)
    }
}

/// Reads one key of an object, skipping the others without building them.
struct KeySeeker<'k>(&'k str);

impl<'de> DeserializeSeed<'de> for KeySeeker<'_> {
    type Value = Option<Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for KeySeeker<'_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a config object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Value>, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == self.0 {
                found = Some(map.next_value::<Value>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
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
}
