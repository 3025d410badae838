//! The example pipeline's plans, golden for each environment and format, and the promises a
//! plan makes: no side effects, secrets never shown, selections that say what they left out.

mod common;
mod example_dbt;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use common::{assert_golden, dagship, repo_root, run};
use example_dbt::copy_example;

const SECRET: &str = "postgresql://deploy:hunter2-s3cret@db.internal/warehouse";

/// A copy of the example (the pipeline file and `examples/`): the local plan compares with the
/// local DAG folder (`.airflow/dags`), which a run in the repository would fill.
fn example() -> &'static Path {
    static COPY: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    COPY.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        copy_example(dir.path());
        dir
    })
    .path()
}

fn plan(env: &str, format: &str) -> String {
    let (code, stdout, stderr) = run(dagship(example())
        .env("PROD_DATABASE_URL", SECRET)
        .args(["plan", "--env", env, "--format", format]));
    assert_eq!(
        code, 0,
        "plan --env {env} --format {format} failed:\n{stderr}"
    );
    assert!(
        !stdout.contains("hunter2") && !stderr.contains("hunter2"),
        "secret leaked"
    );
    stdout
}

#[test]
fn golden_plans_for_every_environment_and_format() {
    for env in ["local", "staging", "prod"] {
        for (format, ext) in [
            ("text", "txt"),
            ("json", "json"),
            ("mermaid", "mmd"),
            ("markdown", "md"),
        ] {
            assert_golden(&format!("plan.{env}.{ext}"), &plan(env, format));
        }
    }
}

#[test]
fn json_plan_follows_the_spec() {
    let plan: serde_json::Value = serde_json::from_str(&plan("prod", "json")).unwrap();
    assert_eq!(plan["format_version"], 1);
    assert_eq!(plan["pipeline"], "warehouse");
    assert_eq!(plan["environment"], "prod");
    assert_eq!(plan["changes"]["has_changes"], true);
    let stages = plan["stages"].as_array().unwrap();
    for stage in stages {
        let ids: Vec<&str> = stage
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted, "ids are sorted within a stage");
    }
    let stage_of: BTreeMap<&str, u64> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].as_str().unwrap(), s["stage"].as_u64().unwrap()))
        .collect();
    for step in plan["steps"].as_array().unwrap() {
        assert!(step["skipped"] == true || !step["actions"].as_array().unwrap().is_empty());
        for need in step["needs"].as_array().unwrap() {
            assert!(stage_of[need.as_str().unwrap()] < step["stage"].as_u64().unwrap());
        }
    }
}

#[test]
fn secrets_in_vars_are_masked_and_missing_ones_are_warnings() {
    let text = plan("prod", "text");
    assert!(text.contains("DAGSHIP_DATABASE_URL=***"), "{text}");
    let staging = plan("staging", "text");
    assert!(
        staging.contains("secret `STAGING_DATABASE_URL` is not set"),
        "{staging}"
    );
    assert!(!text.contains("PROD_DATABASE_URL` is not set"));
}

#[test]
fn local_skips_cloud_steps_and_still_uploads_to_the_local_folder() {
    let json: serde_json::Value = serde_json::from_str(&plan("local", "json")).unwrap();
    let step = |id: &str| {
        json["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(step("runner")["skipped"], true);
    assert_eq!(step("runner")["actions"].as_array().unwrap().len(), 0);
    assert_eq!(step("upload")["skipped"], false);
    assert_eq!(step("upload")["actions"][0]["target"], ".airflow/dags");
}

#[test]
fn from_selects_a_step_and_everything_downstream() {
    let (code, stdout, _) = run(dagship(&repo_root()).args([
        "plan", "--env", "prod", "--from", "dags", "--format", "json",
    ]));
    assert_eq!(code, 0);
    let plan: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        plan["stages"],
        serde_json::json!([["dags"], ["check_dags"], ["upload"]])
    );
    assert_eq!(
        plan["left_out"],
        serde_json::json!(["migrate", "seed", "compile", "dags_local", "runner", "docs"])
    );
}

#[test]
fn only_says_which_needs_were_left_out() {
    let (code, stdout, _) =
        run(dagship(&repo_root()).args(["plan", "--env", "prod", "--only", "upload,dags"]));
    assert_eq!(code, 0);
    assert!(
        stdout.contains("not selected, assumed done: check_dags, runner"),
        "{stdout}"
    );
    assert!(
        stdout.contains("not selected, assumed done: compile"),
        "{stdout}"
    );
    assert!(stdout.contains("Plan: 2 steps in 1 stage"), "{stdout}");
}

#[test]
fn unknown_environment_or_step_is_invalid_input() {
    let (code, _, stderr) = run(dagship(&repo_root()).args(["plan", "--env", "prd"]));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("unknown environment `prd`") && stderr.contains("did you mean `prod`?"),
        "{stderr}"
    );
    let (code, _, stderr) =
        run(dagship(&repo_root()).args(["plan", "--env", "prod", "--only", "dag"]));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("unknown step `dag` in `--only`"),
        "{stderr}"
    );
}

