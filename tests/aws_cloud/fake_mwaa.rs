//! A fake of MWAA's `GetEnvironment` and `UpdateEnvironment`, which moto does not implement
//! (moto 5.2.5 has no MWAA). As strict as the real API where dagship depends on it: requests
//! must be SigV4-signed for the `airflow` service in the expected region, unknown
//! environments answer 404 with `x-amzn-ErrorType: ResourceNotFoundException` (what the SDK
//! maps to that error), and any other call is refused.
//!
//! `UpdateEnvironment` (`PATCH /environments/{Name}`) takes only the fields of MWAA's REST
//! reference (an unknown one is a 400 `ValidationException`, as is an update of an
//! environment that is not `AVAILABLE`, a path without its object version, or an object
//! version that is not in the environment's bucket, which the fake asks moto about); the
//! environment then answers `UPDATING` to the next [`POLLS_UPDATING`] `GetEnvironment` calls
//! and `AVAILABLE` after them, or `UPDATE_FAILED` with `LastUpdate.Error` when told to fail
//! (running again the versions it ran before, as MWAA rolls a failed update back).
//! Each update has its `LastUpdate` (`CreatedAt`, `PENDING` until it ends, then `SUCCESS` or
//! `FAILED`). Told to lag, `GetEnvironment` still describes the environment as it was before
//! the update for a few calls, as an eventually consistent read may.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// `GetEnvironment` calls that find an environment `UPDATING` after an update.
pub const POLLS_UPDATING: u32 = 1;

/// `UpdateEnvironment`'s request fields, as MWAA's API reference lists them.
const UPDATE_FIELDS: &[&str] = &[
    "AirflowConfigurationOptions",
    "AirflowVersion",
    "DagS3Path",
    "EnvironmentClass",
    "ExecutionRoleArn",
    "LoggingConfiguration",
    "MaxWebservers",
    "MaxWorkers",
    "MinWebservers",
    "MinWorkers",
    "NetworkConfiguration",
    "PluginsS3ObjectVersion",
    "PluginsS3Path",
    "RequirementsS3ObjectVersion",
    "RequirementsS3Path",
    "Schedulers",
    "SourceBucketArn",
    "StartupScriptS3ObjectVersion",
    "StartupScriptS3Path",
    "WebserverAccessMode",
    "WeeklyMaintenanceWindowStart",
    "WorkerReplacementStrategy",
];

/// A key of the environment's bucket and the object version it runs.
pub type Versioned = (String, String);

/// One environment as the fake keeps it.
#[derive(Clone, Default)]
struct Env {
    bucket: String,
    dag_path: String,
    status: String,
    /// `GetEnvironment` calls left before an update ends.
    polls_left: u32,
    plugins: Option<Versioned>,
    requirements: Option<Versioned>,
    /// The next update fails with this `LastUpdate.Error` (code, message).
    fail_next: Option<(String, String)>,
    failing: Option<(String, String)>,
    /// What the environment ran before the latest update: a failed update rolls back to it.
    ran_before: (Option<Versioned>, Option<Versioned>),
    last_error: Option<(String, String)>,
    /// `LastUpdate.CreatedAt` (seconds since the epoch) of the latest update.
    updated_at: Option<i64>,
    /// `GetEnvironment` calls after the next update that still see the environment before it.
    lag_next: u32,
    /// The environment as it was before the latest update, and the calls left that see it.
    lagging: Option<(Box<Env>, u32)>,
}

#[derive(Clone, Default)]
pub struct FakeMwaa {
    environments: Arc<Mutex<BTreeMap<String, Env>>>,
    calls: Arc<Mutex<Vec<String>>>,
    answered: Arc<Mutex<Vec<String>>>,
}

impl FakeMwaa {
    pub async fn start() -> (FakeMwaa, String) {
        let fake = FakeMwaa::default();
        let app = axum::Router::new()
            .route(
                "/environments/{name}",
                axum::routing::get(get_environment).patch(update_environment),
            )
            .fallback(unknown)
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (fake, url)
    }

    pub fn environment(&self, name: &str, bucket: &str, dag_path: &str) {
        let env = Env {
            bucket: bucket.to_string(),
            dag_path: dag_path.to_string(),
            status: "AVAILABLE".into(),
            ..Env::default()
        };
        self.environments.lock().unwrap().insert(name.into(), env);
    }

