//! Invalid pipeline files: every mistake is reported at its line and column, with exit code 2.
//!
//! Each `tests/invalid/NN-description.yaml` holds one mistake and starts with the comment
//! `# expect: LINE:COL FRAGMENT`: where the error must point, and a piece of its message.
//! Cases too big to commit are generated here.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Output};

const CORPUS: &str = "tests/invalid";
const MIN_CASES: usize = 34;

/// Where an error must point, and a piece of its message.
#[derive(Debug)]
struct Expectation {
    location: String,
    fragment: String,
}

fn dagship(file: &str, command: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dagship"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["-f", file, "--color", "never"])
        .args(command)
        .output()
        .expect("dagship runs")
}

/// The corpus files, as paths relative to the package root, sorted.
fn corpus() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(CORPUS);
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("tests/invalid exists")
        .map(|entry| entry.expect("readable entry").file_name())
        .filter_map(|name| name.to_str().map(str::to_string))
        .filter(|name| name.ends_with(".yaml"))
        .map(|name| format!("{CORPUS}/{name}"))
        .collect();
    files.sort();
    files
}

/// Reads `# expect: LINE:COL FRAGMENT` from the first line (the rest may not be UTF-8).
fn expectation(file: &str) -> Result<Expectation, String> {
    let bytes = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(file))
        .map_err(|e| format!("cannot read: {e}"))?;
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let first = std::str::from_utf8(first).map_err(|_| "first line is not UTF-8".to_string())?;
    let rest = first
        .strip_prefix("# expect: ")
        .ok_or("first line is not `# expect: LINE:COL FRAGMENT`")?;
    let (position, fragment) = rest.split_once(' ').ok_or("no fragment after LINE:COL")?;
    let valid = position.split_once(':').is_some_and(|(line, column)| {
        line.parse::<usize>().is_ok() && column.parse::<usize>().is_ok()
    });
    if !valid || fragment.trim().is_empty() {
        return Err(format!("malformed expectation `{rest}`"));
    }
    Ok(Expectation {
        location: format!("{file}:{position}"),
        fragment: fragment.to_string(),
    })
}