/// Every file under `dir` with its size and modification time.
fn snapshot(dir: &Path) -> BTreeMap<String, (u64, SystemTime)> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                todo.push(entry.path());
            } else {
                let rel = entry
                    .path()
                    .strip_prefix(dir)
                    .unwrap()
                    .display()
                    .to_string();
                out.insert(rel, (meta.len(), meta.modified().unwrap()));
            }
        }
    }
    out
}

#[test]
fn plan_has_no_side_effects_but_its_out_file() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo_root().join("pipeline.yaml"),
        tmp.path().join("pipeline.yaml"),
    )
    .unwrap();
    let selectors = tmp.path().join("examples/warehouse/dbt");
    std::fs::create_dir_all(&selectors).unwrap();
    std::fs::copy(
        repo_root().join("examples/warehouse/dbt/selectors.yml"),
        selectors.join("selectors.yml"),
    )
    .unwrap();
    let before = snapshot(tmp.path());
    for env in ["local", "staging", "prod"] {
        for format in ["text", "json", "mermaid"] {
            let (code, _, stderr) =
                run(dagship(tmp.path()).args(["plan", "--env", env, "--format", format]));
            assert_eq!(code, 0, "{stderr}");
        }
    }
    assert_eq!(snapshot(tmp.path()), before, "plan wrote files");
    let (code, stdout, _) =
        run(dagship(tmp.path()).args(["plan", "--env", "prod", "--out", "plan.txt"]));
    assert_eq!((code, stdout.as_str()), (0, ""));
    let mut after = snapshot(tmp.path());
    let written = after.remove("plan.txt").expect("--out wrote the plan");
    assert!(written.0 > 0);
    assert_eq!(after, before, "plan --out wrote something besides its file");
    let text = std::fs::read_to_string(tmp.path().join("plan.txt")).unwrap();
    assert!(!text.contains('\u{1b}'), "no colour codes in --out files");
}

#[test]
fn committed_schema_is_what_dagship_schema_prints() {
    let (code, stdout, _) = run(dagship(&repo_root()).arg("schema"));
    assert_eq!(code, 0);
    let committed = std::fs::read_to_string(repo_root().join("pipeline.schema.json")).unwrap();
    assert!(
        committed == stdout,
        "pipeline.schema.json is stale: run `cargo run -- schema > pipeline.schema.json`"
    );
    let first = std::fs::read_to_string(repo_root().join("pipeline.yaml")).unwrap();
    assert!(first.starts_with("# yaml-language-server: $schema=./pipeline.schema.json\n"));
}

#[test]
fn validate_summarises_and_completions_print() {
    let (code, stdout, _) = run(dagship(&repo_root()).arg("validate"));
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        "pipeline.yaml is valid: 9 steps in 6 stages, 3 environments\n"
    );
    let (code, stdout, _) = run(dagship(&repo_root()).args(["completions", "bash"]));
    assert_eq!(code, 0);
    assert!(stdout.contains("dagship") && stdout.contains("--env"));
    let (code, _, stderr) = run(dagship(&repo_root()).args(["-q", "validate", "--env", "staging"]));
    assert_eq!((code, stderr.as_str()), (0, ""), "-q silences warnings");
}
