//! A container registry as the Docker Registry HTTP API v2 and its token authentication
//! describe it (<https://distribution.github.io/distribution/spec/auth/token/>):
//!
//! - `HEAD|GET /v2/NAME/manifests/REFERENCE` without a token that grants `pull` on `NAME`
//!   answers 401 with `WWW-Authenticate: Bearer realm="BASE/token",service="SERVICE",
//!   scope="repository:NAME:pull"` (and `error="insufficient_scope"` when a token was sent);
//! - `GET /token?service=SERVICE&scope=...` grants `pull` on public repositories to anyone and
//!   on private ones to the credentials it knows (Basic), and answers 401 to wrong ones;
//! - a known manifest answers with its `Docker-Content-Digest`, an unknown one 404
//!   `MANIFEST_UNKNOWN`.
//!
//! Like Artifact Registry, it can also take a Google access token as a bearer token directly.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::json;

pub const SERVICE: &str = "fake-registry";

#[derive(Default)]
pub struct Registry {
    /// Set once the registry listens: where its token endpoint is.
    pub base: String,
    /// `name:tag` → digest.
    pub manifests: HashMap<String, String>,
    /// Repositories that need credentials to pull.
    pub private: HashSet<String>,
    /// Basic credentials the token endpoint accepts (`user:password`).
    pub accounts: HashSet<String>,
    /// A Google access token taken as a bearer token directly (Artifact Registry).
    pub google_token: Option<String>,
    /// Tokens issued → the repositories they may pull.
    pub issued: HashMap<String, HashSet<String>>,
    /// Requests as `METHOD path?query` with their `Authorization` header.
    pub log: Vec<(String, Option<String>)>,
}

pub type Shared = Arc<Mutex<Registry>>;

pub async fn start(registry: Registry) -> (String, Shared) {
    let shared = Arc::new(Mutex::new(registry));
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(Arc::clone(&shared));
    let url = super::serve(app).await;
    shared.lock().unwrap().base = url.clone();
    (url, shared)
}

/// The registry API's error body: `{"errors": [{"code", "message", "detail"}]}`.
fn registry_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({ "errors": [{ "code": code, "message": message, "detail": null }] });
    (status, axum::Json(body)).into_response()
}

async fn handle(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut registry = shared.lock().unwrap();
    let query = uri.query().unwrap_or_default().to_string();
    registry.log.push((
        format!("{method} {}?{query}", uri.path()),
        authorization.clone(),
    ));
    if uri.path() == "/token" && method == Method::GET {
        return registry.token(&query, authorization.as_deref());
    }
    let Some((name, reference)) = uri
        .path()
        .strip_prefix("/v2/")
        .and_then(|rest| rest.split_once("/manifests/"))
    else {
        return registry_error(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            "repository name not known to registry",
        );
    };
    if !(method == Method::HEAD || method == Method::GET) {
        return registry_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            "The operation is unsupported.",
        );
    }
    registry.manifest(name, reference, authorization.as_deref())
}

impl Registry {
    fn may_pull(&self, name: &str, authorization: Option<&str>) -> Option<bool> {
        let token = authorization?.strip_prefix("Bearer ")?;
        if self.google_token.as_deref() == Some(token) {
            return Some(true);
        }
        Some(
            self.issued
                .get(token)
                .is_some_and(|repos| repos.contains(name)),
        )
    }

    fn manifest(&self, name: &str, reference: &str, authorization: Option<&str>) -> Response {
        match self.may_pull(name, authorization) {
            Some(true) => {}
            presented => {
                let insufficient = if presented.is_some() {
                    r#",error="insufficient_scope""#
                } else {
                    ""
                };
                let challenge = format!(
                    r#"Bearer realm="{}/token",service="{SERVICE}",scope="repository:{name}:pull"{insufficient}"#,
                    self.base
                );
                let mut response = registry_error(
                    StatusCode::UNAUTHORIZED,
                    "UNAUTHORIZED",
                    "authentication required",
                );
                response
                    .headers_mut()
                    .insert("www-authenticate", challenge.parse().unwrap());
                return response;
            }
        }
        match self.manifests.get(&format!("{name}:{reference}")) {
            Some(digest) => (
                [
                    ("docker-content-digest", digest.clone()),
                    (
                        "content-type",
                        "application/vnd.oci.image.index.v1+json".into(),
                    ),
                ],
                "",
            )
                .into_response(),
            None => registry_error(
                StatusCode::NOT_FOUND,
                "MANIFEST_UNKNOWN",
                "manifest unknown",
            ),
        }
    }

    fn token(&mut self, query: &str, authorization: Option<&str>) -> Response {
        let params = super::fake_google::form_pairs(query.as_bytes());
        let param = |k: &str| {
            params
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        if param("service") != Some(SERVICE) {
            return registry_error(StatusCode::BAD_REQUEST, "DENIED", "unknown service");
        }
        let account = match authorization.and_then(|a| a.strip_prefix("Basic ")) {
            None => None,
            Some(basic) => {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(basic)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .unwrap_or_default();
                if !self.accounts.contains(&decoded) {
                    return registry_error(
                        StatusCode::UNAUTHORIZED,
                        "UNAUTHORIZED",
                        "invalid credentials",
                    );
                }
                Some(decoded)
            }
        };
        let mut granted = HashSet::new();
        for scope in params.iter().filter(|(k, _)| k == "scope").map(|(_, v)| v) {
            let parts: Vec<&str> = scope.split(':').collect();
            if let ["repository", name, actions] = parts.as_slice()
                && actions.split(',').any(|a| a == "pull")
                && (!self.private.contains(*name) || account.is_some())
            {
                granted.insert(name.to_string());
            }
        }
        let token = format!("registry-token-{}", self.issued.len() + 1);
        self.issued.insert(token.clone(), granted);
        axum::Json(json!({
            "token": token, "access_token": token, "expires_in": 300,
            "issued_at": jiff::Timestamp::now().to_string()
        }))
        .into_response()
    }
}
