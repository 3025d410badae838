//! Never delete by accident: an empty selectors file is an error, and a `dags` run or a
//! `composer_dags` sync that would remove all, or more than `max_prune`, of the files it
//! manages stops before it changes anything, says so in `plan`, and goes ahead only when
//! told (`--allow-prune`).

mod common;
mod dbt_support;
mod kept_dags;

use std::path::Path;

use common::{dagship, run};

const FOUR: &str = "selectors:\n  - name: a\n    definition: 'resource_type:model'\n  \
                    - name: b\n    definition: 'resource_type:seed'\n  \
                    - name: c\n    definition: 'tag:nothing'\n  \
                    - name: d\n    definition: 'resource_type:snapshot'\n";

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let gz = dbt_support::corpus_dir().join("jaffle_shop.manifest.json.gz");
    std::fs::write(dir.path().join("manifest.json"), dbt_support::gunzip(&gz)).unwrap();
    std::fs::write(dir.path().join("selectors.yml"), FOUR).unwrap();
    dir
}

fn dags(dir: &Path, extra: &[&str]) -> (i32, String, String) {
    let args = [
        "dags",
        "--manifest",
        "manifest.json",
        "--selectors",
        "selectors.yml",
    ];
    let result = run(dagship(dir).args(args).args(["--out", "out"]).args(extra));
    if result.0 == 0 {
        kept_dags::keep(&dir.join("out"));
    }
    result
}

/// The DAG files in `out`; the settings module beside them is no DAG file, and never pruned.
fn dag_files(dir: &Path) -> usize {
    let names: Vec<String> = std::fs::read_dir(dir.join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        names.iter().any(|n| n == dagship::dags::SETTINGS_FILE),
        "{names:?}"
    );
    names.iter().filter(|n| n.starts_with("dbt_")).count()
}

#[test]
fn a_selectors_file_without_selectors_is_an_error_not_an_empty_folder() {
    let dir = project();
    assert_eq!(dags(dir.path(), &[]).0, 0);
    assert_eq!(dag_files(dir.path()), 4);
    for empty in ["", "# nothing here\n", "selectors: []\n"] {
        std::fs::write(dir.path().join("selectors.yml"), empty).unwrap();
        let (code, _, stderr) = dags(dir.path(), &["--allow-prune"]);
        assert_eq!(code, 2, "{empty:?}: {stderr}");
        assert!(
            stderr.contains("defines no selector"),
            "{empty:?}: {stderr}"
        );
        assert_eq!(dag_files(dir.path()), 4, "{empty:?}: nothing removed");
    }
}

#[test]
fn removing_most_dags_stops_until_allowed() {
    let dir = project();
    assert_eq!(dags(dir.path(), &[]).0, 0);
    let one = FOUR.lines().take(3).collect::<Vec<_>>().join("\n");
    std::fs::write(dir.path().join("selectors.yml"), one).unwrap();
    let (code, _, stderr) = dags(dir.path(), &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("this would remove 3 of the 4 files dagship manages at out (75%)")
            && stderr.contains("--allow-prune"),
        "{stderr}"
    );
    assert_eq!(dag_files(dir.path()), 4);
    assert_eq!(
        dags(dir.path(), &["--max-prune", "80"]).0,
        0,
        "within a raised limit"
    );
    assert_eq!(dag_files(dir.path()), 1);
}

const PIPELINE: &str = "version: 1\nname: t\nenvironments:\n  local: { dags_target: { dir: airflow/dags } }\nsteps:\n  \
    upload:\n    uses: composer_dags\n    with: { source: out, prune: true }\n";

fn write_dags(dir: &Path, names: &[&str]) {
    let out = dir.join("out");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    for name in names {
        std::fs::write(out.join(name), format!("# airflow dag {name}\n")).unwrap();
    }
}

fn dagship_run(dir: &Path, extra: &[&str]) -> (i32, String, String) {
    run(dagship(dir)
        .env_remove("CI")
        .args(["run", "--env", "local", "--output", "plain"])
        .args(extra))
}

#[test]
fn a_sync_that_would_empty_the_folder_stops_shows_in_the_plan_and_goes_when_allowed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pipeline.yaml"), PIPELINE).unwrap();
    write_dags(dir.path(), &["dbt_a.py", "dbt_b.py", "dbt_c.py"]);
    let (code, out, err) = dagship_run(dir.path(), &[]);
    assert_eq!(code, 0, "{out}{err}");
    write_dags(dir.path(), &[]);

    let (code, plan, _) = run(dagship(dir.path()).args(["plan", "--env", "local"]));
    assert_eq!(code, 0);
    assert!(
        plan.contains("! a run stops here: this would remove 3 of the 3 files")
            && plan.contains("step `upload` would stop"),
        "{plan}"
    );
    let (code, out, err) = dagship_run(dir.path(), &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("every one, and nothing would replace them"),
        "{out}"
    );
    let left = std::fs::read_dir(dir.path().join("airflow/dags"))
        .unwrap()
        .count();
    assert_eq!(left, 4, "three DAGs and the marker are still there");

    let (code, out, err) = dagship_run(dir.path(), &["--allow-prune"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!dir.path().join("airflow/dags/dbt_a.py").exists());
}
