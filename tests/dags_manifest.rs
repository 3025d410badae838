//! The manifest reader skims: it parses the fields selection needs and skips the rest
//! without parsing it (`src/dbt/manifest/`). Here every entry it reads from the corpus is
//! checked field by field against serde_json's full parse of the same file; `dagship dags`
//! (memory-mapped, two threads) must read what `Manifest::from_slice` reads; and the
//! header's hash is the file's XXH3-128 hash.

mod dbt_support;

use dagship::dags;
use dagship::dbt::manifest::{Config, Dependency, IdKey, Manifest, Node, ResourceType, Section};
use serde_json::Value;

const PROJECTS: [&str; 4] = [
    "jaffle_shop",
    "mattermost_analytics",
    "tuva_integration_tests",
    "spellbook_daily",
];

const SECTIONS: [(&str, Section); 8] = [
    ("nodes", Section::Node),
    ("sources", Section::Source),
    ("exposures", Section::Exposure),
    ("metrics", Section::Metric),
    ("semantic_models", Section::SemanticModel),
    ("saved_queries", Section::SavedQuery),
    ("unit_tests", Section::UnitTest),
    ("functions", Section::Function),
];

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// What the reader must have made of `entry`, from the fully parsed JSON.
fn check_entry(node: &Node, entry: &Value, section: Section) {
    let id = &node.unique_id;
    assert_eq!(Some(id.to_string()), text(entry, "unique_id"));
    assert_eq!(node.section, section, "{id}");
    let rt = text(entry, "resource_type").unwrap_or_default();
    assert_eq!(
        node.resource_type,
        ResourceType::parse(&rt).unwrap_or(ResourceType::Other),
        "{id}"
    );
    assert_eq!(
        Some(node.package_name.to_string()),
        text(entry, "package_name"),
        "{id}"
    );
    assert_eq!(*node.name, text(entry, "name").unwrap_or_default(), "{id}");
    let fqn: Vec<&str> = node.fqn.iter().map(|p| &**p).collect();
    assert_eq!(fqn, strings(entry.get("fqn")), "{id}");
    assert_eq!(*node.path, text(entry, "path").unwrap_or_default(), "{id}");
    assert_eq!(
        *node.original_file_path,
        text(entry, "original_file_path").unwrap_or_default(),
        "{id}"
    );
    assert_eq!(
        node.patch_path.as_deref(),
        text(entry, "patch_path").as_deref(),
        "{id}"
    );
    let deps = entry.get("depends_on").and_then(|d| d.get("nodes"));
    let dep_ids: Vec<&str> = node.depends_on.iter().map(|d| &*d.unique_id).collect();
    assert_eq!(dep_ids, strings(deps), "{id}");
    assert_eq!(node.key, IdKey::of(&node.unique_id), "{id}");
    for dep in &node.depends_on {
        assert_eq!(dep.key, IdKey::of(&dep.unique_id), "{id}");
    }
    let config = entry.get("config").filter(|c| c.is_object());
    let read: Option<Value> = config.map(|_| serde_json::from_str(node.config.raw()).unwrap());
    assert_eq!(read.as_ref(), config, "{id}: config text");
    let enabled = config
        .and_then(|c| c.get("enabled"))
        .and_then(Value::as_bool);
    assert_eq!(node.enabled, enabled != Some(false), "{id}");
    let materialized = config.and_then(|c| text(c, "materialized"));
    assert_eq!(
        node.materialized.as_deref(),
        materialized.as_deref(),
        "{id}"
    );
    if matches!(section, Section::Node | Section::Source | Section::Exposure) {
        assert_eq!(node.tags, strings(entry.get("tags")), "{id}");
    }
    let test_metadata = entry.get("test_metadata").filter(|t| !t.is_null());
    assert_eq!(node.is_generic_test, test_metadata.is_some(), "{id}");
    assert_eq!(
        node.test_metadata_name.as_deref(),
        test_metadata.and_then(|t| text(t, "name")).as_deref(),
        "{id}"
    );
    let version = entry.get("version").filter(|v| !v.is_null());
    assert_eq!(node.version.as_deref(), version, "{id}");
    for (field, want) in [
        (&node.access, "access"),
        (&node.group, "group"),
        (&node.source_name, "source_name"),
    ] {
        assert_eq!(
            field.as_deref(),
            text(entry, want).as_deref(),
            "{id}: {want}"
        );
    }
}

