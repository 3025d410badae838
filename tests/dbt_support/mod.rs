//! Shared helpers: locating and gunzipping the fidelity corpus.

#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};

use dagship::dbt::manifest::Manifest;

/// `$DBT_CORPUS_DIR`, else `shared/corpus` next to this crate or its parents.
pub fn corpus_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("DBT_CORPUS_DIR") {
        return PathBuf::from(dir);
    }
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let found = here
        .ancestors()
        .map(|a| a.join("shared/corpus"))
        .find(|c| c.join("README.md").is_file());
    found.unwrap_or_else(|| {
        panic!(
            "fidelity corpus not found: set DBT_CORPUS_DIR or put shared/corpus beside {}",
            here.display()
        )
    })
}

pub fn gunzip(path: &Path) -> Vec<u8> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(file)
        .read_to_end(&mut out)
        .unwrap_or_else(|e| panic!("gunzip {}: {e}", path.display()));
    out
}

pub fn load_manifest(project: &str) -> Manifest {
    let path = corpus_dir().join(format!("{project}.manifest.json.gz"));
    Manifest::from_slice(&gunzip(&path), &path).unwrap_or_else(|e| panic!("{e}"))
}
