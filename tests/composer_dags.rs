//! `composer_dags` into a local Airflow folder: Composer's bucket layout (`plugins/` and
//! `data/` beside `dags/`, synced first), caches and hidden files left behind, in `run` and
//! in `plan`.

mod common;

use std::path::Path;

use common::dagship;
use serde_json::Value;

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const PIPELINE: &str = "version: 1\nname: t\nenvironments:\n  local: { dags_target: { dir: airflow/dags } }\nsteps:\n  \
    upload:\n    uses: composer_dags\n    with: { source: out/dags, plugins: out/plugins, data: out/data, prune: true }\n";

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pipeline.yaml"), PIPELINE).unwrap();
    for (name, text) in [
        (
            "out/dags/dbt_a.py",
            "from airflow import DAG\nimport acme_settings\n",
        ),
        ("out/dags/acme_settings.py", "PROJECT = 'acme'\n"),
        ("out/dags/__pycache__/dbt_a.cpython-311.pyc", "cache"),
        ("out/dags/.DS_Store", "finder"),
        ("out/plugins/acme/hooks.py", "class Hook: pass\n"),
        ("out/data/seeds.csv", "a,b\n"),
    ] {
        write(dir.path(), name, text);
    }
    dir
}

#[test]
fn plugins_and_data_go_beside_the_dags_first_and_caches_stay_behind() {
    let dir = project();
    let out = dagship(dir.path())
        .args(["run", "--env", "local", "--output", "plain"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in [
        "airflow/dags/dbt_a.py",
        "airflow/dags/acme_settings.py",
        "airflow/plugins/acme/hooks.py",
        "airflow/data/seeds.csv",
    ] {
        assert!(dir.path().join(name).is_file(), "{name} synced:\n{stdout}");
    }
    for name in ["airflow/dags/__pycache__", "airflow/dags/.DS_Store"] {
        assert!(!dir.path().join(name).exists(), "{name} left behind");
    }
    let order: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.split("| added ").nth(1))
        .collect();
    assert_eq!(
        order,
        [
            "airflow/plugins/acme/hooks.py",
            "airflow/data/seeds.csv",
            "airflow/dags/acme_settings.py",
            "airflow/dags/dbt_a.py"
        ],
        "plugins, data, then helper modules, then DAG files"
    );
}

#[test]
fn the_plan_names_each_folder_and_no_cache() {
    let dir = project();
    let out = dagship(dir.path())
        .args(["plan", "--env", "local", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let actions = plan["steps"][0]["actions"].as_array().unwrap();
    let targets: Vec<(&str, &str)> = actions
        .iter()
        .map(|a| {
            (
                a["folder"].as_str().unwrap_or("dags"),
                a["target"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        targets,
        [
            ("plugins", "airflow/plugins"),
            ("data", "airflow/data"),
            ("dags", "airflow/dags")
        ]
    );
    let dag_files = &actions[2]["files"]["names"];
    assert_eq!(
        dag_files,
        &serde_json::json!(["out/dags/acme_settings.py", "out/dags/dbt_a.py"]),
        "no cache, no hidden file"
    );
}

#[test]
fn beside_a_bucket_prefix_or_a_composer_folder() {
    let dir = tempfile::tempdir().unwrap();
    let text = "version: 1\nname: t\nenvironments:\n  prod:\n    project: p\n    region: europe-west1\n    \
                dags_target: { bucket: gs://acme-dags, prefix: team/dags/ }\n  staging:\n    project: p\n    region: europe-west1\n    \
                dags_target: { composer_environment: composer-staging }\nsteps:\n  \
                upload:\n    uses: composer_dags\n    with: { source: out, plugins: plugins }\n";
    std::fs::write(dir.path().join("pipeline.yaml"), text).unwrap();
    let target = |env: &str| {
        let out = dagship(dir.path())
            .args(["plan", "--env", env, "--format", "json"])
            .output()
            .unwrap();
        let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
        plan["steps"][0]["actions"][0]["target"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(target("prod"), "gs://acme-dags/team/plugins/");
    assert_eq!(
        target("staging"),
        "the plugins folder of Composer environment `composer-staging`"
    );
}
