//! `dagship dags` on unusual and hostile input (issue 13): one file per case in
//! `tests/data/dbt/hostile/`, a manifest (`NN-case.manifest.json`) or a selectors file run
//! against `base.manifest.json` (`NN-case.selectors.yml`), with `NN-case.expect` beside it:
//! the exit code, then a piece of what dagship must print (stderr for 2, stdout for 0).
//! Each must finish within a time limit: some of these once ran for minutes or forever.

mod common;
mod kept_dags;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

fn cases_dir() -> PathBuf {
    common::repo_root().join("tests/data/dbt/hostile")
}

/// Every case, by its stem (`NN-case`), sorted.
fn cases() -> Vec<String> {
    let mut stems: Vec<String> = std::fs::read_dir(cases_dir())
        .expect("tests/data/dbt/hostile exists")
        .map(|e| {
            e.expect("readable entry")
                .file_name()
                .into_string()
                .unwrap()
        })
        .filter_map(|n| n.strip_suffix(".expect").map(str::to_string))
        .collect();
    stems.sort();
    stems
}

/// The process's exit code, stdout and stderr; `None` for a signal or for running past
/// `limit` (then it is killed).
fn finish(mut child: Child, limit: Duration) -> (Option<i32>, String, String) {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            child.kill().unwrap();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    (out.status.code(), text(out.stdout), text(out.stderr))
}

/// Runs the case; every difference from its expectation, as text.
fn check(stem: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let expect = std::fs::read_to_string(cases_dir().join(format!("{stem}.expect"))).unwrap();
    let (code, fragment) = expect.trim_end().split_once(' ').expect("`CODE FRAGMENT`");
    let code: i32 = code.parse().expect("an exit code");
    let source = |suffix: &str| cases_dir().join(format!("{stem}{suffix}"));
    let mut args = vec!["dags", "--manifest", "manifest.json", "--out", "out"];
    let manifest = source(".manifest.json");
    if manifest.exists() {
        std::fs::copy(&manifest, dir.path().join("manifest.json")).unwrap();
    } else {
        let base = cases_dir().join("base.manifest.json");
        std::fs::copy(base, dir.path().join("manifest.json")).unwrap();
        std::fs::copy(source(".selectors.yml"), dir.path().join("selectors.yml")).unwrap();
        args.extend(["--selectors", "selectors.yml"]);
    }
    let child = common::dagship(dir.path())
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (got, stdout, stderr) = finish(child, Duration::from_secs(60));
    if got == Some(0) {
        kept_dags::keep_out(dir.path(), &args);
    }
    let mut problems = Vec::new();
    if got != Some(code) {
        problems.push(format!("exit {got:?}, expected {code}"));
    }
    let shown = if code == 0 { &stdout } else { &stderr };
    if !shown.contains(fragment) {
        problems.push(format!("no `{fragment}` in its output"));
    }
    if code != 0 && dir.path().join("out").exists() {
        problems.push("wrote files although it failed".into());
    }
    match problems.is_empty() {
        true => Ok(()),
        false => Err(format!(
            "{stem}: {}\n  stdout: {}\n  stderr: {}",
            problems.join("; "),
            stdout.trim_end(),
            stderr.trim_end()
        )),
    }
}

#[test]
fn every_hostile_input_exits_as_expected() {
    let stems = cases();
    assert!(stems.len() >= 27, "the corpus is there: {stems:?}");
    let failures: Vec<String> = stems.iter().filter_map(|s| check(s).err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        stems.len(),
        failures.join("\n")
    );
}

/// The corpus covers every kind of input this test knows how to run.
#[test]
fn each_case_has_one_input() {
    for stem in cases() {
        let inputs = [".manifest.json", ".selectors.yml"]
            .iter()
            .filter(|s| Path::new(&cases_dir().join(format!("{stem}{s}"))).exists())
            .count();
        assert_eq!(inputs, 1, "{stem}");
    }
}
