//! Generated DAGs, loaded by Airflow itself (the venv's Airflow, through
//! `tests/dags_airflow.py`): no import errors, and the task ids and upstream sets Airflow
//! sees are what the manifest says (`expect.rs`, which derives them from the manifest).
//!
//! Projects: the example warehouse (compiled with the venv's dbt), the fidelity corpus
//! (real manifests with packages, ephemeral models, versioned models, relationship tests)
//! and a small synthetic manifest (`bench/gen_manifest.py`: shared names across packages,
//! `meta.dagship` settings). Both operators; every `tests` mode.

#[path = "../dbt_support/mod.rs"]
mod dbt_support;
#[path = "../example_dbt/mod.rs"]
mod example_dbt;
mod expect;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use dagship::dags::{
    self, Bash, CloudRunJob, DagOptions, ExtraKind, ExtraTask, Operator, TestsMode,
};
use dagship::dbt::manifest::Manifest;
use dagship::dbt::selectors_file::SelectorsFile;
use serde_json::Value;

use expect::check;

/// One folder of generated DAGs and what it was made from.
struct Case {
    label: String,
    folder: PathBuf,
    loaded: Manifest,
    selectors: Option<SelectorsFile>,
    options: DagOptions,
}

fn corpus(project: &str) -> Manifest {
    dbt_support::load_manifest(project)
}

fn corpus_selectors(project: &str) -> SelectorsFile {
    let path = dbt_support::corpus_dir().join(format!("selectors/{project}.selectors.yml"));
    SelectorsFile::from_path(&path).unwrap()
}

fn load(path: &Path) -> Manifest {
    dags::load_manifest(path).unwrap_or_else(|e| panic!("{e}"))
}

fn cloud_run() -> DagOptions {
    DagOptions {
        operator: Operator::CloudRunJob(CloudRunJob {
            project: "acme-data-prod".into(),
            region: "europe-west1".into(),
            job: "dbt-runner".into(),
        }),
        project_dir: Some("/dbt".into()),
        ..DagOptions::default()
    }
}

fn bash(dir: &str) -> DagOptions {
    DagOptions {
        operator: Operator::Bash(Bash),
        project_dir: Some(dir.into()),
        profiles_dir: Some(dir.into()),
        ..DagOptions::default()
    }
}

fn bash_task(id: &str, command: &str) -> ExtraTask {
    ExtraTask {
        id: id.into(),
        kind: ExtraKind::Bash(command.into()),
    }
}

fn generate(root: &Path, cases: &mut [Case]) {
    for case in cases.iter_mut() {
        case.folder = root.join(&case.label);
        let files = dags::generate(&case.loaded, case.selectors.as_ref(), &case.options)
            .unwrap_or_else(|e| panic!("{}: {e}", case.label));
        dags::write(&case.folder, &files, None).unwrap();
    }
}

/// What Airflow 3 (the venv's) and Airflow 2.10 (the second venv's) each saw of all the
/// folders: the generated files must load the same in both (the spec promises 2.10 and 3.x).
fn airflow_views(root: &Path, cases: &[Case]) -> Vec<Value> {
    let pythons = [
        ("3", example_dbt::venv_bin("python")),
        ("2", example_dbt::airflow2_python()),
    ];
    let views: Vec<Value> = pythons
        .iter()
        .map(|(major, python)| airflow_view(root, cases, major, python))
        .collect();
    for (view, (major, _)) in views.iter().zip(&pythons) {
        let version = view["airflow"].as_str().unwrap_or_default();
        assert!(
            version.starts_with(&format!("{major}.")),
            "Airflow {version}"
        );
    }
    views
}

/// Runs the Python side once for all folders, with one Airflow.
fn airflow_view(root: &Path, cases: &[Case], major: &str, python: &Path) -> Value {
    let out = root.join(format!("airflow{major}.json"));
    let status = Command::new(python)
        .arg(example_dbt::repo_root().join("tests/dags_airflow.py"))
        .arg(&out)
        .args(cases.iter().map(|c| &c.folder))
        .env("AIRFLOW_HOME", root.join(format!("airflow{major}-home")))
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "tests/dags_airflow.py failed in Airflow {major}:\n{}",
        String::from_utf8_lossy(&status.stderr)
    );
    serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap()
}

