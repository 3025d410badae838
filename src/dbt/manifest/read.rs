//! The walk over `manifest.json`: every graph entry of every section, with only the fields
//! selection and DAG generation use. Everything else (SQL, columns, docs, the parent and
//! child maps) is skipped without being parsed, which is most of the file.
//!
//! Fields that dbt has written for every entry since schema v10 (`unique_id`,
//! `resource_type`, `package_name`, `name`, `fqn`) are required, and so is the `nodes`
//! section: without them a DAG would silently lack nodes or select nothing. The others are
//! optional, so one walk reads schema v10 to v12; the schema version is checked
//! afterwards. Keys may come in any order; inside an entry a repeated key keeps its last
//! value, and a top-level section given twice is an error.

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;

use super::config::Config;
use super::config_texts::{ConfigTexts, HotConfig};
use super::cursor::{Cursor, Problem, Read, Stop};
use super::split;
use super::{Dependency, IdKey, Node, ResourceType, Section};

/// Entries as read, in file order; sorting takes each out once (see `sorted_by_unique_id`).
pub(crate) type Run = Vec<Option<Node>>;

/// What the walk collects, before sorting and the dependency graph.
pub(crate) struct Parsed {
    pub metadata: RawMetadata,
    /// In file order, in the runs they were read in (one per piece, see `split`).
    pub nodes: Vec<Run>,
    /// Where macros, docs and disabled nodes live (package, file, patch path).
    pub file_refs: Vec<FileRef>,
    pub selectors: IndexMap<String, Value>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub(crate) struct RawMetadata {
    pub dbt_schema_version: Option<String>,
    pub dbt_version: Option<String>,
    pub project_name: Option<String>,
    pub adapter_type: Option<String>,
}

/// Only the metadata; used to report the schema version when the full read fails.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct MetadataOnly {
    pub metadata: RawMetadata,
}

/// Where a macro, doc or disabled node lives; used to know which files the root
/// project has on disk (dbt's `path:` method globs the filesystem).
#[derive(Default)]
pub(crate) struct FileRef {
    pub package_name: String,
    pub original_file_path: String,
    pub patch_path: Option<String>,
}

const SECTIONS: [(&[u8], Section); 8] = [
    (b"nodes", Section::Node),
    (b"sources", Section::Source),
    (b"exposures", Section::Exposure),
    (b"metrics", Section::Metric),
    (b"semantic_models", Section::SemanticModel),
    (b"saved_queries", Section::SavedQuery),
    (b"unit_tests", Section::UnitTest),
    (b"functions", Section::Function),
];

/// Told of byte ranges `start..end` of the input that will not be read again.
pub(crate) type Release<'r> = &'r (dyn Fn(usize, usize) + Sync);

/// Top-level keys the walk reads (besides [`SECTIONS`]); each may be given once.
const OTHER_KEYS: [&[u8]; 5] = [b"metadata", b"macros", b"docs", b"disabled", b"selectors"];