/// Checks that dagship refused the file as expected; the error lists every difference.
fn check_refusal(output: &Output, expected: &Expectation) -> Result<(), String> {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let mut problems = Vec::new();
    if output.status.code() != Some(2) {
        problems.push(format!("exit code {:?}, expected 2", output.status.code()));
    }
    if !output.stdout.is_empty() {
        problems.push("stdout is not empty".to_string());
    }
    if !stderr.contains(&expected.location) {
        problems.push(format!("no `{}` in stderr", expected.location));
    }
    if !stderr.contains(&expected.fragment) {
        problems.push(format!("no `{}` in stderr", expected.fragment));
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(format!("{}\n{}", problems.join("; "), summary(&stderr)))
}

/// The `-->` lines and messages of stderr, or its start when it has none (e.g. a panic).
fn summary(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error") || l.trim_start().starts_with("-->"))
        .collect();
    let shown = if lines.is_empty() {
        stderr.lines().take(3).collect::<Vec<_>>()
    } else {
        lines
    };
    shown.iter().fold(String::new(), |mut out, line| {
        let _ = writeln!(out, "    | {line}");
        out
    })
}

fn check_case(file: &str, command: &[&str]) -> Result<(), String> {
    let expected = expectation(file)?;
    check_refusal(&dagship(file, command), &expected)
}

fn check_name(file: &str) -> Result<(), String> {
    let name = file.rsplit('/').next().unwrap_or(file);
    let digits = name.bytes().take_while(u8::is_ascii_digit).count();
    let numbered = digits >= 2 && name[digits..].starts_with('-') && name.len() > digits + 6;
    if numbered {
        Ok(())
    } else {
        Err("name is not `NN-short-description.yaml` (NN: two digits or more)".to_string())
    }
}

/// Runs every file with `command` and panics once, listing every failing case.
fn assert_all_refused(files: &[String], command: &[&str]) {
    let failures: Vec<String> = files
        .iter()
        .filter_map(|file| {
            check_name(file)
                .and_then(|()| check_case(file, command))
                .err()
                .map(|why| format!("{file}: {why}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed (`dagship {}`):\n\n{}",
        failures.len(),
        files.len(),
        command.join(" "),
        failures.join("\n")
    );
}

#[test]
fn corpus_has_enough_cases() {
    let files = corpus();
    assert!(
        files.len() >= MIN_CASES,
        "{} files in {CORPUS}, expected at least {MIN_CASES}",
        files.len()
    );
}

#[test]
fn every_corpus_file_is_refused_at_its_mistake() {
    assert_all_refused(&corpus(), &["validate"]);
}

#[test]
fn plan_refuses_corpus_files_like_validate() {
    let chosen: Vec<String> = corpus()
        .into_iter()
        .filter(|f| {
            ["/02-", "/22-", "/30-", "/40-"]
                .iter()
                .any(|n| f.contains(n))
        })
        .collect();
    assert_eq!(chosen.len(), 4, "the chosen corpus files exist: {chosen:?}");
    assert_all_refused(&chosen, &["plan", "--env", "local"]);
}

const ENVIRONMENTS: &str = "\
version: 1
name: warehouse
environments:
  local:
    vars: { dbt_target: local }
    dags_target: { dir: .airflow/dags }
  staging:
    project: acme-data-staging
    region: europe-west1
    vars: { dbt_target: staging }
    dags_target: { composer_environment: composer-staging }
steps:
";

/// An export step: a shell script of a dozen lines, waiting for the previous step of its group.
fn export_step(i: usize, retries: u32) -> String {
    let needs = if i.is_multiple_of(50) {
        String::new()
    } else {
        format!("    needs: [export_{:05}]\n", i - 1)
    };
    let mut script = String::new();
    for table in 0..8 {
        let _ = writeln!(
            script,
            "        python3 scripts/export.py --table raw_{i}_{table} --format parquet \
             --dest gs://acme-exports/raw_{i}_{table}/"
        );
    }
    format!(
        "  export_{i:05}:\n    uses: command\n{needs}    retries: {retries}\n    timeout: 15m\n    \
         env: {{ DBT_TARGET: \"${{{{ vars.dbt_target }}}}\" }}\n    with:\n      shell: true\n      \
         argv: |\n{script}"
    )
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

#[test]
fn mistake_at_the_end_of_a_5_mb_file_is_located_exactly() {
    const STEPS: usize = 5000;
    let mut text = ENVIRONMENTS.to_string();
    for i in 0..STEPS {
        let retries = if i == STEPS - 2 { 11 } else { 2 };
        text.push_str(&export_step(i, retries));
    }
    assert!(
        text.len() > 4_500_000,
        "generated only {} bytes",
        text.len()
    );
    let offset = text.rfind("retries: 11").expect("the mistake is there") + "retries: ".len();
    let (line, column) = line_column(&text, offset);
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("pipeline.yaml");
    std::fs::write(&path, &text).expect("write the pipeline");
    let file = path.to_str().expect("UTF-8 temporary path");
    let expected = Expectation {
        location: format!("{file}:{line}:{column}"),
        fragment: "1 error in".to_string(),
    };
    let output = dagship(file, &["validate"]);
    if let Err(why) = check_refusal(&output, &expected) {
        panic!("{why}");
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("expected a whole number from 0 to 10"),
        "{stderr}"
    );
}

/// Five independent mistakes, and the location each must be reported at.
const FIVE_MISTAKES: &str = "\
version: 1
name: warehouse
environments:
  local:
    vars: { dbt_target: local }
steps:
  compile:
    uses: dbt
    nedds: []
    with: { project_dir: dbt, command: compile, target: \"${{ vars.dbt_target }}\" }
  seed:
    uses: dbt
    retries: 12
    with: { project_dir: dbt, command: sed }
  dags:
    uses: airflow_dags
    needs: [complie]
    with: { manifest: \"${{ var.manifest }}\", out: build/dags }
";

const FIVE_LOCATIONS: [&str; 5] = ["9:5", "13:14", "14:40", "17:13", "18:24"];

#[test]
fn every_mistake_of_a_file_is_reported_at_once() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("pipeline.yaml");
    std::fs::write(&path, FIVE_MISTAKES).expect("write the pipeline");
    let file = path.to_str().expect("UTF-8 temporary path");
    let output = dagship(file, &["validate"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(output.stdout.is_empty(), "stdout: {:?}", output.stdout);
    let arrows: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("--> "))
        .collect();
    let expected: Vec<String> = FIVE_LOCATIONS
        .iter()
        .map(|l| format!("{file}:{l}"))
        .collect();
    assert_eq!(arrows, expected, "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: 5 errors in "),
        "last line: {last}\n{stderr}"
    );
}
