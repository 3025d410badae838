//! The example warehouse released, promoted and rolled back with the real tools (dbt-core +
//! dbt-duckdb, alembic on SQLite) and local state: the promoted DAG files are the bytes the
//! release recorded, each environment has its own settings module and database, and a
//! rollback writes an earlier release's files back.

mod common;
mod example_dbt;
mod kept_dags;

use std::collections::BTreeMap;
use std::path::Path;

use common::{dagship, repo_root};
use example_dbt::copy_example;

/// The example's local steps, for two local environments: `qa` is promoted from `local`.
const PIPELINE: &str = r#"version: 1
name: warehouse
environments:
  local:
    vars: { dbt_target: local, database_url: "sqlite:///.dagship/local/raw.sqlite" }
    dags_target: { dir: .airflow/dags }
    state: { dir: .dagship/state }
  qa:
    vars: { dbt_target: qa, database_url: "sqlite:///.dagship/qa/raw.sqlite" }
    dags_target: { dir: .airflow-qa/dags }
    state: { dir: .dagship/state }
    promote_from: local
steps:
  migrate:
    uses: alembic
    with: { config: examples/warehouse/migrations/alembic.ini, revision: head, url: "${{ vars.database_url }}" }
  seed:
    uses: dbt
    needs: [migrate]
    with: { command: seed, project_dir: examples/warehouse/dbt, target: "${{ vars.dbt_target }}" }
  compile:
    uses: dbt
    needs: [seed]
    with: { command: compile, project_dir: examples/warehouse/dbt, target: "${{ vars.dbt_target }}" }
  dags:
    uses: airflow_dags
    needs: [compile]
    with:
      manifest: ${{ steps.compile.outputs.manifest }}
      selectors: examples/warehouse/dbt/selectors.yml
      out: build/dags
      project_dir: examples/warehouse/dbt
      profiles_dir: examples/warehouse/dbt
      target: ${{ vars.dbt_target }}
      schedules: { daily: "0 5 * * *" }
  check_dags:
    uses: command
    needs: [dags]
    with: { argv: [python3, -m, compileall, -q, build/dags] }
  upload:
    uses: composer_dags
    needs: [check_dags]
    with: { source: build/dags, prune: true }
"#;

fn venv_path() -> String {
    let bin = repo_root().join(".venv/bin");
    assert!(bin.join("dbt").exists(), "run `bash scripts/test.sh` first");
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn dagship_in(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = dagship(dir)
        .env("PATH", venv_path())
        .env_remove("CI")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let (code, stdout, stderr) = dagship_in(dir, args);
    assert_eq!(code, 0, "{args:?}:\n{stdout}\n{stderr}");
    stdout
}

/// A folder's files by name, with their bytes (not the sync's own hidden record).
fn files(folder: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(folder)
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_type().unwrap().is_file() && !e.file_name().to_string_lossy().starts_with('.')
        })
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

fn without_settings(mut files: BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    files.remove("dagship_settings.py");
    files
}

