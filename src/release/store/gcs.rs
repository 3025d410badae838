//! The state store under a Cloud Storage prefix (being written: see the helper's branch).

use super::{Backend, StoreError, Stored, Version};
use crate::gcp::storage::Storage;

pub struct GcsStore {
    storage: Storage,
    url: String,
}

impl GcsStore {
    pub fn new(storage: Storage, url: &str) -> GcsStore {
        GcsStore {
            storage,
            url: url.to_string(),
        }
    }

    fn todo(&self, key: &str) -> StoreError {
        let _ = &self.storage;
        StoreError::unavailable(&self.url, key, "not written yet")
    }
}

#[async_trait::async_trait]
impl Backend for GcsStore {
    fn url(&self) -> String {
        self.url.clone()
    }
    async fn read(&self, key: &str) -> Result<Option<Stored>, StoreError> {
        Err(self.todo(key))
    }
    async fn create(&self, key: &str, _bytes: &[u8]) -> Result<Version, StoreError> {
        Err(self.todo(key))
    }
    async fn replace(&self, key: &str, _: &[u8], _: &Version) -> Result<Version, StoreError> {
        Err(self.todo(key))
    }
    async fn delete(&self, key: &str, _: &Version) -> Result<(), StoreError> {
        Err(self.todo(key))
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        Err(self.todo(prefix))
    }
}
