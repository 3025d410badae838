//! The layers of `src/`, held by reading its imports: lower layers never import higher ones,
//! and only `steps/` knows the step kinds by name (README, "Where things are").
//!
//! Every path a file names with `crate::` (in `use` lines and inline) is checked, so that a
//! new import of the runner, of a concrete kind or of the pipeline from a cloud module fails
//! here before it grows into a circle.

use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, as (path relative to `src/`, text).
fn files(dir: &Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(folder) = todo.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let name = path.strip_prefix(src()).unwrap().display().to_string();
                found.push((name, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    found.sort();
    found
}

/// The crate paths a file names: `crate::a::b` as `a::b`, with grouped imports
/// (`use crate::a::{b, c::d}`) expanded one level.
fn crate_paths(text: &str) -> Vec<String> {
    let mut paths = Vec::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        let head: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let head = head.trim_end_matches(':').to_string();
        let after = &rest[head.len()..];
        match after.strip_prefix("::{") {
            Some(group) => {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                for item in group.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    paths.push(format!("{head}::{item}"));
                }
            }
            None => paths.push(head),
        }
    }
    paths
}

fn names(path: &str, module: &str) -> bool {
    path == module || path.starts_with(&format!("{module}::"))
}

/// The step kinds: the modules of `steps/` but the interface.
fn kind_modules() -> Vec<String> {
    let text = std::fs::read_to_string(src().join("steps/mod.rs")).unwrap();
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("mod ")?.strip_suffix(';'))
        .filter(|m| *m != "kind")
        .map(str::to_string)
        .collect()
}

/// Files (outside `allowed` folders) that name a module matching `forbidden`.
fn offenders(
    within: impl Fn(&str) -> bool,
    forbidden: impl Fn(&str) -> bool,
) -> Vec<(String, String)> {
    files(&src())
        .into_iter()
        .filter(|(name, _)| within(name))
        .flat_map(|(name, text)| {
            crate_paths(&text)
                .into_iter()
                .filter(|p| forbidden(p))
                .map(move |p| (name.clone(), p))
        })
        .collect()
}

#[test]
fn the_runner_is_used_by_commands_alone() {
    let found = offenders(
        |f| !f.starts_with("commands/") && !f.starts_with("runner/"),
        |p| names(p, "runner"),
    );
    assert!(found.is_empty(), "imports of the runner: {found:?}");
}

#[test]
fn nothing_outside_steps_names_a_step_kind() {
    let kinds = kind_modules();
    assert!(kinds.contains(&"composer_dags".to_string()), "{kinds:?}");
    let found = offenders(
        |f| !f.starts_with("steps/"),
        |p| kinds.iter().any(|k| names(p, &format!("steps::{k}"))),
    );
    assert!(
        found.is_empty(),
        "concrete kinds named outside steps/: {found:?}"
    );
}

#[test]
fn clouds_are_leaves() {
    let found = offenders(
        |f| f.starts_with("gcp/") || f.starts_with("aws/") || f.starts_with("airflow/"),
        |p| {
            [
                "pipeline", "sync", "plan", "steps", "runner", "commands", "action", "exec",
                "release",
            ]
            .iter()
            .any(|m| names(p, m))
        },
    );
    assert!(
        found.is_empty(),
        "gcp/, aws/ or airflow/ imports a higher layer: {found:?}"
    );
}

#[test]
fn the_pipeline_knows_no_kind_plan_or_runner() {
    let found = offenders(
        |f| f.starts_with("pipeline/"),
        |p| {
            [
                "steps", "plan", "runner", "sync", "exec", "action", "commands",
            ]
            .iter()
            .any(|m| names(p, m))
        },
    );
    assert!(
        found.is_empty(),
        "pipeline/ imports a higher layer: {found:?}"
    );
}

#[test]
fn what_a_kind_is_given_holds_no_kind_nor_cloud_api() {
    let found = offenders(
        |f| f.starts_with("exec/") || f == "action.rs" || f == "steps/kind.rs",
        |p| {
            ["runner", "plan", "commands", "gcp", "aws", "airflow"]
                .iter()
                .any(|m| names(p, m))
        },
    );
    assert!(found.is_empty(), "the kind interface imports: {found:?}");
}

/// A new kind of `dags_target` (a destination) is one match arm in `sync/target.rs`, never a
/// branch in a step kind or the plan: only the pipeline (which reads it) and that file name
/// its variants.
#[test]
fn only_sync_target_tells_dags_targets_apart() {
    let found: Vec<String> = files(&src())
        .into_iter()
        .filter(|(name, _)| !name.starts_with("pipeline/") && name != "sync/target.rs")
        .filter(|(_, text)| text.contains("DagsTarget::"))
        .map(|(name, _)| name)
        .collect();
    assert!(
        found.is_empty(),
        "DagsTarget variants named outside sync/target.rs: {found:?}"
    );
    let target = std::fs::read_to_string(src().join("sync/target.rs")).unwrap();
    assert!(target.contains("DagsTarget::Composer"));
}

#[test]
fn crate_paths_are_read_from_use_lines_and_inline_paths() {
    let text = "use crate::a::{b, c::d};\nlet x = crate::runner::run();";
    assert_eq!(crate_paths(text), ["a::b", "a::c::d", "runner::run"]);
}

/// A module with modules of its own is a folder with a `mod.rs` (README, "Where things are"),
/// never `foo.rs` beside `foo/`: a newcomer finds all of a module in one place.
#[test]
fn a_module_with_submodules_is_a_folder_with_mod_rs() {
    let found: Vec<String> = files(&src())
        .into_iter()
        .filter_map(|(name, _)| name.strip_suffix(".rs").map(str::to_string))
        .filter(|stem| src().join(stem).is_dir())
        .collect();
    assert!(
        found.is_empty(),
        "modules written as foo.rs beside foo/: {found:?}"
    );
}
