//! An MWAA environment's `plugins.zip` and `requirements.txt` through the binary: uploaded
//! as new object versions of a versioned bucket (moto) when they differ from the versions
//! the environment runs, applied in one `UpdateEnvironment` (the strict fake), waited for
//! until `AVAILABLE`; a failed update that fails the step with MWAA's reason, answers from
//! before the update taken for neither its failure nor its end, and a bucket without
//! versions refused before any update.

use std::io::Read;
use std::path::Path;
use std::process::Command;

use crate::common::{dagship, run};
use crate::fake_mwaa::FakeMwaa;
use crate::moto;

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A pipeline whose step syncs DAG files, plugins and requirements to MWAA environment
/// `name`.
fn pipeline(dir: &Path, name: &str) {
    let text = format!(
        "version: 1\nname: warehouse\nenvironments:\n  aws:\n    region: {}\n    \
         dags_target: {{ mwaa_environment: {name} }}\nsteps:\n  upload:\n    \
         uses: composer_dags\n    timeout: 2m\n    with:\n      source: build/dags\n      \
         plugins: build/plugins\n      requirements: requirements.txt\n",
        moto::REGION
    );
    std::fs::write(dir.join("pipeline.yaml"), text).unwrap();
    write(dir, "build/dags/dbt_daily.py", "from airflow import DAG\n");
    write(
        dir,
        "build/plugins/operators/dbt.py",
        "class DbtOperator: ...\n",
    );
    write(dir, "build/plugins/__init__.py", "");
    write(dir, "build/plugins/__pycache__/x.cpython-311.pyc", "cache");
    write(
        dir,
        "requirements.txt",
        "apache-airflow-providers-amazon==9.2.0\n",
    );
}

fn on_moto(dir: &Path, mwaa: &str) -> Command {
    let mut cmd = dagship(dir);
    cmd.env("AWS_ACCESS_KEY_ID", moto::KEY)
        .env("AWS_SECRET_ACCESS_KEY", moto::KEY)
        .env("AWS_ENDPOINT_URL", moto::url())
        .env("AWS_ENDPOINT_URL_MWAA", mwaa);
    cmd
}

/// An MWAA environment (faked) whose DAG folder is `dags/` of a new versioned bucket.
async fn environment() -> (FakeMwaa, String, String, String) {
    let bucket = moto::versioned_bucket("mwaa-env").await;
    let name = format!("airflow-{:08x}", fastrand::u32(..));
    let (mwaa, url) = FakeMwaa::start().await;
    mwaa.environment(&name, &bucket, "dags");
    (mwaa, url, bucket, name)
}

