//! Reading entries' `config` blocks: each distinct text is read once.
//!
//! A project repeats a few configs over most of its entries (every `not_null` test has
//! the same one). Reading each block key by key cost as much as reading the rest of
//! its entry, and a copy per entry was 60 MB in 142,000 allocations at 50k models. A
//! block whose text was seen before is now only skipped (a fast bracket scan), looked up,
//! and shares the earlier text and hot keys.

use std::collections::HashMap;
use std::sync::Arc;

use foldhash::fast::FixedState;
use serde_json::Value;

use super::Section;
use super::config::Config;
use super::cursor::{Cursor, Read, Stop};

/// The config keys every entry needs at load; any other is read on demand from the text.
#[derive(Debug, Default, Clone)]
pub(crate) struct HotConfig {
    pub enabled: Option<Value>,
    pub materialized: Option<Arc<str>>,
    pub tags: Option<Value>,
}

/// The config texts read so far (by one reading thread), with their hot keys.
#[derive(Default)]
pub(crate) struct ConfigTexts {
    seen: HashMap<Arc<str>, HotConfig, FixedState>,
}

impl ConfigTexts {
    /// A `config` object, kept as its text, with its hot keys. Anything but an object
    /// reads as no config.
    pub(super) fn read(
        &mut self,
        c: &mut Cursor<'_>,
        section: Section,
    ) -> Read<Option<(Config, HotConfig)>> {
        if c.peek() != Some(b'{') {
            c.skip()?;
            return Ok(None);
        }
        let start = c.offset();
        c.skip()?;
        let text = std::str::from_utf8(&c.bytes()[start..c.offset()])
            .map_err(|e| Stop::new(start + e.valid_up_to(), "invalid UTF-8 in a config"))?;
        // Unit tests also read `tags` from it: their configs are not shared.
        let shared = section != Section::UnitTest;
        if shared && let Some((text, hot)) = self.seen.get_key_value(text) {
            return Ok(Some((Config::shared(text.clone()), hot.clone())));
        }
        // Read strictly the first time; the same bytes read the same after that.
        c.seek(start);
        let hot = hot_keys(c, section)?;
        let text: Arc<str> = text.into();
        if shared {
            self.seen.insert(text.clone(), hot.clone());
        }
        Ok(Some((Config::shared(text), hot)))
    }
}

fn hot_keys(c: &mut Cursor<'_>, section: Section) -> Read<HotConfig> {
    let mut hot = HotConfig::default();
    c.each_key("a config object", |c, key| {
        match key {
            b"enabled" => hot.enabled = c.parse()?,
            b"materialized" => hot.materialized = c.string_or_skip()?.map(Arc::from),
            // Only unit tests take their tags from the config (see `tags_for`).
            b"tags" if section == Section::UnitTest => hot.tags = c.parse()?,
            _ => c.skip()?,
        }
        Ok(())
    })?;
    Ok(hot)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(texts: &mut ConfigTexts, json: &str, section: Section) -> Read<(Config, HotConfig)> {
        let mut c = Cursor::new(json.as_bytes());
        let read = texts.read(&mut c, section)?;
        assert_eq!(c.offset(), json.len(), "reads the whole value");
        Ok(read.expect("an object"))
    }

    fn text(config: &Config) -> Arc<str> {
        config.raw_shared().expect("a text")
    }

    #[test]
    fn equal_texts_are_shared_with_their_hot_keys() {
        let mut texts = ConfigTexts::default();
        let view = r#"{"enabled": false, "materialized": "view", "tags": ["a"]}"#;
        let (a, hot_a) = read(&mut texts, view, Section::Node).unwrap();
        let (b, hot_b) = read(&mut texts, view, Section::Node).unwrap();
        let (c, _) = read(&mut texts, r#"{"materialized": "table"}"#, Section::Node).unwrap();
        assert!(Arc::ptr_eq(&text(&a), &text(&b)));
        assert!(!Arc::ptr_eq(&text(&a), &text(&c)));
        assert_eq!((a.raw(), c.raw()), (view, r#"{"materialized": "table"}"#));
        for hot in [hot_a, hot_b] {
            assert_eq!(hot.enabled, Some(Value::Bool(false)));
            assert_eq!(hot.materialized.as_deref(), Some("view"));
            assert_eq!(hot.tags, None, "only unit tests read tags");
        }
    }

    #[test]
    fn unit_tests_read_tags_and_share_nothing() {
        let mut texts = ConfigTexts::default();
        let json = r#"{"tags": ["x"]}"#;
        let (a, hot) = read(&mut texts, json, Section::UnitTest).unwrap();
        let (b, _) = read(&mut texts, json, Section::UnitTest).unwrap();
        assert_eq!(hot.tags, Some(serde_json::json!(["x"])));
        assert!(!Arc::ptr_eq(&text(&a), &text(&b)));
        let (node, hot) = read(&mut texts, json, Section::Node).unwrap();
        assert_eq!((node.raw(), hot.tags), (json, None));
    }

    #[test]
    fn a_bad_text_fails_every_time_and_non_objects_are_no_config() {
        let mut texts = ConfigTexts::default();
        let bad = r#"{"materialized" "view"}"#;
        for _ in 0..2 {
            assert!(read(&mut texts, bad, Section::Node).is_err());
        }
        let latin1 = b"{\"owner\": \"Jos\xe9\"}";
        let stop = texts
            .read(&mut Cursor::new(latin1), Section::Node)
            .unwrap_err();
        assert_eq!(stop.offset, 14);
        let mut c = Cursor::new(b"null");
        assert!(texts.read(&mut c, Section::Node).unwrap().is_none());
        assert_eq!(c.offset(), 4);
    }
}
