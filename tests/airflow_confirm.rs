//! `composer_dags` waits until Airflow has parsed what it synced, and fails with Airflow's own
//! import error: against a real Airflow 3.3 (api-server and dag-processor started here on
//! 127.0.0.1, SQLite, its JWT login) reading a local folder, and against a Composer
//! environment whose Airflow 2 speaks `/api/v1` (a strict fake behind the Composer fake, with
//! Google's token). The plan says a confirmation will happen and calls no Airflow.

mod airflow_support;
mod common;
mod gcp_support;

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use airflow_support::fake_v1::{self, DAGS_ROOT, Outcome};
use airflow_support::real::{self, Airflow3};
use gcp_support::FakeGcs;
use gcp_support::fake_google::{self, Fake, GITHUB_REQUEST_TOKEN, STS_TOKEN};

const SECRET: &str = "s3cret-deploy-token";

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// An Airflow 3 DAG file with one task.
fn dag_file(dag_id: &str) -> String {
    format!(
        "from datetime import datetime\n\nfrom airflow.providers.standard.operators.empty import EmptyOperator\n\
         from airflow.sdk import DAG\n\nwith DAG({dag_id:?}, start_date=datetime(2024, 1, 1), schedule=None):\n    \
         EmptyOperator(task_id=\"run\")\n"
    )
}

/// What a `dagship run --output json` said: exit code, events, and all it printed.
struct Ran {
    code: i32,
    events: Vec<Value>,
    printed: String,
}

impl Ran {
    fn lines(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter(|e| e["event"] == "step_output")
            .filter_map(|e| e["line"].as_str())
            .collect()
    }

    fn said(&self, line: &str) -> bool {
        self.lines().contains(&line)
    }

    fn reason(&self) -> &str {
        self.events
            .iter()
            .find(|e| e["event"] == "step_finished")
            .and_then(|e| e["reason"].as_str())
            .unwrap_or_default()
    }
}

fn run(dir: &Path, env: &[(&str, &str)]) -> Ran {
    let mut cmd = common::dagship(dir);
    cmd.args(["run", "--env", "local", "--output", "json"])
        .env("DEPLOY_TOKEN", SECRET)
        .env_remove("DAGSHIP_AIRFLOW_USERNAME")
        .env_remove("DAGSHIP_AIRFLOW_PASSWORD");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let (code, out, err) = common::run(&mut cmd);
    let events = out
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    Ran {
        code,
        events,
        printed: format!("{out}{err}"),
    }
}

fn local_pipeline(dir: &Path, dags: &Path, url: &str, with: &str) {
    let text = format!(
        "version: 1\nname: t\nenvironments:\n  local:\n    dags_target: {{ dir: {dags:?}, airflow_url: {url:?} }}\n\
         steps:\n  upload:\n    uses: composer_dags\n    env: {{ DEPLOY_TOKEN: \"${{{{ secrets.DEPLOY_TOKEN }}}}\" }}\n    \
         with: {{ source: out, prune: true{with} }}\n",
        dags = dags.display().to_string()
    );
    std::fs::write(dir.join("pipeline.yaml"), text).unwrap();
}

