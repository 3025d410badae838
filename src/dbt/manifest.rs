//! Reading dbt's `manifest.json` (schema v10, v11 and v12: dbt 1.6 and later).
//!
//! Only what node selection and DAG generation need is kept; everything else in the
//! file (SQL, columns, docs, macros' bodies, parent/child maps) is skipped while parsing.

mod config;
mod raw;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use indexmap::IndexMap;
use serde_json::Value;

use crate::dbt::select::graph::DepGraph;
use crate::dbt::select::path::RootTree;
pub use config::Config;
use config::HotConfig;
use raw::{MetadataOnly, RawFileRef, RawManifest, RawNode};

/// Manifest schema versions this reader understands, oldest first.
pub const SUPPORTED_SCHEMA_VERSIONS: [&str; 3] = ["v10", "v11", "v12"];

/// Why a manifest could not be loaded. Messages name the file and, for JSON problems,
/// the byte offset, so a user can find the spot with `head -c` or an editor.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read dbt manifest {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "dbt manifest {path} is truncated: the JSON ends unexpectedly at byte {offset}; \
         was the file copied completely?"
    )]
    Truncated { path: PathBuf, offset: u64 },
    #[error(
        "dbt manifest {path} is not valid JSON at byte {offset} (line {line}, column {column}): {message}"
    )]
    InvalidJson {
        path: PathBuf,
        offset: u64,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "dbt manifest {path} does not have the expected structure at byte {offset} \
         (line {line}, column {column}): {message}"
    )]
    UnexpectedShape {
        path: PathBuf,
        offset: u64,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "dbt manifest {path} has no metadata.dbt_schema_version; is it a manifest.json \
         written by `dbt parse` / `dbt compile`?"
    )]
    MissingVersion { path: PathBuf },
    #[error(
        "dbt manifest {path} uses schema version {found}, which is not supported; supported \
         versions: v10 (dbt 1.6), v11 (dbt 1.7), v12 (dbt 1.8 and later)"
    )]
    UnsupportedVersion { path: PathBuf, found: String },
}

/// The type of a graph entry, as dbt's `NodeType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceType {
    Model,
    Analysis,
    Test,
    Snapshot,
    Operation,
    Seed,
    Rpc,
    SqlOperation,
    Doc,
    Source,
    Macro,
    Exposure,
    Metric,
    Group,
    SavedQuery,
    SemanticModel,
    UnitTest,
    Fixture,
    Function,
    /// A type this reader does not know (from a newer dbt); never selected by default.
    Other,
}

impl ResourceType {
    const NAMES: [(ResourceType, &'static str); 19] = [
        (ResourceType::Model, "model"),
        (ResourceType::Analysis, "analysis"),
        (ResourceType::Test, "test"),
        (ResourceType::Snapshot, "snapshot"),
        (ResourceType::Operation, "operation"),
        (ResourceType::Seed, "seed"),
        (ResourceType::Rpc, "rpc"),
        (ResourceType::SqlOperation, "sql_operation"),
        (ResourceType::Doc, "doc"),
        (ResourceType::Source, "source"),
        (ResourceType::Macro, "macro"),
        (ResourceType::Exposure, "exposure"),
        (ResourceType::Metric, "metric"),
        (ResourceType::Group, "group"),
        (ResourceType::SavedQuery, "saved_query"),
        (ResourceType::SemanticModel, "semantic_model"),
        (ResourceType::UnitTest, "unit_test"),
        (ResourceType::Fixture, "fixture"),
        (ResourceType::Function, "function"),
    ];

    /// The types `dbt ls` lists when no `--resource-type` is given (everything but
    /// analyses and hooks/operations).
    pub const LS_DEFAULTS: [ResourceType; 11] = [
        ResourceType::Model,
        ResourceType::Snapshot,
        ResourceType::Seed,
        ResourceType::Test,
        ResourceType::Source,
        ResourceType::Exposure,
        ResourceType::Metric,
        ResourceType::SavedQuery,
        ResourceType::SemanticModel,
        ResourceType::UnitTest,
        ResourceType::Function,
    ];

    /// Parses dbt's spelling (`model`, `unit_test`, …); `None` for anything else.
    pub fn parse(s: &str) -> Option<ResourceType> {
        Self::NAMES.iter().find(|(_, n)| *n == s).map(|(t, _)| *t)
    }

    /// dbt's spelling; `"unknown"` for [`ResourceType::Other`].
    pub fn as_str(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(t, _)| *t == self)
            .map_or("unknown", |(_, n)| n)
    }

