//! Reading dbt's `manifest.json` (schema v10, v11 and v12: dbt 1.6 and later).
//!
//! Only what node selection and DAG generation need is kept; everything else in the
//! file (SQL, columns, docs, macros' bodies, parent/child maps) is skipped while parsing
//! ([`read`] walks the file, [`cursor`] and [`skim`] do the skipping).

mod config;
mod config_texts;
mod cursor;
mod id_key;
mod mapped;
mod read;
mod skim;
mod split;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use indexmap::IndexMap;
use serde_json::Value;

use crate::dbt::select::graph::DepGraph;
use crate::dbt::select::path::RootTree;
pub use config::{Config, ConfigError};
pub use id_key::{Dependency, IdKey};
pub use mapped::{MappedManifest, Stamp};
use read::{FileRef, MetadataOnly, Parsed, Run};

/// Manifest schema versions this reader understands, oldest first.
pub const SUPPORTED_SCHEMA_VERSIONS: [&str; 3] = ["v10", "v11", "v12"];

/// Why a manifest could not be loaded. Messages name the file and, for JSON problems,
/// the byte offset, so a user can find the spot with `head -c` or an editor.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read dbt manifest {}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read dbt manifest {path}: not a regular file (it is {kind})")]
    NotRegularFile { path: PathBuf, kind: &'static str },
    #[error(
        "dbt manifest {path} changed while it was read (is `dbt parse` or `dbt compile` \
         writing it?); run again once it is written"
    )]
    ChangedWhileRead { path: PathBuf },
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
        "dbt manifest {path}: entry `{entry}` (at byte {offset}, line {line}) has no `{key}` \
         (or it is null or empty); dbt writes one for every node, so the file was not \
         written by dbt or was edited"
    )]
    MissingKey {
        path: PathBuf,
        entry: String,
        key: &'static str,
        offset: u64,
        line: usize,
    },
    #[error(
        "dbt manifest {path} has no `{section}` section (or it is null); dbt always writes \
         one, so the file was not written by dbt or was edited"
    )]
    MissingSection {
        path: PathBuf,
        section: &'static str,
    },
    #[error(
        "dbt manifest {path} has the `{section}` section twice (the second at byte {offset}); \
         JSON readers differ on which one counts, so dagship reads neither"
    )]
    RepeatedSection {
        path: PathBuf,
        section: String,
        offset: u64,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
    pub unique_id: Box<str>,
    /// `unique_id`'s key, for linking.
    pub key: IdKey,
    pub section: Section,
    pub resource_type: ResourceType,
    pub package_name: Box<str>,
    pub name: Box<str>,
    pub fqn: Box<[Box<str>]>,
    pub path: Box<str>,
    pub original_file_path: Box<str>,
    /// `package://path/to/file.yml` of the YAML that documents the node, if any.
    pub patch_path: Option<Box<str>>,
    /// The tags dbt's `tag:` method looks at (for unit tests: `config.tags`).
    pub tags: Vec<String>,
    /// The node's whole `config` block (parsed on demand).
    pub config: Config,
    /// `config.enabled` (true when absent). dbt ignores disabled entries.
    pub enabled: bool,
    /// `config.materialized`, e.g. `table`, `view`, `incremental`, `ephemeral`.
    pub materialized: Option<Arc<str>>,
    /// `depends_on.nodes`: the entries this one depends on.
    pub depends_on: Box<[Dependency]>,
    /// Set for generic (schema) tests: the test's name, e.g. `not_null`.
    pub test_metadata_name: Option<Box<str>>,
    /// True for tests that have `test_metadata` (generic tests).
    pub is_generic_test: bool,
    /// Model version (a string or a number in the manifest).
    pub version: Option<Box<Value>>,
    pub latest_version: Option<Box<Value>>,
    pub access: Option<Box<str>>,
    pub group: Option<Box<str>>,
    pub source_name: Option<Box<str>>,
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
    /// Built when first needed: `dagship dags` builds it alongside its own indexes.
    graph: OnceLock<DepGraph>,
    /// Built on the first `path:` selection, then shared by all.
    root_tree: OnceLock<RootTree>,
}

