//! The executors that run dbt in a container or a service (`kubernetes_pod`, `docker`,
//! `dbt_cloud`, `ecs_task`), loaded by Airflow 3 with each one's provider installed
//! (`tests/dags_executors.py`): every task's operator is built, and what it would send is
//! compared with the settings and with the `bash` executor's dbt command line for the same
//! task (the same words, whatever carries them). Nothing reaches a network: the pod is
//! rendered by `build_pod_request_obj`, ECS's `run_task` goes to a stub client.
//!
//! The Python is `.venv/bin/python` (scripts/test.sh installs requirements-test.txt there),
//! or `DAGSHIP_TEST_PYTHON` (a venv with the providers, beside a shared one without them).

mod dbt_support;
mod example_dbt;
mod kept_dags;

use std::path::{Path, PathBuf};
use std::process::Command;

use dagship::dags::{self, Bash, DagOptions, DbtCloud, Docker, EcsTask, KubernetesPod, Operator};
use serde_json::{Value, json};

fn python() -> PathBuf {
    match std::env::var_os("DAGSHIP_TEST_PYTHON") {
        Some(path) => PathBuf::from(path),
        None => example_dbt::venv_bin("python"),
    }
}

/// The options every executor shares: the dbt options hold the word "airflow", which the
/// settings module must escape.
fn options(operator: Operator) -> DagOptions {
    DagOptions {
        operator,
        project_dir: Some("/home/airflow/dbt".into()),
        target: Some("prod".into()),
        ..DagOptions::default()
    }
}

fn executors() -> Vec<Operator> {
    vec![
        Operator::Bash(Bash),
        Operator::KubernetesPod(KubernetesPod {
            image: "europe-docker.pkg.dev/acme/dbt/dbt:1.11".into(),
            namespace: "data".into(),
            service_account: Some("dbt-runner".into()),
            requests: vec!["cpu=500m".into(), "memory=1Gi".into()],
            limits: vec!["memory=2Gi".into()],
            secret_env: vec!["DBT_PASSWORD=dbt-warehouse:password".into()],
            config_file: None,
            deferrable: true,
        }),
        Operator::Docker(Docker {
            image: "acme/dbt:1.11".into(),
            network: Some("warehouse".into()),
            mounts: vec!["/srv/airflow/profiles:/profiles:ro".into()],
        }),
        Operator::DbtCloud(DbtCloud {
            job_id: "42".into(),
            account_id: Some("7".into()),
            conn_id: Some("dbt_cloud_acme".into()),
            wait_for_termination: true,
            deferrable: true,
        }),
        Operator::EcsTask(EcsTask {
            cluster: "data".into(),
            task_definition: "dbt:3".into(),
            container_name: "dbt".into(),
            launch_type: None,
            subnets: vec!["subnet-0a".into(), "subnet-0b".into()],
            security_groups: vec!["sg-0c".into()],
            assign_public_ip: false,
            awslogs_group: Some("/ecs/dbt".into()),
            awslogs_stream_prefix: Some("ecs/dbt".into()),
            aws_region: Some("eu-west-1".into()),
            deferrable: false,
        }),
    ]
}

/// Generates one folder per executor from `project`'s manifest and selectors; what Airflow
/// saw, by executor name.
fn airflow_view(root: &Path, project: &str, with_selectors: bool) -> Value {
    let manifest = dbt_support::load_manifest(project);
    let selectors = with_selectors.then(|| {
        let path = dbt_support::corpus_dir().join(format!("selectors/{project}.selectors.yml"));
        dagship::dbt::selectors_file::SelectorsFile::from_path(&path).unwrap()
    });
    let mut args = Vec::new();
    for operator in executors() {
        let name = operator.name();
        let folder = root.join(name);
        let files = dags::generate(&manifest, selectors.as_ref(), &options(operator)).unwrap();
        dags::write(&folder, &files, None).unwrap();
        kept_dags::keep(&folder);
        args.push(format!("{name}={}", folder.display()));
    }
    let out = root.join("executors.json");
    let run = Command::new(python())
        .arg(example_dbt::repo_root().join("tests/dags_executors.py"))
        .arg(&out)
        .args(&args)
        .env("AIRFLOW_HOME", root.join("airflow-home"))
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "tests/dags_executors.py failed:\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap()
}

