//! Credentials: Application Default Credentials, built with Google's `google-cloud-auth`.
//!
//! dagship finds the credentials itself, without a network call, so that a plan can say at once
//! "unknown: no credentials" instead of waiting on a metadata server that is not there. What it
//! finds is then handed to the crate's builder for that kind of credentials:
//!
//! 1. the file named by `GOOGLE_APPLICATION_CREDENTIALS`: a service-account key, or the
//!    `external_account` file that `google-github-actions/auth` writes for Workload Identity
//!    Federation (GitHub's OIDC token → STS → optionally a service account's token);
//! 2. gcloud's `application_default_credentials.json` (`gcloud auth application-default
//!    login`), in `$CLOUDSDK_CONFIG` or `~/.config/gcloud`;
//! 3. the metadata server, on Google Cloud (or wherever `GCE_METADATA_HOST` points).
//!
//! An environment's `impersonate_service_account` then trades those for the service account's
//! own token through the IAM Service Account Credentials API.
//!
//! Fetching a token (from STS, IAM, the metadata server, Google's OAuth endpoint) is retried
//! on what the crate calls transient (408, 429, 5xx, a dropped connection), with exponential
//! backoff: the crate tries once unless its builders are given a policy.

use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::Duration;

use google_cloud_auth::build_errors::Error as BuildError;
use google_cloud_auth::credentials::{
    AccessTokenCredentials, external_account, impersonated, mds, service_account, user_account,
};
use google_cloud_gax::exponential_backoff::{ExponentialBackoff, ExponentialBackoffBuilder};
use google_cloud_gax::retry_policy::{Aip194Strict, LimitedAttemptCount, RetryPolicyExt};
use serde_json::{Value, json};

use super::endpoints::Endpoints;

pub const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";

#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    #[error(
        "no Google Cloud credentials: set GOOGLE_APPLICATION_CREDENTIALS, run `gcloud auth application-default login`, or run on Google Cloud"
    )]
    Missing,
    #[error("cannot read the credentials file `{path}`: {detail}")]
    Unreadable { path: PathBuf, detail: String },
    #[error("cannot use {what}: {detail}")]
    Build { what: String, detail: String },
    #[error("cannot get an access token from {what}: {detail}")]
    Token { what: String, detail: String },
}

/// Where credentials come from, found without any network call.
#[derive(Debug, Clone)]
pub enum Source {
    File { path: PathBuf, json: Value },
    Metadata,
}

impl Source {
    /// The Application Default Credentials of this process, if there are any.
    pub fn discover() -> Result<Option<Source>, AuthError> {
        if let Some(path) = std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS") {
            // Named explicitly: a file that is not there is a mistake, not "no credentials".
            return Source::file(Path::new(&path)).map(Some);
        }
        let gcloud = match std::env::var_os("CLOUDSDK_CONFIG") {
            Some(dir) => PathBuf::from(dir),
            None => match std::env::var_os("HOME") {
                Some(home) => PathBuf::from(home).join(".config/gcloud"),
                None => PathBuf::from("/nonexistent"),
            },
        };
        let well_known = gcloud.join("application_default_credentials.json");
        if well_known.is_file() {
            return Source::file(&well_known).map(Some);
        }
        Ok(on_google_cloud().then_some(Source::Metadata))
    }

    fn file(path: &Path) -> Result<Source, AuthError> {
        let unreadable = |detail: String| AuthError::Unreadable {
            path: path.to_path_buf(),
            detail,
        };
        let text = std::fs::read_to_string(path).map_err(|e| unreadable(e.to_string()))?;
        let json: Value = serde_json::from_str(&text).map_err(|e| unreadable(e.to_string()))?;
        Ok(Source::File {
            path: path.to_path_buf(),
            json,
        })
    }

    /// For messages: "service_account credentials from /path", "the metadata server".
    pub fn describe(&self) -> String {
        match self {
            Source::File { path, json } => format!(
                "{} credentials from {}",
                json["type"].as_str().unwrap_or("unknown"),
                path.display()
            ),
            Source::Metadata => "the metadata server".into(),
        }
    }
}

/// Like Google's libraries: the metadata server is only asked for when there is one to ask.
fn on_google_cloud() -> bool {
    let var = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if var("GCE_METADATA_HOST") || var("K_SERVICE") || var("CLOUD_RUN_JOB") {
        return true;
    }
    std::fs::read_to_string("/sys/class/dmi/id/product_name")
        .is_ok_and(|name| name.trim().starts_with("Google"))
}

/// rustls needs one crypto provider per process; dagship uses ring (no C toolchain for aws-lc).
pub fn install_crypto() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Fails only when a provider is already installed, which is just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// What requests are signed with.
pub enum Auth {
    /// No credentials are sent (an emulator).
    Anonymous,
    Google {
        credentials: AccessTokenCredentials,
        what: String,
    },
    /// Credentials were asked for but cannot be had; calls fail with this.
    Unavailable(AuthError),
}

impl Auth {
    /// The process's credentials, impersonating `impersonate` when set. Must be called inside a
    /// tokio runtime, which must outlive it: the crate refreshes tokens in a task of its own.
    pub fn discover(impersonate: Option<&str>, endpoints: &Endpoints) -> Auth {
        match Source::discover() {
            Ok(Some(source)) => Auth::new(&source, impersonate, endpoints),
            Ok(None) => Auth::Unavailable(AuthError::Missing),
            Err(e) => Auth::Unavailable(e),
        }
    }

