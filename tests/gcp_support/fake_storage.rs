//! A small Cloud Storage JSON API fake that does what the emulators do not: it honours
//! `ifGenerationMatch`, checks the MD5 and CRC32C an upload declares against its bytes, pages
//! listings two objects at a time, and can lose the answer to a write it carried out. It
//! downloads (`alt=media`) with the generation and hashes in headers, as Cloud Storage does.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

#[derive(Clone)]
pub struct Stored {
    pub generation: i64,
    pub bytes: Vec<u8>,
    pub metadata: Value,
}

#[derive(Default)]
pub struct Bucket {
    pub objects: BTreeMap<String, Stored>,
    next_generation: i64,
    /// Writes to these names are carried out, then answered 503 once.
    pub lose_answer: HashSet<String>,
    /// Names the caller may not write (403).
    pub forbidden: HashSet<String>,
    /// Uploads seen, with the checksums they declared.
    pub uploads: Vec<(String, Value)>,
}

pub type Shared = Arc<Mutex<Bucket>>;

pub async fn start() -> (String, Shared) {
    let shared = Arc::new(Mutex::new(Bucket::default()));
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(Arc::clone(&shared));
    (super::serve(app).await, shared)
}

fn error(code: u16, reason: &str, message: &str) -> Response {
    let body = json!({ "error": { "code": code, "message": message, "errors": [{ "reason": reason, "message": message }] } });
    (StatusCode::from_u16(code).unwrap(), axum::Json(body)).into_response()
}

fn query(uri: &Uri) -> BTreeMap<String, String> {
    uri.query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            (
                k.to_string(),
                percent_encoding::percent_decode_str(v)
                    .decode_utf8_lossy()
                    .into_owned(),
            )
        })
        .collect()
}

fn resource(name: &str, o: &Stored) -> Value {
    use md5::Digest;
    json!({
        "name": name,
        "generation": o.generation.to_string(),
        "md5Hash": B64.encode(md5::Md5::digest(&o.bytes)),
        "crc32c": B64.encode(crc32c::crc32c(&o.bytes).to_be_bytes()),
        "metadata": o.metadata,
    })
}

/// An object's bytes (`alt=media`) with the headers Cloud Storage sends beside them.
fn media(o: &Stored) -> Response {
    use md5::Digest;
    let hash = format!(
        "crc32c={},md5={}",
        B64.encode(crc32c::crc32c(&o.bytes).to_be_bytes()),
        B64.encode(md5::Md5::digest(&o.bytes))
    );
    let headers = [
        ("content-type", "application/octet-stream".to_string()),
        ("x-goog-generation", o.generation.to_string()),
        ("x-goog-metageneration", "1".to_string()),
        ("x-goog-hash", hash),
        ("x-goog-stored-content-encoding", "identity".to_string()),
        ("x-goog-stored-content-length", o.bytes.len().to_string()),
    ];
    (headers, o.bytes.clone()).into_response()
}

