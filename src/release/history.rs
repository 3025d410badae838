//! An environment's releases in its state store: listed newest first, read by id, written
//! once; and the content they name (DAG files, manifests, pipeline files), stored by hash.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::record::{Command, RecordError, Release};
use super::store::{Backend, StoreError};
use crate::artifact::Blob;

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("the releases of environment `{environment}` cannot be read or written")]
    Store {
        environment: String,
        #[source]
        source: StoreError,
    },
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("environment `{environment}` has no release `{id}`{}", recent(known))]
    Unknown {
        environment: String,
        id: String,
        known: Vec<String>,
    },
    #[error("environment `{environment}` has no release that succeeded: {why}")]
    NoneSucceeded { environment: String, why: String },
    #[error(
        "release {release} of environment `{environment}` {outcome}: only a release that succeeded can be deployed again"
    )]
    NotDeployable {
        environment: String,
        release: String,
        outcome: String,
    },
    #[error("content {sha256} that the release names is missing from the state store {store}")]
    BlobMissing { store: String, sha256: String },
    #[error("content {sha256} in the state store {store} is damaged: its bytes hash to {found}")]
    BlobDamaged {
        store: String,
        sha256: String,
        found: String,
    },
}

fn recent(known: &[String]) -> String {
    match known {
        [] => " (it has no releases)".to_string(),
        _ => format!("; the newest are {}", known.join(", ")),
    }
}

/// How many ids an unknown-release message lists.
const SHOWN: usize = 5;

pub struct History {
    store: Arc<dyn Backend>,
    environment: String,
}

impl History {
    pub fn new(store: Arc<dyn Backend>, environment: &str) -> History {
        History {
            store,
            environment: environment.to_string(),
        }
    }

    /// The releases of `environment`, in the store its `state:` names.
    pub fn open(
        environment: &crate::pipeline::Environment,
        dir: &std::path::Path,
        connections: &crate::cloud::Connections,
    ) -> Result<History, ReleaseError> {
        let store = super::store::open(environment, dir, connections).map_err(|source| {
            ReleaseError::Store {
                environment: environment.name.clone(),
                source,
            }
        })?;
        Ok(History::new(store, &environment.name))
    }

    pub fn store(&self) -> &Arc<dyn Backend> {
        &self.store
    }

    pub fn environment(&self) -> &str {
        &self.environment
    }

    fn failed(&self, source: StoreError) -> ReleaseError {
        ReleaseError::Store {
            environment: self.environment.clone(),
            source,
        }
    }

    fn key(&self, id: &str) -> String {
        format!("{}/releases/{id}.json", self.environment)
    }

    /// Release ids, newest first.
    pub async fn ids(&self) -> Result<Vec<String>, ReleaseError> {
        let prefix = format!("{}/releases/", self.environment);
        let keys = self.store.list(&prefix).await.map_err(|e| self.failed(e))?;
        let mut ids: Vec<String> = keys
            .iter()
            .filter_map(|k| k.strip_prefix(&prefix)?.strip_suffix(".json"))
            .filter(|id| !id.contains('/'))
            .map(str::to_string)
            .collect();
        ids.sort_by(|a, b| b.cmp(a));
        Ok(ids)
    }

    pub async fn get(&self, id: &str) -> Result<Release, ReleaseError> {
        let key = self.key(id);
        match self.store.read(&key).await.map_err(|e| self.failed(e))? {
            Some(stored) => Ok(Release::parse(&key, &stored.bytes)?),
            None => Err(ReleaseError::Unknown {
                environment: self.environment.clone(),
                id: id.to_string(),
                known: self.ids().await?.into_iter().take(SHOWN).collect(),
            }),
        }
    }

    /// Every release, newest first; a record that cannot be read is returned as its error.
    pub async fn all(&self) -> Result<Vec<Result<Release, RecordError>>, ReleaseError> {
        let mut releases = Vec::new();
        for id in self.ids().await? {
            match self.get(&id).await {
                Ok(r) => releases.push(Ok(r)),
                Err(ReleaseError::Record(e)) => releases.push(Err(e)),
                Err(e) => return Err(e),
            }
        }
        Ok(releases)
    }

