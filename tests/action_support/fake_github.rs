//! A fake of the two GitHub endpoints the action reaches, on 127.0.0.1: the REST API's latest
//! release (`/api/repos/OWNER/REPO/releases/latest`) and release downloads
//! (`/github/OWNER/REPO/releases/download/TAG/FILE`), plus a mirror of the downloads
//! (`/mirror/TAG/FILE`). It answers as GitHub does (404 "Not Found", 401 "Bad credentials") and
//! records every request with its `Authorization` header.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sha2::{Digest, Sha256};

/// The repository the action comes from, and the token the job hands it.
pub const REPOSITORY: &str = "acme/dagship";
pub const TOKEN: &str = "ghs_testtoken";

pub const TARGETS: [&str; 3] = [
    "x86_64-unknown-linux-musl",
    "aarch64-unknown-linux-musl",
    "aarch64-apple-darwin",
];

#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub path: String,
    pub authorization: Option<String>,
}

#[derive(Default)]
struct Releases {
    latest: Option<String>,
    /// `TAG/FILE` → bytes
    files: BTreeMap<String, Vec<u8>>,
    requests: Vec<Request>,
}

pub struct FakeGitHub {
    pub url: String,
    state: Arc<Mutex<Releases>>,
    // Serves until the test ends; the test's own thread runs the action's scripts.
    _runtime: tokio::runtime::Runtime,
}

impl FakeGitHub {
    pub fn start() -> FakeGitHub {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let state = Arc::new(Mutex::new(Releases::default()));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&state));
        let url = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            url
        });
        FakeGitHub {
            url,
            state,
            _runtime: runtime,
        }
    }

    pub fn publish(&self, release: &Release) {
        let mut state = self.state.lock().unwrap();
        for (name, bytes) in &release.files {
            state
                .files
                .insert(format!("{}/{name}", release.tag), bytes.clone());
        }
    }

    pub fn set_latest(&self, tag: &str) {
        self.state.lock().unwrap().latest = Some(tag.to_string());
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }
}

async fn handle(
    State(state): State<Arc<Mutex<Releases>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let path = uri.path().to_string();
    let authorization = headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_string());
    let mut state = state.lock().unwrap();
    state.requests.push(Request {
        path: path.clone(),
        authorization: authorization.clone(),
    });
    if method != Method::GET {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    if authorization.is_some() && authorization != Some(format!("Bearer {TOKEN}")) {
        let body = json!({ "message": "Bad credentials", "status": "401" });
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    }
    if path == format!("/api/repos/{REPOSITORY}/releases/latest") {
        return match &state.latest {
            Some(tag) => axum::Json(json!({
                "id": 1,
                "tag_name": tag,
                "name": tag,
                "draft": false,
                // Release notes that quote a tag must not be taken for the release's own.
                "body": "Upgrade from \"tag_name\": \"v0.0.1\" with care.\n",
            }))
            .into_response(),
            None => not_found(),
        };
    }
    let download = path
        .strip_prefix(&format!("/github/{REPOSITORY}/releases/download/"))
        .or_else(|| path.strip_prefix("/mirror/"));
    match download.and_then(|key| state.files.get(key)) {
        Some(bytes) => bytes.clone().into_response(),
        None => not_found(),
    }
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not Found").into_response()
}

/// A GitHub release as the release workflow makes it: `dagship-<target>.tar.gz` holding one
/// file `dagship` (here a shell script that says which binary it is), and `SHA256SUMS`.
pub struct Release {
    pub tag: String,
    pub files: BTreeMap<String, Vec<u8>>,
}

impl Release {
    pub fn new(tag: &str, targets: &[&str]) -> Release {
        let mut files = BTreeMap::new();
        let mut sums = String::new();
        for target in targets {
            let name = asset(target);
            let tarball = tarball(&fake_dagship(target, tag));
            sums.push_str(&format!("{}  {name}\n", sha256(&tarball)));
            files.insert(name, tarball);
        }
        files.insert("SHA256SUMS".into(), sums.into_bytes());
        Release {
            tag: tag.to_string(),
            files,
        }
    }

    /// SHA256SUMS with `edit` applied to its text.
    pub fn edit_sums(mut self, edit: impl FnOnce(&str) -> String) -> Release {
        let sums = String::from_utf8(self.files["SHA256SUMS"].clone()).unwrap();
        self.files
            .insert("SHA256SUMS".into(), edit(&sums).into_bytes());
        self
    }

    pub fn without(mut self, name: &str) -> Release {
        self.files.remove(name);
        self
    }
}

pub fn asset(target: &str) -> String {
    format!("dagship-{target}.tar.gz")
}

pub fn sha256(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// A stand-in for dagship: it appends one tab-separated line to `$FAKE_DAGSHIP_LOG` (what it
/// is, the folder it ran in, its arguments) and sets the step outputs dagship sets.
pub fn fake_dagship(target: &str, version: &str) -> String {
    format!(
        r#"#!/bin/sh
{{ printf '%s\t' '{target}' '{version}' "$(pwd)" "$@"; printf '\n'; }} >>"$FAKE_DAGSHIP_LOG"
if [ "$1" = plan ]; then
  echo "has_changes=true" >>"$GITHUB_OUTPUT"
else
  {{ echo "run_id=01JRUN"; echo "outcome=succeeded"; echo "release_id=01JREL"; }} >>"$GITHUB_OUTPUT"
fi
"#
    )
}

/// A gzip tarball holding the one executable file `dagship`, made with the system's `tar`.
fn tarball(script: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dagship");
    write_executable(&file, script);
    let out = dir.path().join("out.tar.gz");
    let status = Command::new("tar")
        .arg("-czf")
        .arg(&out)
        .arg("-C")
        .arg(dir.path())
        .arg("dagship")
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read(out).unwrap()
}

pub fn write_executable(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}