    /// The next update of `name` fails, with this code and message.
    pub fn fail_next_update(&self, name: &str, code: &str, message: &str) {
        let mut environments = self.environments.lock().unwrap();
        let env = environments.get_mut(name).unwrap();
        env.fail_next = Some((code.into(), message.into()));
    }

    /// The next `polls` `GetEnvironment` calls after the next update of `name` still describe
    /// the environment as it was before that update.
    pub fn lag_next_update(&self, name: &str, polls: u32) {
        let mut environments = self.environments.lock().unwrap();
        environments.get_mut(name).unwrap().lag_next = polls;
    }

    /// The `Status` of each `GetEnvironment` answer, in order.
    pub fn answered(&self) -> Vec<String> {
        self.answered.lock().unwrap().clone()
    }

    /// The plugins and requirements (path, version) the environment runs.
    pub fn running(&self, name: &str) -> (Option<Versioned>, Option<Versioned>) {
        let environments = self.environments.lock().unwrap();
        let env = &environments[name];
        (env.plugins.clone(), env.requirements.clone())
    }

    fn bucket_of(&self, name: &str) -> Option<String> {
        let environments = self.environments.lock().unwrap();
        environments.get(name).map(|env| env.bucket.clone())
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    /// The `UpdateEnvironment` calls, with their bodies.
    pub fn updates(&self) -> Vec<String> {
        let calls = self.calls();
        calls
            .into_iter()
            .filter(|c| c.starts_with("UpdateEnvironment"))
            .collect()
    }
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    let headers = [("x-amzn-ErrorType", kind.to_string())];
    (status, headers, axum::Json(json!({ "Message": message }))).into_response()
}

/// The SigV4 scope the request was signed for: `KEY/DATE/REGION/SERVICE/aws4_request`.
fn scope_problem(headers: &HeaderMap) -> Option<String> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let scope = auth.split("Credential=").nth(1)?.split(',').next()?;
    let parts: Vec<&str> = scope.split('/').collect();
    match parts.as_slice() {
        [_, _, crate::moto::REGION, "airflow", "aws4_request"] => None,
        _ => Some(format!("signed for the wrong scope `{scope}`")),
    }
}

fn unsigned(headers: &HeaderMap) -> Option<Response> {
    if !headers.contains_key("authorization") {
        return Some(error(
            StatusCode::FORBIDDEN,
            "MissingAuthenticationTokenException",
            "unsigned",
        ));
    }
    let problem = scope_problem(headers)?;
    Some(error(
        StatusCode::FORBIDDEN,
        "InvalidSignatureException",
        &problem,
    ))
}

fn not_found(name: &str) -> Response {
    let message = format!("Environment {name} not found");
    error(StatusCode::NOT_FOUND, "ResourceNotFoundException", &message)
}

fn arn(name: &str) -> String {
    format!("arn:aws:airflow:us-east-1:123456789012:environment/{name}")
}

async fn get_environment(
    State(fake): State<FakeMwaa>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    fake.calls
        .lock()
        .unwrap()
        .push(format!("GetEnvironment {name}"));
    if let Some(refused) = unsigned(&headers) {
        return refused;
    }
    let mut environments = fake.environments.lock().unwrap();
    let Some(env) = environments.get_mut(&name) else {
        return not_found(&name);
    };
    if let Some((before, polls)) = &mut env.lagging
        && *polls > 0
    {
        *polls -= 1;
        let answer = described(&name, before);
        fake.answered.lock().unwrap().push(before.status.clone());
        return axum::Json(json!({ "Environment": answer })).into_response();
    }
    if env.status == "UPDATING" {
        if env.polls_left == 0 {
            match env.failing.take() {
                Some(failure) => {
                    env.status = "UPDATE_FAILED".into();
                    env.last_error = Some(failure);
                    (env.plugins, env.requirements) = env.ran_before.clone();
                }
                None => env.status = "AVAILABLE".into(),
            }
        } else {
            env.polls_left -= 1;
        }
    }
    fake.answered.lock().unwrap().push(env.status.clone());
    let answer = described(&name, env);
    axum::Json(json!({ "Environment": answer })).into_response()
}

