//! The repository's GitHub Actions workflows, the example workflows the README shows
//! (`examples/github/`) and the composite action (`action.yml`) pass actionlint and zizmor
//! (both installed into `.venv` by `scripts/test.sh`; zizmor's policy is `.github/zizmor.yml`).

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

/// The action's metadata (`action.yml`, a composite action; docs/action.md).
#[test]
fn action_passes_zizmor() {
    let out = Command::new(tool("zizmor"))
        .arg("--offline")
        .arg(repo_root().join("action.yml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "zizmor:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// actionlint lints workflows, not action metadata: it reads an `action.yml` only where a
/// workflow uses it as `./`, and then checks the workflow's inputs and outputs against it (not
/// the action's own steps). So the example workflow of docs/action.md, pointed at `./` in a
/// copy of the action, must pass, and the same with a misspelt input must not.
#[test]
fn the_action_example_passes_actionlint_against_action_yml() {
    let doc = std::fs::read_to_string(repo_root().join("docs/action.md")).unwrap();
    let example = doc
        .split("```yaml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/action.md shows a workflow");
    assert!(example.contains("uses: OWNER/dagship@v1.2.3"), "{example}");
    let example = example.replace("uses: OWNER/dagship@v1.2.3", "uses: ./");
    let lint = |workflow: &str| {
        let dir = tempfile::tempdir().unwrap();
        // actionlint finds the repository of `./` by its `.git`.
        std::fs::create_dir_all(dir.path().join(".git")).unwrap();
        std::fs::create_dir_all(dir.path().join(".github/workflows")).unwrap();
        std::fs::copy(
            repo_root().join("action.yml"),
            dir.path().join("action.yml"),
        )
        .unwrap();
        std::fs::write(dir.path().join(".github/workflows/deploy.yml"), workflow).unwrap();
        Command::new(tool("actionlint"))
            .arg(".github/workflows/deploy.yml")
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let out = lint(&example);
    assert!(
        out.status.success(),
        "actionlint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = lint(&example.replace("args: run", "arg: run"));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("input \"arg\" is not defined"), "{said}");
}
