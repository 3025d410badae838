//! Fakes of Google's APIs that follow their REST references closely enough for dagship:
//! GitHub's OIDC token endpoint, STS (`/v1/token`), IAM Service Account Credentials
//! (`generateAccessToken`), a container registry (`HEAD /v2/.../manifests/TAG`), Cloud Run
//! Admin v2 (services, jobs, revisions, long-running operations that finish after a few polls)
//! and Composer v1 (environments, as [`composer_environment`] makes them: DAG folder, Airflow
//! URI, image version). Errors are `google.rpc.Status` bodies. Scripted failures (409, 429,
//! 503) can be queued for any request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub const GITHUB_REQUEST_TOKEN: &str = "gh-request-token";
pub const GITHUB_OIDC_TOKEN: &str = "eyJ.github-oidc.jwt";
pub const STS_TOKEN: &str = "sts-federated-token";

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
    /// The bearer token Cloud Run, Composer and the registry accept (any, when `None`).
    pub token: Option<String>,
    /// Requests as `METHOD path?query`, with the bearer token they carried.
    pub log: Vec<(String, Option<String>)>,
    /// Request bodies of writes (POST/PATCH to Cloud Run), in order.
    pub writes: Vec<Value>,
    /// `(method, path fragment, status, times)`: answered with `status` that many times.
    pub script: Vec<(String, String, u16, usize)>,
    /// Images (digest-pinned) whose revisions fail, with the condition message.
    pub failing_images: HashMap<String, String>,
    /// `path:tag` → digest.
    pub tags: HashMap<String, String>,
    /// Polls an operation takes before it is done.
    pub polls: usize,
    pub services: HashMap<String, Value>,
    pub jobs: HashMap<String, Value>,
    pub revisions: HashMap<String, Value>,
    pub environments: HashMap<String, Value>,
    pub operations: HashMap<String, Operation>,
    pub next: usize,
}