async fn handle(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let q = query(&uri);
    let path = uri.path().to_string();
    let mut b = shared.lock().unwrap();
    let expect: Option<i64> = q.get("ifGenerationMatch").and_then(|g| g.parse().ok());
    if method == Method::POST && path.starts_with("/upload/storage/v1/b/") {
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let boundary = content_type.split("boundary=").nth(1).unwrap_or_default();
        let (meta, bytes) = split_multipart(&body, boundary);
        let name = meta["name"].as_str().unwrap_or_default().to_string();
        b.uploads.push((name.clone(), meta.clone()));
        if b.forbidden.contains(&name) {
            return error(
                403,
                "forbidden",
                "dagship@test does not have storage.objects.create access to the Google Cloud Storage object.",
            );
        }
        let md5 = B64.encode(<md5::Md5 as md5::Digest>::digest(&bytes));
        let crc = B64.encode(crc32c::crc32c(&bytes).to_be_bytes());
        if meta["md5Hash"] != json!(md5) || meta["crc32c"] != json!(crc) {
            return error(
                400,
                "invalid",
                "Provided MD5 hash or CRC32C does not match the calculated one.",
            );
        }
        let current = b.objects.get(&name).map_or(0, |o| o.generation);
        if expect.is_some_and(|g| g != current) {
            return error(
                412,
                "conditionNotMet",
                "At least one of the pre-conditions you specified did not hold.",
            );
        }
        b.next_generation += 1;
        let stored = Stored {
            generation: 1_700_000_000_000 + b.next_generation,
            bytes,
            metadata: meta["metadata"].clone(),
        };
        b.objects.insert(name.clone(), stored.clone());
        if b.lose_answer.remove(&name) {
            return error(503, "backendError", "Backend Error");
        }
        return axum::Json(resource(&name, &stored)).into_response();
    }
    let Some(rest) = path.strip_prefix("/storage/v1/b/") else {
        return error(404, "notFound", "Not Found");
    };
    let (bucket, object) = rest.split_once("/o").unwrap_or((rest, ""));
    let object = percent_encoding::percent_decode_str(object.trim_start_matches('/'))
        .decode_utf8_lossy()
        .into_owned();
    match (method.as_str(), object.is_empty()) {
        ("GET", true) => {
            let prefix = q.get("prefix").cloned().unwrap_or_default();
            let names: Vec<&String> = b
                .objects
                .keys()
                .filter(|n| n.starts_with(&prefix))
                .collect();
            let start = q
                .get("pageToken")
                .and_then(|t| t.parse::<usize>().ok())
                .unwrap_or(0);
            let items: Vec<Value> = names
                .iter()
                .skip(start)
                .take(2)
                .map(|n| resource(n, &b.objects[*n]))
                .collect();
            let mut page = json!({ "kind": "storage#objects", "items": items });
            if start + 2 < names.len() {
                page["nextPageToken"] = json!((start + 2).to_string());
            }
            axum::Json(page).into_response()
        }
        ("GET", false) => match (b.objects.get(&object), q.get("alt").map(String::as_str)) {
            (None, _) => error(
                404,
                "notFound",
                &format!("No such object: {bucket}/{object}"),
            ),
            (Some(o), None | Some("json")) => axum::Json(resource(&object, o)).into_response(),
            (Some(o), Some("media")) => media(o),
            (Some(_), Some(other)) => error(
                400,
                "invalidParameter",
                &format!("Invalid value for alt: {other}"),
            ),
        },
        ("DELETE", false) => {
            let Some(o) = b.objects.get(&object) else {
                return error(404, "notFound", "No such object");
            };
            if expect.is_some_and(|g| g != o.generation) {
                return error(
                    412,
                    "conditionNotMet",
                    "At least one of the pre-conditions you specified did not hold.",
                );
            }
            b.objects.remove(&object);
            StatusCode::NO_CONTENT.into_response()
        }
        _ => error(405, "invalid", "Method not allowed"),
    }
}

/// The JSON part and the media part of a `multipart/related` body.
fn split_multipart(body: &[u8], boundary: &str) -> (Value, Vec<u8>) {
    let delimiter = format!("--{boundary}");
    let text = body;
    let parts: Vec<&[u8]> = split(text, delimiter.as_bytes());
    let payload = |part: &[u8]| -> Vec<u8> {
        let start = find(part, b"\r\n\r\n").map_or(0, |i| i + 4);
        let end = part.len().saturating_sub(2).max(start);
        part[start..end].to_vec()
    };
    let meta = serde_json::from_slice(&payload(parts[1])).unwrap_or(Value::Null);
    (meta, payload(parts[2]))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn split<'a>(mut hay: &'a [u8], sep: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    while let Some(i) = find(hay, sep) {
        out.push(&hay[..i]);
        hay = &hay[i + sep.len()..];
    }
    out.push(hay);
    out
}
