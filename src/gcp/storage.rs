//! Cloud Storage through its JSON API: list with prefix and paging, upload with checksums and
//! preconditions, download with its checksum checked, delete with preconditions. (Google's Rust client lists and deletes over gRPC
//! only and cannot be pointed at an emulator; this speaks plain HTTP to either.)

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

use super::http::{Api, ApiError, Reply};
use crate::checksum::{crc32c_b64, hex, md5_b64, md5_hex};

/// An object as a listing describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub name: String,
    pub generation: i64,
    /// Lowercase hex; composite objects have none.
    pub md5: Option<String>,
    /// Base64 of the big-endian CRC32C, as the API gives it.
    pub crc32c: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

/// Which version of an object a write or delete expects to find (`ifGenerationMatch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The object must not exist yet (generation 0).
    Absent,
    Generation(i64),
}

impl Expect {
    fn generation(self) -> i64 {
        match self {
            Expect::Absent => 0,
            Expect::Generation(g) => g,
        }
    }
}

/// An object's bytes, as downloaded, and the generation they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contents {
    pub bytes: Vec<u8>,
    pub generation: i64,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StorageError {
    #[error("gs://{bucket}/{object}: {error}")]
    Object {
        bucket: String,
        object: String,
        error: ApiError,
    },
    #[error("listing gs://{bucket}/{prefix}: {error}")]
    List {
        bucket: String,
        prefix: String,
        error: ApiError,
    },
    #[error(
        "gs://{bucket}/{object} was changed by someone else since dagship listed it; run again"
    )]
    Changed { bucket: String, object: String },
}

#[derive(Clone)]
pub struct Storage {
    api: Api,
    base: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawObject {
    name: String,
    #[serde(default, deserialize_with = "int_string")]
    generation: i64,
    md5_hash: Option<String>,
    crc32c: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    #[serde(default)]
    items: Vec<RawObject>,
    next_page_token: Option<String>,
}

/// The JSON API writes 64-bit integers as strings.
fn int_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Int {
        S(String),
        N(i64),
    }
    match Int::deserialize(d)? {
        Int::S(s) => s.parse().map_err(serde::de::Error::custom),
        Int::N(n) => Ok(n),
    }
}

impl From<RawObject> for Object {
    fn from(raw: RawObject) -> Object {
        Object {
            md5: raw
                .md5_hash
                .and_then(|b| B64.decode(b).ok())
                .map(|bytes| hex(&bytes)),
            name: raw.name,
            generation: raw.generation,
            crc32c: raw.crc32c,
            metadata: raw.metadata,
        }
    }
}

fn encode(name: &str) -> String {
    utf8_percent_encode(name, NON_ALPHANUMERIC).to_string()
}

const BOUNDARY: &str = "dagship-5f0c1d2e9b7a4c3d";

impl Storage {
    pub fn new(api: Api, base: &str) -> Storage {
        Storage {
            api,
            base: base.to_string(),
        }
    }

    fn object_url(&self, bucket: &str, name: &str) -> String {
        format!(
            "{}/storage/v1/b/{}/o/{}",
            self.base,
            encode(bucket),
            encode(name)
        )
    }

