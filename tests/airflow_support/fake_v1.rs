//! A fake of Airflow 2.10's stable REST API (`/api/v1`), as Cloud Composer 2 serves it behind
//! Google's front end: every request needs Google's bearer token; `GET /version`, `/dags`
//! and `/importErrors` answer with the reference's shapes (`airflow/api_connexion/openapi/
//! v1.yaml`, every field of `DAG` and `ImportError`); like connexion with strict validation,
//! an unknown query parameter or a non-integer `limit` is a 400 problem (RFC 7807) and a
//! `limit` above `maximum_page_limit` (100) is cut to it; `/api/v2/...` is Airflow 2's HTML
//! 404 page. Error bodies are those a real Airflow 2.10.5 sent (checked by hand against one
//! started from PyPI: this machine's venv holds Airflow 3, which the project tests for real).
//! Files are named by their absolute path in Composer's DAG folder.
//!
//! Its DAG processor is a script: `scripted` parses happen `lag` after the first listing
//! dagship asks for (after the upload, as Composer's copy of the bucket reaches Airflow).
//! Paths in `unavailable` answer 503 once, as a web server does while it restarts.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Value, json};

/// Composer's DAG folder on Airflow's machines.
pub const DAGS_ROOT: &str = "/home/airflow/gcs/dags";
/// Airflow's `maximum_page_limit` default.
const MAX_LIMIT: usize = 100;

/// What one parse of a file gives.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// These DAGs.
    Dags(Vec<String>),
    /// An import error with this traceback.
    Fails(String),
}

#[derive(Default)]
pub struct Fake {
    /// The bearer token accepted (Google's access token).
    pub token: String,
    /// Requests, as `path?query`.
    pub log: Vec<String>,
    /// DAG records, as the API shows them.
    pub dags: Vec<Value>,
    pub import_errors: Vec<Value>,
    /// Parses to come: `(file relative to the DAG folder, outcome)`.
    pub scripted: Vec<(String, Outcome)>,
    pub lag: Duration,
    /// Paths answered once each with 503, as a restarting web server does.
    pub unavailable: Vec<String>,
    pub first_listing: Option<Instant>,
    pub next_error_id: u64,
}

pub type Shared = Arc<Mutex<Fake>>;

pub async fn start(fake: Fake) -> (String, Shared) {
    let shared = Arc::new(Mutex::new(fake));
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(Arc::clone(&shared));
    (crate::gcp_support::serve(app).await, shared)
}

/// A DAG record with every field of the reference's `DAG` schema.
pub fn dag(dag_id: &str, file: &str, parsed: jiff::Timestamp) -> Value {
    json!({
        "dag_id": dag_id, "dag_display_name": dag_id, "root_dag_id": null,
        "is_paused": true, "is_active": true, "is_subdag": false,
        "last_parsed_time": v1_time(parsed), "last_pickled": null, "last_expired": null,
        "scheduler_lock": null, "pickle_id": null, "default_view": "grid",
        "fileloc": format!("{DAGS_ROOT}/{file}"), "file_token": format!("token-{dag_id}"),
        "owners": ["airflow"], "description": null,
        "schedule_interval": null, "timetable_description": "Never, external triggers only",
        "tags": [], "max_active_tasks": 16, "max_active_runs": 16,
        "has_task_concurrency_limits": false, "has_import_errors": false,
        "next_dagrun": null, "next_dagrun_data_interval_start": null,
        "next_dagrun_data_interval_end": null, "next_dagrun_create_after": null,
        "max_consecutive_failed_dag_runs": 0
    })
}

/// Airflow 2 writes times as `2024-05-01T08:00:00.123456+00:00`.
fn v1_time(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
}

fn problem(status: StatusCode, title: &str, detail: Value, kind: &str) -> Response {
    let body = json!({
        "detail": detail, "status": status.as_u16(), "title": title,
        "type": format!("https://airflow.apache.org/docs/apache-airflow/2.10.5/stable-rest-api-ref.html#section/Errors/{kind}")
    });
    (status, axum::Json(body)).into_response()
}

/// connexion's 400, as a real Airflow 2.10.5 answers: the title is `null` for an unknown
/// parameter, "Bad Request" for a value of the wrong type.
fn bad_request(title: Option<&str>, detail: String) -> Response {
    let body = json!({
        "detail": detail, "status": 400, "title": title,
        "type": "https://airflow.apache.org/docs/apache-airflow/2.10.5/stable-rest-api-ref.html#section/Errors/BadRequest"
    });
    let problem = [("content-type", "application/problem+json")];
    (StatusCode::BAD_REQUEST, problem, body.to_string()).into_response()
}

