//! Cloud Run, Composer and credentials against local fakes of Google's APIs: Workload Identity
//! Federation end to end (GitHub OIDC → STS → IAM), deploys that wait on long-running
//! operations and readiness through 409/429/503 answers, images pinned to digests, a revision
//! that fails while traffic stays put, Composer's DAG bucket, and plans that show the diff.

mod common;
mod gcp_support;

use std::path::Path;

use serde_json::{Value, json};

use dagship::gcp::auth::{Auth, Source};
use dagship::gcp::endpoints::Endpoints;
use gcp_support::fake_google::{self, Fake, GITHUB_REQUEST_TOKEN, Shared, account_token};
use gcp_support::{FakeGcs, download};

const DEPLOYER: &str = "deployer@acme.iam.gserviceaccount.com";
const DIGEST_V1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const DIGEST_V2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

/// The `external_account` file `google-github-actions/auth` writes, pointed at the fakes.
fn wif_file(dir: &Path, fake: &str, impersonate: Option<&str>) -> std::path::PathBuf {
    let mut config = json!({
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
    if let Some(account) = impersonate {
        config["service_account_impersonation_url"] = json!(format!(
            "{fake}/v1/projects/-/serviceAccounts/{account}:generateAccessToken"
        ));
    }
    let path = dir.join("gha-creds.json");
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

fn source(path: &Path) -> Source {
    Source::File {
        path: path.to_path_buf(),
        json: serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap(),
    }
}

fn paths(fake: &Shared) -> Vec<String> {
    fake.lock()
        .unwrap()
        .log
        .iter()
        .map(|(p, _)| p.clone())
        .collect()
}

#[tokio::test]
async fn workload_identity_federation_from_github_oidc_through_sts_and_iam() {
    let (url, fake) = fake_google::start(Fake::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let endpoints = Endpoints {
        iam: url.clone(),
        ..Endpoints::google()
    };

    let file = wif_file(dir.path(), &url, Some(DEPLOYER));
    let auth = Auth::new(&source(&file), None, &endpoints);
    assert_eq!(auth.token().await.unwrap(), Some(account_token(DEPLOYER)));
    let calls = paths(&fake);
    let order: Vec<&str> = ["GET /oidc", "POST /v1/token", "generateAccessToken"]
        .into_iter()
        .map(|p| {
            calls
                .iter()
                .position(|c| c.contains(p))
                .map(|_| p)
                .unwrap_or("missing")
        })
        .collect();
    assert_eq!(
        order,
        ["GET /oidc", "POST /v1/token", "generateAccessToken"],
        "{calls:?}"
    );

    // Without impersonation in the file, the environment's `impersonate_service_account`
    // trades the federated token for the service account's through DAGSHIP_IAM_ENDPOINT.
    let plain = wif_file(dir.path(), &url, None);
    let runner = "runner@acme.iam.gserviceaccount.com";
    let auth = Auth::new(&source(&plain), Some(runner), &endpoints);
    assert_eq!(auth.token().await.unwrap(), Some(account_token(runner)));
    let last = fake.lock().unwrap().log.last().cloned().unwrap();
    assert!(
        last.0.contains(&format!("{runner}:generateAccessToken")),
        "{last:?}"
    );
    assert_eq!(
        last.1.as_deref(),
        Some(fake_google::STS_TOKEN),
        "IAM was asked with the federated token"
    );

    let wrong = Auth::new(&source(&plain), None, &Endpoints::google());
    let federated = wrong.token().await.unwrap();
    assert_eq!(
        federated.as_deref(),
        Some(fake_google::STS_TOKEN),
        "no impersonation: the STS token itself"
    );
}

struct World {
    dir: tempfile::TempDir,
    url: String,
    fake: Shared,
    gcs: FakeGcs,
}

const PIPELINE: &str = r#"version: 1
name: t
environments:
  staging:
    project: acme
    region: europe-west1
    dags_target: { composer_environment: composer-staging }
steps:
  docs:
    uses: cloud_run_service
    with:
      name: docs
      image: europe-docker.pkg.dev/acme/dbt/docs:TAG
      env: { MODE: MODE_VALUE, TOKEN: "${{ secrets.DOCS_TOKEN }}" }
      secrets: { DB_URL: "db-url:3" }
      memory: 1Gi
      NO_TRAFFIC
  runner:
    uses: cloud_run_job
    with:
      name: dbt-runner
      image: europe-docker.pkg.dev/acme/dbt/runner:TAG
      tasks: 2
      task_timeout: 1h
      max_retries: 1
  upload:
    uses: composer_dags
    needs: [runner]
    with: { source: dags, prune: true }
"#;

impl World {
    async fn new() -> World {
        let mut fake = Fake {
            token: Some(account_token(DEPLOYER)),
            polls: 2,
            ..Fake::default()
        };
        for image in ["acme/dbt/docs", "acme/dbt/runner"] {
            fake.tags.insert(format!("{image}:v1"), DIGEST_V1.into());
            fake.tags.insert(format!("{image}:v2"), DIGEST_V2.into());
        }
        fake.environments.insert(
            "projects/acme/locations/europe-west1/environments/composer-staging".into(),
            json!({ "name": "composer-staging", "state": "RUNNING",
                    "config": { "dagGcsPrefix": "gs://europe-west1-composer-staging-bucket/dags" } }),
        );
        let (url, fake) = fake_google::start(fake).await;
        let gcs = FakeGcs::start();
        gcs.bucket("europe-west1-composer-staging-bucket").await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("dags")).unwrap();
        std::fs::write(dir.path().join("dags/a.py"), "a = 1").unwrap();
        std::fs::write(dir.path().join("dags/b.py"), "b = 1").unwrap();
        wif_file(dir.path(), &url, Some(DEPLOYER));
        World {
            dir,
            url,
            fake,
            gcs,
        }
    }

    fn pipeline(&self, tag: &str, mode: &str, no_traffic: bool) {
        let text = PIPELINE
            .replace("TAG", tag)
            .replace("MODE_VALUE", mode)
            .replace(
                "NO_TRAFFIC",
                if no_traffic { "no_traffic: true" } else { "" },
            );
        std::fs::write(self.dir.path().join("pipeline.yaml"), text).unwrap();
    }

    async fn dagship(&self, args: &[&str]) -> (i32, String, String) {
        let mut cmd = common::dagship(self.dir.path());
        cmd.env(
            "GOOGLE_APPLICATION_CREDENTIALS",
            self.dir.path().join("gha-creds.json"),
        )
        .env("DAGSHIP_RUN_ENDPOINT", &self.url)
        .env("DAGSHIP_COMPOSER_ENDPOINT", &self.url)
        .env("DAGSHIP_REGISTRY_ENDPOINT", &self.url)
        .env("DAGSHIP_STORAGE_ENDPOINT", &self.gcs.url)
        .env("DOCS_TOKEN", "s3cret-token-value")
        .args(args);
        tokio::task::spawn_blocking(move || common::run(&mut cmd))
            .await
            .unwrap()
    }

    async fn run(&self) -> (i32, Vec<Value>) {
        let (code, out, err) = self
            .dagship(&["run", "--env", "staging", "--output", "json"])
            .await;
        let events = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(!out.contains("s3cret-token-value") && !err.contains("s3cret-token-value"));
        (code, events)
    }

    fn service(&self) -> Value {
        self.fake.lock().unwrap().services["projects/acme/locations/europe-west1/services/docs"]
            .clone()
    }
}

fn finished<'a>(events: &'a [Value], id: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["event"] == "step_finished" && e["id"] == id)
        .unwrap_or_else(|| panic!("no step_finished for {id}: {events:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploys_pin_digests_wait_for_operations_and_sync_to_composer() {
    let w = World::new().await;
    w.pipeline("v1", "a", false);
    // Answers Cloud Run gives under load: each is retried, or re-read and written again.
    w.fake.lock().unwrap().script = vec![
        ("POST".into(), "/services".into(), 503, 1),
        ("GET".into(), "/operations/".into(), 429, 1),
        ("POST".into(), "/jobs".into(), 409, 1),
    ];
    let (code, events) = w.run().await;
    assert_eq!(code, 0, "{events:#?}");
    let docs = &finished(&events, "docs")["outputs"];
    assert_eq!(docs["image_digest"], DIGEST_V1);
    assert!(
        docs["revision"].as_str().unwrap().starts_with("docs-00001"),
        "{docs}"
    );
    assert_eq!(docs["url"], "https://docs-abc123-ew.a.run.app");
    assert_eq!(finished(&events, "runner")["outputs"]["job"], "dbt-runner");
    let upload = &finished(&events, "upload")["outputs"];
    assert_eq!(
        (upload["added"].as_str(), upload["unchanged"].as_str()),
        (Some("2"), Some("0"))
    );
    assert_eq!(
        download(
            &w.gcs.url,
            "europe-west1-composer-staging-bucket",
            "dags/a.py"
        )
        .await
        .as_deref(),
        Some("a = 1")
    );

    let svc = w.service();
    let container = &svc["template"]["containers"][0];
    assert_eq!(
        container["image"],
        format!("europe-docker.pkg.dev/acme/dbt/docs@{DIGEST_V1}")
    );
    assert_eq!(container["resources"]["limits"]["memory"], "1Gi");
    assert_eq!(
        container["env"][2],
        json!({ "name": "DB_URL", "valueSource": { "secretKeyRef": { "secret": "db-url", "version": "3" } } })
    );
    let job =
        w.fake.lock().unwrap().jobs["projects/acme/locations/europe-west1/jobs/dbt-runner"].clone();
    assert_eq!(job["template"]["taskCount"], 2);
    assert_eq!(job["template"]["template"]["timeout"], "3600s");
    let log = w.fake.lock().unwrap().log.clone();
    assert!(
        log.iter()
            .filter(|(p, _)| p.contains("/v2/projects/"))
            .all(|(_, t)| t.as_deref() == Some(account_token(DEPLOYER).as_str())),
        "every call carried the deployer's token"
    );

    // Nothing changed: the plan says so, field by field.
    let (code, plan, err) = w.dagship(&["plan", "--env", "staging"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(plan.matches("live: no change").count(), 2, "{plan}");
    assert!(
        plan.contains("files: 0 to add, 0 to change, 0 to delete, 2 unchanged"),
        "{plan}"
    );

    w.pipeline("v2", "b", false);
    std::fs::write(w.dir.path().join("dags/a.py"), "a = 2").unwrap();
    std::fs::remove_file(w.dir.path().join("dags/b.py")).unwrap();
    let (_, plan, _) = w.dagship(&["plan", "--env", "staging"]).await;
    for line in [
        format!(
            "~ image: europe-docker.pkg.dev/acme/dbt/docs@{DIGEST_V1} → europe-docker.pkg.dev/acme/dbt/docs@{DIGEST_V2}"
        ),
        "~ env.MODE: \"a\" → \"b\"".to_string(),
        "~ a.py".to_string(),
        "- b.py".to_string(),
        "files: 0 to add, 1 to change, 1 to delete, 0 unchanged".to_string(),
    ] {
        assert!(plan.contains(&line), "plan lacks `{line}`:\n{plan}");
    }
    assert!(!plan.contains("s3cret"), "{plan}");
    let writes_before = w.fake.lock().unwrap().writes.len();
    assert_eq!(writes_before, 2, "a plan never writes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_revision_fails_the_step_and_traffic_stays() {
    let w = World::new().await;
    w.pipeline("v1", "a", true);
    let (code, events) = w.run().await;
    assert_eq!(code, 0, "{events:#?}");
    let first = w.service()["latestReadyRevision"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();

    let message =
        "The user-provided container failed to start and listen on the port defined by PORT=8080.";
    w.fake.lock().unwrap().failing_images.insert(
        format!("europe-docker.pkg.dev/acme/dbt/docs@{DIGEST_V2}"),
        message.into(),
    );
    w.pipeline("v2", "a", true);
    let (code, events) = w.run().await;
    assert_eq!(code, 1);
    let reason = finished(&events, "docs")["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason.contains(message) && reason.contains(&format!("traffic stays on {first}")),
        "{reason}"
    );
    let svc = w.service();
    let serving: Vec<&str> = svc["trafficStatuses"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["percent"] == 100)
        .map(|t| t["revision"].as_str().unwrap())
        .collect();
    assert_eq!(serving, [first.as_str()], "{svc:#}");

    // Fixed: the candidate gets a tag and no traffic, then all of it.
    w.fake.lock().unwrap().failing_images.clear();
    w.pipeline("v2", "fixed", true);
    let (code, events) = w.run().await;
    assert_eq!(code, 0, "{events:#?}");
    let revision = finished(&events, "docs")["outputs"]["revision"]
        .as_str()
        .unwrap()
        .to_string();
    let writes: Vec<Value> = w
        .fake
        .lock()
        .unwrap()
        .writes
        .iter()
        .filter(|b| b["template"]["template"].is_null())
        .cloned()
        .collect();
    let staged = &writes[writes.len() - 2]["traffic"];
    assert!(
        staged
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["revision"] == json!(revision) && t["percent"] == 0 && t["tag"].is_string()),
        "{staged}"
    );
    assert_eq!(
        w.service()["trafficStatuses"][0]["revision"],
        json!(revision)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composer_environment_that_does_not_exist_is_named() {
    let w = World::new().await;
    w.pipeline("v1", "a", false);
    w.fake.lock().unwrap().environments.clear();
    let (code, out, _) = w
        .dagship(&[
            "run", "--env", "staging", "--output", "json", "--only", "upload",
        ])
        .await;
    assert_eq!(code, 1);
    assert!(out.contains("Composer environment `composer-staging` was not found in project acme, region europe-west1"), "{out}");
}
