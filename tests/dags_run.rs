//! Generated DAGs, run for real. The example warehouse's DAGs (bash operator) run in the
//! venv's Airflow 3 and in Airflow 2.10 (`.venv-airflow2`, what Cloud Composer 2 runs), each
//! with `dag.test()` through `tests/dags_run.py`, against a temporary duckdb
//! database: every selected unit is built and its tests run (dbt's own JSON log says so),
//! the task instances' start and end times respect the manifest's edges (through ephemeral
//! models) and a test with several parents waits for all of them; a broken model fails its
//! task, everything downstream is `upstream_failed` and the other branch succeeds.
//!
//! And the Cloud Run job operator's `overrides`, built into the provider's own
//! `RunJobRequest` protobuf (`tests/dags_run_cloud_run.py`), as its `CloudRunHook` does.
//!
//! Small selectors written here keep the run short: each dbt command costs seconds.

mod example_dbt;
mod kept_dags;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use dagship::dags::{self, Bash, CloudRunJob, DagOptions, Operator, TestsMode};
use dagship::dbt::manifest::{Manifest, ResourceType};
use dagship::dbt::selectors_file::SelectorsFile;
use serde_json::Value;

/// The units of the main run: a seed, models, an edge only through the ephemeral
/// `int_order_payments` (stg_payments → int_orders_enriched) and a relationship test with
/// two selected parents (stg_customers → country_codes).
const RUN_ORDER: [&str; 4] = [
    "model.warehouse.stg_payments",
    "model.warehouse.int_orders_enriched",
    "model.warehouse.stg_customers",
    "seed.warehouse.country_codes",
];
/// The two ends of that relationship test: the `build` and `none` runs.
const PAIR: [&str; 2] = [
    "model.warehouse.stg_customers",
    "seed.warehouse.country_codes",
];
/// The model broken in a copy of the project for the failing run.
const BROKEN: &str = "model.warehouse.stg_payments";

/// One folder of generated DAGs: one selector over `units`.
struct Case {
    selector: &'static str,
    units: &'static [&'static str],
    tests: TestsMode,
    project: PathBuf,
}

impl Case {
    fn dag_id(&self) -> String {
        format!("dbt_{}", self.selector)
    }
}

fn manifest_path() -> &'static Path {
    example_dbt::example_manifest("dags_run")
}

/// `<copy>/examples/warehouse/dbt`, the project the manifest was compiled from.
fn project_of(manifest: &Path) -> PathBuf {
    manifest.parent().unwrap().parent().unwrap().to_path_buf()
}

fn name_of(unique_id: &str) -> &str {
    unique_id.rsplit('.').next().unwrap()
}

/// A selectors file with one selector: the union of the units, by name.
fn selectors(name: &str, units: &[&str]) -> SelectorsFile {
    let values: String = units
        .iter()
        .map(|u| format!("        - method: fqn\n          value: {}\n", name_of(u)))
        .collect();
    let text = format!("selectors:\n  - name: {name}\n    definition:\n      union:\n{values}");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), text).unwrap();
    SelectorsFile::from_path(file.path()).unwrap()
}

