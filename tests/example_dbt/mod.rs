//! The example warehouse, migrated and compiled with the venv's alembic and dbt (once per test
//! binary), in a temporary copy so that tests never share files with the repository.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A tool installed by `scripts/python-env.sh` into `.venv`.
pub fn venv_bin(tool: &str) -> PathBuf {
    let path = repo_root().join(".venv/bin").join(tool);
    assert!(
        path.exists(),
        "{} is missing: run `bash scripts/python-env.sh` (or `bash scripts/test.sh`)",
        path.display()
    );
    path
}

/// The Python of the second venv, with Airflow 2.10 (what Cloud Composer 2 runs), made by
/// `VENV=.venv-airflow2 bash scripts/python-env.sh requirements-airflow2.txt`.
pub fn airflow2_python() -> PathBuf {
    let path = repo_root().join(".venv-airflow2/bin/python");
    assert!(
        path.exists(),
        "{} is missing: run `bash scripts/test.sh`, or \
         `VENV=.venv-airflow2 bash scripts/python-env.sh requirements-airflow2.txt`",
        path.display()
    );
    path
}

/// The example pipeline and warehouse, copied into `to` (without dbt's build artefacts).
pub fn copy_example(to: &Path) {
    std::fs::copy(repo_root().join("pipeline.yaml"), to.join("pipeline.yaml")).unwrap();
    copy_tree(&repo_root().join("examples"), &to.join("examples"));
}

pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let name = entry.file_name();
        if ["target", "logs", "dbt_packages", "__pycache__"].contains(&name.to_str().unwrap_or(""))
        {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        if src.is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// Runs a venv tool in `dir`; panics with its output if it fails.
pub fn run_tool(dir: &Path, tool: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let bin = venv_bin(tool);
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(&bin)
        .current_dir(dir)
        .args(args)
        .env("PATH", path)
        .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{tool} {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `<copy>/examples/warehouse/dbt/target/manifest.json`, after `alembic upgrade head` and
/// `dbt compile --target local` in a fresh copy under the target folder (`label` keeps test
/// binaries apart; a static is never dropped, so a temporary folder would be left behind).
pub fn example_manifest(label: &str) -> &'static Path {
    static MANIFEST: OnceLock<PathBuf> = OnceLock::new();
    MANIFEST.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("example-{label}"));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
        copy_tree(&repo_root().join("examples"), &dir.join("examples"));
        std::fs::create_dir_all(dir.join(".dagship/local")).unwrap();
        run_tool(
            &dir,
            "alembic",
            &[
                "-c",
                "examples/warehouse/migrations/alembic.ini",
                "upgrade",
                "head",
            ],
            &[(
                "DAGSHIP_DATABASE_URL",
                "sqlite:///.dagship/local/raw.sqlite",
            )],
        );
        run_tool(
            &dir,
            "dbt",
            &[
                "compile",
                "--project-dir",
                "examples/warehouse/dbt",
                "--profiles-dir",
                "examples/warehouse/dbt",
                "--target",
                "local",
            ],
            &[],
        );
        dir.join("examples/warehouse/dbt/target/manifest.json")
    })
}

/// The example's `selectors.yml` in the repository.
pub fn example_selectors() -> PathBuf {
    repo_root().join("examples/warehouse/dbt/selectors.yml")
}