    /// Every object whose name starts with `prefix`, following the pages.
    pub async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<Object>, StorageError> {
        let url = format!("{}/storage/v1/b/{}/o", self.base, encode(bucket));
        let mut objects = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![
                ("prefix", prefix.to_string()),
                ("maxResults", "1000".into()),
            ];
            if let Some(t) = &token {
                query.push(("pageToken", t.clone()));
            }
            let page: Page = self
                .api
                .call(|http| http.get(&url).query(&query))
                .await
                .and_then(|reply| reply.json())
                .map_err(|error| StorageError::List {
                    bucket: bucket.into(),
                    prefix: prefix.into(),
                    error,
                })?;
            objects.extend(page.items.into_iter().map(Object::from));
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(objects),
            }
        }
    }

    pub async fn get(&self, bucket: &str, name: &str) -> Result<Option<Object>, StorageError> {
        let url = self.object_url(bucket, name);
        match self.api.call(|http| http.get(&url)).await {
            Ok(reply) => reply
                .json::<RawObject>()
                .map(|raw| Some(raw.into()))
                .map_err(|source| object_error(bucket, name, source)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(source) => Err(object_error(bucket, name, source)),
        }
    }

    /// The bytes of `name` and their generation (both from one answer, so they agree), or
    /// `None` when there is no such object. The bytes are checked against the CRC32C Cloud
    /// Storage keeps for them.
    pub async fn download(
        &self,
        bucket: &str,
        name: &str,
    ) -> Result<Option<Contents>, StorageError> {
        let url = self.object_url(bucket, name);
        let reply = match self
            .api
            .call(|http| http.get(&url).query(&[("alt", "media")]))
            .await
        {
            Ok(reply) => reply,
            Err(e) if e.status() == Some(404) => return Ok(None),
            Err(source) => return Err(object_error(bucket, name, source)),
        };
        contents(&reply).map(Some).map_err(|detail| {
            let error = ApiError::Decode {
                url: reply.url.clone(),
                detail,
            };
            object_error(bucket, name, error)
        })
    }

    /// Writes `bytes` as `name` with its MD5 and CRC32C, so that Cloud Storage rejects a
    /// corrupted upload, and only if the object is still at `expect`.
    pub async fn upload(
        &self,
        bucket: &str,
        name: &str,
        bytes: &[u8],
        metadata: &BTreeMap<String, String>,
        expect: Expect,
    ) -> Result<Object, StorageError> {
        let md5 = md5_b64(bytes);
        let resource = serde_json::json!({
            "name": name,
            "md5Hash": md5,
            "crc32c": crc32c_b64(bytes),
            "contentType": content_type(name),
            "metadata": metadata,
        });
        let body = multipart(&resource, bytes);
        let url = format!("{}/upload/storage/v1/b/{}/o", self.base, encode(bucket));
        let query = [
            ("uploadType", "multipart".to_string()),
            ("ifGenerationMatch", expect.generation().to_string()),
        ];
        let sent = self
            .api
            .call(|http| {
                http.post(&url)
                    .query(&query)
                    .header(
                        "content-type",
                        format!("multipart/related; boundary={BOUNDARY}"),
                    )
                    .body(body.clone())
            })
            .await;
        match sent {
            Ok(reply) => reply
                .json::<RawObject>()
                .map(Object::from)
                .map_err(|source| object_error(bucket, name, source)),
            // A try whose answer was lost may have written the object: then it is ours.
            Err(e) if e.status() == Some(412) => match self.get(bucket, name).await? {
                Some(now) if now.md5.as_deref() == Some(&md5_hex(bytes)) => Ok(now),
                _ => Err(StorageError::Changed {
                    bucket: bucket.into(),
                    object: name.into(),
                }),
            },
            Err(source) => Err(object_error(bucket, name, source)),
        }
    }

    /// Deletes `name` if it is still at `generation`; one that is already gone is fine.
    pub async fn delete(
        &self,
        bucket: &str,
        name: &str,
        generation: i64,
    ) -> Result<(), StorageError> {
        let url = self.object_url(bucket, name);
        let query = [("ifGenerationMatch", generation.to_string())];
        match self.api.call(|http| http.delete(&url).query(&query)).await {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(404) => Ok(()),
            Err(e) if e.status() == Some(412) => Err(StorageError::Changed {
                bucket: bucket.into(),
                object: name.into(),
            }),
            Err(source) => Err(object_error(bucket, name, source)),
        }
    }

    /// Sets these metadata keys of `name` (others stay), if it is still at `generation`.
    pub async fn set_metadata(
        &self,
        bucket: &str,
        name: &str,
        metadata: &BTreeMap<String, String>,
        generation: i64,
    ) -> Result<(), StorageError> {
        let url = self.object_url(bucket, name);
        let query = [("ifGenerationMatch", generation.to_string())];
        let body = serde_json::json!({ "metadata": metadata });
        let sent = self
            .api
            .call(|http| http.patch(&url).query(&query).json(&body))
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(412) => Err(StorageError::Changed {
                bucket: bucket.into(),
                object: name.into(),
            }),
            Err(source) => Err(object_error(bucket, name, source)),
        }
    }
}

