//! A pipeline that deploys a Cloud Run service and job and syncs DAG files to Composer, run
//! by the real binary against the fakes: Google's APIs (`fake_google`, with Cloud Run), a
//! registry (`fake_registry`) and fake-gcs-server. Credentials are the `external_account`
//! file `google-github-actions/auth` writes, impersonating `DEPLOYER`.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::common;
use crate::gcp_support::FakeGcs;
use crate::gcp_support::fake_google::{self, Fake, GITHUB_REQUEST_TOKEN, Shared, account_token};
use crate::gcp_support::fake_registry::{self, Registry};

pub const DEPLOYER: &str = "deployer@acme.iam.gserviceaccount.com";
pub const DIGEST_V1: &str =
    "sha256:1111111111111111111111111111111111111111111111111111111111111111";
pub const DIGEST_V2: &str =
    "sha256:2222222222222222222222222222222222222222222222222222222222222222";

/// The `external_account` file `google-github-actions/auth` writes, pointed at the fakes.
pub fn wif_file(dir: &Path, fake: &str, impersonate: Option<&str>) -> PathBuf {
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

/// The requests a fake received, as `METHOD path?query`.
pub fn paths(fake: &Shared) -> Vec<String> {
    fake.lock()
        .unwrap()
        .log
        .iter()
        .map(|(p, _)| p.clone())
        .collect()
}

pub fn finished<'a>(events: &'a [Value], id: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["event"] == "step_finished" && e["id"] == id)
        .unwrap_or_else(|| panic!("no step_finished for {id}: {events:#?}"))
}

/// What a step said, line by line.
pub fn said(events: &[Value], id: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["event"] == "step_output" && e["id"] == id)
        .filter_map(|e| e["line"].as_str().map(str::to_string))
        .collect()
}

const PIPELINE: &str = r#"version: 1
name: t
environments:
  staging:
    project: acme
    region: europe-west1
    vars: { region: REGION }
    dags_target: { composer_environment: composer-staging }
steps:
  docs:
    uses: cloud_run_service
    TIMEOUT
    with:
      name: SERVICE
      image: europe-docker.pkg.dev/acme/dbt/docs:TAG
      region: "${{ vars.region }}"
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

/// What varies between the tests' pipelines.
pub struct Setup<'a> {
    pub tag: &'a str,
    pub mode: &'a str,
    pub no_traffic: bool,
    pub service: &'a str,
    pub timeout: Option<&'a str>,
    pub region: &'a str,
}

impl Default for Setup<'_> {
    fn default() -> Self {
        Setup {
            tag: "v1",
            mode: "a",
            no_traffic: false,
            service: "docs",
            timeout: None,
            region: "europe-west1",
        }
    }
}

pub struct World {
    pub dir: tempfile::TempDir,
    pub url: String,
    pub fake: Shared,
    pub registry: fake_registry::Shared,
    pub registry_url: String,
    pub gcs: FakeGcs,
}

impl World {
    pub async fn new() -> World {
        let fake = Fake {
            token: Some(account_token(DEPLOYER)),
            ..Fake::default()
        };
        let (url, fake) = fake_google::start(fake).await;
        fake.lock().unwrap().run.polls = 2;
        fake.lock().unwrap().environments.insert(
            "projects/acme/locations/europe-west1/environments/composer-staging".into(),
            json!({ "name": "composer-staging", "state": "RUNNING",
                    "config": { "dagGcsPrefix": "gs://europe-west1-composer-staging-bucket/dags" } }),
        );
        // Artifact Registry: private, and the deployer's Google token is the bearer token.
        let mut registry = Registry {
            google_token: Some(account_token(DEPLOYER)),
            ..Registry::default()
        };
        for image in ["acme/dbt/docs", "acme/dbt/runner"] {
            registry.private.insert(image.into());
            registry
                .manifests
                .insert(format!("{image}:v1"), DIGEST_V1.into());
            registry
                .manifests
                .insert(format!("{image}:v2"), DIGEST_V2.into());
        }
        let (registry_url, registry) = fake_registry::start(registry).await;
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
            registry,
            registry_url,
            gcs,
        }
    }

    pub fn pipeline(&self, setup: Setup) {
        let timeout = setup
            .timeout
            .map(|t| format!("timeout: {t}"))
            .unwrap_or_default();
        let text = PIPELINE
            .replace("TAG", setup.tag)
            .replace("MODE_VALUE", setup.mode)
            .replace("SERVICE", setup.service)
            .replace("REGION", setup.region)
            .replace("TIMEOUT", &timeout)
            .replace(
                "NO_TRAFFIC",
                if setup.no_traffic {
                    "no_traffic: true"
                } else {
                    ""
                },
            );
        std::fs::write(self.dir.path().join("pipeline.yaml"), text).unwrap();
    }

    /// Runs dagship with the `external_account` credentials, or with `env` set on top.
    pub async fn dagship_with(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
        let mut cmd = common::dagship(self.dir.path());
        cmd.env(
            "GOOGLE_APPLICATION_CREDENTIALS",
            self.dir.path().join("gha-creds.json"),
        )
        .env("DAGSHIP_RUN_ENDPOINT", &self.url)
        .env("DAGSHIP_COMPOSER_ENDPOINT", &self.url)
        .env("DAGSHIP_REGISTRY_ENDPOINT", &self.registry_url)
        .env("DAGSHIP_STORAGE_ENDPOINT", &self.gcs.url)
        .env("DOCS_TOKEN", "s3cret-token-value")
        .args(args);
        for (name, value) in env {
            if value.is_empty() {
                cmd.env_remove(name);
            } else {
                cmd.env(name, value);
            }
        }
        tokio::task::spawn_blocking(move || common::run(&mut cmd))
            .await
            .unwrap()
    }

    pub async fn dagship(&self, args: &[&str]) -> (i32, String, String) {
        self.dagship_with(args, &[]).await
    }

    /// `run --output json` (of `only` steps, when given): the exit code and the events.
    pub async fn run_only(&self, only: Option<&str>) -> (i32, Vec<Value>) {
        let mut args = vec!["run", "--env", "staging", "--output", "json"];
        if let Some(only) = only {
            args.extend(["--only", only]);
        }
        let (code, out, err) = self.dagship(&args).await;
        let events = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(!out.contains("s3cret-token-value") && !err.contains("s3cret-token-value"));
        (code, events)
    }

    pub async fn run(&self) -> (i32, Vec<Value>) {
        self.run_only(None).await
    }

    pub fn service(&self, name: &str) -> Value {
        self.fake.lock().unwrap().run.services
            [&format!("projects/acme/locations/europe-west1/services/{name}")]
            .clone()
    }
}

/// The revision that gets `percent` of the service's traffic now.
pub fn revision_with(service: &Value, percent: u64) -> Vec<String> {
    service["trafficStatuses"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["percent"] == percent)
        .map(|t| t["revision"].as_str().unwrap().to_string())
        .collect()
}

/// The short name of a resource name.
pub fn short(name: &Value) -> String {
    name.as_str()
        .unwrap_or_default()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string()
}