pub(crate) fn manifest(json: &[u8], release: Release<'_>) -> Read<Parsed> {
    let mut c = Cursor::new(json);
    let mut parsed = Parsed {
        metadata: RawMetadata::default(),
        nodes: Vec::new(),
        file_refs: Vec::new(),
        selectors: IndexMap::new(),
    };
    let mut texts = ConfigTexts::default();
    let mut seen: Vec<&[u8]> = Vec::new();
    let object = c.each_key("a JSON object", |c, key| {
        let known = SECTIONS.iter().map(|(name, _)| *name).chain(OTHER_KEYS);
        if let Some(name) = known.into_iter().find(|name| *name == key) {
            if seen.contains(&name) {
                let name = String::from_utf8_lossy(name).into_owned();
                return Err(Stop {
                    offset: c.offset(),
                    problem: Problem::RepeatedSection(name),
                });
            }
            seen.push(name);
        }
        if key == b"nodes" {
            if c.null() {
                return Err(Stop {
                    offset: c.offset() - 4,
                    problem: Problem::MissingSection("nodes"),
                });
            }
            return split::entries_in_parallel(c, Section::Node, &mut parsed.nodes, release);
        }
        if let Some((_, section)) = SECTIONS.iter().find(|(name, _)| *name == key) {
            let mut run = Run::new();
            c.each_key("an object keyed by unique_id", |c, id| {
                run.push(Some(entry(c, *section, &mut texts, id)?));
                Ok(())
            })?;
            parsed.nodes.push(run);
            return Ok(());
        }
        match key {
            b"metadata" => parsed.metadata = c.parse::<Option<_>>()?.unwrap_or_default(),
            b"macros" | b"docs" => entries(c, |c| {
                parsed.file_refs.push(file_ref(c)?);
                Ok(())
            })?,
            b"disabled" => entries(c, |c| disabled(c, &mut parsed.file_refs))?,
            b"selectors" => parsed.selectors = c.parse::<Option<_>>()?.unwrap_or_default(),
            _ => c.skip()?,
        }
        Ok(())
    })?;
    if !object {
        return Err(Stop::new(0, "expected a JSON object, found null"));
    }
    if c.peek().is_some() {
        return Err(Stop::new(
            c.offset(),
            "trailing characters after the manifest",
        ));
    }
    if !seen.contains(&&b"nodes"[..]) {
        return Err(Stop {
            offset: 0,
            problem: Problem::MissingSection("nodes"),
        });
    }
    Ok(parsed)
}

/// Calls `each` on every value of an object keyed by unique_id (`null` is empty).
fn entries<'a>(c: &mut Cursor<'a>, mut each: impl FnMut(&mut Cursor<'a>) -> Read<()>) -> Read<()> {
    c.each_key("an object keyed by unique_id", |c, _| each(c))
        .map(|_| ())
}

/// A graph entry's fields as written, before they are interpreted.
#[derive(Default)]
struct Fields {
    unique_id: Option<String>,
    resource_type: Option<ResourceType>,
    package_name: Option<String>,
    name: Option<String>,
    fqn: Box<[Box<str>]>,
    path: Option<String>,
    original_file_path: Option<String>,
    patch_path: Option<String>,
    tags: Option<Value>,
    config: Option<(Config, HotConfig)>,
    depends_on: Box<[Dependency]>,
    test_metadata: Option<Option<String>>,
    version: Option<Value>,
    latest_version: Option<Value>,
    access: Option<String>,
    group: Option<String>,
    source_name: Option<String>,
}

/// Reads one entry, keyed `id` in its section; `texts` are the configs of the entries
/// read before it.
pub(crate) fn entry(
    c: &mut Cursor<'_>,
    section: Section,
    texts: &mut ConfigTexts,
    id: &[u8],
) -> Read<Node> {
    let start = c.offset();
    let mut f = Fields::default();
    c.each_key("an entry object", |c, key| {
        match key {
            b"unique_id" => f.unique_id = c.string()?,
            b"resource_type" => {
                let name = c.str()?.filter(|n| !n.is_empty());
                f.resource_type =
                    name.map(|n| ResourceType::parse(&n).unwrap_or(ResourceType::Other));
            }
            b"package_name" => f.package_name = c.string()?,
            b"name" => f.name = c.string()?,
            b"fqn" => f.fqn = c.strings(|part| part)?,
            b"path" => f.path = c.string()?,
            b"original_file_path" => f.original_file_path = c.string()?,
            b"patch_path" => f.patch_path = c.string()?,
            b"tags" => f.tags = c.parse()?,
            b"config" => f.config = texts.read(c, section)?,
            b"depends_on" => f.depends_on = depends_on(c)?,
            b"test_metadata" => f.test_metadata = test_metadata(c)?,
            b"version" => f.version = c.parse()?,
            b"latest_version" => f.latest_version = c.parse()?,
            b"access" => f.access = c.string()?,
            b"group" => f.group = c.string()?,
            b"source_name" => f.source_name = c.string()?,
            _ => c.skip()?,
        }
        Ok(())
    })?;
    f.into_node(section).map_err(|key| Stop {
        offset: start,
        problem: Problem::MissingKey {
            entry: String::from_utf8_lossy(id).into_owned(),
            key,
        },
    })
}