    pub fn new(source: &Source, impersonate: Option<&str>, endpoints: &Endpoints) -> Auth {
        install_crypto();
        let mut what = source.describe();
        if let Some(account) = impersonate {
            what = format!("{what}, impersonating {account}");
        }
        match build(source, impersonate, endpoints) {
            Ok(credentials) => Auth::Google { credentials, what },
            Err(detail) => Auth::Unavailable(AuthError::Build { what, detail }),
        }
    }

    pub fn is_available(&self) -> bool {
        !matches!(self, Auth::Unavailable(_))
    }

    /// A bearer token, or `None` for anonymous calls.
    pub async fn token(&self) -> Result<Option<String>, AuthError> {
        match self {
            Auth::Anonymous => Ok(None),
            Auth::Unavailable(e) => Err(e.clone()),
            Auth::Google { credentials, what } => credentials
                .access_token()
                .await
                .map(|t| Some(t.token))
                .map_err(|e| AuthError::Token {
                    what: what.clone(),
                    detail: e.to_string(),
                }),
        }
    }
}

/// Tries of a token fetch in all: with the backoff, about half a minute of a busy endpoint.
const TOKEN_TRIES: u32 = 6;

/// Retries what the crate marks transient, and nothing else: AIP-194's rule continues on
/// transient errors raised before the request (a credentials error is one) and stops on a
/// permanent one (403 from IAM, a bad key) at once.
fn token_retry() -> LimitedAttemptCount<Aip194Strict> {
    Aip194Strict.with_attempt_limit(TOKEN_TRIES)
}

/// 1 s, 2 s, 4 s ... up to 16 s, each with jitter.
fn token_backoff() -> ExponentialBackoff {
    ExponentialBackoffBuilder::new()
        .with_initial_delay(Duration::from_secs(1))
        .with_maximum_delay(Duration::from_secs(16))
        .clamp()
}

fn build(
    source: &Source,
    impersonate: Option<&str>,
    endpoints: &Endpoints,
) -> Result<AccessTokenCredentials, String> {
    let scopes = [CLOUD_PLATFORM];
    let built = match (source, impersonate) {
        (Source::File { json, .. }, None) => from_json(json.clone()),
        (Source::File { json, .. }, Some(account)) => {
            // The JSON form takes the exact IAM URL, so `DAGSHIP_IAM_ENDPOINT` applies too.
            let url = format!(
                "{}/v1/projects/-/serviceAccounts/{account}:generateAccessToken",
                endpoints.iam
            );
            impersonated::Builder::new(json!({
                "type": "impersonated_service_account",
                "service_account_impersonation_url": url,
                "source_credentials": json,
            }))
            .with_scopes(scopes)
            .with_retry_policy(token_retry())
            .with_backoff_policy(token_backoff())
            .build_access_token_credentials()
        }
        (Source::Metadata, None) => metadata_server().build_access_token_credentials(),
        (Source::Metadata, Some(account)) => metadata_server().build().and_then(|s| {
            impersonated::Builder::from_source_credentials(s)
                .with_target_principal(account)
                .with_scopes(scopes)
                .with_retry_policy(token_retry())
                .with_backoff_policy(token_backoff())
                .build_access_token_credentials()
        }),
    };
    built.map_err(|e| e.to_string())
}

fn metadata_server() -> mds::Builder {
    mds::Builder::default()
        .with_scopes([CLOUD_PLATFORM])
        .with_retry_policy(token_retry())
        .with_backoff_policy(token_backoff())
}

fn from_json(json: Value) -> Result<AccessTokenCredentials, BuildError> {
    let scopes = [CLOUD_PLATFORM];
    match json["type"].as_str().unwrap_or_default() {
        // Signs its own tokens: no call to retry.
        "service_account" => service_account::Builder::new(json)
            .with_access_specifier(service_account::AccessSpecifier::from_scopes(scopes))
            .build_access_token_credentials(),
        "authorized_user" => user_account::Builder::new(json)
            .with_scopes(scopes)
            .with_retry_policy(token_retry())
            .with_backoff_policy(token_backoff())
            .build_access_token_credentials(),
        "external_account" => external_account::Builder::new(json)
            .with_scopes(scopes)
            .with_retry_policy(token_retry())
            .with_backoff_policy(token_backoff())
            .build_access_token_credentials(),
        // gcloud's `--impersonate-service-account`, and anything newer: the crate knows.
        _ => impersonated::Builder::new(json)
            .with_scopes(scopes)
            .with_retry_policy(token_retry())
            .with_backoff_policy(token_backoff())
            .build_access_token_credentials(),
    }
}

/// The project to work in: the environment's `project`, else the process's default project.
pub fn project(configured: Option<&str>) -> Option<String> {
    configured
        .map(str::to_string)
        .or_else(|| std::env::var("GOOGLE_CLOUD_PROJECT").ok())
        .or_else(|| std::env::var("CLOUDSDK_CORE_PROJECT").ok())
        .filter(|p| !p.is_empty())
}
