//! A Cloud Storage prefix as the destination (a Composer environment's DAG folder, or any
//! bucket).
//!
//! Objects dagship writes carry the MD5 it wrote in their metadata (`dagship-md5`): an object
//! whose content still has that MD5 is ours, and only ours are ever pruned. Someone who
//! replaces an object replaces its metadata too, so their file is safe. Writes and deletes
//! name the generation the listing saw (`ifGenerationMatch`), so that a file someone changed
//! meanwhile is not overwritten.

use std::collections::BTreeMap;

use super::{Checksum, Destination, Precondition, Remote, SyncError};
use crate::checksum::md5_hex;
use crate::gcp::storage::{Expect, Storage};

/// Object metadata key marking what dagship wrote (its value: the MD5 written).
pub const OWNER_KEY: &str = "dagship-md5";

#[derive(Clone)]
pub struct GcsFolder {
    storage: Storage,
    bucket: String,
    /// Empty, or ending in `/`.
    prefix: String,
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

    fn object(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
}

fn expect(precondition: Precondition) -> Expect {
    match precondition {
        Precondition::Version(generation) => Expect::Generation(generation),
        Precondition::Absent | Precondition::None => Expect::Absent,
    }
}

#[async_trait::async_trait]
impl Destination for GcsFolder {
    fn url(&self) -> String {
        format!("gs://{}/{}", self.bucket, self.prefix)
    }

    async fn list(&self) -> Result<BTreeMap<String, Remote>, SyncError> {
        let objects = self.storage.list(&self.bucket, &self.prefix).await?;
        let mut remote = BTreeMap::new();
        for o in objects {
            let Some(name) = o.name.strip_prefix(&self.prefix) else {
                continue;
            };
            // Folder placeholders that consoles create are not files.
            if name.is_empty() || name.ends_with('/') {
                continue;
            }
            let ours = o.md5.is_some() && o.metadata.get(OWNER_KEY) == o.md5.as_ref();
            let checksum = match (o.md5, o.crc32c) {
                (Some(md5), _) => Checksum::Md5(md5),
                (None, Some(crc)) => Checksum::Crc32c(crc),
                (None, None) => Checksum::Unknown,
            };
            let entry = Remote {
                checksum,
                ours,
                version: Precondition::Version(o.generation),
            };
            remote.insert(name.to_string(), entry);
        }
        Ok(remote)
    }

    async fn put(&self, name: &str, bytes: Vec<u8>, at: Precondition) -> Result<(), SyncError> {
        let metadata = BTreeMap::from([(OWNER_KEY.to_string(), md5_hex(&bytes))]);
        let object = self.object(name);
        self.storage
            .upload(&self.bucket, &object, &bytes, &metadata, expect(at))
            .await?;
        Ok(())
    }

    async fn delete(&self, name: &str, at: Precondition) -> Result<(), SyncError> {
        let Precondition::Version(generation) = at else {
            return Ok(()); // listed without a generation: not there
        };
        let object = self.object(name);
        self.storage
            .delete(&self.bucket, &object, generation)
            .await?;
        Ok(())
    }
}
