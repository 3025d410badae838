//! The repository's GitHub Actions workflows, and the deployment workflow the README shows
//! (`examples/github/deploy.yml`), pass actionlint and zizmor (both installed into `.venv`
//! by `scripts/test.sh`).

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::repo_root;

fn tool(name: &str) -> PathBuf {
    let path = repo_root().join(".venv/bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `bash scripts/test.sh`, which installs the test tools",
        path.display()
    );
    path
}

fn workflows() -> Vec<PathBuf> {
    let mut found = Vec::new();
    for dir in [".github/workflows", "examples/github"] {
        found.extend(
            std::fs::read_dir(repo_root().join(dir))
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml")),
        );
    }
    assert!(found.len() >= 2, "{found:?}");
    found
}

#[test]
fn workflows_pass_zizmor() {
    let out = Command::new(tool("zizmor"))
        .arg("--offline")
        .args(workflows())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "zizmor:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn workflows_pass_actionlint() {
    let out = Command::new(tool("actionlint"))
        .args(workflows())
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
    let out = Command::new(tool("actionlint")).arg(&bad).output().unwrap();
    assert!(
        !out.status.success(),
        "a broken workflow must fail actionlint"
    );
}