fn depends_on(c: &mut Cursor<'_>) -> Read<Box<[Dependency]>> {
    let mut nodes = Box::default();
    c.each_key("a depends_on object", |c, key| {
        match key {
            b"nodes" => nodes = c.strings(Dependency::new)?,
            _ => c.skip()?,
        }
        Ok(())
    })?;
    Ok(nodes)
}

/// `Some(name)` when the entry has `test_metadata` (a generic test), `None` for `null`.
fn test_metadata(c: &mut Cursor<'_>) -> Read<Option<Option<String>>> {
    let mut name = None;
    let object = c.each_key("a test_metadata object", |c, key| {
        match key {
            b"name" => name = c.string()?,
            _ => c.skip()?,
        }
        Ok(())
    })?;
    Ok(object.then_some(name))
}

fn file_ref(c: &mut Cursor<'_>) -> Read<FileRef> {
    let mut r = FileRef::default();
    c.each_key("an entry object", |c, key| {
        match key {
            b"package_name" => r.package_name = c.string()?.unwrap_or_default(),
            b"original_file_path" => r.original_file_path = c.string()?.unwrap_or_default(),
            b"patch_path" => r.patch_path = c.string()?,
            _ => c.skip()?,
        }
        Ok(())
    })?;
    Ok(r)
}

/// `disabled` maps each unique_id to a list of candidates; a single object is tolerated.
fn disabled(c: &mut Cursor<'_>, out: &mut Vec<FileRef>) -> Read<()> {
    match c.peek() {
        Some(b'[') => {
            c.array("a list of disabled nodes")?;
            let mut first = true;
            while c.next_element(&mut first)? {
                out.push(file_ref(c)?);
            }
        }
        Some(b'{') => out.push(file_ref(c)?),
        _ if c.null() => {}
        _ => c.skip()?,
    }
    Ok(())
}

impl Fields {
    /// The entry, or the first required key it lacks.
    fn into_node(self, section: Section) -> Result<Node, &'static str> {
        let required =
            |value: Option<String>, key: &'static str| value.filter(|v| !v.is_empty()).ok_or(key);
        let unique_id = required(self.unique_id, "unique_id")?;
        let resource_type = self.resource_type.ok_or("resource_type")?;
        let package_name = required(self.package_name, "package_name")?;
        let name = required(self.name, "name")?;
        if self.fqn.is_empty() {
            return Err("fqn");
        }
        let (config, hot) = self.config.unwrap_or_default();
        let tags = tags_for(section, self.tags, hot.tags);
        Ok(Node {
            resource_type,
            key: IdKey::of(&unique_id),
            unique_id: unique_id.into(),
            section,
            package_name: package_name.into(),
            name: name.into(),
            fqn: self.fqn,
            path: self.path.unwrap_or_default().into(),
            original_file_path: self.original_file_path.unwrap_or_default().into(),
            patch_path: self.patch_path.map(String::into_boxed_str),
            tags,
            config,
            enabled: hot.enabled.and_then(|e| e.as_bool()) != Some(false),
            materialized: hot.materialized,
            depends_on: self.depends_on,
            is_generic_test: self.test_metadata.is_some(),
            test_metadata_name: self.test_metadata.flatten().map(String::into_boxed_str),
            version: self.version.filter(|v| !v.is_null()).map(Box::new),
            latest_version: self.latest_version.filter(|v| !v.is_null()).map(Box::new),
            access: self.access.map(String::into_boxed_str),
            group: self.group.map(String::into_boxed_str),
            source_name: self.source_name.map(String::into_boxed_str),
        })
    }
}

/// The tag list dbt's `tag:` method iterates. Unit tests take theirs from
/// `config.tags` (a string counts as one tag); semantic models have none; a saved
/// query's string `tags` is iterated character by character, as Python would.
fn tags_for(section: Section, tags: Option<Value>, config_tags: Option<Value>) -> Vec<String> {
    match section {
        Section::SemanticModel => Vec::new(),
        Section::UnitTest => string_list(config_tags.as_ref(), false),
        Section::SavedQuery => string_list(tags.as_ref(), true),
        _ => string_list(tags.as_ref(), false),
    }
}

fn string_list(v: Option<&Value>, split_string: bool) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        Some(Value::String(s)) if split_string => s.chars().map(String::from).collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}