/// One Airflow 3.3 for every case: each case is a run of the pipeline after a change.
#[test]
fn a_local_airflow_3_confirms_good_files_and_fails_broken_ones_with_their_traceback() {
    let airflow = Airflow3::start();
    let project = tempfile::tempdir().unwrap();
    let dir = project.path();
    let pipeline = |with: &str| local_pipeline(dir, &airflow.dags, &airflow.url, with);
    let login = [
        ("DAGSHIP_AIRFLOW_USERNAME", real::USER),
        ("DAGSHIP_AIRFLOW_PASSWORD", real::PASSWORD),
    ];
    pipeline(", confirm_timeout: 90s");
    write(dir, "out/dbt_orders.py", &dag_file("dbt_orders"));
    write(dir, "out/acme_settings.py", "PROJECT = 'acme'\n");
    let ran = run(dir, &login);
    assert_eq!(ran.code, 0, "{}\n{}", ran.printed, airflow.logs());
    assert!(
        ran.said("Airflow parsed dbt_orders.py: DAG dbt_orders"),
        "{:#?}",
        ran.lines()
    );
    assert!(
        ran.lines()
            .iter()
            .any(|l| l.starts_with("waiting for Airflow 3.3.")
                && l.ends_with("to parse a DAG file (up to 1m30s)")),
        "the helper module is no DAG file: {:#?}",
        ran.lines()
    );

    // A file that does not import: the step fails with Airflow's traceback, masked.
    write(
        dir,
        "out/dbt_broken.py",
        "from airflow.sdk import DAG\n\n\
         raise RuntimeError(\"the warehouse refused token \" + \"s3cret-\" + \"deploy-token\")\n",
    );
    let ran = run(dir, &login);
    assert_eq!(ran.code, 1, "{}", ran.printed);
    assert_eq!(
        ran.reason(),
        "Airflow could not import a DAG file: dbt_broken.py, line 3: RuntimeError: the warehouse refused token ***"
    );
    assert!(
        ran.said("  Traceback (most recent call last):"),
        "{:#?}",
        ran.lines()
    );
    assert!(!ran.printed.contains(SECRET), "{}", ran.printed);

    // Run again, or retried: the file is unchanged now, and still does not import.
    let ran = run(dir, &login);
    assert_eq!(ran.code, 1, "{}", ran.printed);
    assert!(
        ran.reason().contains("dbt_broken.py, line 3: RuntimeError"),
        "{}",
        ran.reason()
    );

    // Fixed: Airflow parses it again, and the step succeeds.
    write(dir, "out/dbt_broken.py", &dag_file("dbt_fixed"));
    let ran = run(dir, &login);
    assert_eq!(ran.code, 0, "{}", ran.printed);
    assert!(
        ran.said("Airflow parsed dbt_broken.py: DAG dbt_fixed"),
        "{:#?}",
        ran.lines()
    );

    // A DAG file that defines no DAG is never listed: the timeout names it.
    pipeline(", confirm_timeout: 4s");
    write(
        dir,
        "out/dag_helpers.py",
        "# helpers for airflow dag files\nRETRIES = 2\n",
    );
    let ran = run(dir, &login);
    assert_eq!(ran.code, 1, "{}", ran.printed);
    assert!(
        ran.reason()
            .starts_with("Airflow had not parsed 1 of 1 DAG files after 4.0s: dag_helpers.py"),
        "{}",
        ran.reason()
    );

    // Airflow's own login: a wrong password is refused, by name.
    std::fs::remove_file(dir.join("out/dag_helpers.py")).unwrap();
    let wrong = [
        ("DAGSHIP_AIRFLOW_USERNAME", real::USER),
        ("DAGSHIP_AIRFLOW_PASSWORD", "not-the-password"),
    ];
    let ran = run(dir, &wrong);
    assert_eq!(ran.code, 1, "{}", ran.printed);
    assert!(
        ran.reason().contains(&format!(
            "Airflow at {} refused the login of user `deployer` (HTTP 401: Invalid credentials)",
            airflow.url
        )),
        "{}",
        ran.reason()
    );
    let ran = run(dir, &[]);
    assert_eq!(ran.code, 1);
    assert!(
        ran.reason()
            .contains("wants a login: set DAGSHIP_AIRFLOW_USERNAME"),
        "{}",
        ran.reason()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plan_says_what_it_will_confirm_and_asks_no_airflow() {
    let (url, seen) = fake_v1::start(fake_v1::Fake::default()).await;
    let project = tempfile::tempdir().unwrap();
    let dir = project.path().to_path_buf();
    write(&dir, "out/dbt_a.py", &dag_file("dbt_a"));
    local_pipeline(
        &dir,
        &dir.join("airflow/dags"),
        &url,
        ", confirm_timeout: 2m",
    );
    let plan = |args: &'static [&'static str]| {
        let mut cmd = common::dagship(&dir);
        cmd.args(["plan", "--env", "local"]).args(args);
        tokio::task::spawn_blocking(move || common::run(&mut cmd))
    };
    let (code, text, err) = plan(&[]).await.unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(
        text.contains(&format!(
            "sync out → {}/airflow/dags (prune), then wait up to 2m00s for the Airflow at {url} to parse the DAG files",
            dir.display()
        )),
        "{text}"
    );
    let (_, json_plan, _) = plan(&["--format", "json"]).await.unwrap();
    let json_plan: Value = serde_json::from_str(&json_plan).unwrap();
    assert_eq!(
        json_plan["steps"][0]["actions"][0]["confirm"],
        json!({ "airflow": { "kind": "url", "url": url }, "timeout_seconds": 120 })
    );
    assert!(
        seen.lock().unwrap().log.is_empty(),
        "a plan asks no Airflow"
    );

    // A Composer environment confirms by default; a bare bucket cannot, and `confirm: false`
    // does not.
    let text = "version: 1\nname: t\nenvironments:\n  staging:\n    project: p\n    region: europe-west1\n    \
                dags_target: { composer_environment: composer-staging }\n  prod:\n    project: p\n    region: europe-west1\n    \
                dags_target: { bucket: gs://acme-dags }\nsteps:\n  upload:\n    uses: composer_dags\n    with: { source: out }\n  \
                quiet:\n    uses: composer_dags\n    with: { source: out, confirm: false }\n";
    std::fs::write(dir.join("pipeline.yaml"), text).unwrap();
    let plan_of = |env: &'static str| {
        let mut cmd = common::dagship(&dir);
        cmd.args(["plan", "--env", env, "--format", "json"]);
        tokio::task::spawn_blocking(move || common::run(&mut cmd))
    };
    let (code, staging, err) = plan_of("staging").await.unwrap();
    assert_eq!(code, 0, "{err}");
    let staging: Value = serde_json::from_str(&staging).unwrap();
    let confirm_of =
        |plan: &Value, step: usize| plan["steps"][step]["actions"][0]["confirm"].clone();
    assert_eq!(
        confirm_of(&staging, 1),
        json!({ "airflow": { "kind": "composer", "environment": "composer-staging" }, "timeout_seconds": 600 })
    );
    assert_eq!(confirm_of(&staging, 0), Value::Null, "confirm: false");
    let (_, prod, _) = plan_of("prod").await.unwrap();
    let prod: Value = serde_json::from_str(&prod).unwrap();
    assert_eq!(
        confirm_of(&prod, 1),
        Value::Null,
        "no Airflow known for a bucket"
    );
}