#[test]
fn example_warehouse_loads_in_airflow_with_every_operator_and_tests_mode() {
    let manifest = example_dbt::example_manifest("dags_airflow");
    let selectors = || Some(SelectorsFile::from_path(&example_dbt::example_selectors()).unwrap());
    let mut cases = vec![
        Case {
            label: "bash_after_each".into(),
            folder: PathBuf::new(),
            loaded: load(manifest),
            selectors: selectors(),
            options: DagOptions {
                target: Some("local".into()),
                source_freshness: true,
                schedules: [("daily".to_string(), "0 5 * * *".to_string())].into(),
                pool: Some("dbt".into()),
                before: vec![bash_task("sync_raw", "echo sync {{ ds }}")],
                after: vec![bash_task("notify", "echo done")],
                ..bash("/opt/airflow/dbt")
            },
        },
        Case {
            label: "cloud_run_build".into(),
            folder: PathBuf::new(),
            loaded: load(manifest),
            selectors: selectors(),
            options: DagOptions {
                target: Some("prod".into()),
                tests: TestsMode::Build,
                ..cloud_run()
            },
        },
        Case {
            label: "cloud_run_no_tests".into(),
            folder: PathBuf::new(),
            loaded: load(manifest),
            selectors: None,
            options: DagOptions {
                tests: TestsMode::None,
                ..cloud_run()
            },
        },
    ];
    // The first two again, in another environment: other values, the same DAG files.
    let elsewhere = [
        another_environment(&cases[0], "bash_after_each_staging", load(manifest)),
        another_environment(&cases[1], "cloud_run_build_staging", load(manifest)),
    ];
    cases.extend(elsewhere);
    let root = tempfile::tempdir().unwrap();
    generate(root.path(), &mut cases);
    for (here, there) in [(0, 3), (1, 4)] {
        same_dags_other_settings(&cases[here], &cases[there]);
    }
    for view in airflow_views(root.path(), &cases) {
        check_example(&cases, &view);
    }
}

/// `case` (made from `loaded`) in another environment: every value that differs between
/// environments changed.
fn another_environment(case: &Case, label: &str, loaded: Manifest) -> Case {
    let operator = match &case.options.operator {
        Operator::CloudRunJob(_) => Operator::CloudRunJob(CloudRunJob {
            project: "acme-data-staging".into(),
            region: "us-central1".into(),
            job: "dbt-runner-staging".into(),
        }),
        bash => bash.clone(),
    };
    Case {
        label: label.into(),
        folder: PathBuf::new(),
        loaded,
        selectors: case.selectors.clone(),
        options: DagOptions {
            operator,
            target: Some("staging".into()),
            project_dir: Some("/home/airflow/gcs/data/dbt".into()),
            profiles_dir: Some("/home/airflow/gcs/data/profiles".into()),
            ..case.options.clone()
        },
    }
}