impl Manifest {
    /// Reads and parses `manifest.json` from disk (see [`MappedManifest`]).
    pub fn from_path(path: &Path) -> Result<Manifest, ManifestError> {
        MappedManifest::open(path)?.parse(path)
    }

    /// Parses manifest JSON held in memory; `origin` names it in error messages.
    pub fn from_slice(json: &[u8], origin: &Path) -> Result<Manifest, ManifestError> {
        Manifest::from_slice_releasing(json, origin, &|_, _| {})
    }

    /// Like [`Manifest::from_slice`], calling `release(start, end)` for ranges of `json`
    /// it has read and will not read again: a memory-mapped file's pages can be given
    /// back while the rest is read.
    pub fn from_slice_releasing(
        json: &[u8],
        origin: &Path,
        release: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<Manifest, ManifestError> {
        match read::manifest(json, release) {
            Ok(parsed) => {
                check_version(parsed.metadata.dbt_schema_version.as_deref(), origin)?;
                Ok(Manifest::from_parsed(parsed))
            }
            Err(stop) => Err(read_failure(json, origin, stop)),
        }
    }

    fn from_parsed(parsed: Parsed) -> Manifest {
        let root = parsed.metadata.project_name.clone();
        let other_root_files = root_files_of(&parsed.file_refs, root.as_deref());
        let nodes = sorted_by_unique_id(parsed.nodes);
        let m = parsed.metadata;
        Manifest {
            metadata: Metadata {
                dbt_schema_version: m.dbt_schema_version.unwrap_or_default(),
                dbt_version: m.dbt_version,
                project_name: m.project_name,
                adapter_type: m.adapter_type,
            },
            nodes,
            other_root_files,
            selectors: parsed.selectors,
            graph: OnceLock::new(),
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
            .binary_search_by(|n| (*n.unique_id).cmp(unique_id))
            .ok()
            .map(|i| i as NodeIdx)
    }

    pub(crate) fn at(&self, idx: NodeIdx) -> &Node {
        &self.nodes[idx as usize]
    }

    /// The dependency graph, built on first use. Building it uses rayon's threads, so a
    /// rayon task must not be the first to ask while another thread may be building it:
    /// `dags::generate` builds it up front.
    pub(crate) fn graph(&self) -> &DepGraph {
        self.graph.get_or_init(|| DepGraph::build(&self.nodes))
    }

    pub(crate) fn other_root_files(&self) -> &[String] {
        &self.other_root_files
    }

    pub(crate) fn root_tree(&self) -> &RootTree {
        self.root_tree.get_or_init(|| RootTree::from_manifest(self))
    }
}

/// Turns a stop of the reader into a user-facing error. The reader skips most of the
/// file without checking its grammar, so the file is first checked strictly (this only
/// happens on failure): a syntax error or a truncation found there is the real problem.
/// Otherwise the JSON is well-formed but not shaped like a manifest; if it declares a
/// schema version we do not support, that is the more useful thing to say.
fn read_failure(json: &[u8], origin: &Path, stop: cursor::Stop) -> ManifestError {
    let path = origin.to_path_buf();
    // serde_json gives up on values nested deeper than 128, which JSON allows: that is
    // not a syntax error, and the reader's own reason stands.
    let strict = match serde_json::from_slice::<serde::de::IgnoredAny>(json) {
        Err(err) if !err.to_string().starts_with("recursion limit exceeded") => Err(err),
        _ => Ok(()),
    };
    if let Err(err) = strict {
        let (line, column) = (err.line(), err.column());
        let offset = byte_offset(json, line, column);
        return match err.classify() {
            serde_json::error::Category::Eof => ManifestError::Truncated {
                path,
                offset: json.len() as u64,
            },
            _ => ManifestError::InvalidJson {
                path,
                offset,
                line,
                column,
                message: cursor::strip_position(&err.to_string()),
            },
        };
    }
    if let Ok(meta) = serde_json::from_slice::<MetadataOnly>(json)
        && let Err(version_err) = check_version(meta.metadata.dbt_schema_version.as_deref(), origin)
    {
        return version_err;
    }
    let (line, column) = line_column(json, stop.offset);
    let offset = stop.offset as u64;
    match stop.problem {
        cursor::Problem::Shape(message) => ManifestError::UnexpectedShape {
            path,
            offset,
            line,
            column,
            message,
        },
        cursor::Problem::MissingKey { entry, key } => ManifestError::MissingKey {
            path,
            entry,
            key,
            offset,
            line,
        },
        cursor::Problem::MissingSection(section) => ManifestError::MissingSection { path, section },
        cursor::Problem::RepeatedSection(section) => ManifestError::RepeatedSection {
            path,
            section,
            offset,
        },
    }
}

/// 1-based line and byte column of `offset`.
fn line_column(json: &[u8], offset: usize) -> (usize, usize) {
    let before = &json[..offset.min(json.len())];
    let line = memchr::memchr_iter(b'\n', before).count() + 1;
    let start = memchr::memrchr(b'\n', before).map_or(0, |i| i + 1);
    (line, before.len() - start + 1)
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

/// Sorting makes index order equal unique_id order: selections come out sorted. Of
/// entries sharing a unique_id, the one of the earlier section is kept. Entries are large,
/// so their order is found first and each one is then moved into place once.
fn sorted_by_unique_id(mut runs: Vec<Run>) -> Vec<Node> {
    let mut order: Vec<(&str, Section, u32, u32)> = Vec::new();
    for (r, run) in runs.iter().enumerate() {
        for (i, node) in run.iter().enumerate() {
            let node = node.as_ref().expect("entries are taken only below");
            order.push((&*node.unique_id, node.section, r as u32, i as u32));
        }
    }
    // Ties (one unique_id twice) keep file order, which the runs are in.
    rayon::slice::ParallelSliceMut::par_sort_unstable(&mut order[..]);
    let order: Vec<(usize, usize)> = order
        .into_iter()
        .map(|(_, _, r, i)| (r as usize, i as usize))
        .collect();
    let mut nodes: Vec<Node> = order
        .into_iter()
        .map(|(r, i)| runs[r][i].take().expect("each entry is taken once"))
        .collect();
    nodes.dedup_by(|later, first| later.unique_id == first.unique_id);
    nodes
}

/// Files of the root project that are not graph entries (macros, docs, disabled
/// nodes): their directories exist on disk, which matters to `path:` globbing.
fn root_files_of(refs: &[FileRef], root: Option<&str>) -> Vec<String> {
    let Some(root) = root else {
        return Vec::new();
    };
    let mut files = Vec::new();
    for r in refs.iter().filter(|r| r.package_name == root) {
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
        assert_eq!(line_column(json, 14), (3, 3));
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

    #[test]
    fn entries_come_sorted_and_a_repeated_unique_id_keeps_its_first_entry() {
        let entry = |id: &str, name: &str| {
            format!(
                r#""{id}": {{"unique_id": "{id}", "resource_type": "model", "package_name": "p", "name": "{name}", "fqn": ["p", "{name}"]}}"#
            )
        };
        let json = format!(
            r#"{{"metadata": {{"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"}},
                "nodes": {{{}, {}, {}}}, "sources": {{{}}}}}"#,
            entry("model.p.b", "first"),
            entry("model.p.a", "a"),
            entry("model.p.b", "second"),
            entry("model.p.b", "source"),
        );
        let m = Manifest::from_slice(json.as_bytes(), Path::new("m.json")).unwrap();
        let seen: Vec<(&str, &str, Section)> = m
            .nodes()
            .iter()
            .map(|n| (&*n.unique_id, &*n.name, n.section))
            .collect();
        assert_eq!(
            seen,
            [
                ("model.p.a", "a", Section::Node),
                ("model.p.b", "first", Section::Node)
            ]
        );
    }
}