/// The `external_account` file `google-github-actions/auth` writes, pointed at the fakes.
fn wif_file(dir: &Path, fake: &str) {
    let config = json!({
        "type": "external_account",
        "audience": "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/github/providers/acme",
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": format!("{fake}/v1/token"),
        "credential_source": {
            "url": format!("{fake}/oidc?api-version=2.0&audience=https://iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/github/providers/acme"),
            "headers": { "Authorization": format!("Bearer {GITHUB_REQUEST_TOKEN}") },
            "format": { "type": "json", "subject_token_field_name": "value" }
        }
    });
    std::fs::write(dir.join("gha-creds.json"), config.to_string()).unwrap();
}

const COMPOSER_PIPELINE: &str = "version: 1\nname: t\nenvironments:\n  staging:\n    project: acme\n    \
    region: europe-west1\n    dags_target: { composer_environment: composer-staging }\nsteps:\n  upload:\n    \
    uses: composer_dags\n    with: { source: dags, confirm_timeout: TIMEOUT }\n";

/// An Airflow 2 DAG file whose line 7 imports what the plugins do not have.
const DBT_B: &str = "from datetime import datetime\n\nfrom airflow import DAG\n\
    from airflow.operators.empty import EmptyOperator\n\n# The hook ships in plugins/acme.\n\
    from acme.hooks import WarehouseHook\n";

