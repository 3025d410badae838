//! Amazon S3: the few calls a DAG sync and a state store make, with S3's conditional writes.
//!
//! Every object dagship writes carries its CRC32C in S3's checksum header
//! (`x-amz-checksum-crc32c`): S3 checks the bytes against it and keeps it, and `HeadObject`
//! with checksum mode gives it back. The ETag is no content hash (it is an MD5 only for a
//! single-part upload without KMS), so it serves only as the version a conditional write
//! names: `If-None-Match: *` to create, `If-Match: ETAG` to replace or delete.

use std::collections::{BTreeMap, HashMap};

use aws_config::SdkConfig;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode};
use aws_smithy_types::error::display::DisplayErrorContext;
use futures_util::{StreamExt, TryStreamExt, stream};

use super::endpoints::Endpoints;
use crate::checksum::crc32c_b64;

/// `HeadObject` calls at once when listing (S3 takes thousands a second per prefix).
const HEADS_AT_ONCE: usize = 16;

#[derive(Debug, Clone, thiserror::Error)]
pub enum S3Error {
    /// No credentials were found (without a network call): no call is made.
    #[error("{problem}")]
    NoCredentials { problem: String },
    #[error("s3://{bucket}/{key} was changed by someone else meanwhile (S3 refused the write)")]
    Changed { bucket: String, key: String },
    #[error("S3 bucket `{bucket}` does not exist")]
    NoBucket { bucket: String },
    #[error("access to s3://{bucket}/{key} was denied: {detail}")]
    Denied {
        bucket: String,
        key: String,
        detail: String,
    },
    /// A write to a bucket without versioning: MWAA names its files by object version.
    #[error(
        "S3 bucket `{bucket}` keeps no object versions: turn versioning on (MWAA reads plugins and requirements by version)"
    )]
    Unversioned { bucket: String },
    #[error("{operation} s3://{bucket}/{key} failed: {detail}")]
    Call {
        operation: &'static str,
        bucket: String,
        key: String,
        detail: String,
    },
}

/// What a write expects to find.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// No object at the key (`If-None-Match: *`).
    Absent,
    /// The object with this ETag (`If-Match`).
    ETag(String),
}

/// An object as `HeadObject` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub key: String,
    pub etag: String,
    /// Base64, when the object was written with a CRC32C checksum.
    pub crc32c: Option<String>,
    /// User metadata (`x-amz-meta-*`), keys in lowercase.
    pub metadata: BTreeMap<String, String>,
}

/// An object's content and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    pub bytes: Vec<u8>,
    pub etag: String,
    pub metadata: BTreeMap<String, String>,
}

#[derive(Clone)]
pub struct S3 {
    client: aws_sdk_s3::Client,
    /// Why calls cannot be made, when no credentials were found: each call says so at once
    /// rather than after the SDK's own search (a plan reads the release store this way).
    no_credentials: Option<String>,
}

impl S3 {
    pub fn new(config: &SdkConfig, endpoints: &Endpoints) -> S3 {
        let mut conf = aws_sdk_s3::config::Builder::from(config);
        if let Some(url) = &endpoints.s3 {
            conf = conf.endpoint_url(url);
        }
        let conf = conf.force_path_style(endpoints.s3_path_style()).build();
        S3 {
            client: aws_sdk_s3::Client::from_conf(conf),
            no_credentials: None,
        }
    }

    /// Refuses every call with `problem`, when there is one.
    pub fn refusing(self, problem: Option<String>) -> S3 {
        S3 {
            no_credentials: problem,
            ..self
        }
    }

