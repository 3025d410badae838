//! Digests from registries: Artifact Registry with the Google token as a bearer token, the
//! Docker Registry v2 token challenge (public images without credentials, Google's registries
//! as `oauth2accesstoken`), and the answers for private and unknown images.

use std::sync::Arc;

use dagship::gcp::auth::{Auth, AuthError, Source};
use dagship::gcp::endpoints::Endpoints;
use dagship::gcp::http::Api;
use dagship::gcp::registry::{RegistryError, digest};

use crate::gcp_support::fake_google::{self, Fake, STS_TOKEN};
use crate::gcp_support::fake_registry::{self, Registry, Shared};
use crate::world::{DIGEST_V1, wif_file};

/// A Google token (STS's, from the `external_account` file) and the fakes that issue it.
async fn google_auth(dir: &std::path::Path) -> Auth {
    let (url, _) = fake_google::start(Fake::default()).await;
    let file = wif_file(dir, &url, None);
    let json = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    Auth::new(
        &Source::File { path: file, json },
        None,
        &Endpoints::google(),
    )
}

/// No credentials at all: asking for a token fails, so a lookup that works did not ask.
fn no_credentials() -> Auth {
    Auth::Unavailable(AuthError::Missing)
}

fn plain() -> Api {
    let mut api = Api::new(Arc::new(Auth::Anonymous));
    api.retry.attempts = 1;
    api
}

fn authorizations(registry: &Shared) -> Vec<(String, Option<String>)> {
    registry.lock().unwrap().log.clone()
}

#[tokio::test]
async fn artifact_registry_takes_the_google_token_as_a_bearer_token() {
    let dir = tempfile::tempdir().unwrap();
    let auth = google_auth(dir.path()).await;
    let mut registry = Registry {
        google_token: Some(STS_TOKEN.into()),
        ..Registry::default()
    };
    registry.private.insert("acme/dbt/runner".into());
    registry
        .manifests
        .insert("acme/dbt/runner:v1".into(), DIGEST_V1.into());
    let (url, registry) = fake_registry::start(registry).await;
    let image = "europe-docker.pkg.dev/acme/dbt/runner:v1";
    assert_eq!(
        digest(&plain(), &auth, Some(&url), image).await.unwrap(),
        DIGEST_V1
    );
    let log = authorizations(&registry);
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].1, Some(format!("Bearer {STS_TOKEN}")));
}

#[tokio::test]
async fn a_public_docker_hub_image_resolves_through_the_challenge_without_credentials() {
    let mut registry = Registry::default();
    registry
        .manifests
        .insert("library/nginx:1.27".into(), DIGEST_V1.into());
    let (url, registry) = fake_registry::start(registry).await;
    let found = digest(
        &plain(),
        &no_credentials(),
        Some(&url),
        "docker.io/nginx:1.27",
    )
    .await;
    assert_eq!(found.unwrap(), DIGEST_V1);
    let log = authorizations(&registry);
    let requests: Vec<&str> = log.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(requests.len(), 3, "{log:?}");
    assert_eq!(requests[0], "HEAD /v2/library/nginx/manifests/1.27?");
    assert!(requests[1].starts_with("GET /token?"), "{log:?}");
    assert!(
        requests[1].contains("scope=repository%3Alibrary%2Fnginx%3Apull"),
        "{log:?}"
    );
    assert_eq!(log[0].1, None);
    assert_eq!(log[1].1, None, "the token endpoint was asked anonymously");
    assert!(
        log[2]
            .1
            .as_deref()
            .is_some_and(|a| a.starts_with("Bearer registry-token-"))
    );
}

/// A Google registry that challenges instead of taking the token: the realm is asked with
/// `oauth2accesstoken` and the Google token, as `docker login` does.
#[tokio::test]
async fn a_google_registry_that_challenges_gets_the_token_as_oauth2accesstoken() {
    let dir = tempfile::tempdir().unwrap();
    let auth = google_auth(dir.path()).await;
    let mut registry = Registry::default();
    registry.private.insert("acme/dbt/runner".into());
    registry
        .accounts
        .insert(format!("oauth2accesstoken:{STS_TOKEN}"));
    registry
        .manifests
        .insert("acme/dbt/runner:v1".into(), DIGEST_V1.into());
    let (url, registry) = fake_registry::start(registry).await;
    let image = "europe-docker.pkg.dev/acme/dbt/runner:v1";
    assert_eq!(
        digest(&plain(), &auth, Some(&url), image).await.unwrap(),
        DIGEST_V1
    );
    let log = authorizations(&registry);
    assert!(log[1].0.starts_with("GET /token?"), "{log:?}");
    assert!(
        log[1].1.as_deref().is_some_and(|a| a.starts_with("Basic ")),
        "{log:?}"
    );
}

#[tokio::test]
async fn private_and_unknown_images_are_named() {
    let mut registry = Registry::default();
    registry.private.insert("acme/secret".into());
    registry
        .manifests
        .insert("acme/secret:v1".into(), DIGEST_V1.into());
    let (url, _) = fake_registry::start(registry).await;
    let lookup = |image: &'static str| {
        let url = url.clone();
        async move { digest(&plain(), &no_credentials(), Some(&url), image).await }
    };
    assert!(matches!(
        lookup("docker.io/acme/secret:v1").await,
        Err(RegistryError::Denied { .. })
    ));
    assert!(matches!(
        lookup("docker.io/library/nginx:0.0").await,
        Err(RegistryError::NotFound { .. })
    ));
    assert!(matches!(
        lookup("nginx:1.27").await,
        Err(RegistryError::Image(_))
    ));
}
