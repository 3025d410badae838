//! `dagship dags` from the outside: exit codes and messages for broken inputs, byte-identical
//! output on a second run, the header, stale files, and the `airflow_dags` step in a run.

mod common;
mod dbt_support;
mod kept_dags;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{dagship, run};

/// The jaffle_shop corpus manifest, unpacked into `dir`.
fn jaffle(dir: &Path) -> PathBuf {
    let path = dir.join("manifest.json");
    let gz = dbt_support::corpus_dir().join("jaffle_shop.manifest.json.gz");
    std::fs::write(&path, dbt_support::gunzip(&gz)).unwrap();
    path
}

fn dags(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let result = run(dagship(dir).arg("dags").args(args));
    if result.0 == 0 {
        kept_dags::keep_out(dir, args);
    }
    result
}

#[test]
fn broken_manifests_exit_2_naming_the_file_and_the_spot() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(jaffle(dir.path())).unwrap();
    let cases: [(&str, Vec<u8>, &str); 4] = [
        (
            "truncated.json",
            good[..5000].to_vec(),
            "dbt manifest truncated.json is truncated: the JSON ends unexpectedly at byte 5000",
        ),
        (
            "bad.json",
            b"{\"metadata\": {,}}".to_vec(),
            "dbt manifest bad.json is not valid JSON at byte 14 (line 1, column 15)",
        ),
        (
            "v9.json",
            br#"{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v9.json"}}"#
                .to_vec(),
            "uses schema version https://schemas.getdbt.com/dbt/manifest/v9.json, which is not supported",
        ),
        (
            "no_version.json",
            b"{\"nodes\": {}}".to_vec(),
            "dbt manifest no_version.json has no metadata.dbt_schema_version",
        ),
    ];
    for (name, bytes, message) in cases {
        std::fs::write(dir.path().join(name), bytes).unwrap();
        let (code, _, stderr) = dags(dir.path(), &["--manifest", name, "--out", "out"]);
        assert_eq!(code, 2, "{name}: {stderr}");
        assert!(stderr.contains(message), "{name}: {stderr}");
        assert!(!dir.path().join("out").exists(), "nothing is written");
    }
    let (code, _, stderr) = dags(dir.path(), &["--manifest", "missing.json", "--out", "out"]);
    assert_eq!(
        (
            code,
            stderr.contains("cannot read dbt manifest missing.json")
        ),
        (2, true),
        "{stderr}"
    );
}

#[test]
fn selector_and_option_mistakes_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    jaffle(dir.path());
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write(
        "unknown_method.yml",
        "selectors:\n  - name: a\n    definition: {method: nope, value: x}\n",
    );
    write("bad_yaml.yml", "selectors: [\n");
    write(
        "clash.yml",
        "selectors:\n  - name: a.b\n    definition: 'tag:x'\n  - name: a_b\n    definition: 'tag:y'\n",
    );
    write(
        "bad_schedule.yml",
        "selectors:\n  - name: a\n    definition: 'tag:x'\n    schedule: every day\n",
    );
    let cases: [(&[&str], &str); 7] = [
        (
            &["--selectors", "unknown_method.yml"],
            "unknown_method.yml: selector `a`: unknown selector method `nope`",
        ),
        (
            &["--selectors", "bad_yaml.yml"],
            "selectors file bad_yaml.yml is not valid YAML",
        ),
        (
            &["--selectors", "missing.yml"],
            "cannot read selectors file missing.yml",
        ),
        (
            &["--selectors", "clash.yml"],
            "selectors `a.b` and `a_b` would both become DAG `dbt_a_b`",
        ),
        (
            &["--selectors", "bad_schedule.yml"],
            "DAG dbt_a: selector's `schedule`: `every day` is not a cron expression",
        ),
        (
            &["--schedule", "daily=0 5 * * *"],
            "a schedule is given for selector `daily`",
        ),
        (
            &[
                "--executor",
                "cloud_run_job",
                "--project",
                "p",
                "--region",
                "r",
            ],
            "`--executor cloud_run_job` needs `--job`",
        ),
    ];
    for (args, message) in cases {
        let mut all = vec!["--manifest", "manifest.json", "--out", "out"];
        all.extend_from_slice(args);
        let (code, _, stderr) = dags(dir.path(), &all);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}

