//! A release's content fetched from the state store to this machine, checked against the
//! hashes the record names: the DAG files, to deploy them again; the manifests, to compare
//! the DAGs they give with new ones.

use std::io::Read;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use super::history::{History, ReleaseError, sha256};
use super::record::Release;
use crate::artifact::{Artifact, Checkout, DagBundle};

#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error(transparent)]
    Release(#[from] ReleaseError),
    #[error("cannot write `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the manifest of release {release} (step `{step}`) is not gzip data")]
    Manifest {
        release: String,
        step: String,
        #[source]
        source: std::io::Error,
    },
    #[error("release {release} names a DAG file outside its folder: `{path}`")]
    Outside { release: String, path: String },
}

/// What to fetch: the DAG files too, or the manifests only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetch {
    Everything,
    Manifests,
}

/// Fetches `release`'s artifacts into `dir` (one folder per step), by step id.
pub async fn checkout(
    history: &History,
    release: &Release,
    dir: &Path,
    fetch: Fetch,
) -> Result<IndexMap<String, Checkout>, CheckoutError> {
    let mut out = IndexMap::new();
    for step in &release.steps {
        let Some(artifact) = &step.artifact else {
            continue;
        };
        let mut checkout = Checkout {
            artifact: artifact.clone(),
            release: release.id.clone(),
            files: None,
            manifest: None,
            selectors: None,
        };
        if let Artifact::Dags(bundle) = artifact {
            let at = dir.join(&step.id);
            checkout.manifest = manifest(history, release, &step.id, bundle, &at).await?;
            if let Some(blob) = &bundle.selectors {
                let path = at.join("selectors.yml");
                write(&path, &history.blob(&blob.sha256).await?)?;
                checkout.selectors = Some(path);
            }
            if fetch == Fetch::Everything {
                checkout.files = Some(files(history, release, bundle, &at.join("files")).await?);
            }
        }
        out.insert(step.id.clone(), checkout);
    }
    Ok(out)
}

async fn files(
    history: &History,
    release: &Release,
    bundle: &DagBundle,
    dir: &Path,
) -> Result<PathBuf, CheckoutError> {
    // A folder from an earlier checkout may hold files this release does not have.
    let _ = std::fs::remove_dir_all(dir);
    for file in &bundle.files {
        if !is_inside(&file.path) {
            return Err(CheckoutError::Outside {
                release: release.id.clone(),
                path: file.path.clone(),
            });
        }
        let bytes = history.blob(&file.sha256).await?;
        write(&dir.join(&file.path), &bytes)?;
    }
    std::fs::create_dir_all(dir).map_err(|source| CheckoutError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    Ok(dir.to_path_buf())
}

async fn manifest(
    history: &History,
    release: &Release,
    step: &str,
    bundle: &DagBundle,
    dir: &Path,
) -> Result<Option<PathBuf>, CheckoutError> {
    let Some(blob) = &bundle.manifest else {
        return Ok(None);
    };
    let path = dir.join("manifest.json");
    // Fetched before: the file is named by the release, whose records never change.
    let marker = dir.join("manifest.sha256");
    if std::fs::read_to_string(&marker).is_ok_and(|m| m == blob.sha256) && path.exists() {
        return Ok(Some(path));
    }
    let compressed = history.blob(&blob.sha256).await?;
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(compressed.as_slice())
        .read_to_end(&mut json)
        .map_err(|source| CheckoutError::Manifest {
            release: release.id.clone(),
            step: step.to_string(),
            source,
        })?;
    write(&path, &json)?;
    write(&marker, blob.sha256.as_bytes())?;
    Ok(Some(path))
}

/// A relative path that stays below its folder (records come from a bucket others can write).
fn is_inside(path: &str) -> bool {
    let p = Path::new(path);
    !path.is_empty()
        && p.components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), CheckoutError> {
    let fail = |source| CheckoutError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    std::fs::write(path, bytes).map_err(fail)
}

/// Gzip of `bytes` as a release stores a manifest: the same bytes give the same blob (no
/// file name or time in the header).
pub fn compress(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::GzBuilder::new().write(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

/// The hash a bundle records for a file's bytes.
pub fn content_hash(bytes: &[u8]) -> String {
    sha256(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_from_a_record_stay_inside_their_folder() {
        assert!(is_inside("dbt_daily.py"));
        assert!(is_inside("sub/dbt_daily.py"));
        for bad in ["", "../x.py", "/etc/passwd", "a/../../b", "./x"] {
            assert!(!is_inside(bad), "{bad}");
        }
    }

    #[test]
    fn compression_is_deterministic_and_reversible() {
        let text = br#"{"nodes": {}}"#;
        assert_eq!(compress(text), compress(text));
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(compress(text).as_slice())
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, text);
    }
}
