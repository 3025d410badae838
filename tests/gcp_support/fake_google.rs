//! Fakes of Google's APIs that follow their REST references closely enough for dagship:
//! GitHub's OIDC token endpoint, STS (`/v1/token`), IAM Service Account Credentials
//! (`generateAccessToken`), the metadata server's token, Cloud Run Admin v2
//! (`fake_cloud_run`) and Composer v1 (environments, as [`composer_environment`] makes them:
//! DAG folder, Airflow URI, image version). Errors are `google.rpc.Status` bodies. Scripted
//! failures (409, 429, 503) can be queued for any request, and a request can be carried out
//! and its answer lost (answered 503), as a dropped connection does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::fake_cloud_run::CloudRun;

pub const GITHUB_REQUEST_TOKEN: &str = "gh-request-token";
pub const GITHUB_OIDC_TOKEN: &str = "eyJ.github-oidc.jwt";
pub const STS_TOKEN: &str = "sts-federated-token";
/// The token the metadata server hands out.
pub const MDS_TOKEN: &str = "metadata-server-token";

/// A running Composer environment as `environments.get` returns it: its DAG folder in
/// `bucket`, its Airflow web server (and REST API) at `airflow_uri`, and the Composer and
/// Airflow versions of its image.
pub fn composer_environment(
    name: &str,
    bucket: &str,
    airflow_uri: &str,
    image_version: &str,
) -> Value {
    json!({
        "name": name,
        "uuid": "2f1d3a52-7d5e-4f3b-9b1c-0a7c2d3e4f50",
        "state": "RUNNING",
        "createTime": "2024-05-01T08:00:00.000Z",
        "updateTime": "2024-05-01T08:30:00.000Z",
        "config": {
            "gkeCluster": format!("{name}/gke"),
            "dagGcsPrefix": format!("gs://{bucket}/dags"),
            "airflowUri": airflow_uri,
            "airflowByoidUri": format!("{airflow_uri}/byoid"),
            "softwareConfig": { "imageVersion": image_version, "pythonVersion": "3" },
            "environmentSize": "ENVIRONMENT_SIZE_SMALL"
        },
        "storageConfig": { "bucket": bucket }
    })
}

/// The token IAM mints for a service account.
pub fn account_token(account: &str) -> String {
    format!("sa-token-for-{account}")
}

#[derive(Default)]
pub struct Fake {
    /// The bearer token Cloud Run and Composer accept (any, when `None`).
    pub token: Option<String>,
    /// Requests as `METHOD path?query`, with the bearer token they carried.
    pub log: Vec<(String, Option<String>)>,
    /// `(method, path fragment, status, times)`: answered with `status` that many times.
    pub script: Vec<(String, String, u16, usize)>,
    /// `(method, path fragment, times)`: carried out, then answered 503 as if the answer was
    /// lost on the way.
    pub lost_answers: Vec<(String, String, usize)>,
    pub run: CloudRun,
    pub environments: HashMap<String, Value>,
}

pub type Shared = Arc<Mutex<Fake>>;

/// Starts the fakes on a free port: their base URL and state.
pub async fn start(fake: Fake) -> (String, Shared) {
    let shared = Arc::new(Mutex::new(fake));
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(Arc::clone(&shared));
    (super::serve(app).await, shared)
}

pub fn google_error(code: u16, status: &str, message: &str) -> Response {
    let body = json!({ "error": { "code": code, "message": message, "status": status } });
    (StatusCode::from_u16(code).unwrap(), axum::Json(body)).into_response()
}

pub fn ok(body: Value) -> Response {
    axum::Json(body).into_response()
}

async fn handle(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or_default().to_string();
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim_start_matches("Bearer ").to_string());
    let mut fake = shared.lock().unwrap();
    fake.log
        .push((format!("{method} {path}?{query}"), bearer.clone()));
    if let Some(status) = fake.scripted(&method, &path) {
        let (code, text) = match status {
            409 => (
                "ABORTED",
                "Conflict for resource: a concurrent change is in progress.",
            ),
            429 => ("RESOURCE_EXHAUSTED", "Quota exceeded."),
            _ => ("UNAVAILABLE", "The service is currently unavailable."),
        };
        return google_error(status, code, text);
    }
    let answer = fake.answer(&method, &path, &query, &headers, bearer.as_deref(), &body);
    if fake.loses_answer(&method, &path) {
        return google_error(503, "UNAVAILABLE", "The service is currently unavailable.");
    }
    answer
}

