//! The state store in a folder on this machine. A record appears whole or not at all: it is
//! written to a temporary file and linked to its name, which fails when the name is taken
//! (the local form of `ifGenerationMatch=0`). A version is the file's SHA-256.
//!
//! `replace` and `delete` compare the version and then act, which another process could come
//! between; only the lock is ever replaced or deleted, and only by its holder or, after its
//! expiry, by the one run that renamed it away first.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{Backend, StoreError, Stored, Version};

pub struct DirStore {
    root: PathBuf,
    /// As the pipeline file wrote it, for messages.
    shown: String,
}

impl DirStore {
    pub fn new(root: PathBuf, shown: &str) -> DirStore {
        DirStore {
            root,
            shown: shown.to_string(),
        }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    fn fail(&self, key: &str, source: std::io::Error) -> StoreError {
        StoreError::unavailable(&self.shown, key, source)
    }

    fn changed(&self, key: &str) -> StoreError {
        StoreError::changed(&self.shown, key)
    }

    /// Writes `bytes` beside `path` under a name no other writer uses.
    fn temporary(&self, key: &str, path: &Path, bytes: &[u8]) -> Result<PathBuf, StoreError> {
        let parent = path.parent().expect("keys are below the root");
        std::fs::create_dir_all(parent).map_err(|e| self.fail(key, e))?;
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let temp = parent.join(format!(
            ".{name}.{}-{:08x}.tmp",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::write(&temp, bytes).map_err(|e| self.fail(key, e))?;
        Ok(temp)
    }

    fn current(&self, key: &str) -> Result<Option<Stored>, StoreError> {
        match std::fs::read(self.path(key)) {
            Ok(bytes) => Ok(Some(Stored {
                version: version_of(&bytes),
                bytes,
            })),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.fail(key, e)),
        }
    }
}

fn version_of(bytes: &[u8]) -> Version {
    Version(crate::checksum::hex(&Sha256::digest(bytes)))
}

#[async_trait::async_trait]
impl Backend for DirStore {
    fn url(&self) -> String {
        self.shown.clone()
    }

    async fn read(&self, key: &str) -> Result<Option<Stored>, StoreError> {
        self.current(key)
    }

    async fn create(&self, key: &str, bytes: &[u8]) -> Result<Version, StoreError> {
        let path = self.path(key);
        let temp = self.temporary(key, &path, bytes)?;
        let linked = std::fs::hard_link(&temp, &path);
        let _ = std::fs::remove_file(&temp);
        match linked {
            Ok(()) => Ok(version_of(bytes)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Err(StoreError::Exists {
                store: self.shown.clone(),
                key: key.to_string(),
            }),
            Err(e) => Err(self.fail(key, e)),
        }
    }

    async fn replace(
        &self,
        key: &str,
        bytes: &[u8],
        expected: &Version,
    ) -> Result<Version, StoreError> {
        match self.current(key)? {
            Some(now) if now.version == *expected => {}
            _ => return Err(self.changed(key)),
        }
        let path = self.path(key);
        let temp = self.temporary(key, &path, bytes)?;
        std::fs::rename(&temp, &path).map_err(|e| self.fail(key, e))?;
        Ok(version_of(bytes))
    }

    async fn delete(&self, key: &str, expected: &Version) -> Result<(), StoreError> {
        match self.current(key)? {
            None => Ok(()),
            Some(now) if now.version != *expected => Err(self.changed(key)),
            Some(_) => match std::fs::remove_file(self.path(key)) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
                Err(e) => Err(self.fail(key, e)),
            },
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        // The folder part of the prefix is walked; the rest filters names.
        let (folder, _) = prefix.rsplit_once('/').unwrap_or(("", prefix));
        let mut keys = Vec::new();
        let mut pending = vec![folder.to_string()];
        while let Some(rel) = pending.pop() {
            let entries = match std::fs::read_dir(self.path(&rel)) {
                Ok(entries) => entries,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(self.fail(prefix, e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| self.fail(prefix, e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') {
                    continue; // temporary files of writers
                }
                let key = if rel.is_empty() {
                    name
                } else {
                    format!("{rel}/{name}")
                };
                let is_dir = entry
                    .file_type()
                    .map_err(|e| self.fail(prefix, e))?
                    .is_dir();
                if is_dir {
                    pending.push(key);
                } else if key.starts_with(prefix) {
                    keys.push(key);
                }
            }
        }
        keys.sort();
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, DirStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::new(dir.path().join("state"), "state");
        (dir, store)
    }

    fn block<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn create_writes_once() {
        let (_dir, store) = store();
        block(async {
            let v = store.create("a/releases/1.json", b"one").await.unwrap();
            let again = store.create("a/releases/1.json", b"two").await;
            assert!(matches!(again, Err(StoreError::Exists { .. })), "{again:?}");
            let read = store.read("a/releases/1.json").await.unwrap().unwrap();
            assert_eq!((read.bytes.as_slice(), read.version), (&b"one"[..], v));
            assert_eq!(store.read("a/releases/2.json").await.unwrap(), None);
        });
    }

    #[test]
    fn replace_and_delete_need_the_version_they_expect() {
        let (_dir, store) = store();
        block(async {
            let v1 = store.create("e/lock.json", b"mine").await.unwrap();
            let v2 = store
                .replace("e/lock.json", b"mine, later", &v1)
                .await
                .unwrap();
            let stale = store.replace("e/lock.json", b"theirs", &v1).await;
            assert!(
                matches!(stale, Err(StoreError::Changed { .. })),
                "{stale:?}"
            );
            let stale = store.delete("e/lock.json", &v1).await;
            assert!(
                matches!(stale, Err(StoreError::Changed { .. })),
                "{stale:?}"
            );
            store.delete("e/lock.json", &v2).await.unwrap();
            assert_eq!(store.read("e/lock.json").await.unwrap(), None);
            store.delete("e/lock.json", &v2).await.unwrap();
            let gone = store.replace("e/lock.json", b"x", &v2).await;
            assert!(matches!(gone, Err(StoreError::Changed { .. })), "{gone:?}");
        });
    }

    #[test]
    fn list_finds_keys_by_prefix_sorted_without_temporary_files() {
        let (dir, store) = store();
        block(async {
            for key in [
                "e/releases/2.json",
                "e/releases/1.json",
                "f/releases/1.json",
            ] {
                store.create(key, b"{}").await.unwrap();
            }
            std::fs::write(dir.path().join("state/e/releases/.x.tmp"), b"").unwrap();
            assert_eq!(
                store.list("e/releases/").await.unwrap(),
                ["e/releases/1.json", "e/releases/2.json"]
            );
            assert_eq!(
                store.list("nothing/here/").await.unwrap(),
                Vec::<String>::new()
            );
        });
    }
}
