//! Airflow's limits, from both sides, against the venv's Airflow (`tests/dags_airflow.py`,
//! which imports and serializes each file as Airflow's DAG processor does):
//!
//! - DAG files with every value just inside a limit (the longest `timedelta`, 100-character
//!   tags, years 1 and 9999, 32-bit counts, 256-character pools and queues, every preset,
//!   `null`, cron's `L` and `N#K`) load without an import error;
//! - the same files with one value pushed one step past its limit do not: the limit dagship
//!   checks is the one Airflow has;
//! - `dagship dags` refuses each value past its limit with exit 2, naming it, and writes
//!   nothing.

mod common;
mod dbt_support;
mod example_dbt;
mod kept_dags;

use std::path::{Path, PathBuf};
use std::process::Command;

use dagship::dags::options::{TAG_MAX_LEN, TIMEDELTA_MAX_SECONDS};
use dagship::dags::python::str_lit;
use dagship::dags::{self, DagOptions};
use dagship::dbt::selectors_file::SelectorsFile;
use serde_json::{Value, json};

const INT_MAX: u64 = i32::MAX as u64;

/// Selectors whose DAGs get one schedule each (`unscheduled` has a schedule of its own,
/// which `null` overrides).
const SELECTORS: &str = "selectors:
  - name: hourly
    definition: 'fqn:*'
  - name: unscheduled
    schedule: '@daily'
    definition: 'fqn:*'
  - name: month_end
    definition: 'fqn:*'
  - name: second_monday
    definition: 'fqn:*'
  - name: once
    definition: 'fqn:*'
  - name: continuous
    definition: 'fqn:*'
";

const SCHEDULES: [(&str, &str); 6] = [
    ("hourly", "@hourly"),
    ("unscheduled", "null"),
    ("month_end", "30 23 L * *"),
    ("second_monday", "0 6 ? * mon#2"),
    ("once", "@once"),
    ("continuous", "@continuous"),
];

/// The jaffle_shop manifest, `orders` with every per-node setting at its limit.
fn manifest(dir: &Path, meta: Value) -> PathBuf {
    let gz = dbt_support::corpus_dir().join("jaffle_shop.manifest.json.gz");
    let mut manifest: Value = serde_json::from_slice(&dbt_support::gunzip(&gz)).unwrap();
    manifest["nodes"]["model.jaffle_shop.orders"]["config"]["meta"] = json!({ "dagship": meta });
    let path = dir.join("manifest.json");
    std::fs::write(&path, manifest.to_string()).unwrap();
    path
}

fn meta_at_limits() -> Value {
    json!({
        "pool": "p".repeat(256),
        "pool_slots": INT_MAX,
        "priority_weight": i64::MAX,
        "queue": "q".repeat(256),
        "retries": INT_MAX,
        "retry_delay": TIMEDELTA_MAX_SECONDS,
        "execution_timeout": TIMEDELTA_MAX_SECONDS,
    })
}

fn options_at_limits(start_date: &str) -> DagOptions {
    DagOptions {
        schedules: SCHEDULES
            .iter()
            .map(|(s, c)| (s.to_string(), c.to_string()))
            .collect(),
        start_date: start_date.into(),
        tags: vec!["é".repeat(TAG_MAX_LEN), "t".repeat(TAG_MAX_LEN)],
        // `@continuous` allows one run at a time (a test below pushes it).
        max_active_runs: 1,
        retries: INT_MAX as u32,
        retry_delay: TIMEDELTA_MAX_SECONDS,
        pool: Some("p".repeat(256)),
        ..DagOptions::default()
    }
}

/// One value pushed one step past its limit: the text of a generated file, replaced.
struct Past {
    label: &'static str,
    from: String,
    to: String,
    /// What Airflow's import error says.
    error: &'static str,
}

fn past_limits() -> Vec<Past> {
    let max = TIMEDELTA_MAX_SECONDS;
    vec![
        Past {
            label: "retry_delay",
            from: format!("\"retry_delay\": datetime.timedelta(seconds={max})"),
            to: format!("\"retry_delay\": datetime.timedelta(seconds={})", max + 1),
            error: "OverflowError",
        },
        Past {
            label: "execution_timeout",
            from: format!("\"execution_timeout\":{max}"),
            to: format!("\"execution_timeout\":{}", max + 1),
            error: "OverflowError",
        },
        Past {
            label: "tag",
            from: str_lit(&"é".repeat(TAG_MAX_LEN)),
            to: str_lit(&"é".repeat(TAG_MAX_LEN + 1)),
            error: "tag cannot be longer than 100 characters",
        },
        Past {
            label: "start_date",
            from: "datetime.datetime(1, 1, 1,".into(),
            to: "datetime.datetime(0, 1, 1,".into(),
            error: "year 0 is out of range",
        },
        Past {
            label: "schedule",
            from: str_lit("@hourly"),
            to: str_lit("0\u{a0}* * * *"),
            error: "Exactly 5, 6 or 7 columns",
        },
        Past {
            label: "continuous",
            from: "max_active_runs=1,".into(),
            to: "max_active_runs=2,".into(),
            error: "requires max_active_runs <= 1",
        },
    ]
}

