//! The files of a local folder that a sync sends, and in which order.
//!
//! Hidden files and caches (`.DS_Store`, `.pytest_cache/`, `__pycache__/`, `*.pyc`) stay
//! behind unless asked for: Airflow rebuilds its caches, and a stray editor file is no DAG.
//! Helper modules go before DAG files, so that Airflow never parses a DAG whose import is not
//! there yet.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::checksum::md5_hex;

/// Which files of a folder count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Include {
    /// All but hidden files and caches: what a sync sends unless asked otherwise.
    #[default]
    Visible,
    /// Every file (what a destination holds, or a sync asked to send hidden files too).
    All,
}

/// Whether a file (name relative to the folder, with `/`) is hidden or a cache.
fn skipped(name: &str) -> bool {
    name.ends_with(".pyc")
        || name
            .split('/')
            .any(|part| part.starts_with('.') || part == "__pycache__")
}

/// The files of `dir` that count, by name relative to it (with `/`), sorted.
pub fn walk(dir: &Path, include: Include) -> std::io::Result<BTreeMap<String, PathBuf>> {
    let mut files = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(folder) = todo.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let path = entry?.path();
            let name = path
                .strip_prefix(dir)
                .expect("under dir")
                .to_string_lossy()
                .replace('\\', "/");
            if include == Include::Visible && skipped(&name) {
                continue;
            }
            if path.is_dir() {
                todo.push(path);
            } else {
                files.insert(name, path);
            }
        }
    }
    Ok(files)
}

/// The files a sync sends from `dir`, and their MD5.
pub fn local_files(dir: &Path) -> std::io::Result<BTreeMap<String, String>> {
    checksums(dir, Include::Visible)
}

/// The files of `dir` that count, and their MD5.
pub fn checksums(dir: &Path, include: Include) -> std::io::Result<BTreeMap<String, String>> {
    walk(dir, include)?
        .into_iter()
        .map(|(name, path)| Ok((name, md5_hex(&std::fs::read(&path)?))))
        .collect()
}

/// Whether Airflow would parse the file as a DAG file: its own test (the default
/// `dag_discovery_safe_mode`) is a `.py` file that mentions both "airflow" and "dag".
pub fn is_dag_file(name: &str, bytes: &[u8]) -> bool {
    let lower = bytes.to_ascii_lowercase();
    let has = |word: &[u8]| lower.windows(word.len()).any(|w| w == word);
    name.ends_with(".py") && has(b"airflow") && has(b"dag")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_files_and_caches_stay_behind_unless_asked() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "a.py",
            "sub/b.py",
            ".DS_Store",
            "__pycache__/a.cpython-311.pyc",
            ".pytest_cache/v/cache",
            "sub/c.pyc",
        ] {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, name).unwrap();
        }
        let visible: Vec<String> = walk(dir.path(), Include::Visible)
            .unwrap()
            .into_keys()
            .collect();
        assert_eq!(visible, ["a.py", "sub/b.py"]);
        assert_eq!(walk(dir.path(), Include::All).unwrap().len(), 6);
    }

    #[test]
    fn dag_files_are_told_as_airflow_tells_them() {
        assert!(is_dag_file("d.py", b"from airflow import DAG"));
        assert!(!is_dag_file("settings.py", b"PROJECT = 'acme'"));
        assert!(!is_dag_file("notes.md", b"airflow dag"));
    }
}
