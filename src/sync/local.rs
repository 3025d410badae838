//! A local folder as the destination (a local Airflow's dags folder).
//!
//! Which files dagship wrote is kept in `.dagship-sync.json` inside the folder, with the MD5
//! it wrote: a file someone changed since is no longer considered ours and is never deleted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Diff, Remote, diff, local_files, md5_hex};

pub const MARKER: &str = ".dagship-sync.json";

pub struct LocalDir {
    pub root: PathBuf,
}

impl LocalDir {
    fn written(&self) -> BTreeMap<String, String> {
        std::fs::read_to_string(self.root.join(MARKER))
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default()
    }

    /// The folder's files, each marked ours when dagship wrote exactly this content.
    pub fn listing(&self) -> std::io::Result<BTreeMap<String, Remote>> {
        if !self.root.exists() {
            return Ok(BTreeMap::new());
        }
        let written = self.written();
        let mut files = local_files(&self.root)?;
        files.remove(MARKER);
        Ok(files
            .into_iter()
            .map(|(name, md5)| {
                let ours = written.get(&name) == Some(&md5);
                (name, Remote { md5, ours })
            })
            .collect())
    }

    /// Makes the folder hold `source`'s files; returns what changed.
    pub fn sync(&self, source: &Path, prune: bool) -> std::io::Result<Diff> {
        let local = local_files(source)?;
        let d = diff(&local, &self.listing()?, prune);
        let mut written = self.written();
        for name in d.added.iter().chain(&d.changed) {
            let bytes = std::fs::read(source.join(name))?;
            let dest = self.root.join(name);
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent)?;
            }
            // Write then rename: Airflow never parses a half-written DAG file.
            let tmp = dest.with_extension("dagship-tmp");
            std::fs::write(&tmp, &bytes)?;
            std::fs::rename(&tmp, &dest)?;
            written.insert(name.clone(), md5_hex(&bytes));
        }
        for name in &d.deleted {
            std::fs::remove_file(self.root.join(name))?;
            written.remove(name);
        }
        for name in &d.unchanged {
            written
                .entry(name.clone())
                .or_insert_with(|| local[name].clone());
        }
        std::fs::create_dir_all(&self.root)?;
        let marker = serde_json::to_string_pretty(&written).expect("a map serialises");
        std::fs::write(self.root.join(MARKER), marker)?;
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn first_sync_then_nothing_then_change_and_prune() {
        let (src, dst) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let target = LocalDir {
            root: dst.path().join("dags"),
        };
        write(src.path(), "a.py", "a");
        write(src.path(), "b.py", "b");
        let first = target.sync(src.path(), true).unwrap();
        assert_eq!(first.added, ["a.py", "b.py"]);
        assert_eq!(target.sync(src.path(), true).unwrap().unchanged.len(), 2);
        write(&target.root, "theirs.py", "not ours");
        write(src.path(), "a.py", "a2");
        std::fs::remove_file(src.path().join("b.py")).unwrap();
        let d = target.sync(src.path(), true).unwrap();
        assert_eq!(
            (d.changed, d.deleted),
            (vec!["a.py".to_string()], vec!["b.py".to_string()])
        );
        assert!(
            target.root.join("theirs.py").exists(),
            "a file dagship did not write survives prune"
        );
        assert_eq!(
            std::fs::read_to_string(target.root.join("a.py")).unwrap(),
            "a2"
        );
    }
}
