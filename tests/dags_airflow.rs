//! Generated DAGs, loaded by Airflow itself (the venv's Airflow, through
//! `tests/dags_airflow.py`): no import errors, and the task ids and upstream sets Airflow
//! sees are what the manifest says. The expectations are derived here from the manifest
//! with deliberately plain code (walks without memo), not with the generator's.
//!
//! Projects: the example warehouse (compiled with the venv's dbt), the fidelity corpus
//! (real manifests with packages, ephemeral models, versioned models, relationship tests)
//! and a small synthetic manifest (`bench/gen_manifest.py`: shared names across packages,
//! `meta.dagship` settings). Both operators; every `tests` mode.

mod dbt_support;
mod example_dbt;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use dagship::dags::{
    self, Bash, CloudRunJob, DagOptions, ExtraKind, ExtraTask, Operator, TestsMode,
};
use dagship::dbt::manifest::{Manifest, Node, ResourceType};
use dagship::dbt::select::{EvalOptions, IndirectSelection, select_expression_with};
use dagship::dbt::selectors_file::SelectorsFile;
use serde_json::Value;

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

// ----- expectations from the manifest --------------------------------------------------

fn is_unit_node(n: &Node) -> bool {
    n.enabled
        && (matches!(n.resource_type, ResourceType::Seed | ResourceType::Snapshot)
            || (n.resource_type == ResourceType::Model && !is_ephemeral(n)))
}

fn is_ephemeral(n: &Node) -> bool {
    n.resource_type == ResourceType::Model && n.materialized.as_deref() == Some("ephemeral")
}

fn is_test(n: &Node) -> bool {
    matches!(n.resource_type, ResourceType::Test | ResourceType::UnitTest)
}

/// The naming rule: `name` (`name_vN` for a version), `<package>__<name>` when packages share it.
fn unit_names(m: &Manifest) -> BTreeMap<String, String> {
    let base = |n: &Node| match n.version {
        Some(_) => format!("{}_{}", n.name, n.fqn.last().unwrap()),
        None => n.name.to_string(),
    };
    let mut packages: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    let candidates = m.nodes().iter().filter(|n| {
        n.enabled
            && matches!(
                n.resource_type,
                ResourceType::Model | ResourceType::Seed | ResourceType::Snapshot
            )
    });
    for n in candidates.clone() {
        packages.entry(base(n)).or_default().insert(&n.package_name);
    }
    candidates
        .map(|n| {
            let b = base(n);
            let name = if packages[&b].len() > 1 {
                format!("{}__{b}", n.package_name)
            } else {
                b
            };
            (n.unique_id.to_string(), name)
        })
        .collect()
}

/// Units reachable upwards from `start`'s parents, through nodes `through` admits.
fn units_above(
    m: &Manifest,
    start: &Node,
    is_unit: &dyn Fn(&str) -> bool,
    through: &dyn Fn(&Node) -> bool,
) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut stack: Vec<&str> = start.depends_on.iter().map(|d| &*d.unique_id).collect();
    while let Some(id) = stack.pop() {
        if is_unit(id) {
            found.insert(id.to_string());
        } else if seen.insert(id)
            && let Some(node) = m.node(id).filter(|n| through(n))
        {
            stack.extend(node.depends_on.iter().map(|d| &*d.unique_id));
        }
    }
    found
}

fn check(case: &Case, view: &Value) -> Vec<String> {
    let folder = &view[path_key(&case.folder)];
    let mut failures = Vec::new();
    if let Some(errors) = folder["import_errors"]
        .as_object()
        .filter(|e| !e.is_empty())
    {
        return vec![format!("{}: import errors {errors:?}", case.label)];
    }
    // Airflow parses every DAG file, and takes the settings module beside them for none.
    let mut dag_files: Vec<String> = std::fs::read_dir(&case.folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".py"))
        .collect();
    dag_files.sort();
    let Some(at) = dag_files.iter().position(|n| n == dags::SETTINGS_FILE) else {
        return vec![format!("{}: no settings module", case.label)];
    };
    dag_files.remove(at);
    if folder["discovered"] != serde_json::json!(dag_files) {
        failures.push(format!(
            "{}: Airflow would parse {}, not the DAG files {dag_files:?}",
            case.label, folder["discovered"]
        ));
    }
    let m = &case.loaded;
    let names = unit_names(m);
    let selections: Vec<(String, BTreeSet<String>)> = match &case.selectors {
        Some(file) => {
            let mut seen = BTreeSet::new();
            file.selectors()
                .iter()
                .filter(|s| seen.insert(s.name.clone()))
                .map(|s| {
                    (
                        format!("dbt_{}", s.name),
                        file.evaluate(&s.name, m).unwrap().to_set(),
                    )
                })
                .collect()
        }
        None => vec![(
            "dbt_all".to_string(),
            select_expression_with(m, &[], &[], &EvalOptions::default())
                .unwrap()
                .to_set(),
        )],
    };
    let dag_ids: BTreeSet<&str> = folder["dags"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let want_ids: BTreeSet<&str> = selections.iter().map(|(id, _)| id.as_str()).collect();
    if dag_ids != want_ids {
        failures.push(format!(
            "{}: DAGs {dag_ids:?}, expected {want_ids:?}",
            case.label
        ));
    }
    for (dag_id, selected) in &selections {
        let tasks = &folder["dags"][dag_id.as_str()]["tasks"];
        let Some(tasks) = tasks.as_object() else {
            failures.push(format!("{}: no DAG {dag_id}", case.label));
            continue;
        };
        let mut errors = Vec::new();
        check_dag(m, &names, selected, tasks, &case.options, &mut errors);
        failures.extend(
            errors
                .into_iter()
                .take(10)
                .map(|e| format!("{} {dag_id}: {e}", case.label)),
        );
    }
    failures
}