fn names_in_zip(bytes: Vec<u8>) -> Vec<String> {
    let zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    zip.file_names().map(|n| n.unwrap().into_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_and_requirements_are_uploaded_and_applied_once_and_only_when_changed() {
    let (mwaa, mwaa_url, bucket, name) = environment().await;
    let dir = tempfile::tempdir().unwrap();
    pipeline(dir.path(), &name);
    let dagship = |args: &[&str]| run(on_moto(dir.path(), &mwaa_url).args(args));

    let (code, stdout, stderr) = dagship(&["plan", "--env", "aws"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!(
            "update MWAA environment `{name}` to run it (one update for all its files; MWAA takes 20 to 30 minutes)"
        )),
        "the plan says the environment would be updated, and how long it takes: {stdout}"
    );
    assert!(
        stdout.contains(&format!("s3://{bucket}/plugins.zip")),
        "{stdout}"
    );

    // First run: both files uploaded, one update, the step waits for AVAILABLE.
    let (code, stdout, stderr) = dagship(&["run", "--env", "aws", "--yes"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let updates = mwaa.updates();
    assert_eq!(updates.len(), 1, "one update for both files: {updates:?}");
    let plugins = moto::versions(&bucket, "plugins.zip").await;
    let requirements = moto::versions(&bucket, "requirements.txt").await;
    assert_eq!((plugins.len(), requirements.len()), (1, 1));
    let (running_plugins, running_requirements) = mwaa.running(&name);
    assert_eq!(
        running_plugins,
        Some(("plugins.zip".to_string(), plugins[0].clone()))
    );
    assert_eq!(
        running_requirements,
        Some(("requirements.txt".to_string(), requirements[0].clone()))
    );
    let zip = moto::object_version(&bucket, "plugins.zip", &plugins[0]).await;
    assert_eq!(
        names_in_zip(zip),
        ["__init__.py", "operators/dbt.py"],
        "caches stay out of the zip"
    );
    let keys: Vec<String> = moto::objects(&bucket).await.into_keys().collect();
    assert_eq!(
        keys,
        ["dags/dbt_daily.py", "plugins.zip", "requirements.txt"]
    );

    // Unchanged: nothing uploaded, no update; the plan says so.
    let (code, stdout, stderr) = dagship(&["plan", "--env", "aws"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(!stdout.contains("update MWAA environment"), "{stdout}");
    assert!(stdout.contains("no update"), "{stdout}");
    let (code, stdout, stderr) = dagship(&["run", "--env", "aws", "--yes"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(mwaa.updates().len(), 1, "no second update");
    assert_eq!(moto::versions(&bucket, "plugins.zip").await.len(), 1);
    assert_eq!(moto::versions(&bucket, "requirements.txt").await.len(), 1);

    // A plugin changes: a new version of plugins.zip only, one more update naming it.
    write(
        dir.path(),
        "build/plugins/operators/dbt.py",
        "class DbtOperator: pass\n",
    );
    let (code, stdout, stderr) = dagship(&["run", "--env", "aws", "--yes"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let updates = mwaa.updates();
    assert_eq!(updates.len(), 2, "{updates:?}");
    let plugins = moto::versions(&bucket, "plugins.zip").await;
    assert_eq!(plugins.len(), 2);
    assert_eq!(moto::versions(&bucket, "requirements.txt").await.len(), 1);
    assert!(
        updates[1].contains(&plugins[0]) && !updates[1].contains("Requirements"),
        "the update names the new plugins version only: {}",
        updates[1]
    );
    assert_eq!(mwaa.running(&name).0.unwrap().1, plugins[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_update_fails_the_step_with_mwaas_reason() {
    let (mwaa, mwaa_url, _bucket, name) = environment().await;
    let dir = tempfile::tempdir().unwrap();
    pipeline(dir.path(), &name);
    mwaa.fail_next_update(
        &name,
        "INCORRECT_CONFIGURATION",
        "requirements.txt: No matching distribution found for apache-airflow-providers-amazon==9.2.0",
    );
    let (code, stdout, stderr) =
        run(on_moto(dir.path(), &mwaa_url).args(["run", "--env", "aws", "--yes"]));
    assert_ne!(code, 0, "{stdout}\n{stderr}");
    let told = format!("{stdout}\n{stderr}");
    assert!(
        told.contains(&format!(
            "MWAA environment `{name}` failed to update (UPDATE_FAILED): INCORRECT_CONFIGURATION: requirements.txt: No matching distribution"
        )),
        "{told}"
    );
    let calls = mwaa.calls();
    assert_eq!(mwaa.updates().len(), 1, "{calls:?}");
}

/// `GetEnvironment` may describe the environment as it was a moment before the update: the
/// earlier update's failure is not this one's, nor is `AVAILABLE` from before it its end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_from_before_the_update_is_neither_its_failure_nor_its_end() {
    let (mwaa, mwaa_url, _bucket, name) = environment().await;
    let dir = tempfile::tempdir().unwrap();
    pipeline(dir.path(), &name);
    let dagship = || run(on_moto(dir.path(), &mwaa_url).args(["run", "--env", "aws", "--yes"]));
    // A run whose update the first answer after it does not show yet: the statuses
    // `GetEnvironment` answered during the run, which must succeed.
    let lagged_run = || {
        mwaa.lag_next_update(&name, 1);
        let seen = mwaa.answered().len();
        let (code, stdout, stderr) = dagship();
        assert_eq!(code, 0, "{stdout}\n{stderr}");
        mwaa.answered().split_off(seen)
    };
    let saw = |answered: &[String], statuses: [&str; 3]| answered.windows(3).any(|w| w == statuses);
    mwaa.fail_next_update(&name, "INCORRECT_CONFIGURATION", "no such package");
    let (code, stdout, stderr) = dagship();
    assert_ne!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(mwaa.running(&name), (None, None), "rolled back");

    // The fix is deployed; the first answer after the update still shows the failure before.
    write(
        dir.path(),
        "requirements.txt",
        "apache-airflow-providers-amazon==9.1.0\n",
    );
    let answered = lagged_run();
    assert!(
        saw(&answered, ["UPDATE_FAILED", "UPDATING", "AVAILABLE"]),
        "the earlier failure was seen and waited past: {answered:?}"
    );
    let updates = mwaa.updates();
    assert!(
        updates[1].contains("PluginsS3ObjectVersion")
            && updates[1].contains("RequirementsS3ObjectVersion"),
        "after a rollback the environment runs neither file: both go again: {}",
        updates[1]
    );

    // Now `AVAILABLE` from before: the step still waits for this update to end.
    write(
        dir.path(),
        "build/plugins/operators/dbt.py",
        "class DbtOperator: pass\n",
    );
    let answered = lagged_run();
    assert!(
        saw(&answered, ["AVAILABLE", "UPDATING", "AVAILABLE"]),
        "done only after the environment took the update up and came back: {answered:?}"
    );
    assert_eq!(mwaa.updates().len(), 3);
}

#[test]
fn the_plugins_zip_is_the_same_bytes_for_the_same_folder() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for (name, text) in [("hooks/s3.py", "H = 1"), ("__init__.py", ""), ("z.py", "Z")] {
        write(a.path(), name, text);
    }
    std::thread::sleep(std::time::Duration::from_millis(1100));
    for (name, text) in [("z.py", "Z"), ("__init__.py", ""), ("hooks/s3.py", "H = 1")] {
        write(b.path(), name, text);
    }
    write(b.path(), ".DS_Store", "finder");
    let include = dagship::sync::Include::Visible;
    let first = dagship::sync::zip_folder(a.path(), include).unwrap();
    assert_eq!(first, dagship::sync::zip_folder(a.path(), include).unwrap());
    assert_eq!(
        first,
        dagship::sync::zip_folder(b.path(), include).unwrap(),
        "files written at other times, in another order, and a hidden file: the same zip"
    );
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(first)).unwrap();
    let mut text = String::new();
    zip.by_name("hooks/s3.py")
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, "H = 1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_without_versions_is_refused_before_any_update() {
    let bucket = moto::bucket("unversioned").await;
    let name = format!("airflow-{:08x}", fastrand::u32(..));
    let (mwaa, mwaa_url) = FakeMwaa::start().await;
    mwaa.environment(&name, &bucket, "dags");
    let dir = tempfile::tempdir().unwrap();
    pipeline(dir.path(), &name);
    let (code, stdout, stderr) =
        run(on_moto(dir.path(), &mwaa_url).args(["run", "--env", "aws", "--yes"]));
    assert_ne!(code, 0, "{stdout}\n{stderr}");
    assert!(
        format!("{stdout}\n{stderr}").contains(&format!(
            "S3 bucket `{bucket}` keeps no object versions: turn versioning on"
        )),
        "{stdout}\n{stderr}"
    );
    assert!(mwaa.updates().is_empty(), "{:?}", mwaa.calls());
}
