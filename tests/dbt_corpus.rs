//! Fidelity against dbt itself: every selector and `--select` expression recorded in
//! `tests/corpus/expected/*.selections.json.gz` (from `dbt ls`) must match exactly.

mod dbt_support;

use std::collections::BTreeSet;
use std::time::Instant;

use dagship::dbt::manifest::Manifest;
use dagship::dbt::select::select_expression;
use dagship::dbt::selectors_file::SelectorsFile;
use serde_json::Value;

const PROJECTS: [&str; 3] = [
    "mattermost_analytics",
    "tuva_integration_tests",
    "spellbook_daily",
];

fn expected(project: &str) -> Value {
    let bytes = dbt_support::read(&format!("expected/{project}.selections.json"));
    serde_json::from_slice(&bytes).unwrap()
}

fn expected_ids(entry: &Value) -> BTreeSet<String> {
    entry["selected"]
        .as_array()
        .expect("`selected` list")
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// A readable diff: counts and the first ten missing / extra ids.
fn diff(label: &str, want: &BTreeSet<String>, got: &BTreeSet<String>) -> Option<String> {
    if want == got {
        return None;
    }
    let missing: Vec<&String> = want.difference(got).collect();
    let extra: Vec<&String> = got.difference(want).collect();
    let first = |v: &[&String]| {
        v.iter()
            .take(10)
            .map(|s| format!("\n      {s}"))
            .collect::<String>()
    };
    Some(format!(
        "{label}: expected {} ids, got {}\n    missing {}:{}\n    extra {}:{}",
        want.len(),
        got.len(),
        missing.len(),
        first(&missing),
        extra.len(),
        first(&extra)
    ))
}

fn check_project(project: &str, failures: &mut Vec<String>) -> usize {
    let manifest = dbt_support::load_manifest(project);
    let yml = dbt_support::corpus_dir().join(format!("selectors/{project}.selectors.yml"));
    let from_file = SelectorsFile::from_path(&yml).unwrap_or_else(|e| panic!("{e}"));
    let from_manifest = SelectorsFile::from_manifest(&manifest).unwrap_or_else(|e| panic!("{e}"));
    let exp = expected(project);
    let mut checked = 0;
    for (name, entry) in exp["selectors"].as_object().unwrap() {
        let want = expected_ids(entry);
        for (source, file) in [("selectors.yml", &from_file), ("manifest", &from_manifest)] {
            let label = format!("{project} --selector {name} ({source})");
            match file.evaluate(name, &manifest) {
                Ok(sel) => failures.extend(diff(&label, &want, &sel.to_set())),
                Err(e) => failures.push(format!("{label}: error: {e}")),
            }
            checked += 1;
        }
    }
    for (expr, entry) in exp["select_expressions"].as_object().unwrap() {
        let label = format!("{project} --select '{expr}'");
        match select_expression(&manifest, &[expr.as_str()], &[]) {
            Ok(sel) => failures.extend(diff(&label, &expected_ids(entry), &sel.to_set())),
            Err(e) => failures.push(format!("{label}: error: {e}")),
        }
        checked += 1;
    }
    checked
}

#[test]
fn every_recorded_selection_matches_dbt() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for project in PROJECTS {
        checked += check_project(project, &mut failures);
    }
    for f in &failures {
        eprintln!("MISMATCH {f}\n");
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} selections differ from dbt",
        failures.len()
    );
    eprintln!("{checked} selections match dbt");
}

#[test]
fn default_selectors_are_found() {
    let manifest = dbt_support::load_manifest("tuva_integration_tests");
    let yml = dbt_support::corpus_dir().join("selectors/tuva_integration_tests.selectors.yml");
    let file = SelectorsFile::from_path(&yml).unwrap();
    assert_eq!(file.default_selector().unwrap().name, "data_marts_nightly");
    let from_manifest = SelectorsFile::from_manifest(&manifest).unwrap();
    assert_eq!(
        from_manifest.default_selector().unwrap().name,
        "data_marts_nightly"
    );
    file.validate().unwrap();
}

/// Not an assertion: how long loading spellbook and evaluating its selectors takes.
/// Run `cargo test --release --test dbt_corpus -- --nocapture spellbook_timing`.
#[test]
fn spellbook_timing() {
    let path = dbt_support::corpus_dir().join("spellbook_daily.manifest.json.gz");
    let bytes = dbt_support::gunzip(&path);
    let start = Instant::now();
    let manifest = Manifest::from_slice(&bytes, &path).unwrap();
    let loaded = start.elapsed();
    let yml = dbt_support::corpus_dir().join("selectors/spellbook_daily.selectors.yml");
    let file = SelectorsFile::from_path(&yml).unwrap();
    let eval_start = Instant::now();
    let mut total = 0;
    for s in file.selectors() {
        total += s.evaluate(&manifest).unwrap().len();
    }
    let evaluated = eval_start.elapsed();
    eprintln!(
        "spellbook_daily ({} MB JSON, {} entries): load {:?}, {} selectors ({} ids) {:?}",
        bytes.len() / 1_000_000,
        manifest.nodes().len(),
        loaded,
        file.selectors().len(),
        total,
        evaluated
    );
}
