//! Where an environment's releases and lock are kept: a folder on this machine, a Cloud
//! Storage prefix or an S3 prefix, behind one small trait. Every backend offers the same few
//! primitives, each conditional on the version it expects, so that two writers can never
//! overwrite each other: records are created once and never changed, the lock is created
//! only where none is, refreshed and removed only by the run that holds it.
//!
//! The layout is the same in every backend (keys are `/`-separated, relative to the root):
//!
//! ```text
//! <environment>/releases/<release id>.json   one record per release, written once
//! <environment>/lock.json                    the environment's lock, while a run holds it
//! blobs/sha256/<hex>                         DAG files, manifests, pipeline files by content
//! ```

mod bucket_path;
mod dir;
mod gcs;
mod s3;

use std::sync::Arc;

pub use dir::DirStore;
pub use gcs::{BadLocation, GcsStore};
pub use s3::{BadS3Location, S3Store};

use crate::cloud::Connections;
use crate::pipeline::{Environment, StateStore};

/// Which version of an object a conditional write or delete expects to find: a Cloud
/// Storage generation, an S3 ETag, or a local file's content hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version(pub String);

/// An object as read: its bytes and the version they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub bytes: Vec<u8>,
    pub version: Version,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `create` found the key there already.
    #[error("`{key}` already exists in the state store {store}")]
    Exists { store: String, key: String },
    /// A conditional write or delete found another version than the one it expected.
    #[error("`{key}` in the state store {store} was changed by another run")]
    Changed { store: String, key: String },
    /// The store could not be read or written.
    #[error("the state store {store} cannot be used ({key})")]
    Unavailable {
        store: String,
        key: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl StoreError {
    pub fn unavailable(
        store: &str,
        key: &str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> StoreError {
        StoreError::Unavailable {
            store: store.to_string(),
            key: key.to_string(),
            source: source.into(),
        }
    }

    pub fn changed(store: &str, key: &str) -> StoreError {
        StoreError::Changed {
            store: store.to_string(),
            key: key.to_string(),
        }
    }
}

/// The primitives a release store is built from.
#[async_trait::async_trait]
pub trait Backend: Send + Sync {
    /// Where it is, for messages: `.dagship/state`, `gs://bucket/prefix`.
    fn url(&self) -> String;
    /// The object at `key`, or `None` when there is none.
    async fn read(&self, key: &str) -> Result<Option<Stored>, StoreError>;
    /// Writes `key` only if it does not exist yet ([`StoreError::Exists`] otherwise).
    async fn create(&self, key: &str, bytes: &[u8]) -> Result<Version, StoreError>;
    /// Rewrites `key` only if it is still at `expected` ([`StoreError::Changed`] otherwise,
    /// also when it is gone).
    async fn replace(
        &self,
        key: &str,
        bytes: &[u8],
        expected: &Version,
    ) -> Result<Version, StoreError>;
    /// Removes `key` only if it is still at `expected`; one already gone is fine.
    async fn delete(&self, key: &str, expected: &Version) -> Result<(), StoreError>;
    /// Every key that starts with `prefix`, sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
}

/// Where an environment without `state:` keeps its releases and lock.
pub const DEFAULT_DIR: &str = ".dagship/state";

/// The backend `environment`'s `state:` names (relative folders resolve against `dir`, the
/// pipeline file's folder; a bucket is reached as the environment's identity). Fails only
/// for a bucket location that names no bucket, which loading the pipeline file already
/// refuses.
pub fn open(
    environment: &Environment,
    dir: &std::path::Path,
    connections: &Connections,
) -> Result<Arc<dyn Backend>, StoreError> {
    let default = StateStore::Dir(DEFAULT_DIR.to_string());
    match environment.state.as_ref().unwrap_or(&default) {
        StateStore::Dir(path) => Ok(Arc::new(DirStore::new(dir.join(path), path))),
        StateStore::Bucket(url) => {
            let cloud = connections.google(
                environment.project.as_deref(),
                environment.impersonate_service_account.as_deref(),
            );
            let store = GcsStore::new(cloud.storage.clone(), url)
                .map_err(|e| StoreError::unavailable(url, "state.bucket", e))?;
            Ok(Arc::new(store))
        }
        StateStore::S3(url) => {
            let cloud = connections.aws(
                environment.region.as_deref(),
                environment.assume_role.as_deref(),
            );
            let store = S3Store::new(cloud, url)
                .map_err(|e| StoreError::unavailable(url, "state.s3", e))?;
            Ok(Arc::new(store))
        }
    }
}