/// Every executor's tasks are bash's, each running the same dbt command line (less the
/// options an executor cannot take), built by the executor's real operator class.
fn check_against_bash(view: &Value) {
    assert!(
        view["airflow"].as_str().unwrap().starts_with("3."),
        "{view}"
    );
    let bash = &view["bash"]["tasks"];
    let bash = bash.as_object().unwrap();
    assert!(!bash.is_empty());
    for (executor, class) in [
        ("kubernetes_pod", "KubernetesPodOperator"),
        ("docker", "DockerOperator"),
        ("dbt_cloud", "DbtCloudRunJobOperator"),
        ("ecs_task", "EcsRunTaskOperator"),
    ] {
        let seen = &view[executor];
        assert_eq!(seen["import_errors"], json!({}), "{executor}");
        let tasks = seen["tasks"].as_object().unwrap();
        let ids: Vec<_> = tasks.keys().collect();
        assert_eq!(ids, bash.keys().collect::<Vec<_>>(), "{executor}");
        for (id, task) in tasks {
            assert_eq!(
                task["operator"],
                json!(["DbtTask", class]),
                "{executor} {id}"
            );
            assert_eq!(task["argv"], bash[id]["argv"], "{executor} {id}");
            assert_eq!(task["argv"][0], "dbt", "{executor} {id}");
        }
    }
}

/// The settings reached each operator's request, for every task.
fn check_requests(view: &Value) {
    let each = |executor: &str, expected: Value| {
        for (id, task) in view[executor]["tasks"].as_object().unwrap() {
            for (key, value) in expected.as_object().unwrap() {
                assert_eq!(&task[key], value, "{executor} {id}: {key}");
            }
        }
    };
    each(
        "kubernetes_pod",
        json!({
            "image": "europe-docker.pkg.dev/acme/dbt/dbt:1.11",
            "namespace": "data",
            "service_account": "dbt-runner",
            "secret_env": [["DBT_PASSWORD", "dbt-warehouse", "password"]],
            "requests": {"cpu": "500m", "memory": "1Gi"},
            "limits": {"memory": "2Gi"},
            "in_cluster": true,
            "config_file": null,
            "deferrable": true,
        }),
    );
    each(
        "docker",
        json!({
            "image": "acme/dbt:1.11",
            "network": "warehouse",
            "mounts": [["/srv/airflow/profiles", "/profiles", true]],
        }),
    );
    each(
        "dbt_cloud",
        json!({
            "job_id": 42,
            "account_id": 7,
            "conn_id": "dbt_cloud_acme",
            "wait_for_termination": true,
            "deferrable": true,
        }),
    );
    each(
        "ecs_task",
        json!({
            "awslogs_group": "/ecs/dbt",
            "awslogs_stream_prefix": "ecs/dbt",
            "container_name": "dbt",
            "region": "eu-west-1",
            "deferrable": false,
        }),
    );
    for (id, task) in view["ecs_task"]["tasks"].as_object().unwrap() {
        let request = &task["run_task"];
        assert_eq!(request["cluster"], "data", "{id}");
        assert_eq!(request["taskDefinition"], "dbt:3", "{id}");
        assert_eq!(request["launchType"], "FARGATE", "{id}");
        assert_eq!(
            request["networkConfiguration"],
            json!({"awsvpcConfiguration": {
                "subnets": ["subnet-0a", "subnet-0b"],
                "securityGroups": ["sg-0c"],
                "assignPublicIp": "DISABLED",
            }}),
            "{id}"
        );
        let overrides = &request["overrides"]["containerOverrides"];
        assert_eq!(overrides[0]["name"], "dbt", "{id}");
        assert_eq!(overrides[0]["command"], task["argv"], "{id}");
    }
}

#[test]
fn every_executor_sends_bashs_dbt_command_with_its_settings() {
    let root = tempfile::tempdir().unwrap();
    let view = airflow_view(root.path(), "jaffle_shop", false);
    check_against_bash(&view);
    check_requests(&view);
    // The dbt Cloud step: the task's own command line, the options as given.
    let task = &view["dbt_cloud"]["tasks"]["dbt_all/customers.run"];
    assert_eq!(
        task["argv"],
        json!([
            "dbt",
            "run",
            "--select",
            "resource_type:model,package:jaffle_shop,fqn:jaffle_shop.marts.customers",
            "--project-dir",
            "/home/airflow/dbt",
            "--target",
            "prod"
        ])
    );
}

#[test]
fn every_executor_loads_a_corpus_with_selectors() {
    let root = tempfile::tempdir().unwrap();
    let view = airflow_view(root.path(), "tuva_integration_tests", true);
    check_against_bash(&view);
    check_requests(&view);
}