type Tasks = serde_json::Map<String, Value>;

fn upstream(tasks: &Tasks, id: &str) -> BTreeSet<String> {
    tasks[id]["upstream"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

fn check_dag(
    m: &Manifest,
    names: &BTreeMap<String, String>,
    selected: &BTreeSet<String>,
    tasks: &Tasks,
    options: &DagOptions,
    errors: &mut Vec<String>,
) {
    let is_unit = |id: &str| selected.contains(id) && m.node(id).is_some_and(is_unit_node);
    let units: Vec<&Node> = selected
        .iter()
        .filter(|id| is_unit(id))
        .map(|id| m.node(id).unwrap())
        .collect();
    let tests: Vec<&Node> = selected
        .iter()
        .filter_map(|id| m.node(id))
        .filter(|n| is_test(n) && n.enabled)
        .collect();
    let mut own_tests: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for t in &tests {
        let parents: BTreeSet<&str> = t.depends_on.iter().map(|d| &*d.unique_id).collect();
        if let [only] = parents.into_iter().collect::<Vec<_>>()[..] {
            own_tests
                .entry(only)
                .or_default()
                .insert(t.unique_id.to_string());
        }
    }
    let own = |u: &Node| own_tests.get(&*u.unique_id).cloned().unwrap_or_default();
    let with_tests = options.tests == TestsMode::AfterEach;
    let first = |u: &Node| match options.tests {
        TestsMode::AfterEach => format!("{}.run", names[&*u.unique_id]),
        _ => names[&*u.unique_id].clone(),
    };
    let last = |u: &Node| {
        if with_tests && !own(u).is_empty() {
            format!("{}.test", names[&*u.unique_id])
        } else {
            first(u)
        }
    };
    let extras: BTreeSet<String> = options
        .before
        .iter()
        .chain(&options.after)
        .map(|t| t.id.clone())
        .collect();
    let dbt_only = |set: BTreeSet<String>| -> BTreeSet<String> {
        set.into_iter()
            .filter(|t| !extras.contains(t) && !t.starts_with("freshness__"))
            .collect()
    };
    let mut expected_ids = BTreeSet::new();
    // Every selection is evaluated over the whole manifest: a sample keeps large DAGs quick.
    let sample = (units.len() / 25).max(1);
    for (i, u) in units.iter().enumerate() {
        expected_ids.insert(first(u));
        expected_ids.insert(last(u));
        let want: BTreeSet<String> = units_above(m, u, &is_unit, &|_| true)
            .iter()
            .map(|p| last(m.node(p).unwrap()))
            .collect();
        let got = dbt_only(upstream(tasks, &first(u)));
        if got != want {
            errors.push(format!("{} waits for {got:?}, expected {want:?}", first(u)));
        }
        if last(u) != first(u) && upstream(tasks, &last(u)) != BTreeSet::from([first(u)]) {
            errors.push(format!("{} does not wait for {} alone", last(u), first(u)));
        }
        if i % sample != 0 {
            continue;
        }
        let tests_types = || vec![ResourceType::Test, ResourceType::UnitTest];
        let me = BTreeSet::from([u.unique_id.to_string()]);
        if options.tests == TestsMode::Build {
            let mut types = tests_types();
            types.push(u.resource_type);
            check_selects(m, tasks, &first(u), types, &me | &own(u), errors);
        } else {
            check_selects(m, tasks, &first(u), vec![u.resource_type], me, errors);
        }
        if last(u) != first(u) {
            check_selects(m, tasks, &last(u), tests_types(), own(u), errors);
        }
    }
    // Tests in tasks of their own, found by their selection (their ids may be cut or
    // numbered to stay unique); a sample of selections is evaluated below.
    let mut standalone: BTreeMap<String, String> = BTreeMap::new();
    for (id, task) in tasks
        .iter()
        .filter(|(_, t)| t["group"].is_null() && t["argv"][1] == "test")
    {
        let argv = task["argv"].as_array().unwrap();
        let at = argv.iter().position(|a| a == "--select").unwrap();
        standalone.insert(argv[at + 1].as_str().unwrap().to_string(), id.clone());
    }
    if options.tests != TestsMode::None {
        let alone: Vec<&&Node> = tests
            .iter()
            .filter(|t| !(t.depends_on.len() == 1 && is_unit(&t.depends_on[0].unique_id)))
            .collect();
        let sample = (alone.len() / 20).max(1);
        for (i, t) in alone.into_iter().enumerate() {
            let select = format!(
                "resource_type:{},package:{},fqn:{}",
                t.resource_type.as_str(),
                t.package_name,
                t.fqn.join(".")
            );
            let Some(id) = standalone.get(&select) else {
                errors.push(format!(
                    "no task selects test {} as `{select}`",
                    t.unique_id
                ));
                continue;
            };
            expected_ids.insert(id.clone());
            let want: BTreeSet<String> = units_above(m, t, &is_unit, &is_ephemeral)
                .iter()
                .map(|p| last(m.node(p).unwrap()))
                .collect();
            if dbt_only(upstream(tasks, id)) != want {
                errors.push(format!(
                    "test {id} waits for {:?}, expected {want:?}",
                    upstream(tasks, id)
                ));
            }
            if i % sample == 0 {
                let me = BTreeSet::from([t.unique_id.to_string()]);
                check_selects(m, tasks, id, vec![t.resource_type], me, errors);
            }
        }
    }
    let got_ids: BTreeSet<String> = dbt_only(tasks.keys().cloned().collect());
    if got_ids != expected_ids {
        let missing: Vec<_> = expected_ids.difference(&got_ids).take(5).collect();
        let extra: Vec<_> = got_ids.difference(&expected_ids).take(5).collect();
        errors.push(format!(
            "task ids differ ({} test tasks): missing {missing:?}, extra {extra:?}",
            standalone.len()
        ));
    }
    check_extras(m, units.as_slice(), tasks, options, &first, errors);
}

/// `before` tasks precede every task that has no other upstream; `after` ones follow every
/// task with no downstream; freshness tasks precede the units reading their source.
fn check_extras(
    m: &Manifest,
    units: &[&Node],
    tasks: &Tasks,
    options: &DagOptions,
    first: &dyn Fn(&Node) -> String,
    errors: &mut Vec<String>,
) {
    let before: BTreeSet<String> = options.before.iter().map(|t| t.id.clone()).collect();
    let after: BTreeSet<String> = options.after.iter().map(|t| t.id.clone()).collect();
    let mut has_downstream = BTreeSet::new();
    for id in tasks.keys() {
        has_downstream.extend(
            upstream(tasks, id)
                .into_iter()
                .filter(|u| !before.contains(u)),
        );
    }
    for id in tasks
        .keys()
        .filter(|id| !before.contains(*id) && !after.contains(*id))
    {
        let up = upstream(tasks, id);
        let roots = up.iter().all(|u| before.contains(u));
        if roots && !before.iter().all(|b| up.contains(b)) {
            errors.push(format!("{id} is a root but does not wait for {before:?}"));
        }
        if !has_downstream.contains(id) && !after.is_empty() {
            for a in &after {
                if !upstream(tasks, a).contains(id) {
                    errors.push(format!("{a} does not wait for the leaf {id}"));
                }
            }
        }
    }
    if !options.source_freshness {
        return;
    }
    for u in units {
        let reads_source = u.depends_on.iter().any(|d| {
            m.node(&d.unique_id)
                .is_some_and(|n| n.resource_type == ResourceType::Source)
        });
        let waits = upstream(tasks, &first(u))
            .iter()
            .any(|t| t.starts_with("freshness__"));
        if reads_source && !waits {
            errors.push(format!(
                "{} reads a source but waits for no freshness task",
                first(u)
            ));
        }
    }
}

/// What the task's `--select`/`--exclude` pick by dbt's rules (our engine, which the corpus
/// tests hold equal to `dbt ls`) among the types its command runs.
fn picks(
    m: &Manifest,
    tasks: &Tasks,
    id: &str,
    types: Vec<ResourceType>,
) -> Result<BTreeSet<String>, String> {
    let argv: Vec<&str> = tasks[id]["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let after = |flag: &str| argv.iter().position(|a| *a == flag).map(|i| argv[i + 1]);
    let select = after("--select").ok_or("no --select")?;
    let exclude: Vec<&str> = after("--exclude").into_iter().collect();
    let indirect_selection = match after("--indirect-selection") {
        Some("cautious") => IndirectSelection::Cautious,
        _ => IndirectSelection::Eager,
    };
    let options = EvalOptions {
        resource_types: types,
        indirect_selection,
    };
    select_expression_with(m, &[select], &exclude, &options)
        .map(|s| s.to_set())
        .map_err(|e| format!("`{select}` is invalid: {e}"))
}

fn check_selects(
    m: &Manifest,
    tasks: &Tasks,
    id: &str,
    types: Vec<ResourceType>,
    want: BTreeSet<String>,
    errors: &mut Vec<String>,
) {
    match picks(m, tasks, id, types) {
        Ok(got) if got == want => {}
        Ok(got) => errors.push(format!("{id} picks {got:?}, expected {want:?}")),
        Err(e) => errors.push(format!("{id}: {e}")),
    }
}
