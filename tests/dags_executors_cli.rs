//! The executors `kubernetes_pod`, `docker`, `dbt_cloud` and `ecs_task` from the outside:
//! `dagship dags` flags and an `airflow_dags` step's inputs give the same files, and a
//! missing, malformed or foreign setting exits 2 with a sentence naming it. (Where
//! `validate` points at such a setting: tests/invalid/9*-airflow-dags-*.yaml.)

mod common;
mod dbt_support;
mod kept_dags;

use std::path::Path;

use common::{dagship, run};

fn jaffle(dir: &Path) {
    let gz = dbt_support::corpus_dir().join("jaffle_shop.manifest.json.gz");
    std::fs::write(dir.join("manifest.json"), dbt_support::gunzip(&gz)).unwrap();
}

fn dags(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let all = ["dags", "--manifest", "manifest.json", "--target", "prod"];
    let result = run(dagship(dir).args(all).args(args));
    if result.0 == 0 {
        kept_dags::keep_out(dir, args);
    }
    result
}

/// Each executor's settings as `dagship dags` flags and as the step's inputs (YAML flow map
/// entries), every kind of setting used: text, list, yes/no and number.
const EXECUTORS: &[(&str, &[&str], &str)] = &[
    (
        "kubernetes_pod",
        &[
            "--image=acme/dbt:1",
            "--namespace=data",
            "--service-account=dbt",
            "--request=cpu=500m",
            "--request=memory=1Gi",
            "--limit=memory=2Gi",
            "--secret-env=DBT_PASSWORD=dbt:password",
            "--config-file=/home/airflow/kube.yaml",
            "--deferrable=true",
        ],
        "image: acme/dbt:1, namespace: data, service_account: dbt, requests: [cpu=500m, memory=1Gi], \
         limits: [memory=2Gi], secret_env: ['DBT_PASSWORD=dbt:password'], \
         config_file: /home/airflow/kube.yaml, deferrable: true",
    ),
    (
        "docker",
        &[
            "--image=acme/dbt:1",
            "--network=warehouse",
            "--mount=/srv/dbt:/dbt:ro",
        ],
        "image: acme/dbt:1, network: warehouse, mounts: ['/srv/dbt:/dbt:ro']",
    ),
    (
        "dbt_cloud",
        &[
            "--job-id=42",
            "--account-id=7",
            "--conn-id=dbt_cloud_acme",
            "--wait-for-termination=false",
        ],
        "job_id: 42, account_id: 7, conn_id: dbt_cloud_acme, wait_for_termination: false",
    ),
    (
        "ecs_task",
        &[
            "--cluster=data",
            "--task-definition=dbt:3",
            "--container-name=dbt",
            "--launch-type=EC2",
            "--subnet=subnet-0a",
            "--security-group=sg-0c",
            "--assign-public-ip=true",
            "--awslogs-group=/ecs/dbt",
            "--awslogs-stream-prefix=ecs/dbt",
            "--aws-region=eu-west-1",
            "--deferrable=true",
        ],
        "cluster: data, task_definition: 'dbt:3', container_name: dbt, launch_type: EC2, \
         subnets: [subnet-0a], security_groups: [sg-0c], assign_public_ip: true, \
         awslogs_group: /ecs/dbt, awslogs_stream_prefix: ecs/dbt, aws_region: eu-west-1, \
         deferrable: true",
    ),
];

#[test]
fn flags_and_step_inputs_give_the_same_files() {
    for (executor, flags, inputs) in EXECUTORS {
        let dir = tempfile::tempdir().unwrap();
        jaffle(dir.path());
        let mut args = vec!["--out", "flags", "--executor", executor];
        args.extend_from_slice(flags);
        let (code, _, stderr) = dags(dir.path(), &args);
        assert_eq!(code, 0, "{executor}: {stderr}");
        let pipeline = format!(
            "version: 1\nname: t\nenvironments: {{ local: {{}} }}\nsteps:\n  dags:\n    \
             uses: airflow_dags\n    with: {{ manifest: manifest.json, out: step, target: prod, \
             executor: {executor}, {inputs} }}\n"
        );
        std::fs::write(dir.path().join("pipeline.yaml"), pipeline).unwrap();
        let (code, stdout, stderr) = run(dagship(dir.path()).args(["run", "--env", "local"]));
        assert_eq!(code, 0, "{executor}: {stdout}\n{stderr}");
        for file in ["dagship_settings.py", "dbt_all.py"] {
            let read = |folder: &str| std::fs::read_to_string(dir.path().join(folder).join(file));
            let (from_flags, from_step) = (read("flags").unwrap(), read("step").unwrap());
            assert_eq!(from_flags, from_step, "{executor}: {file}");
            if file == "dagship_settings.py" {
                assert!(from_flags.contains(&format!("# executor: {executor}\n")));
                assert!(
                    !from_flags.to_ascii_lowercase().contains("airflow"),
                    "{from_flags}"
                );
            }
        }
    }
}