async fn handle(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let mut fake = shared.lock().unwrap();
    let query = uri.query().unwrap_or_default();
    fake.log.push(format!("{}?{query}", uri.path()));
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if bearer != Some(fake.token.as_str()) {
        return problem(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            Value::Null,
            "Unauthenticated",
        );
    }
    if let Some(i) = fake.unavailable.iter().position(|p| p == uri.path()) {
        fake.unavailable.remove(i);
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service Unavailable",
            json!("The server is temporarily unable to service your request."),
            "Unknown",
        );
    }
    if method != Method::GET {
        return problem(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method Not Allowed",
            json!("The method is not allowed for the requested URL."),
            "MethodNotAllowed",
        );
    }
    let pairs: Vec<(String, String)> = url_pairs(query);
    match uri.path() {
        "/api/v1/version" => {
            axum::Json(json!({ "version": "2.10.5+composer", "git_version": null })).into_response()
        }
        "/api/v1/dags" => fake.listing(
            &pairs,
            "dags",
            &[
                "limit",
                "offset",
                "order_by",
                "tags",
                "only_active",
                "paused",
                "fields",
                "dag_id_pattern",
            ],
        ),
        "/api/v1/importErrors" => {
            fake.listing(&pairs, "import_errors", &["limit", "offset", "order_by"])
        }
        p if p.starts_with("/api/v2/") => (
            StatusCode::NOT_FOUND,
            Html("<!DOCTYPE html><title>Airflow 404</title><h1>Airflow 404 = lots of circles</h1>"),
        )
            .into_response(),
        _ => problem(
            StatusCode::NOT_FOUND,
            "Not Found",
            json!(
                "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again."
            ),
            "NotFound",
        ),
    }
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

impl Fake {
    fn listing(
        &mut self,
        pairs: &[(String, String)],
        collection: &str,
        allowed: &[&str],
    ) -> Response {
        let extra: Vec<&str> = pairs
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| !allowed.contains(k))
            .collect();
        if !extra.is_empty() {
            return bad_request(
                None,
                format!("Extra query parameter(s) {} not in spec", extra.join(", ")),
            );
        }
        // connexion checks the schema's `type: integer` before the endpoint runs.
        let number = |name: &str, default: usize| -> Result<usize, String> {
            match pairs.iter().find(|(k, _)| k == name) {
                None => Ok(default),
                Some((_, v)) => v.parse().map_err(|_| {
                    format!("Wrong type, expected 'integer' for query parameter '{name}'")
                }),
            }
        };
        let (limit, offset) = match (number("limit", MAX_LIMIT), number("offset", 0)) {
            (Ok(l), Ok(o)) => (l.min(MAX_LIMIT), o),
            (Err(detail), _) | (_, Err(detail)) => return bad_request(Some("Bad Request"), detail),
        };
        self.parse_now();
        let all = if collection == "dags" {
            let mut dags = self.dags.clone();
            dags.sort_by(|a, b| a["dag_id"].as_str().cmp(&b["dag_id"].as_str()));
            dags
        } else {
            self.import_errors.clone()
        };
        let page: Vec<Value> = all.iter().skip(offset).take(limit).cloned().collect();
        axum::Json(json!({ collection: page, "total_entries": all.len() })).into_response()
    }

    /// The scripted parses whose time has come.
    fn parse_now(&mut self) {
        let first = *self.first_listing.get_or_insert_with(Instant::now);
        if first.elapsed() < self.lag {
            return;
        }
        let now = jiff::Timestamp::now();
        for (file, outcome) in std::mem::take(&mut self.scripted) {
            let fileloc = format!("{DAGS_ROOT}/{file}");
            match outcome {
                Outcome::Dags(ids) => {
                    self.import_errors
                        .retain(|e| e["filename"] != json!(fileloc));
                    self.dags.retain(|d| d["fileloc"] != json!(fileloc));
                    self.dags.extend(ids.iter().map(|id| dag(id, &file, now)));
                }
                Outcome::Fails(trace) => {
                    self.next_error_id += 1;
                    self.import_errors
                        .retain(|e| e["filename"] != json!(fileloc));
                    self.import_errors.push(json!({
                        "import_error_id": self.next_error_id, "timestamp": v1_time(now),
                        "filename": fileloc, "stack_trace": trace
                    }));
                }
            }
        }
    }
}