const AIRFLOW2_TRACE: &str = "Traceback (most recent call last):\n  File \"<frozen importlib._bootstrap>\", line 488, in _call_with_frames_removed\n  File \"/home/airflow/gcs/dags/dbt_b.py\", line 7, in <module>\n    from acme.hooks import WarehouseHook\nImportError: cannot import name 'WarehouseHook' from 'acme.hooks' (/home/airflow/gcs/plugins/acme/hooks.py)\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composer_2_confirms_through_airflow_2_api_with_google_token() {
    let old = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
    // 250 DAGs of other teams (three pages), and ours as the previous deploy left it.
    let mut dags: Vec<Value> = (0..250)
        .map(|i| {
            fake_v1::dag(
                &format!("other_{i:03}"),
                &format!("team/other_{i:03}.py"),
                old,
            )
        })
        .collect();
    dags.push(fake_v1::dag("dbt_a", "dbt_a.py", old));
    let (airflow_url, airflow) = fake_v1::start(fake_v1::Fake {
        token: STS_TOKEN.into(),
        dags,
        scripted: vec![("dbt_a.py".into(), Outcome::Dags(vec!["dbt_a".into()]))],
        lag: Duration::from_millis(1500),
        unavailable: vec!["/api/v1/importErrors".into()],
        ..fake_v1::Fake::default()
    })
    .await;
    let bucket = "europe-west1-composer-staging-bucket";
    let mut google = Fake {
        token: Some(STS_TOKEN.into()),
        ..Fake::default()
    };
    google.environments.insert(
        "projects/acme/locations/europe-west1/environments/composer-staging".into(),
        fake_google::composer_environment(
            "projects/acme/locations/europe-west1/environments/composer-staging",
            bucket,
            &airflow_url,
            "composer-2.9.7-airflow-2.10.5",
        ),
    );
    let (google_url, _google) = fake_google::start(google).await;
    let gcs = FakeGcs::start();
    gcs.bucket(bucket).await;
    let project = tempfile::tempdir().unwrap();
    let dir = project.path().to_path_buf();
    wif_file(&dir, &google_url);
    let run = |timeout: &str, step_timeout: &str| {
        let mut text = COMPOSER_PIPELINE.replace("TIMEOUT", timeout);
        if !step_timeout.is_empty() {
            text.push_str(&format!("    timeout: {step_timeout}\n"));
        }
        std::fs::write(dir.join("pipeline.yaml"), text).unwrap();
        let mut cmd = common::dagship(&dir);
        cmd.args(["run", "--env", "staging", "--output", "json"])
            .env("GOOGLE_APPLICATION_CREDENTIALS", dir.join("gha-creds.json"))
            .env("DAGSHIP_COMPOSER_ENDPOINT", &google_url)
            .env("DAGSHIP_STORAGE_ENDPOINT", &gcs.url);
        tokio::task::spawn_blocking(move || {
            let (code, out, err) = common::run(&mut cmd);
            Ran {
                code,
                events: out
                    .lines()
                    .filter_map(|l| serde_json::from_str(l).ok())
                    .collect(),
                printed: format!("{out}{err}"),
            }
        })
    };

    write(&dir, "dags/dbt_a.py", &dag_file("dbt_a"));
    let ran = run("20s", "").await.unwrap();
    assert_eq!(ran.code, 0, "{}", ran.printed);
    assert!(
        ran.said(&format!(
            "Airflow answered {airflow_url}/api/v1/importErrors with HTTP 503: \
             The server is temporarily unable to service your request.; waiting on"
        )),
        "a restarting web server is waited out: {:#?}",
        ran.lines()
    );
    assert!(
        ran.said("Airflow parsed dbt_a.py: DAG dbt_a"),
        "{:#?}",
        ran.lines()
    );
    let log = airflow.lock().unwrap().log.clone();
    assert_eq!(
        &log[..2],
        ["/api/v2/version?", "/api/v1/version?"],
        "Airflow 3's API first"
    );
    for offset in [0, 100, 200] {
        assert!(
            log.contains(&format!("/api/v1/dags?limit=100&offset={offset}")),
            "{log:#?}"
        );
    }
    assert!(
        log.iter()
            .filter(|l| l.starts_with("/api/v1/dags?limit=100&offset=0"))
            .count()
            >= 2,
        "the parse from before the upload did not count: {log:#?}"
    );

    // Composer's Airflow fails to import a file: its traceback is the reason.
    write(&dir, "dags/dbt_b.py", DBT_B);
    {
        let mut fake = airflow.lock().unwrap();
        fake.scripted = vec![("dbt_b.py".into(), Outcome::Fails(AIRFLOW2_TRACE.into()))];
        fake.lag = Duration::from_millis(500);
        fake.first_listing = None;
    }
    let ran = run("20s", "").await.unwrap();
    assert_eq!(ran.code, 1, "{}", ran.printed);
    assert_eq!(
        ran.reason(),
        "Airflow could not import a DAG file: dbt_b.py, line 7: ImportError: cannot import name 'WarehouseHook' from 'acme.hooks' (/home/airflow/gcs/plugins/acme/hooks.py)"
    );
    let import_errors = airflow.lock().unwrap().import_errors.clone();
    assert_eq!(
        import_errors[0]["filename"],
        format!("{DAGS_ROOT}/dbt_b.py")
    );

    // Never parsed: the timeout names the file.
    std::fs::remove_file(dir.join("dags/dbt_b.py")).unwrap();
    write(&dir, "dags/dbt_c.py", &dag_file("dbt_c"));
    let ran = run("3s", "").await.unwrap();
    assert_eq!(ran.code, 1, "{}", ran.printed);
    assert!(
        ran.reason()
            .starts_with("Airflow had not parsed 1 of 1 DAG files after 3.0s: dbt_c.py"),
        "{}",
        ran.reason()
    );

    // The step's own timeout stops the wait.
    write(&dir, "dags/dbt_d.py", &dag_file("dbt_d"));
    let started = std::time::Instant::now();
    let ran = run("10m", "2s").await.unwrap();
    assert_eq!(ran.code, 1, "{}", ran.printed);
    assert!(
        ran.reason().contains("timed out after 2.0s"),
        "{}",
        ran.reason()
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}