#[test]
fn missing_malformed_or_foreign_settings_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    jaffle(dir.path());
    let cases: &[(&[&str], &str)] = &[
        (
            &["--executor", "kubernetes_pod", "--image", "i"],
            "`--executor kubernetes_pod` needs `--namespace`",
        ),
        (
            &[
                "--executor",
                "ecs_task",
                "--cluster",
                "c",
                "--task-definition",
                "t",
            ],
            "`--executor ecs_task` needs `--container-name`",
        ),
        (
            &["--executor", "dbt_cloud"],
            "`--executor dbt_cloud` needs `--job-id`",
        ),
        (
            &["--executor", "docker", "--image", "i", "--namespace", "n"],
            "executor `docker` does not take `namespace` (it takes: image, network, mounts)",
        ),
        (&["--image", "i"], "executor `bash` does not take `image`"),
        (
            &[
                "--executor",
                "docker",
                "--image",
                "i",
                "--mount",
                "dbt:/dbt",
            ],
            "`dbt:/dbt` is not `SOURCE:TARGET` or `SOURCE:TARGET:ro`",
        ),
        (
            &[
                "--executor",
                "kubernetes_pod",
                "--image",
                "i",
                "--namespace",
                "n",
                "--limit",
                "cpu",
            ],
            "`cpu` is not `NAME=VALUE`",
        ),
        (
            &["--executor", "dbt_cloud", "--job-id", "x1"],
            "executor `dbt_cloud` needs a job_id that is a dbt Cloud id (a number), not `x1`",
        ),
        (
            &[
                "--executor",
                "ecs_task",
                "--cluster",
                "c",
                "--task-definition",
                "t",
                "--container-name",
                "d",
                "--launch-type",
                "LAMBDA",
            ],
            "has launch_type `LAMBDA`, not one of FARGATE, EC2, EXTERNAL",
        ),
        (
            &[
                "--executor",
                "ecs_task",
                "--cluster",
                "c",
                "--task-definition",
                "arn:aws:ecs:eu-west-1:123456789012:task-definition/dbt",
                "--container-name",
                "d",
            ],
            "is not an ECS task definition (`FAMILY`, `FAMILY:REVISION` or \
             `arn:aws:ecs:REGION:ACCOUNT:task-definition/FAMILY:REVISION`): a task definition's \
             ARN ends in `:REVISION`",
        ),
    ];
    for (args, message) in cases {
        let mut all = vec!["--out", "out"];
        all.extend_from_slice(args);
        let (code, _, stderr) = dags(dir.path(), &all);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    assert!(!dir.path().join("out").exists());
}

/// Two environments that differ in an executor's settings get the same DAG files; only the
/// settings module differs (a release promotes the DAG files byte for byte).
#[test]
fn environments_differ_only_in_the_settings_module() {
    let dir = tempfile::tempdir().unwrap();
    jaffle(dir.path());
    for (executor, flags, _) in EXECUTORS {
        // A task definition's revision stays a number: its family differs instead.
        let staging: Vec<String> = flags
            .iter()
            .map(|f| match f.strip_prefix("--task-definition=") {
                Some(reference) => {
                    format!(
                        "--task-definition={}",
                        reference.replacen(':', "-staging:", 1)
                    )
                }
                None => format!("{f}-staging"),
            })
            .collect();
        // Yes/no, numbers and list entries keep their form: those differ by flag instead.
        let staging: Vec<&str> = flags
            .iter()
            .zip(&staging)
            .map(|(f, s)| {
                let free = !f.contains("=true")
                    && !f.contains("=false")
                    && !f.starts_with("--job-id")
                    && !f.starts_with("--account-id");
                let plain = !f.starts_with("--mount") && !f.starts_with("--launch-type");
                if free && plain { s.as_str() } else { *f }
            })
            .collect();
        for (folder, given) in [("prod", flags.to_vec()), ("staging", staging)] {
            let mut args = vec!["--out", folder, "--executor", executor];
            args.extend_from_slice(&given);
            let (code, _, stderr) = dags(dir.path(), &args);
            assert_eq!(code, 0, "{executor} {folder}: {stderr}");
        }
        let read = |folder: &str, file: &str| {
            std::fs::read_to_string(dir.path().join(folder).join(file)).unwrap()
        };
        assert_eq!(
            read("prod", "dbt_all.py"),
            read("staging", "dbt_all.py"),
            "{executor}"
        );
        let staging = read("staging", "dagship_settings.py");
        assert_ne!(read("prod", "dagship_settings.py"), staging, "{executor}");
        assert!(staging.contains("-staging\""), "{executor}: {staging}");
    }
}
