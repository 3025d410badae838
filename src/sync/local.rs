//! A local folder as the destination (a local Airflow's dags folder).
//!
//! Which files dagship wrote is kept in `.dagship-sync.json` inside the folder, with the MD5
//! it wrote: a file someone changed since is no longer considered ours and is never deleted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{Checksum, Destination, Precondition, Remote, SyncError, local_files};
use crate::checksum::md5_hex;

pub(crate) const MARKER: &str = ".dagship-sync.json";

pub(crate) struct LocalDir {
    root: PathBuf,
    /// The folder as the pipeline names it, for messages.
    shown: String,
    /// What dagship wrote there (name → MD5), as read by `list` and kept by writes.
    written: Mutex<BTreeMap<String, String>>,
}

impl LocalDir {
    pub(crate) fn new(root: PathBuf, shown: &str) -> LocalDir {
        LocalDir {
            root,
            shown: shown.trim_end_matches('/').to_string(),
            written: Mutex::new(BTreeMap::new()),
        }
    }

    fn read_marker(&self) -> BTreeMap<String, String> {
        std::fs::read_to_string(self.root.join(MARKER))
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default()
    }

    fn written(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        self.written.lock().expect("not poisoned")
    }

    fn write_error(&self, path: &Path) -> impl FnOnce(std::io::Error) -> SyncError {
        let path = path.to_path_buf();
        move |source| SyncError::Write { path, source }
    }
}

#[async_trait::async_trait]
impl Destination for LocalDir {
    fn url(&self) -> String {
        format!("{}/", self.shown)
    }

    /// The folder's files, each marked ours when dagship wrote exactly this content.
    async fn list(&self) -> Result<BTreeMap<String, Remote>, SyncError> {
        if !self.root.exists() {
            return Ok(BTreeMap::new());
        }
        let written = self.read_marker();
        let mut files = local_files(&self.root).map_err(|source| SyncError::Local {
            path: self.root.clone(),
            source,
        })?;
        files.remove(MARKER);
        let listing = files
            .into_iter()
            .map(|(name, md5)| {
                let ours = written.get(&name) == Some(&md5);
                let remote = Remote {
                    checksum: Checksum::Md5(md5),
                    ours,
                    version: Precondition::None,
                };
                (name, remote)
            })
            .collect();
        *self.written() = written;
        Ok(listing)
    }

    async fn put(&self, name: &str, bytes: Vec<u8>, _: Precondition) -> Result<(), SyncError> {
        let dest = self.root.join(name);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(self.write_error(parent))?;
        }
        // Write then rename: Airflow never parses a half-written DAG file.
        let tmp = dest.with_extension("dagship-tmp");
        std::fs::write(&tmp, &bytes).map_err(self.write_error(&tmp))?;
        std::fs::rename(&tmp, &dest).map_err(self.write_error(&dest))?;
        self.written().insert(name.to_string(), md5_hex(&bytes));
        Ok(())
    }

    async fn delete(&self, name: &str, _: Precondition) -> Result<(), SyncError> {
        let path = self.root.join(name);
        std::fs::remove_file(&path).map_err(self.write_error(&path))?;
        self.written().remove(name);
        Ok(())
    }

    /// Records what dagship wrote; an unchanged file it syncs is adopted as its own.
    async fn finish(&self, synced: &BTreeMap<String, String>) -> Result<(), SyncError> {
        let mut written = self.written().clone();
        for (name, md5) in synced {
            written.entry(name.clone()).or_insert_with(|| md5.clone());
        }
        std::fs::create_dir_all(&self.root).map_err(self.write_error(&self.root))?;
        let marker = serde_json::to_string_pretty(&written).expect("a map serialises");
        let path = self.root.join(MARKER);
        std::fs::write(&path, marker).map_err(self.write_error(&path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::sync;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    async fn sync_to(target: &LocalDir, src: &Path) -> crate::sync::Diff {
        sync(target, src, true, 4, |_| {}).await.unwrap()
    }

    #[tokio::test]
    async fn first_sync_then_nothing_then_change_and_prune() {
        let (src, dst) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let root = dst.path().join("dags");
        let target = LocalDir::new(root.clone(), "dags");
        write(src.path(), "a.py", "a");
        write(src.path(), "b.py", "b");
        let first = sync_to(&target, src.path()).await;
        assert_eq!(first.added, ["a.py", "b.py"]);
        assert_eq!(sync_to(&target, src.path()).await.unchanged.len(), 2);
        write(&root, "theirs.py", "not ours");
        write(src.path(), "a.py", "a2");
        std::fs::remove_file(src.path().join("b.py")).unwrap();
        let d = sync_to(&target, src.path()).await;
        assert_eq!(
            (d.changed, d.deleted),
            (vec!["a.py".to_string()], vec!["b.py".to_string()])
        );
        assert!(
            root.join("theirs.py").exists(),
            "a file dagship did not write survives prune"
        );
        assert_eq!(std::fs::read_to_string(root.join("a.py")).unwrap(), "a2");
    }
}
