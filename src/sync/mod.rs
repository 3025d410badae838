//! Syncing a folder of DAG files to where Airflow reads them, by content.
//!
//! The diff is computed from checksums (MD5, what Cloud Storage records for every object), so
//! an unchanged file is never written again. Only files dagship itself put there are ever
//! deleted, and only after every write succeeded.

pub mod gcs;
pub mod local;

use std::collections::BTreeMap;
use std::path::Path;

use md5::{Digest, Md5};

/// A file at the destination, as its listing describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    pub md5: String,
    /// Whether dagship wrote it (and may therefore delete it).
    pub ours: bool,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Diff {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub deleted: Vec<String>,
    pub unchanged: Vec<String>,
}

impl Diff {
    pub fn counts(&self) -> [(&'static str, usize); 4] {
        [
            ("added", self.added.len()),
            ("changed", self.changed.len()),
            ("deleted", self.deleted.len()),
            ("unchanged", self.unchanged.len()),
        ]
    }
}

/// The files of `dir` (relative names with `/`) and their MD5, sorted.
pub fn local_files(dir: &Path) -> std::io::Result<BTreeMap<String, String>> {
    let mut files = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(folder) = todo.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let path = entry?.path();
            if path.is_dir() {
                todo.push(path);
                continue;
            }
            let name = path
                .strip_prefix(dir)
                .expect("under dir")
                .to_string_lossy()
                .replace('\\', "/");
            // Python caches are not DAGs, and Airflow rebuilds them on its side.
            if name.contains("__pycache__/") || name.ends_with(".pyc") {
                continue;
            }
            files.insert(name, md5_hex(&std::fs::read(&path)?));
        }
    }
    Ok(files)
}

pub fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What to write and delete so that the destination holds `local`; deletions only with
/// `prune`, and only of files dagship wrote.
pub fn diff(
    local: &BTreeMap<String, String>,
    remote: &BTreeMap<String, Remote>,
    prune: bool,
) -> Diff {
    let mut d = Diff::default();
    for (name, md5) in local {
        match remote.get(name) {
            None => d.added.push(name.clone()),
            Some(r) if &r.md5 != md5 => d.changed.push(name.clone()),
            Some(_) => d.unchanged.push(name.clone()),
        }
    }
    if prune {
        d.deleted = remote
            .iter()
            .filter(|(name, r)| r.ours && !local.contains_key(*name))
            .map(|(name, _)| name.clone())
            .collect();
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(md5: &str, ours: bool) -> Remote {
        Remote {
            md5: md5.into(),
            ours,
        }
    }

    #[test]
    fn diff_by_content_and_prunes_only_our_files() {
        let local = BTreeMap::from([
            ("a.py".into(), "1".into()),
            ("b.py".into(), "2".into()),
            ("c.py".into(), "3".into()),
        ]);
        let remote = BTreeMap::from([
            ("a.py".into(), remote("1", true)),
            ("b.py".into(), remote("x", true)),
            ("old.py".into(), remote("9", true)),
            ("theirs.py".into(), remote("8", false)),
        ]);
        let d = diff(&local, &remote, true);
        assert_eq!(
            (d.added, d.changed, d.unchanged),
            (
                vec!["c.py".to_string()],
                vec!["b.py".to_string()],
                vec!["a.py".to_string()]
            )
        );
        assert_eq!(d.deleted, vec!["old.py".to_string()]);
        assert!(diff(&local, &remote, false).deleted.is_empty());
    }
}