/// A download's bytes and generation, from its `x-goog-generation` and `x-goog-hash` headers.
fn contents(reply: &Reply) -> Result<Contents, String> {
    let header = |name: &str| reply.headers.get(name).and_then(|v| v.to_str().ok());
    let generation = header("x-goog-generation")
        .and_then(|g| g.parse().ok())
        .ok_or("no x-goog-generation header")?;
    // A gzip-encoded object may be sent decompressed, and its hash is of the stored bytes.
    let stored_as_sent = header("x-goog-stored-content-encoding").is_none_or(|e| e == "identity");
    let crc32c = header("x-goog-hash")
        .into_iter()
        .flat_map(|h| h.split(','))
        .find_map(|h| h.trim().strip_prefix("crc32c="));
    if let Some(expected) = crc32c.filter(|_| stored_as_sent) {
        let got = crc32c_b64(&reply.body);
        if got != expected {
            return Err(format!(
                "the bytes received have CRC32C {got}, the object {expected}"
            ));
        }
    }
    Ok(Contents {
        bytes: reply.body.to_vec(),
        generation,
    })
}

fn object_error(bucket: &str, name: &str, error: ApiError) -> StorageError {
    StorageError::Object {
        bucket: bucket.into(),
        object: name.into(),
        error,
    }
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("py") => "text/x-python",
        Some("json") => "application/json",
        Some("sql") | Some("txt") | Some("md") => "text/plain",
        Some("yml") | Some("yaml") => "application/yaml",
        _ => "application/octet-stream",
    }
}

/// The `multipart/related` body of an upload: the object's resource, then its bytes.
fn multipart(resource: &serde_json::Value, bytes: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(bytes.len() + 512);
    body.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\ncontent-type: application/json; charset=UTF-8\r\n\r\n{resource}\r\n\
             --{BOUNDARY}\r\ncontent-type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_are_one_path_segment() {
        assert_eq!(encode("dags/a b.py"), "dags%2Fa%20b%2Epy");
    }

    fn media(headers: &[(&'static str, &str)], body: &'static [u8]) -> Reply {
        let mut map = reqwest::header::HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, v.parse().unwrap());
        }
        Reply {
            status: reqwest::StatusCode::OK,
            headers: map,
            body: bytes::Bytes::from_static(body),
            url: "http://storage/o/x".into(),
        }
    }

    #[test]
    fn a_download_is_its_generation_and_bytes_that_match_their_crc32c() {
        let hash = format!("crc32c={},md5={}", crc32c_b64(b"hello"), md5_b64(b"hello"));
        let ok = media(
            &[("x-goog-generation", "1712"), ("x-goog-hash", &hash)],
            b"hello",
        );
        assert_eq!(
            contents(&ok),
            Ok(Contents {
                bytes: b"hello".to_vec(),
                generation: 1712
            })
        );
        let corrupt = media(
            &[("x-goog-generation", "1712"), ("x-goog-hash", &hash)],
            b"hellO",
        );
        assert!(contents(&corrupt).unwrap_err().contains("CRC32C"));
        let gzipped = media(
            &[
                ("x-goog-generation", "1712"),
                ("x-goog-hash", &hash),
                ("x-goog-stored-content-encoding", "gzip"),
            ],
            b"hellO",
        );
        assert!(
            contents(&gzipped).is_ok(),
            "sent decompressed: not comparable"
        );
        let unversioned = media(&[], b"hello");
        assert_eq!(
            contents(&unversioned).unwrap_err(),
            "no x-goog-generation header"
        );
    }

    #[test]
    fn reads_listing_items() {
        let raw: RawObject = serde_json::from_str(
            r#"{"name":"dags/a.py","generation":"1712","md5Hash":"XrY7u+Ae7tCTyyK7j1rNww==","metadata":{"k":"v"}}"#,
        )
        .unwrap();
        let o = Object::from(raw);
        assert_eq!(o.generation, 1712);
        assert_eq!(o.md5.as_deref(), Some("5eb63bbbe01eeed093cb22bb8f5acdc3"));
    }
}
