//! Releases, locks and their failures, with the real binary on pipelines of `command` steps
//! (fast, no cloud, no dbt): what a run records, what can be promoted, and one run at a time.
//! The example warehouse promoted end to end is `tests/promote_example.rs`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{dagship, run};

const SECRET: &str = "s3cr3t-value-that-must-never-be-stored";

/// A pipeline with environments `dev` and `qa` (promoted from `dev`) and `prod` (protected,
/// promoted from `qa`), sharing one state folder, whose one step runs `argv`.
fn project(argv: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_pipeline(dir.path(), argv);
    dir
}

fn write_pipeline(dir: &Path, argv: &str) {
    let text = format!(
        r#"version: 1
name: releases
environments:
  dev:
    state: {{ dir: state }}
  qa:
    state: {{ dir: state }}
    promote_from: dev
  prod:
    state: {{ dir: state }}
    promote_from: qa
    protected: true
steps:
  work:
    uses: command
    with: {{ argv: {argv} }}
"#
    );
    std::fs::write(dir.join("pipeline.yaml"), text).unwrap();
}

fn records(dir: &Path, env: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir.join("state").join(env).join("releases"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    found.sort();
    found
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn releases(dir: &Path, env: &str) -> serde_json::Value {
    let (code, stdout, stderr) =
        run(dagship(dir).args(["releases", "--env", env, "--format", "json"]));
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

#[test]
fn a_run_records_a_release_that_promotes_to_the_next_environment() {
    let p = project("[sh, -c, 'echo done']");
    let (code, _, stderr) = run(dagship(p.path()).args(["run", "--env", "dev"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("release "), "{stderr}");
    let dev = records(p.path(), "dev");
    assert_eq!(dev.len(), 1);
    let record = json(&dev[0]);
    assert_eq!(record["outcome"], "succeeded");
    assert_eq!(record["command"], "run");
    assert_eq!(record["environment"], "dev");
    assert_eq!(
        record["git"]["sha"],
        "0123456789abcdef0123456789abcdef01234567"
    );
    assert_eq!(record["steps"][0]["id"], "work");
    assert_eq!(record["steps"][0]["outcome"], "succeeded");
    let id = record["id"].as_str().unwrap().to_string();
    // The lock is gone once the run ended.
    assert!(!p.path().join("state/dev/lock.json").exists());

    let (code, _, stderr) = run(dagship(p.path()).args(["promote", "--from", "dev", "--to", "qa"]));
    assert_eq!(code, 0, "{stderr}");
    let qa = releases(p.path(), "qa");
    let promoted = &qa["releases"][0];
    assert_eq!(promoted["command"], "promote");
    assert_eq!(promoted["source"]["environment"], "dev");
    assert_eq!(promoted["source"]["release"], id.as_str());
    // A command builds nothing: a promotion does not run it, and says so.
    assert_eq!(promoted["steps"][0]["outcome"], "skipped", "{promoted}");
    assert!(
        promoted["steps"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("builds nothing")
    );
}

#[test]
fn releases_are_listed_newest_first() {
    let p = project("[sh, -c, 'echo done']");
    for _ in 0..3 {
        let (code, _, stderr) = run(dagship(p.path()).args(["run", "--env", "dev"]));
        assert_eq!(code, 0, "{stderr}");
        // Ids are sortable by the second they start in.
        std::thread::sleep(Duration::from_millis(1100));
    }
    let listed = releases(p.path(), "dev");
    let ids: Vec<&str> = listed["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(ids.len(), 3);
    assert_eq!(ids, sorted);
    let (code, text, _) = run(dagship(p.path()).args(["releases", "--env", "dev"]));
    assert_eq!(code, 0);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("RELEASE"), "{text}");
    assert!(
        lines[1].starts_with(ids[0]) && lines[1].contains("succeeded"),
        "{text}"
    );
    let (code, text, _) = run(dagship(p.path()).args(["releases", "--env", "qa"]));
    assert_eq!(
        (code, text.trim()),
        (0, "environment `qa` has no releases yet")
    );
}

#[test]
fn a_failed_release_is_recorded_and_cannot_be_promoted() {
    let p = project("[sh, -c, 'exit 3']");
    let (code, _, _) = run(dagship(p.path()).args(["run", "--env", "dev"]));
    assert_eq!(code, 1);
    let dev = records(p.path(), "dev");
    let record = json(&dev[0]);
    assert_eq!(record["outcome"], "failed");
    let id = record["id"].as_str().unwrap();
    let (code, _, stderr) =
        run(dagship(p.path()).args(["promote", "--from", "dev", "--to", "qa", "--release", id]));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!("release {id} of environment `dev` failed: only a release that succeeded can be deployed again")),
        "{stderr}"
    );
    let (code, _, stderr) = run(dagship(p.path()).args(["promote", "--from", "dev", "--to", "qa"]));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("environment `dev` has no release that succeeded"),
        "{stderr}"
    );
    assert!(records(p.path(), "qa").is_empty());
}

#[test]
fn a_secret_never_appears_in_any_record() {
    // It reaches the step's outputs, its command line and its log, and a failure's reason.
    let p = project(
        r#"[sh, -c, 'echo "token=${{ secrets.TOKEN }}" >> "$DAGSHIP_OUTPUT"; echo ${{ secrets.TOKEN }}']"#,
    );
    let (code, _, stderr) = run(dagship(p.path())
        .env("TOKEN", SECRET)
        .args(["run", "--env", "dev"]));
    assert_eq!(code, 0, "{stderr}");
    write_pipeline(
        p.path(),
        r#"[sh, -c, 'echo failing with ${{ secrets.TOKEN }} >&2; exit 1']"#,
    );
    let (code, _, stderr) = run(dagship(p.path())
        .env("TOKEN", SECRET)
        .args(["run", "--env", "dev"]));
    assert_eq!(code, 1, "{stderr}");
    let mut files = 0;
    for entry in walk(&p.path().join("state")) {
        files += 1;
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(SECRET),
            "{} holds the secret",
            entry.display()
        );
    }
    // Two records and the two pipeline files they were cut with.
    assert_eq!(files, 4);
    let succeeded = records(p.path(), "dev")
        .iter()
        .map(|r| json(r))
        .find(|r| r["outcome"] == "succeeded")
        .unwrap();
    assert_eq!(
        succeeded["steps"][0]["outputs"]["token"], "***",
        "{succeeded}"
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn promotion_follows_promote_from_unless_forced() {
    let p = project("[sh, -c, 'echo done']");
    let (code, _, stderr) = run(dagship(p.path()).args(["run", "--env", "dev"]));
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) =
        run(dagship(p.path()).args(["promote", "--from", "dev", "--to", "prod", "--yes"]));
    assert_eq!(code, 2);
    assert!(
        stderr
            .contains("environment `prod` is not promoted from `dev`: its `promote_from` is `qa`"),
        "{stderr}"
    );
    // Protected: a terminal needs `--yes`, which `--force` does not replace.
    let (code, _, stderr) =
        run(dagship(p.path()).args(["promote", "--from", "dev", "--to", "prod", "--force"]));
    assert_eq!(code, 2);
    assert!(stderr.contains("is protected"), "{stderr}");
    let (code, _, stderr) = run(dagship(p.path()).args([
        "promote", "--from", "dev", "--to", "prod", "--force", "--yes",
    ]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(records(p.path(), "prod").len(), 1);
}

#[test]
fn bad_release_ids_and_damaged_records_are_refused_clearly() {
    let p = project("[sh, -c, 'echo done']");
    let (code, _, _) = run(dagship(p.path()).args(["run", "--env", "dev"]));
    assert_eq!(code, 0);
    let (code, _, stderr) = run(dagship(p.path()).args([
        "promote",
        "--from",
        "dev",
        "--to",
        "qa",
        "--release",
        "nope",
    ]));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("environment `dev` has no release `nope`; the newest are "),
        "{stderr}"
    );
    // A record cut short (a hand edit, a broken upload) is named, never a panic.
    let record = &records(p.path(), "dev")[0];
    let bytes = std::fs::read(record).unwrap();
    std::fs::write(record, &bytes[..bytes.len() / 2]).unwrap();
    let (code, _, stderr) = run(dagship(p.path()).args(["promote", "--from", "dev", "--to", "qa"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("is not a release record dagship can read"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    // `releases` still lists what it can read, and says what it cannot.
    let (code, _, stderr) = run(dagship(p.path()).args(["releases", "--env", "dev"]));
    assert_eq!(code, 0);
    assert!(stderr.contains("warning: release record"), "{stderr}");
}

#[test]
fn an_unreadable_state_store_stops_a_run_before_anything_runs() {
    let p = project("[sh, -c, 'touch ran']");
    // The state folder's place is a file: nothing can be read or written there.
    std::fs::write(p.path().join("state"), "not a folder").unwrap();
    let (code, _, stderr) = run(dagship(p.path()).args(["run", "--env", "dev"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("the state store state cannot be used"),
        "{stderr}"
    );
    assert!(!p.path().join("ran").exists());
}

#[test]
fn the_pipeline_file_changed_since_the_release_needs_yes() {
    let p = project("[sh, -c, 'echo one']");
    let (code, _, _) = run(dagship(p.path()).args(["run", "--env", "dev"]));
    assert_eq!(code, 0);
    write_pipeline(p.path(), "[sh, -c, 'echo two']");
    let (code, _, stderr) = run(dagship(p.path()).args(["promote", "--from", "dev", "--to", "qa"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("-    with: { argv: [sh, -c, 'echo one'] }"),
        "{stderr}"
    );
    assert!(
        stderr.contains("+    with: { argv: [sh, -c, 'echo two'] }"),
        "{stderr}"
    );
    assert!(stderr.contains("pass `--yes`"), "{stderr}");
    let (code, _, stderr) =
        run(dagship(p.path()).args(["promote", "--from", "dev", "--to", "qa", "--yes"]));
    assert_eq!(code, 0, "{stderr}");
}

/// Starts `run --env dev` in the background and waits until it holds the lock.
fn start_holding(dir: &Path, extra_env: &[(&str, &str)]) -> Child {
    let child = dagship(dir)
        .envs(extra_env.iter().copied())
        .args(["run", "--env", "dev"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lock = dir.join("state/dev/lock.json");
    let started = Instant::now();
    while !lock.exists() {
        assert!(started.elapsed() < Duration::from_secs(20), "no lock taken");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

#[test]
fn two_runs_on_one_environment_one_proceeds_the_other_exits_3() {
    let p = project("[sh, -c, 'sleep 3']");
    let mut first = start_holding(p.path(), &[]);
    let (code, _, stderr) = run(dagship(p.path()).args(["run", "--env", "dev"]));
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("environment `dev` is locked by `run` "),
        "{stderr}"
    );
    assert!(stderr.contains(" since "), "{stderr}");
    // `plan` takes no lock, and says who holds it.
    let (code, plan, _) = run(dagship(p.path()).args(["plan", "--env", "dev"]));
    assert_eq!(code, 0);
    assert!(plan.contains("! locked by `run` "), "{plan}");
    // Waiting long enough, the second run gets the lock once the first is done.
    let (code, _, stderr) =
        run(dagship(p.path()).args(["run", "--env", "dev", "--lock-timeout", "30s"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(first.wait().unwrap().success());
    assert_eq!(records(p.path(), "dev").len(), 2);
}

#[test]
fn a_killed_run_leaves_a_lock_the_next_run_takes_over_after_it_expires() {
    let p = project("[sh, -c, 'sleep 60']");
    let ttl = [("DAGSHIP_LOCK_TTL", "1")];
    let mut killed = start_holding(p.path(), &ttl);
    killed.kill().unwrap(); // SIGKILL: no chance to remove the lock
    killed.wait().unwrap();
    let lock = std::fs::read_to_string(p.path().join("state/dev/lock.json")).unwrap();
    assert!(lock.contains("\"command\": \"run\""), "{lock}");
    std::thread::sleep(Duration::from_millis(1500));
    write_pipeline(p.path(), "[sh, -c, 'echo quick']");
    let (code, _, stderr) = run(dagship(p.path())
        .envs(ttl)
        .args(["run", "--env", "dev", "--yes"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("warning: took over the lock of `run` "),
        "{stderr}"
    );
    assert!(!p.path().join("state/dev/lock.json").exists());
}

#[test]
fn unlock_shows_the_holder_and_removes_the_lock() {
    let p = project("[sh, -c, 'sleep 60']");
    let mut killed = start_holding(p.path(), &[]);
    killed.kill().unwrap();
    killed.wait().unwrap();
    let (code, stdout, _) = run(dagship(p.path())
        .args(["unlock", "--env", "dev"])
        .stdin(Stdio::null()));
    assert_eq!(code, 2);
    assert!(
        stdout.contains("environment `dev` is locked by `run` "),
        "{stdout}"
    );
    assert!(p.path().join("state/dev/lock.json").exists());
    let (code, stdout, _) = run(dagship(p.path()).args(["unlock", "--env", "dev", "--yes"]));
    assert_eq!(code, 0);
    assert!(stdout.contains("removed the lock of `dev`"), "{stdout}");
    assert!(!p.path().join("state/dev/lock.json").exists());
    let (code, stdout, _) = run(dagship(p.path()).args(["unlock", "--env", "dev"]));
    assert_eq!(
        (code, stdout.trim()),
        (0, "environment `dev` is not locked")
    );
}

#[test]
fn an_interrupted_run_releases_the_lock_and_is_recorded_as_interrupted() {
    let p = project("[sh, -c, 'sleep 30']");
    for signal in ["-INT", "-TERM"] {
        let child = start_holding(p.path(), &[]);
        let killed = std::process::Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(130), "{signal}");
        assert!(!p.path().join("state/dev/lock.json").exists(), "{signal}");
    }
    let outcomes: Vec<serde_json::Value> = records(p.path(), "dev")
        .iter()
        .map(|r| json(r)["outcome"].clone())
        .collect();
    assert_eq!(outcomes, ["interrupted", "interrupted"]);
}

/// The example's migrations on SQLite: `rollback` leaves the database where it is unless
/// told to `--downgrade` to the release's revision.
#[test]
fn rollback_downgrades_migrations_only_when_told() {
    let p = tempfile::tempdir().unwrap();
    let dir = p.path();
    let migrations = common::repo_root().join("examples/warehouse/migrations");
    std::fs::create_dir_all(dir.join("migrations/versions")).unwrap();
    for name in ["alembic.ini", "env.py", "script.py.mako"] {
        std::fs::copy(migrations.join(name), dir.join("migrations").join(name)).unwrap();
    }
    for entry in std::fs::read_dir(migrations.join("versions"))
        .unwrap()
        .flatten()
    {
        if entry.path().extension().is_some_and(|e| e == "py") {
            std::fs::copy(
                entry.path(),
                dir.join("migrations/versions").join(entry.file_name()),
            )
            .unwrap();
        }
    }
    let pipeline = |revision: &str| {
        let text = format!(
            "version: 1\nname: m\nenvironments:\n  dev: {{ state: {{ dir: state }} }}\nsteps:\n  migrate:\n    uses: alembic\n    with: {{ config: migrations/alembic.ini, revision: \"{revision}\", url: \"sqlite:///db.sqlite\" }}\n"
        );
        std::fs::write(dir.join("pipeline.yaml"), text).unwrap();
    };
    let venv = common::repo_root().join(".venv/bin");
    let path = format!("{}:/usr/local/bin:/usr/bin:/bin", venv.display());
    let dagship_here = |args: &[&str]| run(dagship(dir).env("PATH", &path).args(args));
    let revision = || {
        let (code, out, err) = run(std::process::Command::new(venv.join("alembic"))
            .current_dir(dir)
            .env("DAGSHIP_DATABASE_URL", "sqlite:///db.sqlite")
            .args(["-c", "migrations/alembic.ini", "current"]));
        assert_eq!(code, 0, "{err}");
        out.split_whitespace().next().unwrap_or("base").to_string()
    };
    pipeline("0003");
    let (code, _, stderr) = dagship_here(&["run", "--env", "dev"]);
    assert_eq!(code, 0, "{stderr}");
    let first = json(&records(dir, "dev")[0])["id"]
        .as_str()
        .unwrap()
        .to_string();
    std::thread::sleep(Duration::from_millis(20));
    pipeline("head");
    let (code, _, stderr) = dagship_here(&["run", "--env", "dev"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(revision(), "0004");

    let (code, plan, stderr) = dagship_here(&["rollback", "--env", "dev", "--dry-run"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        plan.contains(&format!("deploys release dev/{first}")),
        "{plan}"
    );
    assert!(plan.contains("migrations are not downgraded"), "{plan}");
    let (code, _, stderr) = dagship_here(&["rollback", "--env", "dev", "--yes"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(revision(), "0004");
    let (code, _, stderr) = dagship_here(&[
        "rollback",
        "--env",
        "dev",
        "--to",
        &first,
        "--downgrade",
        "--yes",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(revision(), "0003");
}

#[test]
fn in_github_actions_the_run_and_the_plan_set_step_outputs() {
    let p = project("[sh, -c, 'echo done']");
    let outputs = p.path().join("github_output");
    let (code, _, stderr) = run(dagship(p.path())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &outputs)
        .args(["run", "--env", "dev"]));
    assert_eq!(code, 0, "{stderr}");
    let id = json(&records(p.path(), "dev")[0])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let written = std::fs::read_to_string(&outputs).unwrap();
    assert!(written.contains(&format!("run_id={id}\n")), "{written}");
    assert!(written.contains("outcome=succeeded\n"), "{written}");
    assert!(written.contains(&format!("release_id={id}\n")), "{written}");
    std::fs::remove_file(&outputs).unwrap();
    let (code, _, _) = run(dagship(p.path())
        .env("GITHUB_OUTPUT", &outputs)
        .args(["plan", "--env", "dev"]));
    assert_eq!(code, 0);
    assert_eq!(
        std::fs::read_to_string(&outputs).unwrap(),
        "has_changes=true\n"
    );
}