pub struct Operation {
    polls_left: usize,
    collection: &'static str,
    name: String,
    failure: Option<String>,
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

fn google_error(code: u16, status: &str, message: &str) -> Response {
    let body = json!({ "error": { "code": code, "message": message, "status": status } });
    (StatusCode::from_u16(code).unwrap(), axum::Json(body)).into_response()
}

fn ok(body: Value) -> Response {
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
        .map(|v| {
            v.trim_start_matches("Bearer ")
                .trim_start_matches("Basic ")
                .to_string()
        });
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
    if path == "/oidc" {
        return oidc(&headers, &query);
    }
    if path == "/v1/token" {
        return sts(&body);
    }
    if path.contains(":generateAccessToken") {
        return iam(&path, bearer.as_deref());
    }
    if let Some(expected) = fake.token.clone() {
        let accepted = bearer.as_deref() == Some(expected.as_str())
            || bearer
                .as_deref()
                .is_some_and(|b| basic_matches(b, &expected));
        if !accepted {
            return google_error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials.",
            );
        }
    }
    if method == Method::HEAD && path.contains("/manifests/") {
        return fake.manifest(&path);
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    fake.route(&method, &path, &query, body)
}

fn basic_matches(basic: &str, token: &str) -> bool {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(basic)
        .is_ok_and(|b| b == format!("oauth2accesstoken:{token}").as_bytes())
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

impl Fake {
    fn scripted(&mut self, method: &Method, path: &str) -> Option<u16> {
        let hit = self.script.iter_mut().find(|(m, fragment, _, times)| {
            *times > 0 && m == method.as_str() && path.contains(fragment.as_str())
        })?;
        hit.3 -= 1;
        Some(hit.2)
    }

    fn manifest(&self, path: &str) -> Response {
        let rest = path.trim_start_matches("/v2/");
        let (image, tag) = rest.split_once("/manifests/").unwrap_or_default();
        match self.tags.get(&format!("{image}:{tag}")) {
            Some(digest) => ([("docker-content-digest", digest.clone())], "").into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        }
    }

    fn route(&mut self, method: &Method, path: &str, query: &str, body: Value) -> Response {
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
            ("GET", ["v2", "projects", _, "locations", _, "operations", _]) => self.poll(path),
            (
                "GET",
                [
                    "v2",
                    "projects",
                    _,
                    "locations",
                    _,
                    "services",
                    _,
                    "revisions",
                    _,
                ],
            ) => {
                let name = path.trim_start_matches("/v2/");
                match self.revisions.get(name) {
                    Some(r) => ok(r.clone()),
                    None => google_error(404, "NOT_FOUND", &format!("Revision {name} not found.")),
                }
            }
            (
                "GET",
                [
                    "v2",
                    "projects",
                    _,
                    "locations",
                    _,
                    c @ ("services" | "jobs"),
                    _,
                ],
            ) => {
                let name = path.trim_start_matches("/v2/");
                match self.collection(c).get(name) {
                    Some(r) => ok(r.clone()),
                    None => google_error(
                        404,
                        "NOT_FOUND",
                        &format!("Resource '{name}' does not exist."),
                    ),
                }
            }
            (
                "POST",
                [
                    "v2",
                    "projects",
                    p,
                    "locations",
                    r,
                    c @ ("services" | "jobs"),
                ],
            ) => {
                let id = query
                    .split('&')
                    .find_map(|kv| {
                        kv.split_once('=')
                            .filter(|(k, _)| k.ends_with("Id"))
                            .map(|(_, v)| v.to_string())
                    })
                    .unwrap_or_default();
                let name = format!("projects/{p}/locations/{r}/{c}/{id}");
                if self.collection(c).contains_key(&name) {
                    return google_error(
                        409,
                        "ALREADY_EXISTS",
                        &format!("Resource '{id}' already exists."),
                    );
                }
                self.write(c, name, body)
            }
            (
                "PATCH",
                [
                    "v2",
                    "projects",
                    _,
                    "locations",
                    _,
                    c @ ("services" | "jobs"),
                    _,
                ],
            ) => {
                let name = path.trim_start_matches("/v2/").to_string();
                if !self.collection(c).contains_key(&name) {
                    return google_error(
                        404,
                        "NOT_FOUND",
                        &format!("Resource '{name}' does not exist."),
                    );
                }
                self.write(c, name, body)
            }
            _ => google_error(404, "NOT_FOUND", &format!("no fake for {method} {path}")),
        }
    }

    fn collection(&mut self, c: &str) -> &mut HashMap<String, Value> {
        if c == "services" {
            &mut self.services
        } else {
            &mut self.jobs
        }
    }

    /// A create or update: a new generation (and, for services, a revision), reconciling
    /// until its operation is done.
    fn write(&mut self, c: &str, name: String, mut body: Value) -> Response {
        let c: &'static str = if c == "services" { "services" } else { "jobs" };
        self.writes.push(body.clone());
        self.next += 1;
        let short = name.rsplit('/').next().unwrap().to_string();
        let previous = self.collection(c).get(&name).cloned().unwrap_or(json!({}));
        let generation = previous["generation"]
            .as_str()
            .and_then(|g| g.parse::<u64>().ok())
            .unwrap_or(0)
            + 1;
        let task = if c == "services" {
            &body["template"]
        } else {
            &body["template"]["template"]
        };
        let image = task["containers"][0]["image"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let failure = self.failing_images.get(&image).cloned();
        body["name"] = json!(name);
        body["generation"] = json!(generation.to_string());
        body["reconciling"] = json!(true);
        body["terminalCondition"] = json!({ "type": "Ready", "state": "CONDITION_RECONCILING" });
        body["etag"] = json!(format!("\"{generation}\""));
        if c == "services" {
            let same_template = previous["template"] == body["template"];
            let revision = match body["template"]["revision"].as_str() {
                Some(r) => r.to_string(),
                None if same_template => previous["latestCreatedRevision"]
                    .as_str()
                    .unwrap_or_default()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_string(),
                None => format!("{short}-{generation:05}-x{}", self.next),
            };
            let rev_name = format!("{name}/revisions/{revision}");
            if !self.revisions.contains_key(&rev_name) {
                let conditions = match &failure {
                    Some(message) => {
                        json!([{ "type": "Ready", "state": "CONDITION_FAILED", "message": message, "reason": "ContainerMissing" }])
                    }
                    None => json!([{ "type": "Ready", "state": "CONDITION_SUCCEEDED" }]),
                };
                self.revisions.insert(rev_name.clone(), json!({ "name": rev_name, "conditions": conditions, "containers": body["template"]["containers"] }));
            }
            body["latestCreatedRevision"] = json!(rev_name);
            body["latestReadyRevision"] = previous["latestReadyRevision"].clone();
            body["uri"] = json!(format!("https://{short}-abc123-ew.a.run.app"));
            body["trafficStatuses"] = previous["trafficStatuses"].clone();
        }
        self.collection(c).insert(name.clone(), body);
        let parent = name.split(&format!("/{c}/")).next().unwrap().to_string();
        let op = format!("{parent}/operations/op-{}", self.next);
        self.operations.insert(
            op.clone(),
            Operation {
                polls_left: self.polls,
                collection: c,
                name,
                failure,
            },
        );
        ok(
            json!({ "name": op, "done": false, "metadata": { "@type": "type.googleapis.com/google.cloud.run.v2.Service" } }),
        )
    }

    fn poll(&mut self, path: &str) -> Response {
        let name = path.trim_start_matches("/v2/").to_string();
        let Some(op) = self.operations.get_mut(&name) else {
            return google_error(404, "NOT_FOUND", "Operation not found.");
        };
        if op.polls_left > 0 {
            op.polls_left -= 1;
            return ok(json!({ "name": name, "done": false }));
        }
        let (c, resource, failure) = (op.collection, op.name.clone(), op.failure.clone());
        let now = self.finish(c, &resource, failure.as_deref());
        match failure {
            Some(message) => ok(
                json!({ "name": name, "done": true, "error": { "code": 9, "message": format!("Revision is not ready and cannot serve traffic. {message}") } }),
            ),
            None => ok(json!({ "name": name, "done": true, "response": now })),
        }
    }

    /// The operation is done: the resource settles, traffic follows the ready revision.
    fn finish(&mut self, c: &str, name: &str, failure: Option<&str>) -> Value {
        let r = self.collection(c).get_mut(name).unwrap();
        r["reconciling"] = json!(false);
        r["terminalCondition"] = match failure {
            Some(m) => json!({ "type": "Ready", "state": "CONDITION_FAILED", "message": m }),
            None => json!({ "type": "Ready", "state": "CONDITION_SUCCEEDED" }),
        };
        if c == "services" {
            if failure.is_none() {
                r["latestReadyRevision"] = r["latestCreatedRevision"].clone();
            }
            let ready = r["latestReadyRevision"]
                .as_str()
                .unwrap_or_default()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string();
            let traffic = r["traffic"].as_array().cloned().unwrap_or_else(|| {
                vec![json!({ "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100 })]
            });
            let statuses: Vec<Value> = traffic
                .iter()
                .map(|t| {
                    let revision = if t["type"] == "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST" {
                        json!(ready)
                    } else {
                        t["revision"].clone()
                    };
                    let mut s =
                        json!({ "type": t["type"], "revision": revision, "percent": t["percent"] });
                    if let Some(tag) = t["tag"].as_str() {
                        s["tag"] = json!(tag);
                        s["uri"] = json!(format!("https://{tag}---svc-abc123-ew.a.run.app"));
                    }
                    s
                })
                .collect();
            r["trafficStatuses"] = json!(statuses);
        }
        r.clone()
    }
}