#[test]
fn every_entry_reads_as_a_full_parse_has_it() {
    for project in PROJECTS {
        let path = dbt_support::corpus_dir().join(format!("{project}.manifest.json.gz"));
        let bytes = dbt_support::gunzip(&path);
        let manifest = Manifest::from_slice(&bytes, &path).unwrap();
        let full: Value = serde_json::from_slice(&bytes).unwrap();
        let mut expected = 0;
        for (key, section) in SECTIONS {
            let Some(entries) = full.get(key).and_then(Value::as_object) else {
                continue;
            };
            for (unique_id, entry) in entries {
                let node = manifest
                    .node(unique_id)
                    .unwrap_or_else(|| panic!("{unique_id}"));
                check_entry(node, entry, section);
                expected += 1;
            }
        }
        assert_eq!(
            manifest.nodes().len(),
            expected,
            "{project}: no entry more or less"
        );
        let m = manifest.metadata();
        assert_eq!(
            Some(m.dbt_schema_version.clone()),
            text(&full["metadata"], "dbt_schema_version")
        );
        assert_eq!(
            manifest.project_name().map(str::to_string),
            text(&full["metadata"], "project_name")
        );
    }
}

#[test]
fn dags_reads_the_file_as_from_slice_does() {
    let dir = tempfile::tempdir().unwrap();
    for project in PROJECTS {
        let path = dbt_support::corpus_dir().join(format!("{project}.manifest.json.gz"));
        let bytes = dbt_support::gunzip(&path);
        let want = format!("{:?}", Manifest::from_slice(&bytes, &path).unwrap());
        let file = dir.path().join(format!("{project}.json"));
        std::fs::write(&file, &bytes).unwrap();
        let loaded = dags::load_manifest(&file).unwrap();
        assert!(
            format!("{:?}", loaded) == want,
            "{project}: load_manifest reads differently"
        );
    }
}

/// A manifest large enough for the two-thread read (whose second thread starts at a
/// guessed entry; `src/dbt/manifest/split.rs` tests wrong guesses) reads as the one-thread
/// read does.
#[test]
fn large_manifests_read_on_two_threads_as_on_one() {
    let entry = |i: usize| {
        format!(
            r#""model.p.m{i}": {{"unique_id": "model.p.m{i}", "resource_type": "model", "package_name": "p", "name": "m{i}", "fqn": ["p", "m{i}"], "raw_code": "select '}}, \"model.p.x\": {{' {pad}", "columns": {{"a": {{}}}}, "depends_on": {{"nodes": ["model.p.m{j}"]}}, "config": {{"materialized": "view", "tags": []}}}}"#,
            j = i / 2,
            pad = "x".repeat(4000),
        )
    };
    let manifest = |nodes: &[String]| {
        format!(
            r#"{{"metadata": {{"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json", "project_name": "p"}}, "nodes": {{{}}}, "sources": {{}}}}"#,
            nodes.join(", ")
        )
    };
    let nodes: Vec<String> = (0..12_000).map(entry).collect();
    let json = manifest(&nodes);
    assert!(json.len() > 40 << 20, "over the two-thread threshold");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("manifest.json");
    std::fs::write(&file, &json).unwrap();
    let loaded = dags::load_manifest(&file).unwrap();
    assert_eq!(loaded.nodes().len(), 12_000);
    let one = loaded.node("model.p.m11999").unwrap();
    assert_eq!(*one.depends_on, [Dependency::new("model.p.m5999")]);
    // Reading through one thread (below the threshold, piece by piece) agrees.
    let mut small = Vec::new();
    for n in [&nodes[..6000], &nodes[6000..]] {
        let part = manifest(n);
        assert!(part.len() < 32 << 20);
        let m = Manifest::from_slice(part.as_bytes(), &file).unwrap();
        small.extend(m.nodes().iter().map(|n| format!("{n:?}")));
    }
    small.sort();
    let mut big: Vec<String> = loaded.nodes().iter().map(|n| format!("{n:?}")).collect();
    big.sort();
    assert!(big == small, "two-thread read differs");
}

/// Some tools rewrite manifests pretty-printed: whitespace anywhere reads the same.
#[test]
fn pretty_printed_manifests_read_as_compact_ones() {
    let path = dbt_support::corpus_dir().join("mattermost_analytics.manifest.json.gz");
    let bytes = dbt_support::gunzip(&path);
    let value: Value = serde_json::from_slice(&bytes).unwrap();
    let compact = serde_json::to_vec(&value).unwrap();
    let pretty = serde_json::to_vec_pretty(&value).unwrap();
    // Configs are kept as written: compare them parsed.
    let read = |b: &[u8]| {
        let m = Manifest::from_slice(b, &path).unwrap();
        let nodes: Vec<String> = m
            .nodes()
            .iter()
            .map(|n| {
                let mut n = n.clone();
                let config: Value = serde_json::from_str(n.config.raw()).unwrap();
                n.config = Config::from_json_text(&config.to_string());
                format!("{n:?}")
            })
            .collect();
        (
            nodes,
            format!("{:?} {:?}", m.metadata(), m.selectors_section()),
        )
    };
    assert!(
        read(&pretty) == read(&compact),
        "pretty-printed reads differently"
    );
    assert!(
        read(&compact) == read(&bytes),
        "re-serialised reads differently"
    );
}