fn generate(manifest: &Path, selectors: &Path, options: &DagOptions, out: &Path) {
    let loaded = dags::load_manifest(manifest).unwrap();
    let selectors = SelectorsFile::from_path(selectors).unwrap();
    let files =
        dags::generate(&loaded, Some(&selectors), options).unwrap_or_else(|e| panic!("{e}"));
    dags::write(out, &files, None).unwrap();
    kept_dags::keep(out);
}

fn airflow_view(root: &Path, folders: &[PathBuf]) -> Value {
    let out = root.join("airflow.json");
    let run = Command::new(example_dbt::venv_bin("python"))
        .arg(example_dbt::repo_root().join("tests/dags_airflow.py"))
        .arg(&out)
        .args(folders)
        .env("AIRFLOW_HOME", root.join("airflow-home"))
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "tests/dags_airflow.py failed:\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap()
}

fn key(folder: &Path) -> &str {
    folder.to_str().unwrap()
}

#[test]
fn dags_at_airflows_limits_load_and_one_step_past_them_do_not() {
    let root = tempfile::tempdir().unwrap();
    let manifest = manifest(root.path(), meta_at_limits());
    let selectors = root.path().join("selectors.yml");
    std::fs::write(&selectors, SELECTORS).unwrap();
    let mut folders = Vec::new();
    for (label, date) in [("first_day", "0001-01-01"), ("last_day", "9999-12-31")] {
        let out = root.path().join(label);
        generate(&manifest, &selectors, &options_at_limits(date), &out);
        folders.push(out);
    }
    // Each value past its limit, in a copy of one file.
    let pasts = past_limits();
    for past in &pasts {
        let file = if past.label == "continuous" {
            "dbt_continuous.py"
        } else {
            "dbt_hourly.py"
        };
        let text = std::fs::read_to_string(folders[0].join(file)).unwrap();
        assert!(
            text.contains(&past.from),
            "{}: no `{}`",
            past.label,
            past.from
        );
        let out = root.path().join(format!("past_{}", past.label));
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join(file), text.replace(&past.from, &past.to)).unwrap();
        let settings = dags::SETTINGS_FILE;
        std::fs::copy(folders[0].join(settings), out.join(settings)).unwrap();
        folders.push(out);
    }
    let view = airflow_view(root.path(), &folders);

    for inside in &folders[..2] {
        let folder = &view[key(inside)];
        assert_eq!(folder["import_errors"], json!({}), "{}", inside.display());
        let dags = folder["dags"].as_object().unwrap();
        assert_eq!(dags.len(), SCHEDULES.len(), "{}", inside.display());
        let timetable = |dag: &str| dags[dag]["timetable"].as_str().unwrap().to_string();
        assert_eq!(timetable("dbt_unscheduled"), "NullTimetable");
        assert_eq!(timetable("dbt_once"), "OnceTimetable");
        assert_eq!(timetable("dbt_continuous"), "ContinuousTimetable");
        assert_eq!(dags["dbt_hourly"]["schedule"], "0 * * * *");
        assert_eq!(dags["dbt_month_end"]["schedule"], "30 23 L * *");
        let orders = &dags["dbt_hourly"]["tasks"]["orders.run"];
        assert_eq!(orders["pool"], "p".repeat(256));
        assert_eq!(orders["retries"], INT_MAX);
        assert_eq!(dags["dbt_hourly"]["tags"].as_array().unwrap().len(), 2);
    }
    for (past, folder) in pasts.iter().zip(&folders[2..]) {
        let errors = &view[key(folder)]["import_errors"];
        let text = errors.to_string();
        assert!(
            text.contains(past.error),
            "{} past its limit: expected an import error with `{}`, got {errors}",
            past.label,
            past.error
        );
    }
}

fn dags_cli(dir: &Path, args: &[&str]) -> (i32, String) {
    let (code, _, stderr) = common::run(
        common::dagship(dir)
            .args(["dags", "--manifest", "manifest.json", "--out", "out"])
            .args(["--selectors", "selectors.yml"])
            .args(args),
    );
    (code, stderr)
}