#[test]
fn unknown_node_settings_exit_2_naming_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let path = jaffle(dir.path());
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    manifest["nodes"]["model.jaffle_shop.orders"]["config"]["meta"] =
        serde_json::json!({"dagship": {"pools": "heavy"}});
    std::fs::write(&path, manifest.to_string()).unwrap();
    let (code, _, stderr) = dags(dir.path(), &["--manifest", "manifest.json", "--out", "out"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(
            "model.jaffle_shop.orders: meta.dagship: unknown key `pools`; did you mean `pool`?"
        ),
        "{stderr}"
    );
}

#[test]
fn output_is_deterministic_headed_and_prunes_only_its_own_stale_files() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = jaffle(dir.path());
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(
        out.join("dbt_gone.py"),
        "# Generated by dagship 0.0.1 from dbt manifest xxh128:00.\n",
    )
    .unwrap();
    std::fs::write(out.join("dbt_mine.py"), "# written by hand\n").unwrap();
    let args = [
        "--manifest",
        "manifest.json",
        "--out",
        "out",
        "--executor",
        "cloud_run_job",
        "--job",
        "j",
        "--project",
        "p",
        "--region",
        "r",
    ];
    let (code, stdout, stderr) = dags(dir.path(), &args);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("wrote out/dbt_all.py (13 units, 25 tasks)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("wrote out/dagship_settings.py (the values that differ"),
        "{stdout}"
    );
    assert!(stdout.contains("removed out/dbt_gone.py"), "{stdout}");
    assert!(!out.join("dbt_gone.py").exists() && out.join("dbt_mine.py").exists());

    let first = std::fs::read(out.join("dbt_all.py")).unwrap();
    let body = &first[first.iter().position(|b| *b == b'\n').unwrap() + 1..];
    let hash = xxhash_rust::xxh3::xxh3_128(body);
    let header = format!(
        "# Generated by dagship {}; the lines below hash to xxh128:{hash:032x}.\n",
        env!("CARGO_PKG_VERSION")
    );
    assert!(first.starts_with(header.as_bytes()));

    // dbt rewrites the manifest on every compile: when and where it ran decides nothing.
    let text = std::fs::read_to_string(&manifest).unwrap();
    let mut recompiled: serde_json::Value = serde_json::from_str(&text).unwrap();
    recompiled["metadata"]["generated_at"] = "2031-01-01T00:00:00.000000Z".into();
    recompiled["metadata"]["invocation_id"] = "00000000-0000-0000-0000-000000000000".into();
    std::fs::write(
        &manifest,
        serde_json::to_string_pretty(&recompiled).unwrap(),
    )
    .unwrap();
    let (code, stdout, _) = dags(dir.path(), &args);
    assert_eq!(code, 0);
    assert!(stdout.contains("unchanged out/dbt_all.py"), "{stdout}");

    let (code, stdout, _) = dags(dir.path(), &args);
    assert_eq!(code, 0);
    assert!(stdout.contains("unchanged out/dbt_all.py"), "{stdout}");
    assert!(
        stdout.contains("unchanged out/dagship_settings.py"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read(out.join("dbt_all.py")).unwrap(),
        first,
        "same input, same bytes"
    );
}

/// A release promotes one environment's DAG files to the next byte for byte: the values
/// that differ between environments (dbt's target, project and profiles dirs; the Cloud
/// Run job's project, region and name) are in the settings module alone.
#[test]
fn environments_differ_only_in_their_settings_module() {
    let dir = tempfile::tempdir().unwrap();
    jaffle(dir.path());
    for executor in ["bash", "cloud_run_job"] {
        let generate = |env: &str, dbt_dir: &str| {
            let out = format!("{executor}/{env}");
            let profiles = format!("{dbt_dir}/profiles");
            let args = [
                "--manifest",
                "manifest.json",
                "--out",
                &out,
                "--executor",
                executor,
                "--target",
                env,
                "--project-dir",
                dbt_dir,
                "--profiles-dir",
                &profiles,
                "--project",
                &format!("acme-{env}"),
                "--region",
                &format!("region-{env}"),
                "--job",
                &format!("dbt-{env}"),
            ];
            let (code, _, stderr) = dags(dir.path(), &args);
            assert_eq!(code, 0, "{stderr}");
            let read = |name: &str| std::fs::read_to_string(dir.path().join(&out).join(name));
            (
                read("dbt_all.py").unwrap(),
                read("dagship_settings.py").unwrap(),
            )
        };
        let (qa_dag, qa) = generate("qa7", "/srv/dbt");
        let (live_dag, live) = generate("live9", "/home/airflow/gcs/data/dbt");
        assert!(qa_dag == live_dag, "{executor}: the DAG files differ");
        assert_ne!(qa, live, "{executor}");
        for value in ["qa7", "live9", "/srv/dbt", "gcs/data"] {
            assert!(
                !live_dag.contains(value),
                "{executor}: the DAG file holds {value}"
            );
        }
        if executor == "cloud_run_job" {
            for line in [
                "PROJECT = \"acme-live9\"",
                "REGION = \"region-live9\"",
                "JOB = \"dbt-live9\"",
                "DBT_OPTIONS = [\"--project-dir\", \"/home/airflo\\x77/gcs/data/dbt\", \
                 \"--profiles-dir\", \"/home/airflo\\x77/gcs/data/dbt/profiles\", \"--target\", \"live9\"]",
            ] {
                assert!(live.lines().any(|l| l == line), "{line} in:\n{live}");
            }
        } else {
            let line = "DBT_OPTIONS = \" --project-dir /srv/dbt --profiles-dir /srv/dbt/profiles \
                        --target qa7\"";
            assert!(qa.lines().any(|l| l == line), "{line} in:\n{qa}");
        }
    }
}

#[test]
fn list_prints_what_each_dag_selects_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = jaffle(dir.path());
    std::fs::write(
        dir.path().join("s.yml"),
        "selectors:\n  - name: marts\n    definition: 'marts'\n",
    )
    .unwrap();
    let (code, stdout, stderr) = dags(
        dir.path(),
        &[
            "--manifest",
            "manifest.json",
            "--selectors",
            "s.yml",
            "--list",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let m = dagship::dbt::manifest::Manifest::from_path(&manifest).unwrap();
    let want: Vec<String> = dagship::dbt::select::select_expression(&m, &["marts"], &[])
        .unwrap()
        .unique_ids()
        .map(|id| format!("dbt_marts {id}"))
        .collect();
    assert!(!want.is_empty());
    assert_eq!(stdout.lines().collect::<Vec<_>>(), want);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        2,
        "only the inputs are there"
    );
}

#[test]
fn the_airflow_dags_step_generates_in_a_run() {
    let dir = tempfile::tempdir().unwrap();
    jaffle(dir.path());
    let pipeline = "version: 1\nname: t\nenvironments: { local: {} }\nsteps:\n  dags:\n    uses: airflow_dags\n    \
        with: { manifest: manifest.json, out: build/dags, tests: build, target: dev, schedules: { all: '@daily' } }\n";
    std::fs::write(dir.path().join("pipeline.yaml"), pipeline).unwrap();
    let (code, stdout, stderr) =
        run(dagship(dir.path()).args(["run", "--env", "local", "--output", "json"]));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let finished = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["event"] == "step_finished")
        .unwrap();
    assert_eq!(finished["outputs"]["dag_count"], "1");
    assert_eq!(finished["outputs"]["out"], "build/dags");
    let file = std::fs::read_to_string(dir.path().join("build/dags/dbt_all.py")).unwrap();
    assert!(file.contains("schedule=\"@daily\""));
    assert!(file.contains("DBT_OPTIONS = SETTINGS[\"DBT_OPTIONS\"]"));
    assert!(file.contains("\"dbt build --indirect-selection cautious\""));
    let settings =
        std::fs::read_to_string(dir.path().join("build/dags/dagship_settings.py")).unwrap();
    assert!(
        settings.contains("\nDBT_OPTIONS = \" --target dev\"\n"),
        "{settings}"
    );
}

