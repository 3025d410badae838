//! The state store under a Cloud Storage prefix, `gs://BUCKET/PREFIX`. A version is the
//! object's generation; every write and delete names the generation it expects
//! (`ifGenerationMatch`, `0` for "not there yet"), so that Cloud Storage itself refuses a
//! write that would overwrite another run's.

use super::bucket_path::{BucketPath, WRITE_KEY, write_mark};
use super::{Backend, StoreError, Stored, Version};
use crate::gcp::storage::{Expect, Storage, StorageError};

/// The state store's location as given could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadLocation {
    #[error("`{url}` names no bucket: write gs://BUCKET/PREFIX")]
    NoBucket { url: String },
    #[error("`{url}` is not gs://BUCKET/PREFIX: a bucket name cannot hold `{found}`")]
    Character { url: String, found: char },
}

pub struct GcsStore {
    storage: Storage,
    at: BucketPath,
}

impl GcsStore {
    /// The store at `url`: `gs://BUCKET/PREFIX` (or `BUCKET/PREFIX`, as the pipeline file
    /// allows), the prefix possibly empty or ending in `/`.
    pub fn new(storage: Storage, url: &str) -> Result<GcsStore, BadLocation> {
        let rest = url.strip_prefix("gs://").unwrap_or(url);
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(BadLocation::NoBucket { url: url.into() });
        }
        let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c);
        if let Some(found) = bucket.chars().find(|c| !allowed(*c)) {
            return Err(BadLocation::Character {
                url: url.into(),
                found,
            });
        }
        Ok(GcsStore {
            storage,
            at: BucketPath::new("gs", bucket, prefix),
        })
    }

    fn unavailable(&self, key: &str, source: StorageError) -> StoreError {
        StoreError::unavailable(&self.url(), key, source)
    }

    fn changed(&self, key: &str) -> StoreError {
        StoreError::changed(&self.url(), key)
    }

    /// Writes `key` if it is still at `expect`; `Ok(None)` when it is not.
    ///
    /// A retried try whose first answer was lost meets 412 for its own write: `upload` then
    /// re-reads the object and takes one with our bytes as ours. For the lock that is right
    /// as long as no two runs write the same bytes, which holds (it names its run), but
    /// records could coincide and blobs do by design, and `create` must still refuse those
    /// as the folder store does. So each write also carries a number drawn for it, and only
    /// an object that carries ours is ours.
    async fn write(
        &self,
        key: &str,
        bytes: &[u8],
        expect: Expect,
    ) -> Result<Option<Version>, StoreError> {
        let (mark, metadata) = write_mark();
        let object = self.at.object(key);
        match self
            .storage
            .upload(&self.at.bucket, &object, bytes, &metadata, expect)
            .await
        {
            Ok(written) if written.metadata.get(WRITE_KEY) == Some(&mark) => {
                Ok(Some(Version(written.generation.to_string())))
            }
            Ok(_) | Err(StorageError::Changed { .. }) => Ok(None),
            Err(e) => Err(self.unavailable(key, e)),
        }
    }
}

/// The generation `version` names; this store gives no other kind of version, and never 0
/// (which would mean "absent" to a precondition).
fn generation(version: &Version) -> Option<i64> {
    version.0.parse().ok().filter(|g| *g > 0)
}

#[async_trait::async_trait]
impl Backend for GcsStore {
    fn url(&self) -> String {
        self.at.url()
    }

