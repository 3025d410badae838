//! An S3 prefix as the destination (an MWAA environment's DAG folder, or any bucket).
//!
//! Like the Cloud Storage destination: objects dagship writes carry, in their metadata, who
//! wrote them (`dagship-owner`: the pipeline and step) and the CRC32C it wrote
//! (`dagship-crc32c`); an object whose owner is this sync and whose content still has that
//! checksum is ours, and only ours are ever pruned. Someone who replaces an object replaces
//! its metadata too (S3 keeps none across a `PutObject`), so their file is safe. Content is
//! compared by the CRC32C S3 keeps in its checksum field, never by the ETag. Writes and
//! deletes name what the listing saw: `If-None-Match: *` for a new file, `If-Match` with the
//! ETag for a changed or pruned one, so that a file someone changed meanwhile is not
//! overwritten.

use std::collections::BTreeMap;

use super::{Checksum, Destination, Owner, Precondition, Remote, SyncError};
use crate::aws::s3::{Expect, S3, S3Error};
use crate::checksum::crc32c_b64;

/// Object metadata key: the CRC32C (base64) dagship wrote.
pub const CRC32C_KEY: &str = "dagship-crc32c";
/// Object metadata key: who wrote it, `pipeline/step`.
pub const OWNER_KEY: &str = "dagship-owner";

pub struct S3Folder {
    s3: S3,
    bucket: String,
    /// Empty, or ending in `/`.
    prefix: String,
    /// This sync, as its objects' `dagship-owner` names it.
    owner: String,
}

impl S3Folder {
    pub fn new(s3: S3, bucket: &str, prefix: &str, owner: &str) -> S3Folder {
        let prefix = prefix.trim_matches('/');
        S3Folder {
            s3,
            bucket: bucket.to_string(),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
            owner: owner.to_string(),
        }
    }

    fn owner_of(&self, crc32c: Option<&String>, metadata: &BTreeMap<String, String>) -> Owner {
        let unchanged = crc32c.is_some() && metadata.get(CRC32C_KEY) == crc32c;
        match metadata.get(OWNER_KEY) {
            Some(owner) if unchanged && *owner == self.owner => Owner::Ours,
            _ => Owner::Theirs,
        }
    }

    /// Whether the object at `key` is this sync's, with the content whose CRC32C is `crc`.
    async fn wrote(&self, key: &str, crc: &str) -> Result<bool, SyncError> {
        let Some(o) = self.s3.head(&self.bucket, key).await? else {
            return Ok(false);
        };
        let ours = o.metadata.get(OWNER_KEY) == Some(&self.owner);
        Ok(ours
            && o.crc32c.as_deref() == Some(crc)
            && o.metadata.get(CRC32C_KEY).map(String::as_str) == Some(crc))
    }

    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn etag(&self, name: &str, at: Precondition) -> Result<String, SyncError> {
        match at {
            Precondition::ETag(etag) => Ok(etag),
            // Never listed so: a file that was not there cannot be changed or deleted.
            _ => Err(SyncError::S3(S3Error::Changed {
                bucket: self.bucket.clone(),
                key: self.key(name),
            })),
        }
    }
}

#[async_trait::async_trait]
impl Destination for S3Folder {
    fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    async fn list(&self) -> Result<BTreeMap<String, Remote>, SyncError> {
        let objects = self.s3.objects(&self.bucket, &self.prefix).await?;
        let mut remote = BTreeMap::new();
        for o in objects {
            let Some(name) = o.key.strip_prefix(&self.prefix) else {
                continue;
            };
            // Folder placeholders that consoles create are not files.
            if name.is_empty() || name.ends_with('/') {
                continue;
            }
            let entry = Remote {
                owner: self.owner_of(o.crc32c.as_ref(), &o.metadata),
                checksum: o.crc32c.map_or(Checksum::Unknown, Checksum::Crc32c),
                version: Precondition::ETag(o.etag),
            };
            remote.insert(name.to_string(), entry);
        }
        Ok(remote)
    }

    async fn put(&self, name: &str, bytes: Vec<u8>, at: Precondition) -> Result<(), SyncError> {
        let crc = crc32c_b64(&bytes);
        let metadata = BTreeMap::from([
            (CRC32C_KEY.to_string(), crc.clone()),
            (OWNER_KEY.to_string(), self.owner.clone()),
        ]);
        let expect = match at {
            Precondition::ETag(etag) => Expect::ETag(etag),
            Precondition::Absent | Precondition::Version(_) | Precondition::None => Expect::Absent,
        };
        let key = self.key(name);
        match self
            .s3
            .put(&self.bucket, &key, bytes, &metadata, &expect)
            .await
        {
            Ok(_) => Ok(()),
            // A write whose answer was lost, retried by the SDK, meets 412 for its own object:
            // one that this sync marked with this very content is that write.
            Err(S3Error::Changed { .. }) if self.wrote(&key, &crc).await? => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete(&self, name: &str, at: Precondition) -> Result<(), SyncError> {
        let etag = self.etag(name, at)?;
        self.s3.delete(&self.bucket, &self.key(name), &etag).await?;
        Ok(())
    }

    /// No S3 object is ever listed as unmarked: dagship recorded owners from its first write
    /// to S3, so there is nothing of its own from before to adopt.
    async fn adopt(&self, _: &str, _: Precondition) -> Result<(), SyncError> {
        Ok(())
    }
}