/// What the Airflow tasks' dbt reads: absolute paths (a bash task runs in a temporary
/// folder), dbt's log as JSON lines, and a target path of this run's own (the project's
/// `target/manifest.json` is what the other test reads, while this one runs dbt).
fn warehouse_env(work: &Path, project: &Path) -> Vec<(String, String)> {
    let copy = project.ancestors().nth(3).unwrap();
    let path = |p: PathBuf| p.to_str().unwrap().to_string();
    [
        ("WAREHOUSE_DUCKDB_PATH", path(work.join("warehouse.duckdb"))),
        (
            "WAREHOUSE_SQLITE_PATH",
            path(copy.join(".dagship/local/raw.sqlite")),
        ),
        ("WAREHOUSE_DBT_PLUGIN_PATH", path(project.join("plugins"))),
        ("DBT_LOG_FORMAT_FILE", "json".into()),
        ("DBT_TARGET_PATH", path(work.join("dbt-target"))),
        ("DBT_SEND_ANONYMOUS_USAGE_STATS", "false".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// The project's profiles with one thread (dbt reads no `DBT_THREADS`; the DAGs' commands
/// carry no `--threads`): the machine running the tests is small.
fn one_thread_profiles(project: &Path, to: &Path) -> PathBuf {
    let profiles = std::fs::read_to_string(project.join("profiles.yml")).unwrap();
    assert!(profiles.contains("threads: 2"), "{profiles}");
    std::fs::create_dir_all(to).unwrap();
    std::fs::write(
        to.join("profiles.yml"),
        profiles.replace("threads: 2", "threads: 1"),
    )
    .unwrap();
    to.to_path_buf()
}

/// The warehouse as a previous day left it (seeds, models, the snapshot: no tests), so that
/// a selector's units find the relations they read but do not build.
fn yesterday(project: &Path, profiles: &Path, env: &[(String, String)]) {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let dir = project.to_str().unwrap();
    example_dbt::run_tool(
        project,
        "dbt",
        &[
            "build",
            "--exclude",
            "resource_type:test",
            "--project-dir",
            dir,
            "--profiles-dir",
            profiles.to_str().unwrap(),
        ],
        &env,
    );
}

/// A copy of the project whose `BROKEN` model is a SQL error.
fn broken_copy(project: &Path, to: &Path) -> PathBuf {
    example_dbt::copy_tree(project, to);
    let model = to.join(format!("models/staging/{}.sql", name_of(BROKEN)));
    assert!(model.exists(), "{}", model.display());
    std::fs::write(&model, "select * from a_relation_that_does_not_exist\n").unwrap();
    to.to_path_buf()
}

fn generate(manifest: &Manifest, case: &Case, profiles: &Path, folder: &Path) {
    let options = DagOptions {
        operator: Operator::Bash(Bash),
        project_dir: Some(path_string(&case.project)),
        profiles_dir: Some(path_string(profiles)),
        target: Some("local".into()),
        tests: case.tests,
        retries: 0,
        ..DagOptions::default()
    };
    let files = dags::generate(
        manifest,
        Some(&selectors(case.selector, case.units)),
        &options,
    )
    .unwrap_or_else(|e| panic!("{}: {e}", case.selector));
    dags::write(folder, &files, None).unwrap();
    kept_dags::keep(folder);
}

/// Runs `script` with `python` (its `bin` first on PATH, then the main venv's: the tasks
/// run `dbt`, which only the main venv has).
fn python(python: &Path, script: &str, args: &[&Path], env: &[(String, String)]) -> Value {
    let out = args[0];
    let dbt = example_dbt::venv_bin("dbt");
    let path = format!(
        "{}:{}:{}",
        python.parent().unwrap().display(),
        dbt.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = Command::new(python)
        .arg(example_dbt::repo_root().join(script))
        .args(args)
        .env("PATH", path)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{script} failed:\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap()
}

#[test]
fn example_dags_run_in_airflow_3_in_dependency_order_and_stop_below_a_failure() {
    run_example_dags(&example_dbt::venv_bin("python"), "3.");
}

/// The same files, the same runs, in Airflow 2.10 (what Cloud Composer 2 runs).
#[test]
fn example_dags_run_in_airflow_2_in_dependency_order_and_stop_below_a_failure() {
    run_example_dags(&example_dbt::airflow2_python(), "2.10.");
}

/// Each test its own database, dbt target folder and Airflow home: the two run side by side.
fn run_example_dags(airflow_python: &Path, version: &str) {
    let path = manifest_path();
    let manifest = dags::load_manifest(path).unwrap();
    let project = project_of(path);
    let work = tempfile::tempdir().unwrap();
    let env = warehouse_env(work.path(), &project);
    let profiles = one_thread_profiles(&project, &work.path().join("profiles"));
    yesterday(&project, &profiles, &env);
    let broken = broken_copy(&project, &work.path().join("broken"));

    let case = |selector, units: &'static [&'static str], tests, project: &Path| Case {
        selector,
        units,
        tests,
        project: project.to_path_buf(),
    };
    let cases = [
        case("run_order", &RUN_ORDER, TestsMode::AfterEach, &project),
        case("pair_build", &PAIR, TestsMode::Build, &project),
        case("pair_no_tests", &PAIR, TestsMode::None, &project),
        case("broken", &RUN_ORDER, TestsMode::AfterEach, &broken),
    ];
    let folders: Vec<PathBuf> = cases
        .iter()
        .map(|c| {
            let folder = work.path().join(c.selector);
            generate(&manifest, c, &profiles, &folder);
            folder
        })
        .collect();

    let out = work.path().join("runs.json");
    let mut args = vec![out.as_path()];
    args.extend(folders.iter().map(PathBuf::as_path));
    let mut run_env = env.clone();
    run_env.push((
        "AIRFLOW_HOME".into(),
        path_string(&work.path().join("airflow")),
    ));
    run_env.push((
        "DAGSHIP_DBT_LOGS".into(),
        path_string(&work.path().join("dbt-logs")),
    ));
    let runs = python(airflow_python, "tests/dags_run.py", &args, &run_env);
    let found = runs["airflow"].as_str().unwrap();
    assert!(found.starts_with(version), "Airflow {found}");

    let dbt_logs = work.path().join("dbt-logs");
    for case in &cases[..3] {
        let run = &runs[case.dag_id()];
        let finished = finished_nodes(&dbt_logs.join(case.dag_id()));
        succeeded(&manifest, case, run, &finished);
    }
    let broken = &cases[3];
    failed_below(
        &manifest,
        &runs[broken.dag_id()],
        &finished_nodes(&dbt_logs.join(broken.dag_id())),
    );
}

fn path_string(path: &Path) -> String {
    path.to_str().unwrap().to_string()
}

// ----- what dbt did ----------------------------------------------------------------------

/// Each node dbt finished in the run (its JSON log, all the run's commands), with its status
/// (`success`, `pass`, `error`, `fail`, ...).
fn finished_nodes(log_dir: &Path) -> BTreeMap<String, String> {
    let log = std::fs::read_to_string(log_dir.join("dbt.log"))
        .unwrap_or_else(|e| panic!("{}: {e}", log_dir.display()));
    let mut finished = BTreeMap::new();
    for line in log.lines() {
        let event: Value = serde_json::from_str(line).unwrap();
        if event["info"]["name"] != "NodeFinished" {
            continue;
        }
        let node = &event["data"]["node_info"];
        let id = node["unique_id"].as_str().unwrap().to_string();
        let status = node["node_status"].as_str().unwrap().to_string();
        assert!(
            finished.insert(id.clone(), status).is_none(),
            "{id} ran twice"
        );
    }
    finished
}

/// The tests `dbt build --selector` runs with the units (eager indirect selection: a test
/// goes with any selected parent).
fn tests_of(m: &Manifest, units: &[&str]) -> BTreeSet<String> {
    m.nodes()
        .iter()
        .filter(|n| n.enabled && n.resource_type == ResourceType::Test)
        .filter(|n| n.depends_on.iter().any(|d| units.contains(&&*d.unique_id)))
        .map(|n| n.unique_id.to_string())
        .collect()
}

/// The selected units each unit reads, directly or through ephemeral models.
fn unit_edges(m: &Manifest, units: &[&str]) -> BTreeSet<(String, String)> {
    fn walk(
        m: &Manifest,
        units: &[&str],
        id: &str,
        to: &str,
        out: &mut BTreeSet<(String, String)>,
    ) {
        let node = m.node(id).unwrap();
        for dep in &node.depends_on {
            let dep = &*dep.unique_id;
            if units.contains(&dep) {
                out.insert((dep.to_string(), to.to_string()));
            } else if m
                .node(dep)
                .is_some_and(|n| n.materialized.as_deref() == Some("ephemeral"))
            {
                walk(m, units, dep, to, out);
            }
        }
    }
    let mut edges = BTreeSet::new();
    for unit in units {
        walk(m, units, unit, unit, &mut edges);
    }
    edges
}

// ----- what Airflow did ------------------------------------------------------------------

fn tasks(run: &Value) -> &serde_json::Map<String, Value> {
    run["tasks"].as_object().unwrap()
}

/// The tasks of a unit: `<name>` or the `<name>.run`/`<name>.test` of its TaskGroup.
fn unit_tasks<'a>(run: &'a Value, unit: &str) -> Vec<(&'a String, &'a Value)> {
    let name = name_of(unit);
    let found: Vec<_> = tasks(run)
        .iter()
        .filter(|(id, _)| *id == name || id.strip_prefix(name).is_some_and(|r| r.starts_with('.')))
        .collect();
    assert!(!found.is_empty(), "no task for {unit}");
    found
}

fn time(task: &Value, at: &str) -> f64 {
    task[at]
        .as_f64()
        .unwrap_or_else(|| panic!("no {at} time: {task}"))
}

/// `later` started after every task of `earlier` ended.
fn after(run: &Value, earlier: &[(&String, &Value)], later: (&String, &Value)) {
    for (id, task) in earlier {
        assert!(
            time(later.1, "start") >= time(task, "end"),
            "{} started before {id} ended: {run}",
            later.0
        );
    }
}

fn succeeded(m: &Manifest, case: &Case, run: &Value, finished: &BTreeMap<String, String>) {
    let label = case.dag_id();
    assert_eq!(run["state"], "success", "{label}: {run}");
    for (id, task) in tasks(run) {
        assert_eq!(task["state"], "success", "{label}: {id}");
    }
    let tests = match case.tests {
        TestsMode::None => BTreeSet::new(),
        _ => tests_of(m, case.units),
    };
    let mut want: BTreeMap<String, String> = tests
        .iter()
        .map(|t| (t.clone(), "pass".to_string()))
        .collect();
    want.extend(case.units.iter().map(|u| (u.to_string(), "success".into())));
    assert_eq!(finished, &want, "{label}: what dbt built and tested");

    // A unit's own tasks run in order (`run`, then `test`).
    for unit in case.units {
        let own = unit_tasks(run, unit);
        for (i, task) in own.iter().enumerate().skip(1) {
            after(run, &own[..i], *task);
        }
    }
    // Each edge between selected units: all of the reader's tasks after all of the read's.
    let edges = unit_edges(m, case.units);
    for (from, to) in &edges {
        let earlier = unit_tasks(run, from);
        for task in unit_tasks(run, to) {
            after(run, &earlier, task);
        }
    }
    // A standalone test task (several selected parents) after all of its parents' tasks.
    let mut several = 0;
    for test in &tests {
        let node = m.node(test).unwrap();
        let parents: Vec<&str> = node
            .depends_on
            .iter()
            .map(|d| &*d.unique_id)
            .filter(|d| case.units.contains(d))
            .collect();
        if parents.len() < 2 {
            continue;
        }
        several += 1;
        let task = tasks(run)
            .get_key_value(&*node.name)
            .unwrap_or_else(|| panic!("{label}: no task for {test}"));
        for parent in parents {
            after(run, &unit_tasks(run, parent), task);
        }
    }
    if case.selector == "run_order" {
        assert!(
            edges.contains(&(RUN_ORDER[0].into(), RUN_ORDER[1].into())),
            "the edge through the ephemeral model: {edges:?}"
        );
        assert!(several > 0, "no test with several parents");
    }
}

/// The `BROKEN` model's task failed, everything downstream of it (in the DAG's own edges)
/// is `upstream_failed`, every other task succeeded.
fn failed_below(m: &Manifest, run: &Value, finished: &BTreeMap<String, String>) {
    assert_eq!(run["state"], "failed", "{run}");
    let failed = format!("{}.run", name_of(BROKEN));
    let mut below = BTreeSet::from([failed.clone()]);
    loop {
        let more: Vec<String> = tasks(run)
            .iter()
            .filter(|(id, t)| {
                !below.contains(*id)
                    && t["upstream"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|u| below.contains(u.as_str().unwrap()))
            })
            .map(|(id, _)| id.clone())
            .collect();
        if more.is_empty() {
            break;
        }
        below.extend(more);
    }
    // What the manifest says reads the broken model is among them.
    for (_, to) in unit_edges(m, &RUN_ORDER)
        .iter()
        .filter(|(f, _)| f == BROKEN)
    {
        for (id, _) in unit_tasks(run, to) {
            assert!(below.contains(id), "{id} is not downstream of {failed}");
        }
    }
    for (id, task) in tasks(run) {
        let want = match id {
            id if *id == failed => "failed",
            id if below.contains(id) => "upstream_failed",
            _ => "success",
        };
        assert_eq!(task["state"], want, "{id}: {run}");
    }
    assert!(
        tasks(run).len() > below.len(),
        "no independent branch ran: {run}"
    );
    assert_eq!(finished.get(BROKEN).map(String::as_str), Some("error"));
    for unit in RUN_ORDER.iter().filter(|u| PAIR.contains(u)) {
        assert_eq!(finished[*unit], "success", "{unit}");
    }
}

// ----- the Cloud Run job operator against the provider ---------------------------------

#[test]
fn cloud_run_job_overrides_are_the_providers_run_job_request() {
    let mut json: Value = serde_json::from_slice(&std::fs::read(manifest_path()).unwrap()).unwrap();
    // Per-node task settings on two units: keyword arguments beside the overrides.
    let settings = [
        (
            "model.warehouse.int_orders_enriched",
            serde_json::json!({"pool": "heavy", "retries": 3, "execution_timeout": "1h"}),
        ),
        (
            "seed.warehouse.country_codes",
            serde_json::json!({"queue": "seeds", "retry_delay": "2m"}),
        ),
    ];
    for (id, meta) in &settings {
        json["nodes"][id]["config"]["meta"]["dagship"] = meta.clone();
    }
    let work = tempfile::tempdir().unwrap();
    let edited = work.path().join("manifest.json");
    std::fs::write(&edited, serde_json::to_vec(&json).unwrap()).unwrap();
    let manifest = dags::load_manifest(&edited).unwrap();
    let selectors = Some(selectors("run_order", &RUN_ORDER));

    let both = |operator| DagOptions {
        operator,
        project_dir: Some("/dbt".into()),
        profiles_dir: Some("/dbt/profiles".into()),
        target: Some("prod".into()),
        ..DagOptions::default()
    };
    let cloud_run = Operator::CloudRunJob(CloudRunJob {
        project: "p".into(),
        region: "r".into(),
        job: "j".into(),
    });
    let mut folders = Vec::new();
    for (label, operator) in [("cloud_run", cloud_run), ("bash", Operator::Bash(Bash))] {
        let folder = work.path().join(label);
        let files = dags::generate(&manifest, selectors.as_ref(), &both(operator)).unwrap();
        dags::write(&folder, &files, None).unwrap();
        kept_dags::keep(&folder);
        folders.push(folder);
    }
    let out = work.path().join("requests.json");
    let env = [(
        "AIRFLOW_HOME".to_string(),
        path_string(&work.path().join("airflow")),
    )];
    let seen = python(
        &example_dbt::venv_bin("python"),
        "tests/dags_run_cloud_run.py",
        &[&out, &folders[0], &folders[1]],
        &env,
    );
    let cloud = seen["cloud_run"]["dbt_run_order"].as_object().unwrap();
    let bash = seen["bash"]["dbt_run_order"].as_object().unwrap();
    assert_eq!(
        cloud.keys().collect::<Vec<_>>(),
        bash.keys().collect::<Vec<_>>()
    );
    for (id, task) in cloud {
        assert_eq!(task["name"], "projects/p/locations/r/jobs/j", "{id}");
        assert_eq!(task["deferrable"], true, "{id}");
        // The container's arguments are the bash operator's dbt command, word for word.
        let words = bash[id]["argv"].as_array().unwrap();
        assert_eq!(words[0], "dbt");
        assert_eq!(task["args"].as_array().unwrap()[..], words[1..], "{id}");
    }
    let enriched = &cloud["int_orders_enriched.run"];
    assert_eq!(enriched["pool"], "heavy");
    assert_eq!(enriched["retries"], 3);
    assert_eq!(enriched["execution_timeout"], 3600.0);
    let seed = &cloud["country_codes.run"];
    assert_eq!(seed["queue"], "seeds");
    assert_eq!(seed["retry_delay"], 120.0);
    assert_eq!(cloud["stg_payments.run"]["pool"], "default_pool");
}