/// Runs `dagship dags` in `dir`; its exit code (`None` for a signal) and stderr, or `None`
/// if it still runs after `limit` (it is then killed).
fn dags_within(dir: &Path, args: &[&str], limit: Duration) -> Option<(Option<i32>, String)> {
    let mut child = dagship(dir)
        .arg("dags")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    Some((
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

#[cfg(target_os = "linux")]
#[test]
fn inputs_that_are_not_regular_files_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    jaffle(dir.path());
    std::fs::create_dir(dir.path().join("folder")).unwrap();
    let fifo = dir.path().join("fifo");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string; mkfifo only creates the node.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let cases: [(&[&str], &str); 5] = [
        (
            &["--manifest", "folder"],
            "dbt manifest folder: not a regular file (it is a directory)",
        ),
        (
            &["--manifest", "/dev/null"],
            "not a regular file (it is a device)",
        ),
        // Opening a FIFO without a writer blocks forever, unless it is not opened so.
        (
            &["--manifest", "fifo"],
            "not a regular file (it is a FIFO or pipe)",
        ),
        (
            &["--manifest", "manifest.json", "--selectors", "fifo"],
            "selectors file fifo: not a regular file (it is a FIFO or pipe)",
        ),
        (
            &["--manifest", "manifest.json", "--selectors", "folder"],
            "selectors file folder: not a regular file (it is a directory)",
        ),
    ];
    for (args, message) in cases {
        let mut all = args.to_vec();
        all.extend(["--out", "out"]);
        let (code, stderr) = dags_within(dir.path(), &all, Duration::from_secs(30))
            .unwrap_or_else(|| panic!("{args:?} still runs after 30 s"));
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    // A pipe, as `--manifest <(…)` or `/dev/stdin` give.
    let out = dagship(dir.path())
        .args(["dags", "--manifest", "/dev/stdin", "--out", "out"])
        .stdin(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("not a regular file (it is a FIFO or pipe)"),
        "{stderr}"
    );
}

/// `dbt parse` rewrites `target/manifest.json` in place: truncated, then written. A
/// mapped file cut short under the reader raised SIGBUS (exit 135); it must be an exit 2
/// that says what happened, whenever the rewrite comes.
#[test]
fn a_manifest_rewritten_while_it_is_read_is_an_error_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(jaffle(dir.path())).unwrap();
    // Large enough to take a while to read (tens of MB), all of it valid.
    let value: serde_json::Value = serde_json::from_slice(&good).unwrap();
    let mut big = value.clone();
    let nodes = big["nodes"].as_object_mut().unwrap();
    let template = value["nodes"]["model.jaffle_shop.orders"].clone();
    for i in 0..12_000 {
        let mut node = template.clone();
        let id = format!("model.jaffle_shop.copy_{i}");
        node["unique_id"] = id.clone().into();
        node["name"] = format!("copy_{i}").into();
        node["fqn"] = serde_json::json!(["jaffle_shop", format!("copy_{i}")]);
        node["raw_code"] = "x".repeat(3000).into();
        nodes.insert(id, node);
    }
    let big = serde_json::to_vec(&big).unwrap();
    let path = dir.path().join("big.json");
    let mut changed = 0;
    for delay_ms in [30, 60, 120, 250, 500, 1000] {
        std::fs::write(&path, &big).unwrap();
        let child = dagship(dir.path())
            .args(["dags", "--manifest", "big.json", "--out", "out"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        // As dbt writes: the file is truncated, then the new text written.
        std::fs::write(&path, &good[..good.len() / 3]).unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let code = out.status.code();
        assert!(
            matches!(code, Some(0 | 2)),
            "after {delay_ms} ms: {:?} (a signal when None): {stderr}",
            out.status
        );
        if stderr.contains("changed while it was read") {
            changed += 1;
            break;
        }
    }
    assert!(changed > 0, "no run overlapped the rewrite");
}
