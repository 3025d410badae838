//! The repository's GitHub Actions workflows pass actionlint (installed into `.venv` by
//! `scripts/test.sh`).

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::repo_root;

fn actionlint() -> PathBuf {
    let path = repo_root().join(".venv/bin/actionlint");
    assert!(
        path.exists(),
        "{} is missing: run `bash scripts/test.sh`, which installs the test tools",
        path.display()
    );
    path
}

#[test]
fn workflows_pass_actionlint() {
    let workflows: Vec<PathBuf> = std::fs::read_dir(repo_root().join(".github/workflows"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    assert!(!workflows.is_empty());
    let out = Command::new(actionlint())
        .args(&workflows)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "actionlint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn actionlint_does_catch_mistakes() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(&bad, "on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n").unwrap();
    let out = Command::new(actionlint()).arg(&bad).output().unwrap();
    assert!(
        !out.status.success(),
        "a broken workflow must fail actionlint"
    );
}