impl Fake {
    fn answer(
        &mut self,
        method: &Method,
        path: &str,
        query: &str,
        headers: &HeaderMap,
        bearer: Option<&str>,
        body: &[u8],
    ) -> Response {
        if path == "/oidc" {
            return oidc(headers, query);
        }
        if path == "/v1/token" {
            return sts(body);
        }
        if path.contains(":generateAccessToken") {
            return iam(path, bearer);
        }
        if path.starts_with("/computeMetadata/") {
            return metadata_server(path, headers);
        }
        if let Some(expected) = &self.token
            && bearer != Some(expected.as_str())
        {
            return google_error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials.",
            );
        }
        if let Some(answer) = self.run.route(method, path, query, body) {
            return answer;
        }
        self.composer(method, path)
    }

    fn scripted(&mut self, method: &Method, path: &str) -> Option<u16> {
        let hit = self.script.iter_mut().find(|(m, fragment, _, times)| {
            *times > 0 && m == method.as_str() && path.contains(fragment.as_str())
        })?;
        hit.3 -= 1;
        Some(hit.2)
    }

    fn loses_answer(&mut self, method: &Method, path: &str) -> bool {
        let hit = self.lost_answers.iter_mut().find(|(m, fragment, times)| {
            *times > 0 && m == method.as_str() && path.contains(fragment.as_str())
        });
        hit.map(|h| h.2 -= 1).is_some()
    }

    fn composer(&self, method: &Method, path: &str) -> Response {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (method.as_str(), segments.as_slice()) {
            ("GET", ["v1", "projects", _, "locations", _, "environments", _]) => {
                let name = path.trim_start_matches("/v1/");
                match self.environments.get(name) {
                    Some(env) => ok(env.clone()),
                    None => {
                        google_error(404, "NOT_FOUND", &format!("Environment {name} not found."))
                    }
                }
            }
            _ => google_error(404, "NOT_FOUND", &format!("no fake for {method} {path}")),
        }
    }
}

/// The metadata server's token for the default service account (needs `Metadata-Flavor`).
fn metadata_server(path: &str, headers: &HeaderMap) -> Response {
    if headers.get("metadata-flavor").and_then(|v| v.to_str().ok()) != Some("Google") {
        return (
            StatusCode::FORBIDDEN,
            "Missing Metadata-Flavor:Google header.",
        )
            .into_response();
    }
    if path != "/computeMetadata/v1/instance/service-accounts/default/token" {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    ok(json!({ "access_token": MDS_TOKEN, "expires_in": 3599, "token_type": "Bearer" }))
}

/// GitHub's `ACTIONS_ID_TOKEN_REQUEST_URL`: the request token in, an OIDC token out.
fn oidc(headers: &HeaderMap, query: &str) -> Response {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bearer {GITHUB_REQUEST_TOKEN}")) || !query.contains("audience=") {
        return google_error(401, "UNAUTHENTICATED", "bad request token");
    }
    ok(json!({ "count": 1, "value": GITHUB_OIDC_TOKEN }))
}

/// STS token exchange (RFC 8693): GitHub's token for a federated access token.
fn sts(body: &[u8]) -> Response {
    let form: HashMap<String, String> = url_form(body);
    let valid = form.get("grant_type").map(String::as_str)
        == Some("urn:ietf:params:oauth:grant-type:token-exchange")
        && form.get("subject_token").map(String::as_str) == Some(GITHUB_OIDC_TOKEN)
        && form
            .get("audience")
            .is_some_and(|a| a.contains("workloadIdentityPools"));
    if !valid {
        return google_error(
            400,
            "INVALID_ARGUMENT",
            &format!("invalid token exchange: {form:?}"),
        );
    }
    ok(json!({
        "access_token": STS_TOKEN,
        "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "token_type": "Bearer",
        "expires_in": 3600
    }))
}

fn url_form(body: &[u8]) -> HashMap<String, String> {
    form_pairs(body).into_iter().collect()
}

/// `application/x-www-form-urlencoded` pairs (a form body, or a query), in order.
pub fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// IAM Credentials `generateAccessToken`: needs the federated (or any minted) token.
fn iam(path: &str, bearer: Option<&str>) -> Response {
    let account = path
        .split("/serviceAccounts/")
        .nth(1)
        .unwrap_or_default()
        .trim_end_matches(":generateAccessToken");
    if bearer != Some(STS_TOKEN) && !bearer.is_some_and(|b| b.starts_with("sa-token-for-")) {
        return google_error(
            403,
            "PERMISSION_DENIED",
            "Permission 'iam.serviceAccounts.getAccessToken' denied",
        );
    }
    let expire = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3600);
    ok(json!({ "accessToken": account_token(account), "expireTime": expire.to_string() }))
}
