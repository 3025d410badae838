//! A local folder as the destination (a local Airflow's dags folder).
//!
//! Which files dagship wrote is kept in `.dagship-sync.json` inside the folder: for each file,
//! the MD5 it wrote and who wrote it (pipeline and step). A file someone changed since, or
//! another sync wrote, is not this sync's and is never deleted by it. The marker of earlier
//! versions (name → MD5, no owner) is read as unmarked files, adopted when synced unchanged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::{Checksum, Destination, Include, Owner, Precondition, Remote, SyncError, checksums};
use crate::checksum::md5_hex;

pub(crate) const MARKER: &str = ".dagship-sync.json";

/// What the marker says of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Mark {
    md5: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    owner: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Marker {
    files: BTreeMap<String, Mark>,
}

impl Marker {
    /// The marker as written, in this format or the first one (name → MD5).
    fn parse(text: &str) -> Marker {
        if let Ok(marker) = serde_json::from_str::<Marker>(text) {
            return marker;
        }
        let first: BTreeMap<String, String> = serde_json::from_str(text).unwrap_or_default();
        let files = first
            .into_iter()
            .map(|(name, md5)| (name, Mark { md5, owner: None }))
            .collect();
        Marker { files }
    }
}

pub(crate) struct LocalDir {
    root: PathBuf,
    /// The folder as the pipeline names it, for messages.
    shown: String,
    /// This sync, as the marker names it.
    owner: String,
    /// The marker as `list` read it, updated by writes.
    marker: Mutex<Marker>,
}

impl LocalDir {
    pub(crate) fn new(root: PathBuf, shown: &str, owner: &str) -> LocalDir {
        LocalDir {
            root,
            shown: shown.trim_end_matches('/').to_string(),
            owner: owner.to_string(),
            marker: Mutex::new(Marker::default()),
        }
    }

    fn marker(&self) -> std::sync::MutexGuard<'_, Marker> {
        self.marker.lock().expect("not poisoned")
    }

    fn mark(&self, md5: String) -> Mark {
        Mark {
            md5,
            owner: Some(self.owner.clone()),
        }
    }

    fn owner_of(&self, mark: Option<&Mark>, md5: &str) -> Owner {
        match mark {
            Some(m) if m.md5 != md5 => Owner::Theirs,
            Some(Mark { owner: None, .. }) => Owner::Unmarked,
            Some(Mark { owner: Some(o), .. }) if *o == self.owner => Owner::Ours,
            _ => Owner::Theirs,
        }
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

    async fn list(&self) -> Result<BTreeMap<String, Remote>, SyncError> {
        if !self.root.exists() {
            return Ok(BTreeMap::new());
        }
        let text = std::fs::read_to_string(self.root.join(MARKER)).unwrap_or_default();
        let marker = Marker::parse(&text);
        let mut files = checksums(&self.root, Include::All).map_err(|source| SyncError::Local {
            path: self.root.clone(),
            source,
        })?;
        files.remove(MARKER);
        let listing = files
            .into_iter()
            .map(|(name, md5)| {
                let remote = Remote {
                    owner: self.owner_of(marker.files.get(&name), &md5),
                    checksum: Checksum::Md5(md5),
                    version: Precondition::None,
                };
                (name, remote)
            })
            .collect();
        *self.marker() = marker;
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
        let mark = self.mark(md5_hex(&bytes));
        self.marker().files.insert(name.to_string(), mark);
        Ok(())
    }

    async fn delete(&self, name: &str, _: Precondition) -> Result<(), SyncError> {
        let path = self.root.join(name);
        std::fs::remove_file(&path).map_err(self.write_error(&path))?;
        self.marker().files.remove(name);
        Ok(())
    }

    async fn adopt(&self, name: &str, _: Precondition) -> Result<(), SyncError> {
        if let Some(mark) = self.marker().files.get_mut(name) {
            mark.owner = Some(self.owner.clone());
        }
        Ok(())
    }

    /// Records what dagship wrote; an unchanged file nobody marked is adopted as this
    /// sync's own (it has the content this sync would write).
    async fn finish(&self, synced: &BTreeMap<String, String>) -> Result<(), SyncError> {
        let mut marker = self.marker();
        for (name, md5) in synced {
            if !marker.files.contains_key(name) {
                marker.files.insert(name.clone(), self.mark(md5.clone()));
            }
        }
        std::fs::create_dir_all(&self.root).map_err(self.write_error(&self.root))?;
        let text = serde_json::to_string_pretty(&*marker).expect("a marker serialises");
        let path = self.root.join(MARKER);
        std::fs::write(&path, text).map_err(self.write_error(&path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::{Request, sync};

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    async fn sync_to(target: &LocalDir, src: &Path) -> crate::sync::Diff {
        let req = Request {
            prune: true,
            ..Request::new(src)
        };
        sync(target, &req, |_| {}).await.unwrap()
    }

    #[tokio::test]
    async fn first_sync_then_nothing_then_change_and_prune() {
        let (src, dst) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let root = dst.path().join("dags");
        let target = LocalDir::new(root.clone(), "dags", "p/sync");
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

#[cfg(test)]
mod owner_tests {
    use super::*;
    use crate::sync::{Request, sync};

    #[tokio::test]
    async fn two_syncs_into_one_folder_leave_each_other_alone() {
        let (a, b, dst) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        std::fs::write(a.path().join("a.py"), "a").unwrap();
        std::fs::write(b.path().join("b.py"), "b").unwrap();
        let root = dst.path().to_path_buf();
        let prune = |src| Request {
            prune: true,
            ..Request::new(src)
        };
        let first = LocalDir::new(root.clone(), "dags", "team_a/upload");
        let second = LocalDir::new(root.clone(), "dags", "team_b/upload");
        sync(&first, &prune(a.path()), |_| {}).await.unwrap();
        let d = sync(&second, &prune(b.path()), |_| {}).await.unwrap();
        assert!(
            d.deleted.is_empty(),
            "b's sync does not prune a's file: {d:?}"
        );
        let d = sync(&first, &prune(a.path()), |_| {}).await.unwrap();
        assert!(d.deleted.is_empty(), "nor a's sync b's: {d:?}");
        assert!(root.join("a.py").exists() && root.join("b.py").exists());
    }

    #[tokio::test]
    async fn files_of_the_first_marker_are_adopted_not_deleted() {
        let (src, dst) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let root = dst.path().to_path_buf();
        std::fs::write(src.path().join("kept.py"), "k").unwrap();
        std::fs::write(root.join("kept.py"), "k").unwrap();
        std::fs::write(root.join("gone.py"), "g").unwrap();
        let first_format =
            serde_json::json!({ "kept.py": md5_hex(b"k"), "gone.py": md5_hex(b"g") });
        std::fs::write(root.join(MARKER), first_format.to_string()).unwrap();
        let target = LocalDir::new(root.clone(), "dags", "p/upload");
        // Removing the one file it manages is past any limit: allowed here.
        let req = Request {
            prune: true,
            prune_limit: None,
            ..Request::new(src.path())
        };
        let d = sync(&target, &req, |_| {}).await.unwrap();
        assert_eq!(
            (d.adopted.clone(), d.deleted.clone()),
            (vec!["kept.py".to_string()], vec![])
        );
        assert!(
            root.join("gone.py").exists(),
            "an unmarked file is never deleted"
        );
        std::fs::remove_file(src.path().join("kept.py")).unwrap();
        let d = sync(&target, &req, |_| {}).await.unwrap();
        assert_eq!(
            d.deleted,
            ["kept.py"],
            "once adopted, it is this sync's to prune"
        );
    }
}