    /// The newest release that succeeded: what the environment runs now.
    pub async fn current(&self) -> Result<Option<Release>, ReleaseError> {
        for id in self.ids().await? {
            let release = self.get(&id).await?;
            if release.succeeded() {
                return Ok(Some(release));
            }
        }
        Ok(None)
    }

    /// The release `id`, or the newest that succeeded; refused unless it succeeded.
    pub async fn deployable(&self, id: Option<&str>) -> Result<Release, ReleaseError> {
        let release = match id {
            Some(id) => self.get(id).await?,
            None => self
                .current()
                .await?
                .ok_or_else(|| self.none_succeeded("nothing to deploy from it"))?,
        };
        if !release.succeeded() {
            return Err(ReleaseError::NotDeployable {
                environment: self.environment.clone(),
                release: release.id.clone(),
                outcome: release.outcome.to_string(),
            });
        }
        Ok(release)
    }

    fn none_succeeded(&self, why: &str) -> ReleaseError {
        ReleaseError::NoneSucceeded {
            environment: self.environment.clone(),
            why: why.to_string(),
        }
    }

    /// What `rollback` goes back to by default: the newest release that succeeded before the
    /// one deployed now. A rollback deploys an earlier release, so after one, "deployed now"
    /// is that earlier release, and a second rollback goes one further back.
    pub async fn before_current(&self) -> Result<Release, ReleaseError> {
        let mut succeeded = Vec::new();
        for id in self.ids().await? {
            let release = self.get(&id).await?;
            if release.succeeded() {
                succeeded.push(release);
            }
        }
        let Some(current) = succeeded.first() else {
            return Err(self.none_succeeded("nothing to roll back"));
        };
        let deployed = match (&current.command, &current.source) {
            (Command::Rollback, Some(source)) => source.release.clone(),
            _ => current.id.clone(),
        };
        succeeded
            .into_iter()
            .filter(|r| r.command != Command::Rollback && r.id < deployed)
            .find(|_| true)
            .ok_or_else(|| self.none_succeeded(&format!("none before {deployed} to roll back to")))
    }

    /// Writes the record; it never replaces one.
    pub async fn save(&self, release: &Release) -> Result<(), ReleaseError> {
        let key = self.key(&release.id);
        self.store
            .create(&key, &release.to_bytes())
            .await
            .map(|_| ())
            .map_err(|e| self.failed(e))
    }

    /// Stores `bytes` by content (already there is fine: same name, same bytes).
    pub async fn put_blob(&self, bytes: &[u8]) -> Result<Blob, ReleaseError> {
        let blob = Blob {
            sha256: sha256(bytes),
            size: bytes.len() as u64,
        };
        match self.store.create(&blob_key(&blob.sha256), bytes).await {
            Ok(_) | Err(StoreError::Exists { .. }) => Ok(blob),
            Err(e) => Err(self.failed(e)),
        }
    }

    /// The bytes of `blob`, checked against its hash.
    pub async fn blob(&self, sha256_hex: &str) -> Result<Vec<u8>, ReleaseError> {
        let stored = self
            .store
            .read(&blob_key(sha256_hex))
            .await
            .map_err(|e| self.failed(e))?;
        let Some(stored) = stored else {
            return Err(ReleaseError::BlobMissing {
                store: self.store.url(),
                sha256: sha256_hex.to_string(),
            });
        };
        let found = sha256(&stored.bytes);
        if found != sha256_hex {
            return Err(ReleaseError::BlobDamaged {
                store: self.store.url(),
                sha256: sha256_hex.to_string(),
                found,
            });
        }
        Ok(stored.bytes)
    }
}

fn blob_key(sha256: &str) -> String {
    format!("blobs/sha256/{sha256}")
}

pub fn sha256(bytes: &[u8]) -> String {
    crate::checksum::hex(&Sha256::digest(bytes))
}
