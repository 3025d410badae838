//! The on-disk shape of `manifest.json`, reduced to what selection needs.
//!
//! Every field is optional with a default so one lenient pass reads schema v10 to v12;
//! the schema version is checked afterwards. Unknown keys (SQL, columns, docs, …) are
//! skipped by serde without being materialised, which keeps a 60 MB manifest cheap.

use std::fmt;
use std::marker::PhantomData;

use indexmap::IndexMap;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::dbt::manifest::Config;

/// Top level of the manifest. Sections absent in older schemas default to empty.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawManifest {
    pub metadata: RawMetadata,
    pub nodes: MapValues<RawNode>,
    pub sources: MapValues<RawNode>,
    pub exposures: MapValues<RawNode>,
    pub metrics: MapValues<RawNode>,
    pub semantic_models: MapValues<RawNode>,
    pub saved_queries: MapValues<RawNode>,
    pub unit_tests: MapValues<RawNode>,
    pub functions: MapValues<RawNode>,
    pub macros: MapValues<RawFileRef>,
    pub docs: MapValues<RawFileRef>,
    pub disabled: MapValues<ListOrOne<RawFileRef>>,
    #[serde(deserialize_with = "nullable_map")]
    pub selectors: IndexMap<String, Value>,
}

/// Only the metadata; used to report the schema version when the full read fails.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct MetadataOnly {
    pub metadata: RawMetadata,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub(crate) struct RawMetadata {
    pub dbt_schema_version: Option<String>,
    pub dbt_version: Option<String>,
    pub project_name: Option<String>,
    pub adapter_type: Option<String>,
}

/// Any graph entry: node, source, exposure, metric, semantic model, saved query, unit
/// test or function. Fields a section lacks simply stay at their default.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawNode {
    #[serde(deserialize_with = "nullable_string")]
    pub unique_id: String,
    #[serde(deserialize_with = "nullable_string")]
    pub resource_type: String,
    #[serde(deserialize_with = "nullable_string")]
    pub package_name: String,
    #[serde(deserialize_with = "nullable_string")]
    pub name: String,
    #[serde(deserialize_with = "nullable_vec")]
    pub fqn: Vec<String>,
    #[serde(deserialize_with = "nullable_string")]
    pub path: String,
    #[serde(deserialize_with = "nullable_string")]
    pub original_file_path: String,
    pub patch_path: Option<String>,
    /// Kept raw: saved queries may carry a bare string here.
    pub tags: Option<Value>,
    pub config: Config,
    pub depends_on: Option<RawDependsOn>,
    pub test_metadata: Option<RawTestMetadata>,
    pub attached_node: Option<String>,
    pub version: Option<Value>,
    pub latest_version: Option<Value>,
    pub access: Option<String>,
    pub group: Option<String>,
    pub source_name: Option<String>,
    pub alias: Option<String>,
    pub schema: Option<String>,
    pub database: Option<String>,
    pub relation_name: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawDependsOn {
    #[serde(deserialize_with = "nullable_vec")]
    pub nodes: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawTestMetadata {
    pub name: Option<String>,
}

/// Where a macro, doc or disabled node lives; used to know which files the root
/// project has on disk (dbt's `path:` method globs the filesystem).
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawFileRef {
    #[serde(deserialize_with = "nullable_string")]
    pub package_name: String,
    #[serde(deserialize_with = "nullable_string")]
    pub original_file_path: String,
    pub patch_path: Option<String>,
}

/// The values of a JSON object keyed by unique_id, collected without the keys (each
/// value repeats its unique_id). `null` reads as empty.
pub(crate) struct MapValues<T>(pub Vec<T>);

impl<T> Default for MapValues<T> {
    fn default() -> Self {
        MapValues(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for MapValues<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_option(MapValuesVisitor(PhantomData))
    }
}

struct MapValuesVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for MapValuesVisitor<T> {
    type Value = MapValues<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object keyed by unique_id")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(MapValues::default())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(MapValues::default())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some((_, value)) = map.next_entry::<IgnoredAny, T>()? {
            out.push(value);
        }
        Ok(MapValues(out))
    }
}

/// `disabled` maps each unique_id to a list of candidates; tolerate a single object.
pub(crate) struct ListOrOne<T>(pub Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ListOrOne<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ListOrOneVisitor(PhantomData))
    }
}

struct ListOrOneVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ListOrOneVisitor<T> {
    type Value = ListOrOne<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of disabled nodes")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element()? {
            out.push(item);
        }
        Ok(ListOrOne(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let one = T::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(ListOrOne(vec![one]))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(ListOrOne(Vec::new()))
    }
}

fn nullable_vec<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

fn nullable_map<'de, D: Deserializer<'de>>(d: D) -> Result<IndexMap<String, Value>, D::Error> {
    Ok(Option::<IndexMap<String, Value>>::deserialize(d)?.unwrap_or_default())
}

fn nullable_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}
