//! A fake of MWAA's `GetEnvironment`, which moto does not implement (moto 5.2.5 has no MWAA).
//! As strict as the real API where dagship depends on it: requests must be SigV4-signed for
//! the `airflow` service in the expected region, unknown environments answer 404 with
//! `x-amzn-ErrorType: ResourceNotFoundException` (what the SDK maps to that error), and any
//! other call is refused.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Environments by name: (bucket, DAG path).
#[derive(Clone, Default)]
pub struct FakeMwaa {
    environments: Arc<Mutex<BTreeMap<String, (String, String)>>>,
    calls: Arc<Mutex<Vec<String>>>,
}

impl FakeMwaa {
    pub async fn start() -> (FakeMwaa, String) {
        let fake = FakeMwaa::default();
        let app = axum::Router::new()
            .route("/environments/{name}", axum::routing::get(get_environment))
            .fallback(unknown)
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (fake, url)
    }

    pub fn environment(&self, name: &str, bucket: &str, dag_path: &str) {
        let found = (bucket.to_string(), dag_path.to_string());
        self.environments.lock().unwrap().insert(name.into(), found);
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
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

async fn get_environment(
    State(fake): State<FakeMwaa>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    fake.calls
        .lock()
        .unwrap()
        .push(format!("GetEnvironment {name}"));
    if !headers.contains_key("authorization") {
        return error(
            StatusCode::FORBIDDEN,
            "MissingAuthenticationTokenException",
            "unsigned",
        );
    }
    if let Some(problem) = scope_problem(&headers) {
        return error(StatusCode::FORBIDDEN, "InvalidSignatureException", &problem);
    }
    let environments = fake.environments.lock().unwrap();
    let Some((bucket, path)) = environments.get(&name) else {
        let message = format!("Environment {name} not found");
        return error(StatusCode::NOT_FOUND, "ResourceNotFoundException", &message);
    };
    let arn = format!("arn:aws:airflow:us-east-1:123456789012:environment/{name}");
    axum::Json(json!({
        "Environment": {
            "Name": name,
            "Arn": arn,
            "Status": "AVAILABLE",
            "SourceBucketArn": format!("arn:aws:s3:::{bucket}"),
            "DagS3Path": path,
            "AirflowVersion": "2.10.3",
        }
    }))
    .into_response()
}

async fn unknown() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "UnknownOperationException",
        "not part of this fake",
    )
}
