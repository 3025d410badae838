//! The example warehouse with the real tools: dbt-core + dbt-duckdb, alembic on SQLite and on
//! PostgreSQL. `scripts/test.sh` installs them into `.venv` and starts PostgreSQL.

mod common;
mod example_dbt;
mod kept_dags;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use common::{dagship, repo_root};
use example_dbt::copy_example;

/// A copy of the example (pipeline and warehouse) in a temporary folder, so runs in parallel
/// tests never share a database file.
fn example() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_example(dir.path());
    dir
}

fn venv_path() -> String {
    let bin = repo_root().join(".venv/bin");
    assert!(
        bin.join("dbt").exists(),
        "{} has no dbt: run `bash scripts/test.sh`",
        bin.display()
    );
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, Vec<Value>, String) {
    let out = dagship(dir)
        .env("PATH", venv_path())
        .env_remove("CI")
        .envs(env.iter().copied())
        .args(["run", "--output", "json"])
        .args(args)
        .output()
        .unwrap();
    let events = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    (
        out.status.code().unwrap_or(-1),
        events,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn finished<'a>(events: &'a [Value], id: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["event"] == "step_finished" && e["id"] == id)
        .unwrap_or_else(|| panic!("no result for {id}"))
}

fn failures(events: &[Value]) -> String {
    events
        .iter()
        .filter(|e| e["event"] == "step_finished" && e["outcome"] == "failed")
        .map(|e| format!("{}: {} {:?}", e["id"], e["reason"], e["log_tail"]))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn example_migrates_seeds_and_compiles_locally() {
    let dir = example();
    let (code, events, stderr) = run(
        dir.path(),
        &["--env", "local", "--only", "migrate,seed,compile"],
        &[],
    );
    assert_eq!(code, 0, "{stderr}\n{}", failures(&events));
    let migrate = finished(&events, "migrate");
    assert_eq!(migrate["outputs"]["from_revision"], "base");
    assert_eq!(migrate["outputs"]["to_revision"], "0004");
    let manifest = finished(&events, "compile")["outputs"]["manifest"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        dir.path().join(&manifest).exists(),
        "{manifest} was written"
    );
    let seed_progress: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "step_progress" && e["id"] == "seed")
        .collect();
    assert_eq!(
        seed_progress.last().map(|e| (&e["done"], &e["total"])),
        Some((&3.into(), &3.into()))
    );
}

#[test]
fn example_builds_on_duckdb_with_its_tests() {
    let dir = example();
    let pipeline = "version: 1\nname: build\nenvironments: { local: {} }\nsteps:\n  migrate:\n    uses: alembic\n    \
        with: { config: examples/warehouse/migrations/alembic.ini, url: 'sqlite:///.dagship/local/raw.sqlite' }\n  \
        build:\n    uses: dbt\n    needs: [migrate]\n    with: { command: build, project_dir: examples/warehouse/dbt, target: local }\n";
    std::fs::write(dir.path().join("pipeline.yaml"), pipeline).unwrap();
    std::fs::create_dir_all(dir.path().join(".dagship/local")).unwrap();
    let (code, events, stderr) = run(dir.path(), &["--env", "local"], &[]);
    assert_eq!(code, 0, "{stderr}\n{}", failures(&events));
    let last = events
        .iter()
        .rfind(|e| e["event"] == "step_progress" && e["id"] == "build")
        .expect("dbt build reports progress");
    assert_eq!(last["done"], last["total"]);
    assert!(
        last["total"].as_u64().unwrap() > 60,
        "models, seeds, snapshot and tests: {last}"
    );
}

