//! Failure notifications (`notify:` / `--notify-*`), for real: a generated DAG whose dbt
//! fails runs in the venv's Airflow 3 (`dag.test()`, through `tests/dags_notify.py`), its
//! tasks carry the provider's `SlackNotifier` and `SmtpNotifier` as loaded by DagBag, and
//! those post to a fake Slack Web API and send to a fake SMTP server on 127.0.0.1, with the
//! failed task's name in the message. And what differs between environments (the connection,
//! the channel, the addresses) stays in the settings module: the DAG files are the same.
//! `dagship dags` flags and the step's `notify:` give the same files.

mod common;
mod dbt_support;
mod example_dbt;
mod kept_dags;

use std::path::Path;
use std::process::Command;

use dagship::dags::{self, Bash, DagOptions, Notify, Operator, Slack, TestsMode};
use dagship::dbt::selectors_file::SelectorsFile;
use serde_json::{Value, json};

const MODEL: &str = "stg_customers";

fn options(channel: &str, email: &[&str]) -> DagOptions {
    DagOptions {
        operator: Operator::Bash(Bash),
        tests: TestsMode::None,
        retries: 0,
        notify: Notify {
            slack: Some(Slack {
                connection: "slack_alerts".into(),
                channel: Some(channel.into()),
            }),
            email: email.iter().map(|a| a.to_string()).collect(),
        },
        ..DagOptions::default()
    }
}

/// One DAG `dbt_alerts` of one model of jaffle_shop, written into `folder`.
fn generate(folder: &Path, options: &DagOptions) -> dags::Written {
    let manifest = dbt_support::load_manifest("jaffle_shop");
    let selectors = folder.with_extension("selectors.yml");
    std::fs::write(
        &selectors,
        format!("selectors:\n  - name: alerts\n    definition:\n      method: fqn\n      value: {MODEL}\n"),
    )
    .unwrap();
    let selectors = SelectorsFile::from_path(&selectors).unwrap();
    let files = dags::generate(&manifest, Some(&selectors), options).unwrap();
    let written = dags::write(folder, &files, None).unwrap();
    kept_dags::keep(folder);
    written
}