    fn ready(&self) -> Result<(), S3Error> {
        match &self.no_credentials {
            Some(problem) => Err(S3Error::NoCredentials {
                problem: problem.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Every key under `prefix`, sorted.
    pub async fn keys(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, S3Error> {
        self.ready()?;
        let pages = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut keys = Vec::new();
        let mut pages = std::pin::pin!(pages);
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("listing", bucket, prefix, e))?;
            let listed = page.contents().iter().filter_map(|o| o.key());
            keys.extend(listed.map(str::to_string));
        }
        keys.sort();
        Ok(keys)
    }

    /// Every object under `prefix` with its checksum and metadata (one `HeadObject` each,
    /// [`HEADS_AT_ONCE`] at a time: a listing has neither), sorted by key.
    pub async fn objects(&self, bucket: &str, prefix: &str) -> Result<Vec<Object>, S3Error> {
        let keys = self.keys(bucket, prefix).await?;
        // Futures made in a plain loop: a closure over borrowed keys trips the compiler's
        // check that the caller's future is `Send`.
        let mut heads = Vec::with_capacity(keys.len());
        for key in &keys {
            heads.push(self.head(bucket, key));
        }
        let heads = stream::iter(heads).buffered(HEADS_AT_ONCE);
        let found: Vec<Option<Object>> = heads.try_collect().await?;
        // Deleted between the listing and its head: not there.
        Ok(found.into_iter().flatten().collect())
    }

    /// The object at `key`, without its content; `None` when there is none.
    pub async fn head(&self, bucket: &str, key: &str) -> Result<Option<Object>, S3Error> {
        self.head_at(bucket, key, None).await
    }

    /// Version `version` of the object at `key`, without its content; `None` when there is
    /// no such version.
    pub async fn head_version(
        &self,
        bucket: &str,
        key: &str,
        version: &str,
    ) -> Result<Option<Object>, S3Error> {
        self.head_at(bucket, key, Some(version)).await
    }

    async fn head_at(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> Result<Option<Object>, S3Error> {
        self.ready()?;
        let call = self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .set_version_id(version.map(str::to_string))
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await;
        // A version id that is not one of this key's is a 400 (`InvalidArgument`).
        let missing = |code| code == Some(404) || (version.is_some() && code == Some(400));
        match call {
            Ok(o) => Ok(Some(Object {
                key: key.to_string(),
                etag: o.e_tag().unwrap_or_default().to_string(),
                crc32c: o.checksum_crc32_c().map(str::to_string),
                metadata: lowercase(o.metadata()),
            })),
            Err(e) if missing(status(&e)) => Ok(None),
            Err(e) => Err(classify("reading", bucket, key, e)),
        }
    }

    /// Writes `bytes` at `key` of a versioned bucket as a new version, whatever is there (the
    /// versions before stay); returns its version id. [`S3Error::Unversioned`] when the
    /// bucket keeps no versions.
    pub async fn put_version(
        &self,
        bucket: &str,
        key: &str,
        bytes: Vec<u8>,
        metadata: &BTreeMap<String, String>,
    ) -> Result<String, S3Error> {
        self.ready()?;
        let written = self
            .put_request(bucket, key, bytes, metadata)
            .send()
            .await
            .map_err(|e| classify("writing", bucket, key, e))?;
        match written.version_id() {
            Some(v) if !v.is_empty() && v != "null" => Ok(v.to_string()),
            _ => Err(S3Error::Unversioned {
                bucket: bucket.into(),
            }),
        }
    }

    /// A write of `bytes` at `key` with `metadata` and its CRC32C, unsent.
    fn put_request(
        &self,
        bucket: &str,
        key: &str,
        bytes: Vec<u8>,
        metadata: &BTreeMap<String, String>,
    ) -> PutObjectFluentBuilder {
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            // Both headers: the value alone is what S3 needs, but moto keeps a checksum only
            // when the algorithm is named too (`x-amz-sdk-checksum-algorithm`).
            .checksum_algorithm(ChecksumAlgorithm::Crc32C)
            .checksum_crc32_c(crc32c_b64(&bytes))
            .set_metadata(Some(metadata.clone().into_iter().collect()))
            .body(ByteStream::from(bytes))
    }

    /// The object at `key`, with its content; `None` when there is none.
    pub async fn get(&self, bucket: &str, key: &str) -> Result<Option<Content>, S3Error> {
        self.ready()?;
        let call = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await;
        let o = match call {
            Ok(o) => o,
            Err(e) if status(&e) == Some(404) => return Ok(None),
            Err(e) => return Err(classify("reading", bucket, key, e)),
        };
        let (etag, metadata) = (
            o.e_tag().unwrap_or_default().to_string(),
            o.metadata().cloned(),
        );
        let bytes = o.body.collect().await.map_err(|e| S3Error::Call {
            operation: "reading",
            bucket: bucket.into(),
            key: key.into(),
            detail: e.to_string(),
        })?;
        Ok(Some(Content {
            bytes: bytes.into_bytes().to_vec(),
            etag,
            metadata: lowercase(metadata.as_ref()),
        }))
    }

    /// Writes `bytes` at `key` with `metadata`, if it is as `expect` says; returns the new
    /// ETag. [`S3Error::Changed`] when it is not.
    pub async fn put(
        &self,
        bucket: &str,
        key: &str,
        bytes: Vec<u8>,
        metadata: &BTreeMap<String, String>,
        expect: &Expect,
    ) -> Result<String, S3Error> {
        self.ready()?;
        let mut put = self.put_request(bucket, key, bytes, metadata);
        put = match expect {
            Expect::Absent => put.if_none_match("*"),
            Expect::ETag(etag) => put.if_match(etag),
        };
        match put.send().await {
            Ok(written) => Ok(written.e_tag().unwrap_or_default().to_string()),
            Err(e) => Err(classify("writing", bucket, key, e)),
        }
    }

    /// Deletes `key` if its ETag is still `etag`; an object already gone is fine.
    pub async fn delete(&self, bucket: &str, key: &str, etag: &str) -> Result<(), S3Error> {
        self.ready()?;
        let call = self
            .client
            .delete_object()
            .bucket(bucket)
            .key(key)
            .if_match(etag)
            .send()
            .await;
        match call {
            Ok(_) => Ok(()),
            Err(e) if status(&e) == Some(404) => Ok(()),
            Err(e) => Err(classify("deleting", bucket, key, e)),
        }
    }
}

fn lowercase(metadata: Option<&HashMap<String, String>>) -> BTreeMap<String, String> {
    metadata
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect()
}

fn status<E>(e: &SdkError<E, HttpResponse>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

/// What a failed call means for the caller: a precondition that failed (412, or 409 for a
/// conditional write that raced another), a bucket that is not there, a refusal, or else
/// the SDK's own account of it (after its retries).
fn classify<E>(
    operation: &'static str,
    bucket: &str,
    key: &str,
    e: SdkError<E, HttpResponse>,
) -> S3Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (bucket, key) = (bucket.to_string(), key.to_string());
    match (status(&e), e.code()) {
        (Some(412), _) | (Some(409), Some("ConditionalRequestConflict")) => {
            S3Error::Changed { bucket, key }
        }
        (_, Some("NoSuchBucket")) => S3Error::NoBucket { bucket },
        (Some(403), _) => S3Error::Denied {
            bucket,
            key,
            detail: e.message().unwrap_or("403 Forbidden").to_string(),
        },
        _ => S3Error::Call {
            operation,
            bucket,
            key,
            detail: DisplayErrorContext(&e).to_string(),
        },
    }
}
