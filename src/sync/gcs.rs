//! A Cloud Storage prefix as the destination (a Composer environment's DAG folder, or any
//! bucket).
//!
//! Objects dagship writes carry the MD5 it wrote in their metadata (`dagship-md5`): an object
//! whose content still has that MD5 is ours, and only ours are ever pruned. Someone who
//! replaces an object replaces its metadata too, so their file is safe.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::{Diff, Remote, diff, local_files, md5_hex};
use crate::gcp::storage::{Expect, Storage, StorageError, crc32c_b64};

/// Object metadata key marking what dagship wrote (its value: the MD5 written).
pub const OWNER_KEY: &str = "dagship-md5";

pub const DEFAULT_CONCURRENCY: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("cannot read {}: {source}", path.display())]
    Local {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("{failed} of {total} uploads failed, so nothing was pruned; first: {first}")]
    Uploads {
        failed: usize,
        total: usize,
        first: StorageError,
    },
}

/// The destination's objects, by name relative to the prefix.
pub struct Listing {
    pub remote: BTreeMap<String, Remote>,
    generations: HashMap<String, i64>,
}

impl Listing {
    fn expect(&self, name: &str) -> Expect {
        self.generations
            .get(name)
            .map_or(Expect::Absent, |g| Expect::Generation(*g))
    }
}

#[derive(Clone)]
pub struct GcsFolder {
    pub storage: Storage,
    pub bucket: String,
    /// Empty, or ending in `/`.
    pub prefix: String,
}

impl GcsFolder {
    pub fn new(storage: Storage, bucket: &str, prefix: &str) -> GcsFolder {
        let bucket = bucket.trim_start_matches("gs://").trim_end_matches('/');
        let prefix = prefix.trim_matches('/');
        GcsFolder {
            storage,
            bucket: bucket.into(),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
        }
    }

    pub fn url(&self) -> String {
        format!("gs://{}/{}", self.bucket, self.prefix)
    }

    /// Lists the prefix. An object with only a CRC32C (a composite) is compared with the
    /// file of the same name in `source`, when there is one.
    pub async fn listing(&self, source: Option<&Path>) -> Result<Listing, StorageError> {
        let objects = self.storage.list(&self.bucket, &self.prefix).await?;
        let mut remote = BTreeMap::new();
        let mut generations = HashMap::new();
        for o in objects {
            let Some(name) = o.name.strip_prefix(&self.prefix) else {
                continue;
            };
            // Folder placeholders that consoles create are not files.
            if name.is_empty() || name.ends_with('/') {
                continue;
            }
            let md5 = match (&o.md5, &o.crc32c) {
                (Some(m), _) => m.clone(),
                (None, Some(crc)) => same_crc(source, name, crc).unwrap_or(format!("crc32c:{crc}")),
                (None, None) => String::new(),
            };
            let ours = o.md5.is_some() && o.metadata.get(OWNER_KEY) == o.md5.as_ref();
            generations.insert(name.to_string(), o.generation);
            remote.insert(name.to_string(), Remote { md5, ours });
        }
        Ok(Listing {
            remote,
            generations,
        })
    }

    /// Makes the prefix hold `source`'s files: uploads new and changed ones (`concurrency`
    /// at once), then, with `prune` and only if every upload succeeded, deletes the objects
    /// dagship wrote earlier that are gone locally. `say` hears of each object written.
    pub async fn sync(
        &self,
        source: &Path,
        prune: bool,
        concurrency: usize,
        say: impl Fn(String) + Send + Sync + 'static,
    ) -> Result<Diff, SyncError> {
        let local = local_files(source).map_err(|e| SyncError::Local {
            path: source.to_path_buf(),
            source: e,
        })?;
        let listing = self.listing(Some(source)).await?;
        let d = diff(&local, &listing.remote, prune);
        let say = Arc::new(say);
        let writes: Vec<(String, Expect)> = d
            .added
            .iter()
            .chain(&d.changed)
            .map(|n| (n.clone(), listing.expect(n)))
            .collect();
        self.upload_all(source, writes, concurrency, Arc::clone(&say))
            .await?;
        let deletes: Vec<(String, i64)> = d
            .deleted
            .iter()
            .map(|n| (n.clone(), listing.generations[n]))
            .collect();
        self.delete_all(deletes, concurrency, say).await?;
        Ok(d)
    }

    async fn upload_all(
        &self,
        source: &Path,
        writes: Vec<(String, Expect)>,
        concurrency: usize,
        say: Arc<impl Fn(String) + Send + Sync + 'static>,
    ) -> Result<(), SyncError> {
        let total = writes.len();
        let gate = Arc::new(Semaphore::new(concurrency.max(1)));
        let mut tasks = JoinSet::new();
        for (name, expect) in writes {
            let (me, gate, say, path) = (
                self.clone(),
                Arc::clone(&gate),
                Arc::clone(&say),
                source.join(&name),
            );
            tasks.spawn(async move {
                let _permit = gate.acquire_owned().await.expect("never closed");
                let bytes = tokio::fs::read(&path).await.map_err(|e| SyncError::Local {
                    path: path.clone(),
                    source: e,
                })?;
                let object = format!("{}{name}", me.prefix);
                let metadata = BTreeMap::from([(OWNER_KEY.to_string(), md5_hex(&bytes))]);
                me.storage
                    .upload(&me.bucket, &object, &bytes, &metadata, expect)
                    .await?;
                say(format!("uploaded gs://{}/{object}", me.bucket));
                Ok::<(), SyncError>(())
            });
        }
        let mut failures = Vec::new();
        while let Some(done) = tasks.join_next().await {
            match done.expect("upload tasks do not panic") {
                Ok(()) => {}
                Err(SyncError::Storage(e)) => failures.push(e),
                Err(other) => return Err(other),
            }
        }
        let failed = failures.len();
        match failures.into_iter().next() {
            None => Ok(()),
            Some(first) => Err(SyncError::Uploads {
                failed,
                total,
                first,
            }),
        }
    }

    async fn delete_all(
        &self,
        deletes: Vec<(String, i64)>,
        concurrency: usize,
        say: Arc<impl Fn(String) + Send + Sync + 'static>,
    ) -> Result<(), SyncError> {
        let gate = Arc::new(Semaphore::new(concurrency.max(1)));
        let mut tasks = JoinSet::new();
        for (name, generation) in deletes {
            let (me, gate, say) = (self.clone(), Arc::clone(&gate), Arc::clone(&say));
            tasks.spawn(async move {
                let _permit = gate.acquire_owned().await.expect("never closed");
                let object = format!("{}{name}", me.prefix);
                me.storage.delete(&me.bucket, &object, generation).await?;
                say(format!("deleted gs://{}/{object}", me.bucket));
                Ok::<(), StorageError>(())
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.expect("delete tasks do not panic")?;
        }
        Ok(())
    }
}

/// The local file's MD5 when its CRC32C is `crc` (so it counts as unchanged).
fn same_crc(source: Option<&Path>, name: &str, crc: &str) -> Option<String> {
    let bytes = std::fs::read(source?.join(name)).ok()?;
    (crc32c_b64(&bytes) == crc).then(|| md5_hex(&bytes))
}