fn create_database(name: &str) -> String {
    let url = std::env::var("DAGSHIP_TEST_POSTGRES_URL").expect(
        "DAGSHIP_TEST_POSTGRES_URL is not set: run `bash scripts/test.sh`, which starts PostgreSQL",
    );
    let python = repo_root().join(".venv/bin/python");
    let script = format!(
        "import psycopg2; c = psycopg2.connect('{url}'); c.autocommit = True; \
         c.cursor().execute('DROP DATABASE IF EXISTS {name}'); c.cursor().execute('CREATE DATABASE {name}')"
    );
    let out = Command::new(python).args(["-c", &script]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let base = url.rsplit_once('/').unwrap().0;
    format!("{base}/{name}")
}

#[test]
fn alembic_upgrades_postgresql_and_reports_revisions() {
    let dir = example();
    let url = create_database("dagship_alembic_test");
    let pipeline = "version: 1\nname: pg\nenvironments: { local: {} }\nsteps:\n  migrate:\n    uses: alembic\n    \
        with: { config: examples/warehouse/migrations/alembic.ini, url: '${{ secrets.PG_TEST_URL }}' }\n";
    std::fs::write(dir.path().join("pipeline.yaml"), pipeline).unwrap();
    let env = [("PG_TEST_URL", url.as_str())];
    let (code, events, stderr) = run(dir.path(), &["--env", "local"], &env);
    assert_eq!(code, 0, "{stderr}\n{}", failures(&events));
    let outputs = &finished(&events, "migrate")["outputs"];
    assert_eq!(
        (
            outputs["from_revision"].as_str(),
            outputs["to_revision"].as_str()
        ),
        (Some("base"), Some("0004"))
    );
    let (code, events, _) = run(dir.path(), &["--env", "local"], &env);
    assert_eq!(code, 0);
    assert_eq!(
        finished(&events, "migrate")["outputs"]["from_revision"],
        "0004",
        "already at head"
    );
    let everything = serde_json::to_string(&events).unwrap();
    assert!(
        !everything.contains("127.0.0.1"),
        "the URL is a secret and never shown"
    );
}

/// The path of a file the runner wrote for this run (`.dagship/logs/<run>/<step>.log`).
pub fn log_of(dir: &Path, events: &[Value], step: &str) -> PathBuf {
    let run_id = events[0]["run_id"].as_str().unwrap();
    dir.join(".dagship/logs")
        .join(run_id)
        .join(format!("{step}.log"))
}

#[test]
fn dbt_failures_show_dbt_s_own_message_and_keep_the_full_log() {
    let dir = example();
    let bad = dir
        .path()
        .join("examples/warehouse/dbt/models/marts/core/broken.sql");
    std::fs::write(&bad, "select * from {{ ref('does_not_exist') }}\n").unwrap();
    let (code, events, _) = run(
        dir.path(),
        &["--env", "local", "--only", "migrate,seed,compile"],
        &[],
    );
    assert_eq!(code, 1);
    // dbt parses the whole project first, so the first dbt step (seed) is the one that fails.
    let seed = finished(&events, "seed");
    assert_eq!(seed["outcome"], "failed");
    assert_eq!(finished(&events, "compile")["outcome"], "skipped");
    let tail = seed["log_tail"].to_string();
    assert!(
        tail.contains("does_not_exist"),
        "dbt's message is in the summary: {tail}"
    );
    let log = std::fs::read_to_string(log_of(dir.path(), &events, "seed")).unwrap();
    assert!(log.contains("\"name\":"), "the log keeps dbt's JSON lines");
}

fn plan_text(dir: &Path) -> String {
    let out = dagship(dir)
        .env("PATH", venv_path())
        .args(["plan", "--env", "local"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn plan_lists_pending_migrations_and_their_sql_without_changing_the_database() {
    let dir = example();
    let text = std::fs::read_to_string(dir.path().join("pipeline.yaml")).unwrap();
    let text = text.replace(
        "      revision: head\n",
        "      revision: head\n      sql_preview: true\n",
    );
    std::fs::write(dir.path().join("pipeline.yaml"), text).unwrap();
    let before = plan_text(dir.path());
    assert!(before.contains("current revision: base"), "{before}");
    for id in ["0001", "0002", "0003", "0004"] {
        assert!(
            before.contains(&format!("+ {id}: ")),
            "{id} is pending:\n{before}"
        );
    }
    assert!(
        before.contains("CREATE TABLE"),
        "the SQL preview is shown:\n{before}"
    );
    assert!(
        !dir.path().join(".dagship/local/raw.sqlite").exists(),
        "plan created no database"
    );
    let (code, events, stderr) = run(dir.path(), &["--env", "local", "--only", "migrate"], &[]);
    assert_eq!(code, 0, "{stderr}\n{}", failures(&events));
    let after = plan_text(dir.path());
    assert!(
        after.contains("current revision: 0004") && after.contains("no pending migrations"),
        "{after}"
    );
}

/// The README's main command: the whole example pipeline in `local`, offline.
#[test]
fn the_whole_example_runs_locally() {
    let dir = example();
    let (code, events, stderr) = run(dir.path(), &["--env", "local"], &[]);
    assert_eq!(code, 0, "{stderr}\n{}", failures(&events));
    for id in [
        "migrate",
        "seed",
        "compile",
        "dags_local",
        "check_dags",
        "upload",
    ] {
        assert_eq!(finished(&events, id)["outcome"], "succeeded", "{id}");
    }
    for id in ["runner", "docs", "dags"] {
        assert_eq!(
            finished(&events, id)["outcome"],
            "skipped",
            "{id} is a cloud step"
        );
    }
    let upload = &finished(&events, "upload")["outputs"];
    assert_eq!(
        upload["added"], "5",
        "one DAG file per selector, and their settings module: {upload}"
    );
    for dag in [
        "dbt_daily.py",
        "dbt_finance.py",
        "dbt_core_without_hourly.py",
        "dbt_hourly.py",
    ] {
        assert!(dir.path().join(".airflow/dags").join(dag).exists(), "{dag}");
    }
    kept_dags::keep(&dir.path().join(".airflow/dags"));
    let settings =
        std::fs::read_to_string(dir.path().join(".airflow/dags/dagship_settings.py")).unwrap();
    assert!(
        settings.contains(
            "\nDBT_OPTIONS = \" --project-dir examples/warehouse/dbt \
                           --profiles-dir examples/warehouse/dbt --target local\"\n"
        ),
        "the local environment's values: {settings}"
    );
    // Files are named as the pipeline names their folder.
    let said: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "step_output" && e["id"] == "dags_local")
        .filter_map(|e| e["line"].as_str())
        .collect();
    assert!(
        said.iter()
            .any(|l| l.starts_with("wrote build/dags/dbt_daily.py (")),
        "{said:?}"
    );

    // Again, nothing changed: dbt compiles anew (a new `generated_at` and `invocation_id`),
    // and still every DAG file is byte for byte the same and the sync uploads nothing.
    let before = std::fs::read(dir.path().join(".airflow/dags/dbt_daily.py")).unwrap();
    let (code, events, stderr) = run(dir.path(), &["--env", "local"], &[]);
    assert_eq!(code, 0, "{stderr}\n{}", failures(&events));
    let upload = &finished(&events, "upload")["outputs"];
    assert_eq!(
        (
            upload["added"].as_str(),
            upload["changed"].as_str(),
            upload["unchanged"].as_str()
        ),
        (Some("0"), Some("0"), Some("5")),
        "an unchanged project syncs nothing: {upload}"
    );
    let said: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "step_output" && e["id"] == "dags_local")
        .filter_map(|e| e["line"].as_str())
        .collect();
    assert!(
        said.iter().all(|l| l.starts_with("unchanged build/dags/")),
        "{said:?}"
    );
    let after = std::fs::read(dir.path().join(".airflow/dags/dbt_daily.py")).unwrap();
    assert_eq!(before, after);
}
