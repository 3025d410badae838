//! Files that an environment reads as one object each, at a version it names, and runs only
//! once told to: MWAA's `plugins.zip` (a folder, zipped) and `requirements.txt`.
//!
//! Unlike a synced folder, uploading is not enough: the environment keeps running the
//! version it names until it is updated, which replaces its Airflow (MWAA: 20 to 30
//! minutes). So the content is compared with that version, by checksum, and every file that
//! changed is uploaded first and then applied in one update.

use std::path::Path;

use crate::action::Folder;
use crate::checksum::crc32c_b64;

use super::SyncError;
use super::files::Include;
use super::zip_folder::zip_folder;

/// A new version of a file, uploaded and not yet run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    pub folder: Folder,
    /// Where it is (the key in the environment's bucket).
    pub path: String,
    pub version: String,
}

/// An environment that reads packed files.
#[async_trait::async_trait]
pub trait PackedFiles: Send + Sync {
    /// Where `folder`'s file goes, for people: `s3://bucket/plugins.zip`.
    fn url(&self, folder: Folder) -> String;
    /// Whether the environment runs any version of `folder`'s file yet.
    fn runs_any(&self, folder: Folder) -> bool;
    /// Whether the version the environment runs of `folder`'s file has this CRC32C (base64).
    async fn runs(&self, folder: Folder, crc32c: &str) -> Result<bool, SyncError>;
    /// Uploads `bytes` as a new version of `folder`'s file; the environment does not run it
    /// yet.
    async fn upload(&self, folder: Folder, bytes: Vec<u8>) -> Result<Uploaded, SyncError>;
    /// Makes the environment run `uploaded`, in one update, and waits until it does (or
    /// until it failed to, with its reason). `say` hears how it stands now and then.
    async fn apply(
        &self,
        uploaded: &[Uploaded],
        say: &(dyn Fn(String) + Send + Sync),
    ) -> Result<(), SyncError>;
}

/// The content of `folder`'s file made from `source`: a folder zipped (plugins), or a file
/// as it is (requirements).
pub fn pack(folder: Folder, source: &Path, include: Include) -> Result<Vec<u8>, SyncError> {
    let read = match folder {
        Folder::Requirements => std::fs::read(source),
        Folder::Plugins | Folder::Data | Folder::Dags => zip_folder(source, include),
    };
    read.map_err(|e| SyncError::Local {
        path: source.to_path_buf(),
        source: e,
    })
}

/// Whether `bytes` are what the environment runs of `folder`'s file.
pub async fn unchanged(
    env: &dyn PackedFiles,
    folder: Folder,
    bytes: &[u8],
) -> Result<bool, SyncError> {
    env.runs(folder, &crc32c_b64(bytes)).await
}