/// `GetEnvironment`'s `Environment` for `env`.
fn described(name: &str, env: &Env) -> Value {
    let mut found = json!({
        "Name": name,
        "Arn": arn(name),
        "Status": env.status,
        "SourceBucketArn": format!("arn:aws:s3:::{}", env.bucket),
        "DagS3Path": env.dag_path,
        "AirflowVersion": "2.10.3",
    });
    if let Some((path, version)) = &env.plugins {
        found["PluginsS3Path"] = json!(path);
        found["PluginsS3ObjectVersion"] = json!(version);
    }
    if let Some((path, version)) = &env.requirements {
        found["RequirementsS3Path"] = json!(path);
        found["RequirementsS3ObjectVersion"] = json!(version);
    }
    if let Some(at) = env.updated_at {
        found["LastUpdate"] = match (&env.last_error, env.status.as_str()) {
            (Some((code, message)), _) => json!({
                "CreatedAt": at,
                "Status": "FAILED",
                "Error": { "ErrorCode": code, "ErrorMessage": message },
            }),
            (None, "UPDATING") => json!({ "CreatedAt": at, "Status": "PENDING" }),
            (None, _) => json!({ "CreatedAt": at, "Status": "SUCCESS" }),
        };
    }
    found
}

/// A path and its object version from an update's body, both or neither.
fn versioned(body: &Value, path: &str, version: &str) -> Result<Option<Versioned>, String> {
    match (body.get(path), body.get(version)) {
        (None, None) => Ok(None),
        (Some(Value::String(p)), Some(Value::String(v))) if !p.is_empty() && !v.is_empty() => {
            Ok(Some((p.clone(), v.clone())))
        }
        _ => Err(format!("{path} must come with {version}, both strings")),
    }
}

async fn update_environment(
    State(fake): State<FakeMwaa>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    fake.calls
        .lock()
        .unwrap()
        .push(format!("UpdateEnvironment {name} {body}"));
    if let Some(refused) = unsigned(&headers) {
        return refused;
    }
    let invalid = |message: &str| error(StatusCode::BAD_REQUEST, "ValidationException", message);
    let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(&body) else {
        return invalid("the body is no JSON object");
    };
    if let Some(unknown) = fields.keys().find(|k| !UPDATE_FIELDS.contains(&k.as_str())) {
        return invalid(&format!("Unknown field: {unknown}"));
    }
    let body = Value::Object(fields);
    let plugins = versioned(&body, "PluginsS3Path", "PluginsS3ObjectVersion");
    let requirements = versioned(&body, "RequirementsS3Path", "RequirementsS3ObjectVersion");
    let (plugins, requirements) = match (plugins, requirements) {
        (Ok(p), Ok(r)) => (p, r),
        (Err(e), _) | (_, Err(e)) => return invalid(&e),
    };
    let Some(bucket) = fake.bucket_of(&name) else {
        return not_found(&name);
    };
    for (path, version) in plugins.iter().chain(&requirements) {
        if !version_exists(&bucket, path, version).await {
            return invalid(&format!(
                "Unable to read version {version} of s3://{bucket}/{path}"
            ));
        }
    }
    let mut environments = fake.environments.lock().unwrap();
    let Some(env) = environments.get_mut(&name) else {
        return not_found(&name);
    };
    if env.status != "AVAILABLE" && env.status != "UPDATE_FAILED" {
        let message = format!("Environment {name} is {}: it cannot be updated", env.status);
        return invalid(&message);
    }
    let lag = std::mem::take(&mut env.lag_next);
    let before = Env {
        lagging: None,
        ..env.clone()
    };
    env.lagging = (lag > 0).then(|| (Box::new(before), lag));
    env.ran_before = (env.plugins.clone(), env.requirements.clone());
    if plugins.is_some() {
        env.plugins = plugins;
    }
    if requirements.is_some() {
        env.requirements = requirements;
    }
    env.status = "UPDATING".into();
    env.polls_left = POLLS_UPDATING;
    env.last_error = None;
    env.failing = env.fail_next.take();
    env.updated_at = Some(env.updated_at.map_or(1_764_000_000, |at| at + 60));
    axum::Json(json!({ "Arn": arn(&name) })).into_response()
}

/// Whether `bucket` (on moto) holds version `version` of `key`.
async fn version_exists(bucket: &str, key: &str, version: &str) -> bool {
    let s3 = crate::moto::s3_client().await;
    let head = s3.head_object().bucket(bucket).key(key).version_id(version);
    head.send().await.is_ok()
}

async fn unknown() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "UnknownOperationException",
        "not part of this fake",
    )
}
