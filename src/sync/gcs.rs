//! A Cloud Storage prefix as the destination (a Composer environment's DAG folder, or any
//! bucket).
//!
//! Objects dagship writes carry, in their metadata, who wrote them (`dagship-owner`: the
//! pipeline and step) and the MD5 it wrote (`dagship-md5`): an object whose owner is this sync
//! and whose content still has that MD5 is ours, and only ours are ever pruned. Two
//! pipelines, or two steps, syncing into one Composer bucket leave each other's files alone;
//! someone who replaces an object replaces its metadata too, so their file is safe. Objects
//! from before owners were recorded (an MD5 mark, no owner) are adopted when synced
//! unchanged, and never deleted. Writes and deletes name the generation the listing saw
//! (`ifGenerationMatch`), so that a file someone changed meanwhile is not overwritten.

use std::collections::BTreeMap;

use super::{Checksum, Destination, Owner, Precondition, Remote, SyncError};
use crate::checksum::md5_hex;
use crate::gcp::storage::{Expect, Storage};

/// Object metadata key: the MD5 dagship wrote.
pub const MD5_KEY: &str = "dagship-md5";
/// Object metadata key: who wrote it, `pipeline/step`.
pub const OWNER_KEY: &str = "dagship-owner";

#[derive(Clone)]
pub struct GcsFolder {
    storage: Storage,
    bucket: String,
    /// Empty, or ending in `/`.
    prefix: String,
    /// This sync, as its objects' `dagship-owner` names it.
    owner: String,
}

impl GcsFolder {
    pub fn new(storage: Storage, bucket: &str, prefix: &str, owner: &str) -> GcsFolder {
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
            owner: owner.to_string(),
        }
    }

    fn owner_of(&self, md5: Option<&String>, metadata: &BTreeMap<String, String>) -> Owner {
        let unchanged = md5.is_some() && metadata.get(MD5_KEY) == md5;
        match metadata.get(OWNER_KEY) {
            Some(owner) if unchanged && *owner == self.owner => Owner::Ours,
            None if unchanged => Owner::Unmarked,
            _ => Owner::Theirs,
        }
    }

    fn marks(&self, md5: String) -> BTreeMap<String, String> {
        BTreeMap::from([
            (MD5_KEY.to_string(), md5),
            (OWNER_KEY.to_string(), self.owner.clone()),
        ])
    }

    fn object(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
}

fn expect(precondition: Precondition) -> Expect {
    match precondition {
        Precondition::Version(generation) => Expect::Generation(generation),
        // An ETag is S3's: never listed here, so taken as the strictest.
        Precondition::Absent | Precondition::None | Precondition::ETag(_) => Expect::Absent,
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
            let owner = self.owner_of(o.md5.as_ref(), &o.metadata);
            let checksum = match (o.md5, o.crc32c) {
                (Some(md5), _) => Checksum::Md5(md5),
                (None, Some(crc)) => Checksum::Crc32c(crc),
                (None, None) => Checksum::Unknown,
            };
            let entry = Remote {
                checksum,
                owner,
                version: Precondition::Version(o.generation),
            };
            remote.insert(name.to_string(), entry);
        }
        Ok(remote)
    }

    async fn put(&self, name: &str, bytes: Vec<u8>, at: Precondition) -> Result<(), SyncError> {
        let metadata = self.marks(md5_hex(&bytes));
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

    async fn adopt(&self, name: &str, at: Precondition) -> Result<(), SyncError> {
        let Precondition::Version(generation) = at else {
            return Ok(()); // listed without a generation: not there
        };
        let object = self.object(name);
        let owner = BTreeMap::from([(OWNER_KEY.to_string(), self.owner.clone())]);
        self.storage
            .set_metadata(&self.bucket, &object, &owner, generation)
            .await?;
        Ok(())
    }
}