#[test]
fn values_past_airflows_limits_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("selectors.yml"), SELECTORS).unwrap();
    manifest(dir.path(), json!({}));
    let tag = "t".repeat(TAG_MAX_LEN + 1);
    let cases: &[(&[&str], &str)] = &[
        (
            &["--retry-delay", "1000000000d"],
            "a retry delay of 86400000000000 seconds is longer than a Python `timedelta` can be",
        ),
        (
            &["--start-date", "0000-01-01"],
            "start date `0000-01-01` is in year 0",
        ),
        (
            &["--tag", &tag],
            "has 101 characters; Airflow refuses tags longer than 100",
        ),
        (
            &["--schedule", "hourly=0\u{a0}* * * *"],
            "holds a no-break space (U+00A0)",
        ),
        (
            &["--schedule", "hourly=0 0 * * * *"],
            "6 fields where Airflow's schedules have five",
        ),
        (
            &["--schedule", "hourly=0 0 31 2 *"],
            "`0 0 31 2 *` never fires",
        ),
        (
            &["--retries", "2147483648"],
            "2147483648 is not in 0..=2147483647",
        ),
        (&["--max-active-runs", "0"], "0 is not in 1..=2147483647"),
        (
            &[
                "--max-active-runs",
                "2",
                "--schedule",
                "continuous=@continuous",
            ],
            "Airflow refuses it with max_active_runs 2",
        ),
    ];
    for (args, message) in cases {
        let (code, stderr) = dags_cli(dir.path(), args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(
            !dir.path().join("out").exists(),
            "{args:?}: nothing is written"
        );
    }
    // Inside the limits, `null` included, the same flags write the files.
    let (code, stderr) = dags_cli(
        dir.path(),
        &[
            "--schedule",
            "unscheduled=null",
            "--schedule",
            "hourly=0 6 ? * mon#2",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let file = |name: &str| std::fs::read_to_string(dir.path().join("out").join(name)).unwrap();
    assert!(file("dbt_unscheduled.py").contains("schedule=None,"));
    assert!(file("dbt_hourly.py").contains("schedule=\"0 6 ? * mon#2\","));
    std::fs::remove_dir_all(dir.path().join("out")).unwrap();
    // A selector's own schedule is held to the same rules.
    let own = SELECTORS.replace("'@daily'", "'@continuous'");
    std::fs::write(dir.path().join("selectors.yml"), own).unwrap();
    let (code, stderr) = dags_cli(dir.path(), &["--max-active-runs", "3"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("DAG dbt_unscheduled: selector's `schedule`: `@continuous` starts a run"),
        "{stderr}"
    );
    // Per-node settings past a limit name the node.
    std::fs::write(dir.path().join("selectors.yml"), SELECTORS).unwrap();
    manifest(
        dir.path(),
        json!({"execution_timeout": "1000000000d", "retries": 1}),
    );
    let (code, stderr) = dags_cli(dir.path(), &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(
            "model.jaffle_shop.orders: meta.dagship.execution_timeout of 86400000000000 seconds \
             is longer than a Python `timedelta` can be"
        ),
        "{stderr}"
    );
    assert!(!dir.path().join("out").exists());
}

#[test]
fn a_steps_schedule_may_be_null_and_one_from_a_var_is_checked_when_the_step_starts() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("selectors.yml"), SELECTORS).unwrap();
    manifest(dir.path(), json!({}));
    let pipeline = "version: 1
name: t
environments:
  local: { vars: { hourly: 'null' } }
  broken: { vars: { hourly: '0 * * * * 30' } }
steps:
  dags:
    uses: airflow_dags
    with:
      manifest: manifest.json
      selectors: selectors.yml
      out: build/dags
      schedules: { unscheduled: null, hourly: '${{ vars.hourly }}' }
";
    std::fs::write(dir.path().join("pipeline.yaml"), pipeline).unwrap();
    let run = |env: &str| {
        common::run(common::dagship(dir.path()).args(["run", "--env", env, "--output", "plain"]))
    };
    let (code, stdout, stderr) = run("local");
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let file = |name: &str| std::fs::read_to_string(dir.path().join("build/dags").join(name));
    // `null` overrides the selector's own `@daily`.
    assert!(
        file("dbt_unscheduled.py")
            .unwrap()
            .contains("schedule=None,")
    );
    assert!(file("dbt_hourly.py").unwrap().contains("schedule=None,"));

    std::fs::remove_dir_all(dir.path().join("build")).unwrap();
    let (code, stdout, stderr) = run("broken");
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let said = format!("{stdout}{stderr}");
    assert!(
        said.contains("schedule of `hourly`: `0 * * * * 30` is not a cron expression: 6 fields"),
        "{said}"
    );
    assert!(file("dbt_hourly.py").is_err(), "nothing is written");
}