    async fn read(&self, key: &str) -> Result<Option<Stored>, StoreError> {
        let found = self
            .storage
            .download(&self.at.bucket, &self.at.object(key))
            .await
            .map_err(|e| self.unavailable(key, e))?;
        Ok(found.map(|c| Stored {
            bytes: c.bytes,
            version: Version(c.generation.to_string()),
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
        let Some(g) = generation(expected) else {
            return Err(self.changed(key));
        };
        self.write(key, bytes, Expect::Generation(g))
            .await?
            .ok_or_else(|| self.changed(key))
    }

    async fn delete(&self, key: &str, expected: &Version) -> Result<(), StoreError> {
        let object = self.at.object(key);
        if let Some(g) = generation(expected) {
            match self.storage.delete(&self.at.bucket, &object, g).await {
                Ok(()) => return Ok(()),
                Err(StorageError::Changed { .. }) => {}
                Err(e) => return Err(self.unavailable(key, e)),
            }
        }
        // Refused, or a version this store never gave: still fine if the object is gone, as
        // the trait promises (and as Cloud Storage may answer 412 rather than 404 for it).
        match self.storage.get(&self.at.bucket, &object).await {
            Ok(None) => Ok(()),
            Ok(Some(_)) => Err(self.changed(key)),
            Err(e) => Err(self.unavailable(key, e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let objects = self
            .storage
            .list(&self.at.bucket, &self.at.object(prefix))
            .await
            .map_err(|e| self.unavailable(prefix, e))?;
        Ok(self.at.keys(objects.into_iter().map(|o| o.name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gcp::auth::Auth;
    use crate::gcp::http::Api;

    fn at(url: &str) -> Result<GcsStore, BadLocation> {
        let api = Api::new(std::sync::Arc::new(Auth::Anonymous));
        GcsStore::new(Storage::new(api, "http://127.0.0.1:9"), url)
    }

    #[test]
    fn locations_and_where_keys_go() {
        for (url, shown, object) in [
            (
                "gs://acme-state/warehouse",
                "gs://acme-state/warehouse",
                "warehouse/e/lock.json",
            ),
            (
                "gs://acme-state/a/b/",
                "gs://acme-state/a/b",
                "a/b/e/lock.json",
            ),
            ("gs://acme-state", "gs://acme-state", "e/lock.json"),
            ("gs://acme-state/", "gs://acme-state", "e/lock.json"),
            (
                "acme-state/warehouse",
                "gs://acme-state/warehouse",
                "warehouse/e/lock.json",
            ),
        ] {
            let store = at(url).unwrap();
            assert_eq!(
                (
                    store.url().as_str(),
                    store.at.object("e/lock.json").as_str()
                ),
                (shown, object),
                "{url}"
            );
        }
    }

    #[test]
    fn a_location_without_a_bucket_is_refused_with_a_reason() {
        let no_bucket = at("gs:///warehouse").err().unwrap();
        assert_eq!(
            no_bucket.to_string(),
            "`gs:///warehouse` names no bucket: write gs://BUCKET/PREFIX"
        );
        assert!(matches!(at("gs://"), Err(BadLocation::NoBucket { .. })));
        assert_eq!(
            at("s3://acme/x").err(),
            Some(BadLocation::Character {
                url: "s3://acme/x".into(),
                found: ':'
            })
        );
        assert!(matches!(
            at("gs://Acme/x"),
            Err(BadLocation::Character { found: 'A', .. })
        ));
    }

    /// `open` names the store and the field in its error instead of panicking.
    #[test]
    fn opening_a_malformed_bucket_location_fails() {
        use crate::pipeline::{Environment, StateStore};
        let environment = Environment {
            name: "prod".into(),
            span: Default::default(),
            project: Some("acme".into()),
            region: None,
            vars: Default::default(),
            dags_target: None,
            airflow_url: None,
            state: Some(StateStore::Bucket("gs:///warehouse".into())),
            promote_from: None,
            protected: false,
            impersonate_service_account: None,
            assume_role: None,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let opened = runtime.block_on(async {
            let connections = crate::cloud::Connections::default();
            super::super::open(&environment, std::path::Path::new("."), &connections)
        });
        let error = opened.err().unwrap();
        assert!(
            matches!(&error, StoreError::Unavailable { key, .. } if key == "state.bucket"),
            "{error:?}"
        );
        let cause = std::error::Error::source(&error).unwrap().to_string();
        assert_eq!(
            (error.to_string(), cause),
            (
                "the state store gs:///warehouse cannot be used (state.bucket)".to_string(),
                "`gs:///warehouse` names no bucket: write gs://BUCKET/PREFIX".to_string()
            )
        );
    }

    #[test]
    fn versions_are_generations() {
        assert_eq!(generation(&Version("1712".into())), Some(1712));
        for foreign in ["0", "-3", "ab12", ""] {
            assert_eq!(generation(&Version(foreign.into())), None, "{foreign}");
        }
    }
}