fn revision(db: &Path) -> String {
    let out = std::process::Command::new(repo_root().join(".venv/bin/python"))
        .args([
            "-c",
            "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('select version_num from alembic_version').fetchone()[0])",
        ])
        .arg(db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn releases(dir: &Path, env: &str) -> Vec<serde_json::Value> {
    let listed = ok(dir, &["releases", "--env", env, "--format", "json"]);
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    listed["releases"].as_array().unwrap().clone()
}

fn step<'a>(release: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    release["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id} in {release}"))
}

#[test]
fn released_promoted_and_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    copy_example(dir);
    std::fs::write(dir.join("pipeline.yaml"), PIPELINE).unwrap();

    ok(dir, &["run", "--env", "local"]);
    let first = releases(dir, "local")[0].clone();
    assert_eq!(first["outcome"], "succeeded");
    let bundle = &step(&first, "dags")["artifact"];
    assert_eq!(bundle["kind"], "dags");
    let recorded: BTreeMap<String, String> = bundle["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().into(),
                f["sha256"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(recorded.contains_key("dbt_daily.py"), "{recorded:?}");
    assert!(!recorded.contains_key("dagship_settings.py"));
    assert!(bundle["manifest"]["sha256"].is_string(), "{bundle}");
    let head = step(&first, "migrate")["artifact"]["revision"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(head, "0004");

    // Promoted: the same DAG bytes, its own settings, its own database at the same revision.
    let plan = ok(
        dir,
        &["promote", "--from", "local", "--to", "qa", "--dry-run"],
    );
    assert!(
        plan.contains(
            "skipped: not run: a promotion or rollback deploys what the release recorded"
        ),
        "{plan}"
    );
    assert!(
        plan.contains(&format!(
            "alembic -c examples/warehouse/migrations/alembic.ini upgrade {head}"
        )),
        "{plan}"
    );
    ok(dir, &["promote", "--from", "local", "--to", "qa"]);
    let local_dags = files(&dir.join(".airflow/dags"));
    let qa_dags = files(&dir.join(".airflow-qa/dags"));
    // The promoted files load beside the settings of the environment they were promoted to.
    kept_dags::keep(&dir.join(".airflow/dags"));
    kept_dags::keep(&dir.join(".airflow-qa/dags"));
    assert_eq!(
        without_settings(local_dags.clone()),
        without_settings(qa_dags.clone())
    );
    for (name, bytes) in without_settings(qa_dags.clone()) {
        let hash = dagship::release::history::sha256(&bytes);
        assert_eq!(recorded.get(&name), Some(&hash), "{name}");
    }
    let settings = |f: &BTreeMap<String, Vec<u8>>| {
        String::from_utf8(f["dagship_settings.py"].clone()).unwrap()
    };
    assert!(
        settings(&local_dags).contains("--target local\""),
        "{}",
        settings(&local_dags)
    );
    assert!(
        settings(&qa_dags).contains("--target qa\""),
        "{}",
        settings(&qa_dags)
    );
    assert_eq!(revision(&dir.join(".dagship/local/raw.sqlite")), head);
    assert_eq!(revision(&dir.join(".dagship/qa/raw.sqlite")), head);
    let promoted = releases(dir, "qa")[0].clone();
    assert_eq!(promoted["command"], "promote");
    assert_eq!(promoted["source"]["release"], first["id"]);
    assert_eq!(step(&promoted, "seed")["outcome"], "skipped");
    assert_eq!(
        step(&promoted, "dags")["artifact"]["files"],
        bundle["files"]
    );

    // A new selector: the plan says which DAG it adds, against the current release.
    let selectors = dir.join("examples/warehouse/dbt/selectors.yml");
    let mut text = std::fs::read_to_string(&selectors).unwrap();
    text.push_str("\n  - name: payments\n    definition: \"fct_payments\"\n");
    std::fs::write(&selectors, text).unwrap();
    let plan = ok(dir, &["plan", "--env", "local"]);
    let compared = format!(
        "DAGs compared with release {} (examples/warehouse/dbt/target/manifest.json):",
        first["id"].as_str().unwrap()
    );
    assert!(plan.contains(&compared), "{plan}");
    assert!(plan.contains("~ dbt_payments: new DAG, 3 tasks"), "{plan}");
    ok(dir, &["run", "--env", "local"]);
    assert!(dir.join(".airflow/dags/dbt_payments.py").exists());
    let second = releases(dir, "local")[0].clone();
    assert_ne!(second["id"], first["id"]);

    // Rolled back: the first release's DAG files again; the database stays where it is.
    let plan = ok(dir, &["rollback", "--env", "local", "--dry-run"]);
    assert!(
        plan.contains(&format!(
            "deploys release local/{}",
            first["id"].as_str().unwrap()
        )),
        "{plan}"
    );
    assert!(plan.contains("migrations are not downgraded"), "{plan}");
    assert!(plan.contains("~ dbt_payments: removed (3 tasks)"), "{plan}");
    ok(dir, &["rollback", "--env", "local"]);
    assert_eq!(
        without_settings(files(&dir.join(".airflow/dags"))),
        without_settings(local_dags)
    );
    let rolled = releases(dir, "local")[0].clone();
    assert_eq!(rolled["command"], "rollback");
    assert_eq!(rolled["source"]["release"], first["id"]);
    assert_eq!(revision(&dir.join(".dagship/local/raw.sqlite")), head);
}
