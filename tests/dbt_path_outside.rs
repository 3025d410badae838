//! `path:` through `..`, against the real `dbt ls` (issue 13): a project whose model paths
//! reach outside its folder (`../../sources`, as spellbook's do) has entries whose
//! `original_file_path` starts with `../..`, and dbt selects them by that text. The
//! project is `tests/data/dbt_projects/sources_outside`; the DAG tasks made from its
//! selectors must each pick exactly their node when dbt runs them.

mod example_dbt;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use dagship::dags::graph::{self, Command as DbtCommand, ManifestIndex};
use dagship::dags::{self, DagOptions};
use dagship::dbt::select::select_expression;
use dagship::dbt::selectors_file::SelectorsFile;
use serde_json::{Value, json};

/// Answers `queries` (key → `dbt ls` arguments) with `tests/dbt_ls.py` in `project`.
fn dbt_ls(
    project: &Path,
    queries: &BTreeMap<String, Vec<String>>,
) -> (Value, BTreeMap<String, Value>) {
    let request = json!({"project_dir": ".", "profiles_dir": ".", "target": "local",
                         "deps": false, "queries": queries});
    let dir = tempfile::tempdir().unwrap();
    let (req, res) = (dir.path().join("req.json"), dir.path().join("res.json"));
    std::fs::write(&req, request.to_string()).unwrap();
    let out = Command::new(example_dbt::venv_bin("python"))
        .current_dir(project)
        .arg(example_dbt::repo_root().join("tests/dbt_ls.py"))
        .args([&req, &res])
        .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dbt_ls.py failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_slice(&std::fs::read(&res).unwrap()).unwrap();
    let results = result["results"]
        .as_object()
        .unwrap()
        .clone()
        .into_iter()
        .collect();
    (result["manifest"].clone(), results)
}

fn args(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

#[test]
fn path_selection_through_dot_dot_agrees_with_dbt_ls() {
    let dir = tempfile::tempdir().unwrap();
    example_dbt::copy_tree(
        &example_dbt::repo_root().join("tests/data/dbt_projects/sources_outside"),
        dir.path(),
    );
    let project = dir.path().join("projects/warehouse");
    let expressions = [
        "path:../../sources/_sector/dex",
        "path:../../sources/_sector/dex/",
        "path:../../sources/_sector",
        "path:../../sources/*/dex",
        "path:../../sources/**/*.yml",
        "path:../../sources/_sector/dex/dex_trades_clean.sql",
        "path:../../sources/core/_core_sources.yml",
        "path:../..",
        "path:..",
        "path:models",
        "path:*",
        "path:**",
        "path:../../sources/_sector/nope",
        "path:models/../models",
        "path:../../sources/_sector/dex+",
    ];
    let mut queries = BTreeMap::new();
    for e in expressions {
        queries.insert(format!("select {e}"), args(&["--select", e]));
    }
    for s in ["dex", "sector"] {
        queries.insert(format!("selector {s}"), args(&["--selector", s]));
    }
    let (manifest_path, theirs) = dbt_ls(&project, &queries);
    let loaded = dags::load_manifest(&project.join(manifest_path.as_str().unwrap())).unwrap();
    let m = &loaded;
    let selectors = SelectorsFile::from_path(&project.join("selectors.yml")).unwrap();
    let mut failures = Vec::new();
    let mut selected_outside = 0;
    for (key, words) in &queries {
        let ours = match key.strip_prefix("selector ") {
            Some(name) => selectors.evaluate(name, m),
            None => select_expression(m, &[words[1].as_str()], &[]),
        };
        let ours = json!(ours.unwrap().to_set());
        if key == "select path:../../sources/_sector/dex" {
            selected_outside = ours.as_array().unwrap().len();
        }
        if ours != theirs[key] {
            failures.push(format!("{key}: dbt {}\n    dagship {ours}", theirs[key]));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        selected_outside, 4,
        "a model, two sources and a test outside the project"
    );

    // Every task of every DAG, given to dbt, picks exactly its node.
    let index = ManifestIndex::build(m);
    let mut tasks = BTreeMap::new();
    for s in selectors.selectors() {
        let dag = graph::build(&index, &s.evaluate(m).unwrap(), &DagOptions::default()).unwrap();
        for task in dag.tasks.iter().filter(|t| t.command == DbtCommand::Run) {
            let mut words = args(&["--select", &task.select, "--resource-type", "model"]);
            if let Some(exclude) = &task.exclude {
                words.extend(args(&["--exclude", exclude]));
            }
            tasks.insert(format!("{} {}", s.name, task.task_id()), words);
        }
    }
    assert!(!tasks.is_empty());
    let (_, picked) = dbt_ls(&project, &tasks);
    for (key, ids) in &picked {
        assert_eq!(
            ids.as_array().map(Vec::len),
            Some(1),
            "{key}: dbt picks {ids}"
        );
    }
}
