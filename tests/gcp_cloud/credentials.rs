//! Credentials: Workload Identity Federation from GitHub's OIDC token through STS and IAM, and
//! token fetches retried when STS, IAM or the metadata server are briefly unavailable.

use std::path::Path;

use dagship::gcp::auth::{Auth, Source};
use dagship::gcp::endpoints::Endpoints;

use crate::gcp_support::fake_google::{self, Fake, MDS_TOKEN, account_token};
use crate::world::{DEPLOYER, Setup, World, paths, wif_file};

fn source(path: &Path) -> Source {
    Source::File {
        path: path.to_path_buf(),
        json: serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap(),
    }
}

fn count(calls: &[String], fragment: &str) -> usize {
    calls.iter().filter(|c| c.contains(fragment)).count()
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

/// STS and IAM answering 503 for a moment: the token comes after retries, not a failed step.
#[tokio::test]
async fn transient_sts_and_iam_failures_are_retried() {
    let (url, fake) = fake_google::start(Fake::default()).await;
    fake.lock().unwrap().script = vec![
        ("POST".into(), "/v1/token".into(), 503, 2),
        ("POST".into(), ":generateAccessToken".into(), 503, 1),
    ];
    let dir = tempfile::tempdir().unwrap();
    let file = wif_file(dir.path(), &url, Some(DEPLOYER));
    let auth = Auth::new(&source(&file), None, &Endpoints::google());
    assert_eq!(auth.token().await.unwrap(), Some(account_token(DEPLOYER)));
    let calls = paths(&fake);
    // STS answers 503 twice, then IAM once: each is asked again.
    assert_eq!(count(&calls, "POST /v1/token"), 3, "{calls:?}");
    assert_eq!(count(&calls, ":generateAccessToken"), 2, "{calls:?}");
}

/// A refusal is not retried: one call to IAM, and the error says who refused.
#[tokio::test]
async fn a_permanent_refusal_is_not_retried() {
    let (url, fake) = fake_google::start(Fake::default()).await;
    fake.lock().unwrap().script = vec![("POST".into(), ":generateAccessToken".into(), 403, 1)];
    let dir = tempfile::tempdir().unwrap();
    let file = wif_file(dir.path(), &url, Some(DEPLOYER));
    let auth = Auth::new(&source(&file), None, &Endpoints::google());
    let error = auth.token().await.unwrap_err().to_string();
    assert!(error.contains("cannot get an access token"), "{error}");
    assert_eq!(count(&paths(&fake), ":generateAccessToken"), 1);
}

/// On Google Cloud the metadata server hands out tokens; a 503 from it is retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metadata_server_is_asked_again_after_a_503() {
    let w = World::new().await;
    w.pipeline(Setup::default());
    {
        let mut fake = w.fake.lock().unwrap();
        fake.token = Some(MDS_TOKEN.into());
        fake.script = vec![("GET".into(), "/computeMetadata/".into(), 503, 2)];
    }
    let host = w.url.trim_start_matches("http://").to_string();
    let (code, plan, err) = w
        .dagship_with(
            &["plan", "--env", "staging", "--only", "docs"],
            &[
                ("GOOGLE_APPLICATION_CREDENTIALS", ""),
                ("GCE_METADATA_HOST", &host),
            ],
        )
        .await;
    assert_eq!(code, 0, "{err}");
    assert!(plan.contains("does not exist yet"), "{plan}");
    let calls = paths(&w.fake);
    assert_eq!(count(&calls, "/computeMetadata/"), 3, "{calls:?}");
    assert!(
        calls.iter().any(|c| c.contains("/services/docs")),
        "{calls:?}"
    );
}
