//! The state store under an S3 prefix, `s3://BUCKET/PREFIX`. A version is the object's
//! ETag; every write and delete names what it expects, so that S3 itself refuses a write
//! that would overwrite another run's: `If-None-Match: *` to create (S3's conditional
//! writes, August 2024), `If-Match: ETAG` to replace and to delete (conditional deletes,
//! September 2025).

use std::sync::Arc;

use super::bucket_path::{BucketPath, WRITE_KEY, write_mark};
use super::{Backend, StoreError, Stored, Version};
use crate::aws::Cloud;
use crate::aws::s3::{Expect, S3Error};

/// The state store's location as given could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadS3Location {
    #[error("`{url}` names no bucket: write s3://BUCKET/PREFIX")]
    NoBucket { url: String },
}

pub struct S3Store {
    cloud: Arc<Cloud>,
    at: BucketPath,
}

impl S3Store {
    /// The store at `url`: `s3://BUCKET/PREFIX` (the prefix possibly empty), reached through
    /// `cloud`. Bucket names are checked when the pipeline loads.
    pub fn new(cloud: Arc<Cloud>, url: &str) -> Result<S3Store, BadS3Location> {
        let rest = url.strip_prefix("s3://").unwrap_or(url);
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(BadS3Location::NoBucket { url: url.into() });
        }
        Ok(S3Store {
            cloud,
            at: BucketPath::new("s3", bucket, prefix),
        })
    }

    fn unavailable(&self, key: &str, source: S3Error) -> StoreError {
        StoreError::unavailable(&self.url(), key, source)
    }

    fn changed(&self, key: &str) -> StoreError {
        StoreError::changed(&self.url(), key)
    }

    /// Writes `key` if it is still as `expect` says; `Ok(None)` when it is not.
    ///
    /// The SDK retries a write whose answer was lost (a 5xx, a dropped connection), and the
    /// retry then meets 412 for our own first write. So each write carries a number drawn for
    /// it, and a refused write whose object carries ours was ours after all.
    async fn write(
        &self,
        key: &str,
        bytes: &[u8],
        expect: Expect,
    ) -> Result<Option<Version>, StoreError> {
        let (mark, metadata) = write_mark();
        let (s3, object) = (self.cloud.s3().await, self.at.object(key));
        let written = s3
            .put(&self.at.bucket, &object, bytes.to_vec(), &metadata, &expect)
            .await;
        match written {
            Ok(etag) => Ok(Some(Version(etag))),
            Err(S3Error::Changed { .. }) => match s3.head(&self.at.bucket, &object).await {
                Ok(Some(o)) if o.metadata.get(WRITE_KEY) == Some(&mark) => {
                    Ok(Some(Version(o.etag)))
                }
                Ok(_) => Ok(None),
                Err(e) => Err(self.unavailable(key, e)),
            },
            Err(e) => Err(self.unavailable(key, e)),
        }
    }
}

#[async_trait::async_trait]
impl Backend for S3Store {
    fn url(&self) -> String {
        self.at.url()
    }

    async fn read(&self, key: &str) -> Result<Option<Stored>, StoreError> {
        let s3 = self.cloud.s3().await;
        let found = s3
            .get(&self.at.bucket, &self.at.object(key))
            .await
            .map_err(|e| self.unavailable(key, e))?;
        Ok(found.map(|c| Stored {
            bytes: c.bytes,
            version: Version(c.etag),
        }))
    }

    async fn create(&self, key: &str, bytes: &[u8]) -> Result<Version, StoreError> {
        self.write(key, bytes, Expect::Absent)
            .await?
            .ok_or_else(|| StoreError::Exists {
                store: self.url(),
                key: key.to_string(),
            })
    }

    async fn replace(
        &self,
        key: &str,
        bytes: &[u8],
        expected: &Version,
    ) -> Result<Version, StoreError> {
        self.write(key, bytes, Expect::ETag(expected.0.clone()))
            .await?
            .ok_or_else(|| self.changed(key))
    }

    async fn delete(&self, key: &str, expected: &Version) -> Result<(), StoreError> {
        let (s3, object) = (self.cloud.s3().await, self.at.object(key));
        match s3.delete(&self.at.bucket, &object, &expected.0).await {
            Ok(()) => Ok(()),
            // Refused: still fine if the object is gone, as the trait promises.
            Err(S3Error::Changed { .. }) => match s3.head(&self.at.bucket, &object).await {
                Ok(None) => Ok(()),
                Ok(Some(_)) => Err(self.changed(key)),
                Err(e) => Err(self.unavailable(key, e)),
            },
            Err(e) => Err(self.unavailable(key, e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let s3 = self.cloud.s3().await;
        let keys = s3
            .keys(&self.at.bucket, &self.at.object(prefix))
            .await
            .map_err(|e| self.unavailable(prefix, e))?;
        Ok(self.at.keys(keys))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_and_where_keys_go() {
        let cloud = Arc::new(Cloud::connect(Some("eu-west-1"), None));
        for (url, shown, object) in [
            (
                "s3://acme-state/warehouse",
                "s3://acme-state/warehouse",
                "warehouse/e/lock.json",
            ),
            (
                "s3://acme-state/a/b/",
                "s3://acme-state/a/b",
                "a/b/e/lock.json",
            ),
            ("s3://acme-state", "s3://acme-state", "e/lock.json"),
        ] {
            let store = S3Store::new(Arc::clone(&cloud), url).unwrap();
            assert_eq!(
                (
                    store.url().as_str(),
                    store.at.object("e/lock.json").as_str()
                ),
                (shown, object),
                "{url}"
            );
        }
        let none = S3Store::new(cloud, "s3:///warehouse").err().unwrap();
        assert_eq!(
            none.to_string(),
            "`s3:///warehouse` names no bucket: write s3://BUCKET/PREFIX"
        );
    }
}