    /// Every spelling dbt accepts, for error messages.
    pub fn all_names() -> impl Iterator<Item = &'static str> {
        Self::NAMES.iter().map(|(_, n)| *n)
    }
}

/// Which top-level manifest section an entry came from. dbt's selector methods walk
/// different sections (e.g. `config.` only nodes and sources), so this is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Section {
    Node,
    Source,
    Exposure,
    Metric,
    SemanticModel,
    SavedQuery,
    UnitTest,
    Function,
}

/// One graph entry of the manifest, from any section.
#[derive(Debug, Clone)]
pub struct Node {
    pub unique_id: String,
    pub section: Section,
    pub resource_type: ResourceType,
    pub package_name: String,
    pub name: String,
    pub fqn: Vec<String>,
    pub path: String,
    pub original_file_path: String,
    /// `package://path/to/file.yml` of the YAML that documents the node, if any.
    pub patch_path: Option<String>,
    /// The tags dbt's `tag:` method looks at (for unit tests: `config.tags`).
    pub tags: Vec<String>,
    /// The node's whole `config` block (parsed on demand).
    pub config: Config,
    /// `config.enabled` (true when absent). dbt ignores disabled entries.
    pub enabled: bool,
    /// `config.materialized`, e.g. `table`, `view`, `incremental`, `ephemeral`.
    pub materialized: Option<String>,
    /// `depends_on.nodes`: unique_ids this entry depends on.
    pub depends_on: Vec<String>,
    /// Set for generic (schema) tests: the test's name, e.g. `not_null`.
    pub test_metadata_name: Option<String>,
    /// True for tests that have `test_metadata` (generic tests).
    pub is_generic_test: bool,
    pub attached_node: Option<String>,
    /// Model version (a string or a number in the manifest).
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

/// `metadata` of the manifest.
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    /// Like `https://schemas.getdbt.com/dbt/manifest/v12.json`.
    pub dbt_schema_version: String,
    pub dbt_version: Option<String>,
    /// Name of the root project (the one `dbt parse` ran in).
    pub project_name: Option<String>,
    pub adapter_type: Option<String>,
}

/// Index of an entry in [`Manifest::nodes`]; entries are sorted by unique_id.
pub(crate) type NodeIdx = u32;

/// A loaded manifest: every graph entry sorted by unique_id, plus the dependency graph.
#[derive(Debug)]
pub struct Manifest {
    metadata: Metadata,
    nodes: Vec<Node>,
    /// Root-project files known from macros, docs and disabled nodes (graph entries
    /// carry their own paths); see the `path:` method.
    other_root_files: Vec<String>,
    selectors: IndexMap<String, Value>,
    graph: DepGraph,
    /// Built on the first `path:` selection, then shared by all.
    root_tree: OnceLock<RootTree>,
}

