//! Differential tests against dbt-core itself: `tools/dbt_oracle.py` ran dbt's own
//! selector over each corpus manifest for ~170 `--select`/`--exclude` expressions (with
//! each indirect-selection mode) and the selectors in `tools/oracle_selectors.yml`,
//! and stored the answers (or dbt's error) in `tests/data/dbt/oracle/*.json.gz`.

mod dbt_support;

use std::collections::BTreeSet;
use std::path::Path;

use dagship::dbt::manifest::Manifest;
use dagship::dbt::select::{
    EvalOptions, IndirectSelection, SelectError, Selection, select_expression_with,
};
use dagship::dbt::selectors_file::SelectorsFile;
use serde_json::Value;

const PROJECTS: [&str; 5] = [
    "jaffle_shop",
    "jaffle_versioned",
    "mattermost_analytics",
    "tuva_integration_tests",
    "spellbook_daily",
];

/// Corpus manifests, or the oracle's synthetic variant (jaffle_shop plus versioned
/// models, access levels and groups) stored next to the golden files.
fn manifest(project: &str) -> Manifest {
    if project != "jaffle_versioned" {
        return dbt_support::load_manifest(project);
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/dbt/oracle/jaffle_versioned.manifest.json.gz");
    Manifest::from_slice(&dbt_support::gunzip(&path), &path).unwrap()
}

fn golden(project: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/data/dbt/oracle/{project}.json.gz"));
    serde_json::from_slice(&dbt_support::gunzip(&path)).unwrap()
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Compares one outcome with dbt's; `None` when they agree.
fn compare(label: &str, want: &Value, got: Result<Selection<'_>, SelectError>) -> Option<String> {
    match (want.get("error"), got) {
        (Some(_), Err(_)) => None,
        (Some(e), Ok(sel)) => Some(format!(
            "{label}: dbt failed ({e}) but we selected {}",
            sel.len()
        )),
        (None, Err(e)) => Some(format!(
            "{label}: we failed ({e}), dbt selected {}",
            strings(want).len()
        )),
        (None, Ok(sel)) => {
            let want: BTreeSet<String> = strings(want).into_iter().map(String::from).collect();
            let got = sel.to_set();
            (want != got).then(|| {
                let missing: Vec<_> = want.difference(&got).take(10).collect();
                let extra: Vec<_> = got.difference(&want).take(10).collect();
                format!(
                    "{label}: want {} got {}; missing {missing:?}; extra {extra:?}",
                    want.len(),
                    got.len()
                )
            })
        }
    }
}

fn check(project: &str, manifest: &Manifest, failures: &mut Vec<String>) -> usize {
    let g = golden(project);
    let cases = g["expressions"].as_array().unwrap();
    for case in cases {
        let select = strings(&case["select"]);
        let exclude = strings(&case["exclude"]);
        let mode = case["indirect"].as_str().unwrap_or("eager");
        let options = EvalOptions {
            indirect_selection: IndirectSelection::parse(mode).unwrap(),
            ..EvalOptions::default()
        };
        let label = format!(
            "{project} --select {select:?} --exclude {exclude:?} --indirect-selection {mode}"
        );
        let got = select_expression_with(manifest, &select, &exclude, &options);
        failures.extend(compare(&label, &case["result"], got));
    }
    let yaml = g["selectors_yaml"].as_str().unwrap();
    let file = SelectorsFile::from_yaml_str(yaml, Path::new("oracle_selectors.yml")).unwrap();
    let selectors = g["selectors"].as_object().unwrap();
    for (name, want) in selectors {
        let label = format!("{project} --selector {name}");
        failures.extend(compare(&label, want, file.evaluate(name, manifest)));
    }
    cases.len() + selectors.len()
}

#[test]
fn agrees_with_dbt_on_every_oracle_case() {
    let mut failures = Vec::new();
    let mut total = 0;
    for project in PROJECTS {
        total += check(project, &manifest(project), &mut failures);
    }
    for f in &failures {
        eprintln!("MISMATCH {f}\n");
    }
    assert!(
        failures.is_empty(),
        "{} of {total} oracle cases differ from dbt",
        failures.len()
    );
    eprintln!("{total} oracle cases agree with dbt");
}
