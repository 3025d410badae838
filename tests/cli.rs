//! Global flags and behaviours of the command line that no single command owns.

mod common;

use std::path::Path;
use std::process::Command;

use common::{dagship, repo_root, run};

const PIPELINE: &str = "version: 1
name: small
environments:
  local: {}
  prod: { project: p, region: europe-west1 }
steps:
  migrate:
    uses: alembic
    environments: [prod]
    with: { config: alembic.ini, url: \"${{ secrets.SMALL_DB_URL }}\" }
  tag:
    uses: command
    with: { argv: [echo, \"${{ git.sha }}\", \"${{ git.ref }}\"] }
";

fn write_pipeline(dir: &Path) {
    std::fs::write(dir.join("pipeline.yaml"), PIPELINE).unwrap();
}

#[test]
fn empty_file_is_invalid_at_its_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pipeline.yaml"), "").unwrap();
    let (code, stdout, stderr) = run(dagship(dir.path()).arg("validate"));
    assert_eq!((code, stdout.as_str()), (2, ""));
    assert!(
        stderr.contains("pipeline.yaml:1:1") && stderr.contains("not a pipeline file"),
        "{stderr}"
    );
}

#[test]
fn dash_c_changes_directory_first() {
    let dir = tempfile::tempdir().unwrap();
    write_pipeline(dir.path());
    let (code, stdout, stderr) = run(dagship(&repo_root())
        .arg("-C")
        .arg(dir.path())
        .arg("validate"));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with("pipeline.yaml is valid: 2 steps"),
        "{stdout}"
    );
}

#[test]
fn colour_is_opt_in_off_a_terminal() {
    let (_, plain, _) = run(dagship(&repo_root()).args(["plan", "--env", "local"]));
    assert!(!plain.contains('\u{1b}'));
    let (code, coloured, _) =
        run(dagship(&repo_root()).args(["--color", "always", "plan", "--env", "local"]));
    assert_eq!(code, 0);
    assert!(coloured.contains("\u{1b}["), "--color always colours");
    let (_, _, stderr) =
        run(dagship(&repo_root()).args(["--color", "always", "plan", "--env", "nope"]));
    assert!(stderr.contains("unknown environment"));
}

#[test]
fn a_missing_secret_matters_only_where_its_step_runs() {
    let dir = tempfile::tempdir().unwrap();
    write_pipeline(dir.path());
    let (code, _, stderr) = run(dagship(dir.path()).args(["validate", "--env", "local"]));
    assert_eq!(code, 0);
    assert!(
        !stderr.contains("SMALL_DB_URL"),
        "migrate is skipped in local: {stderr}"
    );
    let (code, stdout, _) = run(dagship(dir.path()).args(["plan", "--env", "prod"]));
    assert_eq!(code, 0);
    assert!(
        stdout.contains("secret `SMALL_DB_URL` is not set: step `migrate`"),
        "{stdout}"
    );
    let (code, stdout, _) = run(dagship(dir.path())
        .env("SMALL_DB_URL", "sqlite:///x-very-secret")
        .args(["plan", "--env", "prod"]));
    assert_eq!(code, 0);
    assert!(
        stdout.contains("DAGSHIP_DATABASE_URL=***") && !stdout.contains("x-very-secret"),
        "{stdout}"
    );
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn git_values_come_from_the_repository_outside_github_actions() {
    let dir = tempfile::tempdir().unwrap();
    write_pipeline(dir.path());
    git(dir.path(), &["init", "-q", "-b", "release"]);
    git(dir.path(), &["add", "pipeline.yaml"]);
    git(dir.path(), &["commit", "-q", "-m", "x"]);
    let sha = git(dir.path(), &["rev-parse", "HEAD"]);
    let (code, stdout, _) = run(dagship(dir.path())
        .env_remove("GITHUB_SHA")
        .env_remove("GITHUB_REF")
        .args(["plan", "--env", "local"]));
    assert_eq!(code, 0);
    assert!(
        stdout.contains(&format!("$ echo {sha} refs/heads/release")),
        "{stdout}"
    );
    let (_, stdout, _) = run(dagship(dir.path()).args(["plan", "--env", "local"]));
    assert!(
        stdout.contains("$ echo 0123456789abcdef0123456789abcdef01234567 refs/heads/main"),
        "GITHUB_SHA wins: {stdout}"
    );
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let root = repo_root();
    let (code, stdout, stderr) = run(dagship(&root).arg("--version"));
    assert_eq!(code, 0, "{stderr}");
    let prefix = format!("dagship {} (", env!("CARGO_PKG_VERSION"));
    let inside = stdout
        .trim_end()
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("not `{prefix}...)`: {stdout}"));
    let commit = inside
        .split(", ")
        .find_map(|part| part.strip_prefix("commit "))
        .unwrap_or_else(|| panic!("no commit: {stdout}"));
    if !root.join(".git").exists() {
        assert_eq!(commit, "unknown", "{stdout}");
        return;
    }
    let head = git(&root, &["rev-parse", "HEAD"]);
    assert_eq!(commit, &head[..12], "{stdout}");
    // "modified" follows the files the binary is built from, not the whole tree.
    let changed = git(
        &root,
        &[
            "--no-optional-locks",
            "status",
            "--porcelain",
            "--",
            "src",
            "build.rs",
            "Cargo.toml",
            "Cargo.lock",
        ],
    );
    assert_eq!(
        inside.ends_with(", modified"),
        !changed.is_empty(),
        "{stdout}"
    );
}
