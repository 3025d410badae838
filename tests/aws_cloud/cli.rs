//! The binary on AWS: a plan without credentials (which calls nothing), and runs that sync
//! to an MWAA environment's DAG folder (S3 on moto, MWAA's API faked: moto has none) and keep
//! their releases in S3.

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use crate::common::{dagship, run};
use crate::fake_mwaa::FakeMwaa;
use crate::moto;

fn pipeline(dir: &Path, environment: &str) {
    let text = format!(
        "version: 1\nname: warehouse\nenvironments:\n{environment}\nsteps:\n  upload:\n    \
         uses: composer_dags\n    with: {{ source: build/dags, prune: true }}\n"
    );
    std::fs::write(dir.join("pipeline.yaml"), text).unwrap();
    let dags = dir.join("build/dags");
    std::fs::create_dir_all(&dags).unwrap();
    std::fs::write(dags.join("dbt_daily.py"), "from airflow import DAG\n").unwrap();
    std::fs::write(dags.join("settings.py"), "PROJECT = 'acme'\n").unwrap();
}

/// dagship with moto's keys and endpoint (MWAA's at `mwaa`), as CI would have them from
/// its OIDC role.
fn on_moto(dir: &Path, mwaa: &str) -> Command {
    let mut cmd = dagship(dir);
    cmd.env("AWS_ACCESS_KEY_ID", moto::KEY)
        .env("AWS_SECRET_ACCESS_KEY", moto::KEY)
        .env("AWS_ENDPOINT_URL", moto::url())
        .env("AWS_ENDPOINT_URL_MWAA", mwaa);
    cmd
}

#[test]
fn a_plan_without_credentials_says_so_and_calls_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let environments = "  aws:\n    region: eu-west-1\n    \
                        assume_role: arn:aws:iam::123456789012:role/deploy\n    \
                        dags_target: { mwaa_environment: airflow-prod }\n    \
                        state: { s3: s3://acme-deploy-state/warehouse }";
    pipeline(dir.path(), environments);
    // Every AWS endpoint is a socket that nobody answers: a connection would show here.
    let trap = TcpListener::bind("127.0.0.1:0").unwrap();
    trap.set_nonblocking(true).unwrap();
    let url = format!("http://{}", trap.local_addr().unwrap());
    let mut cmd = dagship(dir.path());
    cmd.env("AWS_ENDPOINT_URL", &url)
        .args(["plan", "--env", "aws"]);
    let (code, stdout, stderr) = run(&mut cmd);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("the DAG folder of MWAA environment `airflow-prod`"),
        "{stdout}"
    );
    assert!(stdout.contains("unknown: no credentials"), "{stdout}");
    assert!(
        trap.accept().is_err(),
        "the plan made a network call to find out"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_sync_to_the_mwaa_environments_folder_and_keep_releases_in_s3() {
    let (dags_bucket, state_bucket) = (moto::bucket("mwaa-src").await, moto::bucket("state").await);
    let name = format!("airflow-{:08x}", fastrand::u32(..));
    let (mwaa, mwaa_url) = FakeMwaa::start().await;
    mwaa.environment(&name, &dags_bucket, "dags");
    let dir = tempfile::tempdir().unwrap();
    let environments = format!(
        "  aws:\n    region: {}\n    dags_target: {{ mwaa_environment: {name} }}\n    \
         state: {{ s3: s3://{state_bucket}/warehouse }}",
        moto::REGION
    );
    pipeline(dir.path(), &environments);

    let (code, stdout, stderr) =
        run(on_moto(dir.path(), &mwaa_url).args(["run", "--env", "aws", "--yes"]));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let keys: Vec<String> = moto::objects(&dags_bucket).await.into_keys().collect();
    assert_eq!(keys, ["dags/dbt_daily.py", "dags/settings.py"]);

    let (code, stdout, stderr) = run(on_moto(dir.path(), &mwaa_url).args(["plan", "--env", "aws"]));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("2 unchanged"),
        "a second run would change nothing: {stdout}"
    );
    assert!(
        mwaa.calls()
            .iter()
            .all(|c| *c == format!("GetEnvironment {name}"))
    );

    let (code, stdout, stderr) =
        run(on_moto(dir.path(), &mwaa_url).args(["releases", "--env", "aws"]));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("succeeded"), "{stdout}");
    let state = moto::objects(&state_bucket).await;
    assert!(
        state
            .keys()
            .any(|k| k.starts_with("warehouse/aws/releases/")),
        "the release is recorded in S3: {:?}",
        state.keys()
    );
    assert!(
        !state.contains_key("warehouse/aws/lock.json"),
        "the lock is released"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_environments_role_is_assumed_through_sts() {
    let bucket = moto::bucket("assumed").await;
    // STS through a proxy that records its calls; everything else straight to moto.
    let sts = crate::fault_proxy::Proxy::start(moto::url()).await;
    let dir = tempfile::tempdir().unwrap();
    let environments = format!(
        "  aws:\n    region: {}\n    assume_role: arn:aws:iam::123456789012:role/deployer\n    \
         dags_target: {{ s3: s3://{bucket}/dags }}",
        moto::REGION
    );
    pipeline(dir.path(), &environments);
    let mut cmd = on_moto(dir.path(), moto::url());
    cmd.env("AWS_ENDPOINT_URL_STS", &sts.url)
        .args(["run", "--env", "aws", "--yes"]);
    let (code, stdout, stderr) = run(&mut cmd);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(
        sts.requests(),
        ["POST /"],
        "one AssumeRole call, its credentials cached for the run"
    );
    let keys: Vec<String> = moto::objects(&bucket).await.into_keys().collect();
    assert_eq!(keys, ["dags/dbt_daily.py", "dags/settings.py"]);
}