impl Manifest {
    /// Reads and parses `manifest.json` from disk.
    pub fn from_path(path: &Path) -> Result<Manifest, ManifestError> {
        let bytes = std::fs::read(path).map_err(|source| ManifestError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Manifest::from_slice(&bytes, path)
    }

    /// Parses manifest JSON held in memory; `origin` names it in error messages.
    pub fn from_slice(json: &[u8], origin: &Path) -> Result<Manifest, ManifestError> {
        let raw: RawManifest = match serde_json::from_slice(json) {
            Ok(raw) => raw,
            Err(err) => return Err(read_failure(json, origin, &err)),
        };
        check_version(raw.metadata.dbt_schema_version.as_deref(), origin)?;
        Ok(Manifest::from_raw(raw))
    }

    /// Parses manifest JSON as it is read (the file is never in memory whole). `reader`
    /// yields `origin`'s content, possibly with parts the reader skips left out; when it
    /// does not parse, `origin` is read again whole for an error with the exact byte offset.
    pub fn from_reader(
        reader: impl std::io::Read,
        origin: &Path,
    ) -> Result<Manifest, ManifestError> {
        let reader = std::io::BufReader::with_capacity(1 << 20, reader);
        match serde_json::from_reader::<_, RawManifest>(reader) {
            Ok(raw) => {
                check_version(raw.metadata.dbt_schema_version.as_deref(), origin)?;
                Ok(Manifest::from_raw(raw))
            }
            Err(e) if e.is_io() => Err(ManifestError::Io {
                path: origin.to_path_buf(),
                source: std::io::Error::other(e),
            }),
            Err(_) => Manifest::from_path(origin),
        }
    }

    fn from_raw(raw: RawManifest) -> Manifest {
        let root = raw.metadata.project_name.clone();
        let other_root_files = root_files_of(&raw, root.as_deref());
        let mut nodes: Vec<Node> = collect_nodes(raw.nodes.0, Section::Node).collect();
        nodes.extend(collect_nodes(raw.sources.0, Section::Source));
        nodes.extend(collect_nodes(raw.exposures.0, Section::Exposure));
        nodes.extend(collect_nodes(raw.metrics.0, Section::Metric));
        nodes.extend(collect_nodes(raw.semantic_models.0, Section::SemanticModel));
        nodes.extend(collect_nodes(raw.saved_queries.0, Section::SavedQuery));
        nodes.extend(collect_nodes(raw.unit_tests.0, Section::UnitTest));
        nodes.extend(collect_nodes(raw.functions.0, Section::Function));
        // Sorting makes index order equal unique_id order: selections come out sorted.
        nodes.sort_by(|a, b| a.unique_id.cmp(&b.unique_id));
        nodes.dedup_by(|a, b| a.unique_id == b.unique_id);
        let graph = DepGraph::build(&nodes);
        let m = raw.metadata;
        Manifest {
            metadata: Metadata {
                dbt_schema_version: m.dbt_schema_version.unwrap_or_default(),
                dbt_version: m.dbt_version,
                project_name: m.project_name,
                adapter_type: m.adapter_type,
            },
            nodes,
            other_root_files,
            selectors: raw.selectors,
            graph,
            root_tree: OnceLock::new(),
        }
    }

    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The root project's name (`metadata.project_name`).
    pub fn project_name(&self) -> Option<&str> {
        self.metadata.project_name.as_deref()
    }

    /// Every graph entry (all sections), sorted by unique_id. Entries with
    /// `enabled: false` that dbt left in their section are included (see
    /// [`Node::enabled`]); the manifest's separate `disabled` section is not.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Looks an entry up by unique_id.
    pub fn node(&self, unique_id: &str) -> Option<&Node> {
        self.index_of(unique_id).map(|i| &self.nodes[i as usize])
    }

    /// The manifest's own `selectors` section (already rendered by dbt), by name.
    pub fn selectors_section(&self) -> &IndexMap<String, Value> {
        &self.selectors
    }

    pub(crate) fn index_of(&self, unique_id: &str) -> Option<NodeIdx> {
        self.nodes
            .binary_search_by(|n| n.unique_id.as_str().cmp(unique_id))
            .ok()
            .map(|i| i as NodeIdx)
    }

    pub(crate) fn at(&self, idx: NodeIdx) -> &Node {
        &self.nodes[idx as usize]
    }

    pub(crate) fn graph(&self) -> &DepGraph {
        &self.graph
    }

    pub(crate) fn other_root_files(&self) -> &[String] {
        &self.other_root_files
    }

    pub(crate) fn root_tree(&self) -> &RootTree {
        self.root_tree.get_or_init(|| RootTree::from_manifest(self))
    }
}

/// Turns a serde_json failure into a user-facing error; if the file declares a schema
/// version we do not support, that is the more useful thing to say.
fn read_failure(json: &[u8], origin: &Path, err: &serde_json::Error) -> ManifestError {
    if err.classify() == serde_json::error::Category::Data
        && let Ok(meta) = serde_json::from_slice::<MetadataOnly>(json)
        && let Err(version_err) = check_version(meta.metadata.dbt_schema_version.as_deref(), origin)
    {
        return version_err;
    }
    let (line, column) = (err.line(), err.column());
    let offset = byte_offset(json, line, column);
    let path = origin.to_path_buf();
    let message = strip_position(&err.to_string());
    match err.classify() {
        serde_json::error::Category::Eof => ManifestError::Truncated {
            path,
            offset: json.len() as u64,
        },
        serde_json::error::Category::Data => ManifestError::UnexpectedShape {
            path,
            offset,
            line,
            column,
            message,
        },
        _ => ManifestError::InvalidJson {
            path,
            offset,
            line,
            column,
            message,
        },
    }
}

/// serde_json reports a 1-based line and the 1-based byte column of the offending
/// byte; we turn that into the byte's 0-based offset in the file.
fn byte_offset(json: &[u8], line: usize, column: usize) -> u64 {
    let mut start = 0usize;
    let mut remaining = line.saturating_sub(1);
    for (i, &b) in json.iter().enumerate() {
        if remaining == 0 {
            break;
        }
        if b == b'\n' {
            remaining -= 1;
            start = i + 1;
        }
    }
    (start + column.saturating_sub(1)).min(json.len()) as u64
}

/// serde_json appends " at line L column C"; we print our own position instead.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

fn check_version(url: Option<&str>, origin: &Path) -> Result<(), ManifestError> {
    let Some(url) = url else {
        return Err(ManifestError::MissingVersion {
            path: origin.to_path_buf(),
        });
    };
    let version = schema_version_of(url);
    if url.contains("/manifest/") && SUPPORTED_SCHEMA_VERSIONS.contains(&version) {
        return Ok(());
    }
    Err(ManifestError::UnsupportedVersion {
        path: origin.to_path_buf(),
        found: url.to_string(),
    })
}

/// `https://schemas.getdbt.com/dbt/manifest/v12.json` → `v12`.
fn schema_version_of(url: &str) -> &str {
    let last = url.rsplit('/').next().unwrap_or(url);
    last.strip_suffix(".json").unwrap_or(last)
}

fn collect_nodes(raw: Vec<RawNode>, section: Section) -> impl Iterator<Item = Node> {
    raw.into_iter().map(move |r| node_from_raw(r, section))
}

fn node_from_raw(r: RawNode, section: Section) -> Node {
    let config = r.config;
    let hot = HotConfig::of(&config);
    let tags = tags_for(section, r.tags, hot.tags);
    let test_name = r.test_metadata.as_ref().and_then(|t| t.name.clone());
    Node {
        resource_type: ResourceType::parse(&r.resource_type).unwrap_or(ResourceType::Other),
        unique_id: r.unique_id,
        section,
        package_name: r.package_name,
        name: r.name,
        fqn: r.fqn,
        path: r.path,
        original_file_path: r.original_file_path,
        patch_path: r.patch_path,
        tags,
        config,
        enabled: hot.enabled.and_then(|e| e.as_bool()) != Some(false),
        materialized: hot
            .materialized
            .and_then(|m| m.as_str().map(str::to_string)),
        depends_on: r.depends_on.map(|d| d.nodes).unwrap_or_default(),
        is_generic_test: r.test_metadata.is_some(),
        test_metadata_name: test_name,
        attached_node: r.attached_node,
        version: r.version.filter(|v| !v.is_null()),
        latest_version: r.latest_version.filter(|v| !v.is_null()),
        access: r.access,
        group: r.group,
        source_name: r.source_name,
        alias: r.alias,
        schema: r.schema,
        database: r.database,
        relation_name: r.relation_name,
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

/// Files of the root project that are not graph entries (macros, docs, disabled
/// nodes): their directories exist on disk, which matters to `path:` globbing.
fn root_files_of(raw: &RawManifest, root: Option<&str>) -> Vec<String> {
    let Some(root) = root else {
        return Vec::new();
    };
    let disabled = raw.disabled.0.iter().flat_map(|l| l.0.iter());
    let refs = raw.macros.0.iter().chain(raw.docs.0.iter()).chain(disabled);
    let mut files = Vec::new();
    for r in refs.filter(|r: &&RawFileRef| r.package_name == root) {
        files.push(r.original_file_path.clone());
        if let Some(p) = r.patch_path.as_deref().and_then(patch_file) {
            files.push(p.to_string());
        }
    }
    files
}

/// `pkg://models/schema.yml` → `models/schema.yml`, as dbt's `split("://")[1]`.
pub(crate) fn patch_file(patch_path: &str) -> Option<&str> {
    patch_path.split("://").nth(1).filter(|p| !p.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_count_bytes_from_line_starts() {
        let json = b"{\n  \"a\": 1,\n  x\n}";
        assert_eq!(byte_offset(json, 3, 3), 14);
        assert_eq!(byte_offset(json, 1, 1), 0);
    }

    #[test]
    fn schema_version_is_the_last_url_segment() {
        let url = "https://schemas.getdbt.com/dbt/manifest/v12.json";
        assert_eq!(schema_version_of(url), "v12");
        assert!(check_version(Some(url), Path::new("m.json")).is_ok());
        let old = "https://schemas.getdbt.com/dbt/manifest/v9.json";
        assert!(check_version(Some(old), Path::new("m.json")).is_err());
        let catalog = "https://schemas.getdbt.com/dbt/catalog/v1.json";
        assert!(check_version(Some(catalog), Path::new("m.json")).is_err());
    }
}
