//! The AWS example (`examples/aws/pipeline.yaml`: MWAA, dbt as an ECS task): its plans, in
//! full without credentials, golden; and the same plan calls nothing.

use std::path::Path;

use crate::common::{assert_golden, dagship, repo_root, run};

/// A copy of the AWS example beside the warehouse it builds.
fn example() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for folder in ["aws", "warehouse"] {
        copy(
            &repo_root().join("examples").join(folder),
            &dir.path().join(folder),
        );
    }
    dir
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let name = entry.file_name();
        if ["target", "logs", "dbt_packages"].contains(&name.to_str().unwrap_or_default()) {
            continue;
        }
        if entry.path().is_dir() {
            copy(&entry.path(), &to.join(&name));
        } else {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}

#[test]
fn plans_in_full_without_credentials() {
    let dir = example();
    let aws = dir.path().join("aws");
    for env in ["aws", "aws_prod"] {
        for (format, ext) in [("text", "txt"), ("json", "json")] {
            let (code, stdout, stderr) =
                run(dagship(&aws).args(["plan", "--env", env, "--format", format]));
            assert_eq!(code, 0, "{stderr}");
            assert_golden(&format!("plan.{env}.{ext}"), &stdout);
        }
        let (_, json, _) = run(dagship(&aws).args(["plan", "--env", env, "--format", "json"]));
        let plan: serde_json::Value = serde_json::from_str(&json).unwrap();
        for step in plan["steps"].as_array().unwrap() {
            assert_eq!(step["skipped"], false, "{step}");
            assert!(!step["actions"].as_array().unwrap().is_empty(), "{step}");
        }
        let (_, text, _) = run(dagship(&aws).args(["plan", "--env", env]));
        assert!(
            text.contains("Live state: unknown: no credentials"),
            "{text}"
        );
    }
}