/// What a release relies on: the DAG files of two environments are byte-identical, and
/// only the settings module beside them differs.
fn same_dags_other_settings(one: &Case, other: &Case) {
    let files = |case: &Case| {
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&case.folder)
            .unwrap()
            .map(|e| e.unwrap())
            .map(|e| {
                (
                    e.file_name().into_string().unwrap(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        files.sort();
        files
    };
    let (mine, theirs) = (files(one), files(other));
    assert_eq!(mine.len(), theirs.len());
    for ((name, bytes), (other_name, other_bytes)) in mine.iter().zip(&theirs) {
        assert_eq!(name, other_name);
        let same = bytes == other_bytes;
        if name == dags::SETTINGS_FILE {
            assert!(
                !same,
                "{} and {}: the same settings",
                one.label, other.label
            );
        } else {
            assert!(same, "{} and {}: {name} differs", one.label, other.label);
        }
    }
}

fn check_example(cases: &[Case], view: &Value) {
    let failures: Vec<String> = cases.iter().flat_map(|c| check(c, view)).collect();
    assert!(
        failures.is_empty(),
        "Airflow {}: {}",
        view["airflow"],
        failures.join("\n")
    );

    let daily = &view[path_key(&cases[0].folder)]["dags"]["dbt_daily"];
    assert_eq!(daily["schedule"], "0 5 * * *");
    assert_eq!(daily["catchup"], false);
    assert_eq!(daily["tags"], serde_json::json!(["dagship", "dbt"]));
    let dim = &daily["tasks"]["dim_customers.run"];
    assert_eq!(dim["pool"], "dbt");
    assert_eq!(
        dim["argv"],
        serde_json::json!([
            "dbt",
            "run",
            "--select",
            "resource_type:model,package:warehouse,fqn:warehouse.marts.core.dim_customers",
            "--project-dir",
            "/opt/airflow/dbt",
            "--profiles-dir",
            "/opt/airflow/dbt",
            "--target",
            "local"
        ])
    );
    let all = &view[path_key(&cases[2].folder)]["dags"]["dbt_all"]["tasks"];
    assert_eq!(
        all["dim_customers"]["argv"],
        serde_json::json!([
            "<job>",
            "run",
            "--select",
            "resource_type:model,package:warehouse,fqn:warehouse.marts.core.dim_customers",
            "--project-dir",
            "/dbt"
        ])
    );
    assert_eq!(all["dim_customers"]["operator"], "DbtTask");
    assert_eq!(
        all["dim_customers"]["job"],
        "acme-data-prod/europe-west1/dbt-runner"
    );

    // The same DAG files in another environment run against its own target, dirs and job.
    let staging = &view[path_key(&cases[3].folder)]["dags"]["dbt_daily"]["tasks"];
    assert_eq!(
        staging["dim_customers.run"]["argv"],
        serde_json::json!([
            "dbt",
            "run",
            "--select",
            "resource_type:model,package:warehouse,fqn:warehouse.marts.core.dim_customers",
            "--project-dir",
            "/home/airflow/gcs/data/dbt",
            "--profiles-dir",
            "/home/airflow/gcs/data/profiles",
            "--target",
            "staging"
        ])
    );
    let prod = &view[path_key(&cases[1].folder)]["dags"]["dbt_daily"]["tasks"];
    let staging = &view[path_key(&cases[4].folder)]["dags"]["dbt_daily"]["tasks"];
    let target = |task: &Value| {
        let argv = task["argv"].as_array().unwrap();
        let at = argv.iter().position(|a| a == "--target").unwrap();
        argv[at + 1].clone()
    };
    assert_eq!(target(&prod["dim_customers"]), "prod");
    assert_eq!(
        prod["dim_customers"]["job"],
        "acme-data-prod/europe-west1/dbt-runner"
    );
    assert_eq!(target(&staging["dim_customers"]), "staging");
    assert_eq!(
        staging["dim_customers"]["job"],
        "acme-data-staging/us-central1/dbt-runner-staging"
    );
}

#[test]
fn corpus_and_synthetic_manifests_load_in_airflow() {
    let root = tempfile::tempdir().unwrap();
    let synthetic = root.path().join("synthetic.json");
    let status = Command::new(example_dbt::venv_bin("python"))
        .arg(example_dbt::repo_root().join("bench/gen_manifest.py"))
        .args(["--models", "400", "--out"])
        .arg(&synthetic)
        .status()
        .unwrap();
    assert!(status.success());
    let mut cases = Vec::new();
    for project in [
        "mattermost_analytics",
        "tuva_integration_tests",
        "spellbook_daily",
    ] {
        cases.push(Case {
            label: format!("{project}_selectors"),
            folder: PathBuf::new(),
            loaded: corpus(project),
            selectors: Some(corpus_selectors(project)),
            options: bash("/dbt"),
        });
    }
    for project in ["jaffle_shop", "tuva_integration_tests"] {
        cases.push(Case {
            label: format!("{project}_all"),
            folder: PathBuf::new(),
            loaded: corpus(project),
            selectors: None,
            options: cloud_run(),
        });
    }
    cases.push(Case {
        label: "synthetic_all".into(),
        folder: PathBuf::new(),
        loaded: load(&synthetic),
        selectors: None,
        options: bash("/dbt"),
    });
    generate(root.path(), &mut cases);
    for view in airflow_views(root.path(), &cases) {
        check_corpus(&cases, &view);
    }
}

/// `bench/serialize.py --floor` compares dagship's file with `bench/floor_dag.py` built to
/// its shape, and calls the difference dagship's own cost: that holds only while the floor
/// has the same TaskGroups, task ids and edges, which Airflow reads back here.
#[test]
fn the_benchmarks_floor_has_the_shape_of_the_file_it_is_measured_against() {
    let root = tempfile::tempdir().unwrap();
    let mut cases = [Case {
        label: "tuva_all".into(),
        folder: PathBuf::new(),
        loaded: corpus("tuva_integration_tests"),
        selectors: None,
        options: bash("/dbt"),
    }];
    generate(root.path(), &mut cases);
    let python = example_dbt::venv_bin("python");
    let bench = example_dbt::repo_root().join("bench");
    let rows = root.path().join("rows.json");
    let floor = root.path().join("floor");
    std::fs::create_dir(&floor).unwrap();
    std::fs::copy(bench.join("floor_dag.py"), floor.join("floor_dag.py")).unwrap();
    let home = root.path().join("airflow-home");
    let shape = Command::new(&python)
        .arg(bench.join("serialize.py"))
        .arg("--shape")
        .arg(cases[0].folder.join("dbt_all.py"))
        .arg(&rows)
        .env("AIRFLOW_HOME", &home)
        .output()
        .unwrap();
    assert!(
        shape.status.success(),
        "{}",
        String::from_utf8_lossy(&shape.stderr)
    );
    let out = root.path().join("view.json");
    let view = Command::new(&python)
        .arg(example_dbt::repo_root().join("tests/dags_airflow.py"))
        .args([&out, &cases[0].folder, &floor])
        .env("AIRFLOW_HOME", &home)
        .env("BENCH_FLOOR_ROWS", &rows)
        .output()
        .unwrap();
    assert!(
        view.status.success(),
        "{}",
        String::from_utf8_lossy(&view.stderr)
    );
    let view: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let shape_of = |dag: &Value| -> BTreeMap<String, (Value, Value)> {
        let tasks = dag["tasks"].as_object().expect("a DAG with tasks");
        tasks
            .iter()
            .map(|(id, t)| (id.clone(), (t["group"].clone(), t["upstream"].clone())))
            .collect()
    };
    let dagship = shape_of(&view[path_key(&cases[0].folder)]["dags"]["dbt_all"]);
    let built = shape_of(&view[path_key(&floor)]["dags"]["floor"]);
    assert!(
        dagship.len() > 100,
        "tuva's DAG has {} tasks",
        dagship.len()
    );
    assert!(dagship.values().any(|(group, _)| group.is_null()));
    assert_eq!(dagship, built);
}

fn check_corpus(cases: &[Case], view: &Value) {
    let failures: Vec<String> = cases.iter().flat_map(|c| check(c, view)).collect();
    assert!(
        failures.is_empty(),
        "Airflow {}: {}",
        view["airflow"],
        failures.join("\n")
    );

    // meta: {dagship: {pool: heavy, retries: 3}} on some marts of the synthetic manifest.
    let tasks = &view[path_key(&cases.last().unwrap().folder)]["dags"]["dbt_all"]["tasks"];
    let heavy: Vec<&String> = tasks
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, t)| t["pool"] == "heavy")
        .map(|(id, _)| id)
        .collect();
    assert!(!heavy.is_empty());
    assert!(heavy.iter().all(|id| tasks[id.as_str()]["retries"] == 3));
    // Names shared by two packages become `<package>__<name>`.
    assert!(
        tasks
            .as_object()
            .unwrap()
            .keys()
            .any(|id| id.starts_with("pkg_alpha__shared_model_0"))
    );
}

fn path_key(folder: &Path) -> &str {
    folder.to_str().unwrap()
}