/// A `dbt` that fails at once, first on PATH: the task fails without a warehouse.
fn failing_dbt(bin: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(bin).unwrap();
    let dbt = bin.join("dbt");
    std::fs::write(
        &dbt,
        "#!/bin/sh\necho \"dbt $*: Database Error\" >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&dbt, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn run_in_airflow(work: &Path, folder: &Path) -> Value {
    let bin = work.join("bin");
    failing_dbt(&bin);
    let python = example_dbt::venv_bin("python");
    let path = format!(
        "{}:{}:{}",
        bin.display(),
        python.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = work.join("notify.json");
    let home = work.join("airflow");
    std::fs::create_dir_all(&home).unwrap();
    let run = Command::new(&python)
        .arg(example_dbt::repo_root().join("tests/dags_notify.py"))
        .args([&out, folder])
        .env("PATH", path)
        .env("AIRFLOW_HOME", &home)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "dags_notify.py failed:\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap()
}

#[test]
fn a_failed_task_posts_to_slack_and_sends_an_email() {
    let work = tempfile::tempdir().unwrap();
    let folder = work.path().join("dags");
    let to = ["data-team@acme.example", "oncall+dbt@acme.example"];
    generate(&folder, &options("#data-alerts", &to));
    let seen = run_in_airflow(work.path(), &folder);

    let callbacks = seen["callbacks"].as_object().unwrap();
    assert!(!callbacks.is_empty(), "{seen:#}");
    for (task, classes) in callbacks {
        assert_eq!(classes, &json!(["SlackNotifier", "SmtpNotifier"]), "{task}");
    }
    assert_eq!(seen["slack"]["slack_conn_id"], "slack_alerts");
    assert_eq!(seen["slack"]["channel"], "#data-alerts");
    assert_eq!(seen["email"]["to"], json!(to));

    let states = seen["states"].as_object().unwrap();
    let failed: Vec<&String> = states
        .iter()
        .filter(|(_, s)| *s == "failed")
        .map(|(t, _)| t)
        .collect();
    assert_eq!(failed.len(), 1, "{states:?}");
    let task = failed[0];
    assert!(task.ends_with(MODEL), "{task}");

    let posts = seen["slack_posts"].as_array().unwrap();
    assert_eq!(posts.len(), 1, "{seen:#}");
    assert_eq!(posts[0]["channel"], "#data-alerts");
    assert_eq!(posts[0]["token"], "Bearer xoxb-fake-token");
    let text = posts[0]["text"].as_str().unwrap();
    assert!(
        text.contains(&format!("`{task}`")) && text.contains("`dbt_alerts`"),
        "{text}"
    );
    assert!(!text.contains("{{"), "rendered: {text}");

    let emails = seen["emails"].as_array().unwrap();
    assert_eq!(emails.len(), 1, "{seen:#}");
    assert_eq!(emails[0]["to"], json!(to));
    assert_eq!(emails[0]["from"], "airflow@acme.example");
    let subject = emails[0]["subject"].as_str().unwrap();
    assert!(
        subject.contains(task.as_str()) && subject.contains("dbt_alerts"),
        "{subject}"
    );
}

#[test]
fn environments_that_notify_elsewhere_get_the_same_dag_files() {
    let work = tempfile::tempdir().unwrap();
    let staging = work.path().join("staging");
    let prod = work.path().join("prod");
    generate(&staging, &options("#staging-alerts", &["dev@acme.example"]));
    generate(&prod, &options("C0123456789", &["oncall@acme.example"]));
    let read = |dir: &Path, file: &str| std::fs::read_to_string(dir.join(file)).unwrap();
    assert_eq!(
        read(&staging, "dbt_alerts.py"),
        read(&prod, "dbt_alerts.py")
    );
    let settings = read(&prod, dags::SETTINGS_FILE);
    assert_ne!(read(&staging, dags::SETTINGS_FILE), settings);
    for line in [
        "NOTIFY_SLACK_CONNECTION = \"slack_alerts\"",
        "NOTIFY_SLACK_CHANNEL = \"C0123456789\"",
        "NOTIFY_EMAIL = [\"oncall@acme.example\"]",
    ] {
        assert!(settings.lines().any(|l| l == line), "{line} in\n{settings}");
    }
}

#[test]
fn flags_and_the_step_give_the_same_files_and_bad_values_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let gz = dbt_support::corpus_dir().join("jaffle_shop.manifest.json.gz");
    std::fs::write(dir.path().join("manifest.json"), dbt_support::gunzip(&gz)).unwrap();
    let dags = |args: &[&str]| {
        let all = ["dags", "--manifest", "manifest.json"];
        let result = common::run(common::dagship(dir.path()).args(all).args(args));
        if result.0 == 0 {
            kept_dags::keep_out(dir.path(), args);
        }
        result
    };
    let flags = [
        "--out=flags",
        "--notify-slack=slack_alerts",
        "--notify-slack-channel=#data-alerts",
        "--notify-email=a@acme.example",
        "--notify-email=b@acme.example",
    ];
    let (code, _, stderr) = dags(&flags);
    assert_eq!(code, 0, "{stderr}");
    let pipeline = "version: 1\nname: t\nenvironments: { local: {} }\nsteps:\n  dags:\n    \
        uses: airflow_dags\n    with:\n      manifest: manifest.json\n      out: step\n      \
        notify: { slack: slack_alerts, slack_channel: '#data-alerts', \
        email: [a@acme.example, b@acme.example] }\n";
    std::fs::write(dir.path().join("pipeline.yaml"), pipeline).unwrap();
    let (code, stdout, stderr) =
        common::run(common::dagship(dir.path()).args(["run", "--env", "local"]));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    for file in ["dagship_settings.py", "dbt_all.py"] {
        let read =
            |folder: &str| std::fs::read_to_string(dir.path().join(folder).join(file)).unwrap();
        assert_eq!(read("flags"), read("step"), "{file}");
    }
    let bad: [(&[&str], &str); 3] = [
        (
            &["--notify-email", "{{ var.value.to }}@acme.example"],
            "is not an email address",
        ),
        (
            &["--notify-slack", "slack alerts"],
            "is not an Airflow connection id",
        ),
        (
            &["--notify-slack", "s", "--notify-slack-channel", "#Alerts"],
            "is not a Slack channel",
        ),
    ];
    for (args, message) in bad {
        let mut all = vec!["--out", "bad"];
        all.extend_from_slice(args);
        let (code, _, stderr) = dags(&all);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    assert!(!dir.path().join("bad").exists());
}
