//! Shared helpers: locating, reading and gunzipping the fidelity corpus (`tests/corpus/`).

#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};

use dagship::dbt::manifest::Manifest;

/// `tests/corpus` of this repository; `$DBT_CORPUS_DIR` overrides it, to try another set of
/// manifests laid out the same way.
pub fn corpus_dir() -> PathBuf {
    match std::env::var_os("DBT_CORPUS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus"),
    }
}

/// The bytes of the corpus file `relative` (e.g. `expected/tuva.selections.json`). The
/// repository keeps large JSON gzipped as `relative.gz`; an override folder may hold either.
pub fn read(relative: &str) -> Vec<u8> {
    let plain = corpus_dir().join(relative);
    if plain.is_file() {
        return std::fs::read(&plain).unwrap_or_else(|e| panic!("read {}: {e}", plain.display()));
    }
    let gz = corpus_dir().join(format!("{relative}.gz"));
    if !gz.is_file() {
        panic!(
            "corpus file {relative} not found: neither {} nor {} exists",
            plain.display(),
            gz.display()
        );
    }
    gunzip(&gz)
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
