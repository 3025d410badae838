//! Syncing a folder of files (DAGs) to where Airflow reads them, by content.
//!
//! Every destination (a local folder, a Cloud Storage prefix, an S3 prefix) implements
//! [`Destination`]: list with checksums and owner, put and delete with preconditions. The
//! algorithm is here, once: compare by checksum so that an unchanged file is never written
//! again, write what is new or changed, and only then, when every write succeeded, delete
//! what this same sync (pipeline and step: its owner) wrote earlier and is gone locally.
//! Which destination a pipeline's `dags_target` names is decided in one place, [`open`].

mod files;
pub mod gcs;
pub(crate) mod local;
mod mwaa_packed;
mod packed;
pub mod s3;
mod target;
mod zip_folder;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use futures_util::{StreamExt, stream};

use crate::checksum::crc32c_b64;
pub use crate::checksum::md5_hex;
use crate::gcp::composer::ComposerError;
use crate::gcp::storage::StorageError;
use crate::prune::PruneLimit;
pub use files::{Include, checksums, is_dag_file, local_files, walk};
pub use packed::{PackedFiles, Uploaded, pack, unchanged};
pub use target::{
    Place, airflow_at, applied_by, beside, credentials_problem, describe, needs_region, open,
    open_packed, packs, provider,
};
pub use zip_folder::zip_folder;

/// How many writes a sync makes at once by default.
pub const DEFAULT_CONCURRENCY: usize = 16;

/// A file at the destination, as its listing describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    pub checksum: Checksum,
    /// Who wrote it: only what this sync wrote may be deleted by it.
    pub owner: Owner,
    /// What a write or delete must find there to go ahead.
    pub version: Precondition,
}

/// Who wrote a file at the destination, as far as its marks tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// This sync (this pipeline's step), with the content it wrote.
    Ours,
    /// dagship, before owners were recorded: adopted when it is synced unchanged, never
    /// deleted.
    Unmarked,
    /// Someone else: another pipeline or step, a person, or content changed since.
    Theirs,
}

/// What the destination knows of a file's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checksum {
    /// MD5, lowercase hex.
    Md5(String),
    /// CRC32C, base64 (all a composite Cloud Storage object has).
    Crc32c(String),
    /// Nothing: compared as changed.
    Unknown,
}

/// What a write or delete expects to find, so that a file someone else changed meanwhile is
/// not overwritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// Nothing there yet.
    Absent,
    /// This version (a Cloud Storage generation).
    Version(i64),
    /// This ETag (an S3 object).
    ETag(String),
    /// A destination without versions (a local folder).
    None,
}

/// Where synced files go.
#[async_trait::async_trait]
pub trait Destination: Send + Sync {
    /// Where the files go, for people, ending in `/`: `gs://bucket/dags/`, `.airflow/dags/`.
    fn url(&self) -> String;
    /// The files there, by name relative to the destination.
    async fn list(&self) -> Result<BTreeMap<String, Remote>, SyncError>;
    /// Writes `name` (marked as dagship's), if it is still as `expect` says.
    async fn put(&self, name: &str, bytes: Vec<u8>, expect: Precondition) -> Result<(), SyncError>;
    /// Deletes `name`, if it is still as `expect` says.
    async fn delete(&self, name: &str, expect: Precondition) -> Result<(), SyncError>;
    /// Marks `name` (unchanged, written by dagship before owners were recorded) as this
    /// sync's own, if it is still as `expect` says.
    async fn adopt(&self, name: &str, expect: Precondition) -> Result<(), SyncError>;
    /// After a sync: `synced` (name → MD5) is what the destination holds now.
    async fn finish(&self, _synced: &BTreeMap<String, String>) -> Result<(), SyncError> {
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("cannot read {}", path.display())]
    Local {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The first failure is part of the sentence: the others are like it, or in the log.
    #[error(
        "{failed} of {total} uploads failed, so nothing was pruned; first: {}",
        crate::error_chain::ErrorChain(&**first)
    )]
    Uploads {
        failed: usize,
        total: usize,
        first: Box<SyncError>,
    },
    #[error(transparent)]
    Composer(#[from] ComposerError),
    #[error(transparent)]
    S3(#[from] crate::aws::s3::S3Error),
    #[error(transparent)]
    Mwaa(#[from] crate::aws::mwaa::MwaaError),
    #[error(transparent)]
    TooMuchPruning(#[from] crate::prune::TooMuchPruning),
    #[error(
        "finding Composer environment `{environment}` needs the environment's `project` (or GOOGLE_CLOUD_PROJECT) and `region`"
    )]
    ComposerPlace { environment: String },
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Diff {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub deleted: Vec<String>,
    pub unchanged: Vec<String>,
    /// Unchanged files dagship wrote before owners were recorded: now marked as this sync's.
    pub adopted: Vec<String>,
}

impl Diff {
    /// Adds another sync's changes (one step syncing several folders).
    pub fn add(&mut self, other: Diff) {
        self.added.extend(other.added);
        self.changed.extend(other.changed);
        self.deleted.extend(other.deleted);
        self.unchanged.extend(other.unchanged);
        self.adopted.extend(other.adopted);
    }

    pub fn counts(&self) -> [(&'static str, usize); 4] {
        [
            ("added", self.added.len()),
            ("changed", self.changed.len()),
            ("deleted", self.deleted.len()),
            ("unchanged", self.unchanged.len()),
        ]
    }
}

/// What to write and delete so that the destination holds `local` (the files of `source`);
/// deletions only with `prune`, and only of files dagship wrote.
pub fn diff(
    local: &BTreeMap<String, String>,
    remote: &BTreeMap<String, Remote>,
    source: &Path,
    prune: bool,
) -> Diff {
    let mut d = Diff::default();
    for (name, md5) in local {
        match remote.get(name) {
            None => d.added.push(name.clone()),
            Some(r) if same(&r.checksum, md5, &source.join(name)) => {
                d.unchanged.push(name.clone());
                if r.owner == Owner::Unmarked {
                    d.adopted.push(name.clone());
                }
            }
            Some(_) => d.changed.push(name.clone()),
        }
    }
    if prune {
        d.deleted = remote
            .iter()
            .filter(|(name, r)| r.owner == Owner::Ours && !local.contains_key(*name))
            .map(|(name, _)| name.clone())
            .collect();
    }
    d
}

/// Whether the file at `path` (whose MD5 is `md5`) has the content `checksum` describes.
fn same(checksum: &Checksum, md5: &str, path: &Path) -> bool {
    match checksum {
        Checksum::Md5(remote) => remote == md5,
        Checksum::Crc32c(crc) => std::fs::read(path).is_ok_and(|bytes| crc32c_b64(&bytes) == *crc),
        Checksum::Unknown => false,
    }
}

/// What to sync: a folder's files, which of them, and how.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub source: &'a Path,
    pub include: Include,
    /// Delete the files dagship wrote earlier that are gone locally.
    pub prune: bool,
    /// How much of what this sync wrote earlier it may delete (`None`: any).
    pub prune_limit: Option<PruneLimit>,
    /// Writes at once.
    pub concurrency: usize,
}

impl<'a> Request<'a> {
    /// Visible files of `source`, without pruning, [`DEFAULT_CONCURRENCY`] writes at once.
    pub fn new(source: &'a Path) -> Request<'a> {
        Request {
            source,
            include: Include::Visible,
            prune: false,
            prune_limit: Some(PruneLimit::default()),
            concurrency: DEFAULT_CONCURRENCY,
        }
    }
}

/// Makes `dest` hold the files `req` names: writes new and changed ones (`concurrency` at
/// once, helper modules before DAG files), then, with `prune` and only if every write
/// succeeded, deletes the files dagship wrote earlier that are gone locally. `say` hears of
/// each file written or deleted, in order.
pub async fn sync(
    dest: &dyn Destination,
    req: &Request<'_>,
    say: impl Fn(String) + Send + Sync,
) -> Result<Diff, SyncError> {
    let source = req.source;
    let local = checksums(source, req.include).map_err(|e| SyncError::Local {
        path: source.to_path_buf(),
        source: e,
    })?;
    let remote = dest.list().await?;
    let d = diff(&local, &remote, source, req.prune);
    let url = dest.url();
    if let Some(limit) = req.prune_limit {
        let managed = remote.values().filter(|r| r.owner == Owner::Ours).count();
        limit.check(&url, d.deleted.len(), managed, local.len())?;
    }
    let told = |verb: &str, name: &str| say(format!("{verb} {url}{name}"));
    // Futures made in plain loops: closures over borrowed names trip the compiler's check
    // that the whole sync is `Send`.
    let (mut helpers, mut dags): (Vec<Pending<'_>>, Vec<Pending<'_>>) = (Vec::new(), Vec::new());
    let verbs = d.added.iter().map(|n| ("added", n));
    for (verb, name) in verbs.chain(d.changed.iter().map(|n| ("changed", n))) {
        let path = source.join(name);
        let bytes = std::fs::read(&path).map_err(|source| SyncError::Local { path, source })?;
        let phase = if is_dag_file(name, &bytes) {
            &mut dags
        } else {
            &mut helpers
        };
        let expect = remote
            .get(name)
            .map_or(Precondition::Absent, |r| r.version.clone());
        phase.push(Box::pin(write(dest, verb, name, bytes, expect)));
    }
    // A DAG file may import a helper: none is written unless every helper was.
    for phase in [helpers, dags] {
        let writes = stream::iter(phase).buffered(req.concurrency.max(1));
        if let Some((failed, total, first)) = each(writes, &told).await {
            return Err(SyncError::Uploads {
                failed,
                total,
                first: Box::new(first),
            });
        }
    }
    let mut marks: Vec<Pending<'_>> = Vec::new();
    for name in &d.adopted {
        marks.push(Box::pin(adopt(dest, name, remote[name].version.clone())));
    }
    for name in &d.deleted {
        marks.push(Box::pin(delete(dest, name, remote[name].version.clone())));
    }
    let marks = stream::iter(marks).buffered(req.concurrency.max(1));
    if let Some((_, _, first)) = each(marks, &told).await {
        return Err(first);
    }
    dest.finish(&local).await?;
    Ok(d)
}

/// A write or delete under way: what it does, to which file, and how it ended.
type Pending<'a> = std::pin::Pin<
    Box<
        dyn std::future::Future<Output = (&'static str, &'a str, Result<(), SyncError>)>
            + Send
            + 'a,
    >,
>;

async fn write<'a>(
    dest: &'a dyn Destination,
    verb: &'static str,
    name: &'a str,
    bytes: Vec<u8>,
    expect: Precondition,
) -> (&'static str, &'a str, Result<(), SyncError>) {
    (verb, name, dest.put(name, bytes, expect).await)
}

async fn adopt<'a>(
    dest: &'a dyn Destination,
    name: &'a str,
    expect: Precondition,
) -> (&'static str, &'a str, Result<(), SyncError>) {
    ("adopted", name, dest.adopt(name, expect).await)
}

async fn delete<'a>(
    dest: &'a dyn Destination,
    name: &'a str,
    expect: Precondition,
) -> (&'static str, &'a str, Result<(), SyncError>) {
    ("deleted", name, dest.delete(name, expect).await)
}

/// Tells `done` of each success, in order; returns how many failed, of how many, and the
/// first failure, if any did.
async fn each<'a>(
    results: impl futures_util::Stream<Item = (&'static str, &'a str, Result<(), SyncError>)>,
    done: &(impl Fn(&str, &str) + Sync),
) -> Option<(usize, usize, SyncError)> {
    let mut results = std::pin::pin!(results);
    let (mut total, mut failures) = (0, Vec::new());
    while let Some((verb, name, result)) = results.next().await {
        total += 1;
        match result {
            Ok(()) => done(verb, name),
            Err(e) => failures.push(e),
        }
    }
    let failed = failures.len();
    failures
        .into_iter()
        .next()
        .map(|first| (failed, total, first))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(md5: &str, owner: Owner) -> Remote {
        Remote {
            checksum: Checksum::Md5(md5.into()),
            owner,
            version: Precondition::None,
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
            ("a.py".into(), remote("1", Owner::Ours)),
            ("b.py".into(), remote("x", Owner::Ours)),
            ("c.py".into(), remote("3", Owner::Unmarked)),
            ("old.py".into(), remote("9", Owner::Ours)),
            ("legacy.py".into(), remote("7", Owner::Unmarked)),
            ("theirs.py".into(), remote("8", Owner::Theirs)),
        ]);
        let d = diff(&local, &remote, Path::new("."), true);
        assert_eq!(
            (d.added, d.changed, d.unchanged),
            (
                Vec::<String>::new(),
                vec!["b.py".to_string()],
                vec!["a.py".to_string(), "c.py".to_string()]
            )
        );
        assert_eq!(d.adopted, ["c.py"], "unchanged and unmarked: adopted");
        assert_eq!(d.deleted, ["old.py"], "only our own gone file is deleted");
        assert!(
            diff(&local, &remote, Path::new("."), false)
                .deleted
                .is_empty()
        );
    }

    #[test]
    fn a_composite_object_is_compared_by_crc32c() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.py"), "a = 1").unwrap();
        std::fs::write(dir.path().join("b.py"), "b = 1").unwrap();
        let local = local_files(dir.path()).unwrap();
        let crc = |checksum: String| Remote {
            checksum: Checksum::Crc32c(checksum),
            owner: Owner::Ours,
            version: Precondition::Version(1),
        };
        let remote = BTreeMap::from([
            ("a.py".into(), crc(crc32c_b64(b"a = 1"))),
            ("b.py".into(), crc(crc32c_b64(b"b = 2"))),
        ]);
        let d = diff(&local, &remote, dir.path(), false);
        assert_eq!(
            (d.unchanged, d.changed),
            (vec!["a.py".into()], vec!["b.py".into()])
        );
    }
}

#[cfg(test)]
mod order_tests {
    use std::sync::Mutex;

    use super::*;

    /// A destination in memory that records its writes in order and refuses some names.
    #[derive(Default)]
    struct Recorder {
        writes: Mutex<Vec<String>>,
        refused: Vec<&'static str>,
    }

    #[async_trait::async_trait]
    impl Destination for Recorder {
        fn url(&self) -> String {
            "mem/".into()
        }
        async fn list(&self) -> Result<BTreeMap<String, Remote>, SyncError> {
            Ok(BTreeMap::new())
        }
        async fn put(&self, name: &str, _: Vec<u8>, _: Precondition) -> Result<(), SyncError> {
            if self.refused.contains(&name) {
                return Err(SyncError::Write {
                    path: name.into(),
                    source: std::io::Error::other("refused"),
                });
            }
            self.writes.lock().unwrap().push(name.to_string());
            Ok(())
        }
        async fn delete(&self, _: &str, _: Precondition) -> Result<(), SyncError> {
            Ok(())
        }
        async fn adopt(&self, _: &str, _: Precondition) -> Result<(), SyncError> {
            Ok(())
        }
    }

    fn folder() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in [
            ("a_dag.py", "from airflow import DAG"),
            ("settings.py", "PROJECT = 'acme'"),
            ("z_dag.py", "from airflow.sdk import dag"),
            ("data/seed.csv", "a,b"),
            ("__pycache__/settings.cpython-311.pyc", "cache"),
            (".DS_Store", "finder"),
        ] {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    #[tokio::test]
    async fn helpers_go_before_dag_files_and_caches_stay_behind() {
        let dir = folder();
        let dest = Recorder::default();
        let req = Request {
            concurrency: 1,
            ..Request::new(dir.path())
        };
        let d = sync(&dest, &req, |_| {}).await.unwrap();
        assert_eq!(d.added.len(), 4, "{d:?}");
        assert_eq!(
            *dest.writes.lock().unwrap(),
            ["data/seed.csv", "settings.py", "a_dag.py", "z_dag.py"]
        );
    }

    #[tokio::test]
    async fn no_dag_file_is_written_when_a_helper_fails() {
        let dir = folder();
        let dest = Recorder {
            refused: vec!["settings.py"],
            ..Recorder::default()
        };
        let err = sync(&dest, &Request::new(dir.path()), |_| {})
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                SyncError::Uploads {
                    failed: 1,
                    total: 2,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(*dest.writes.lock().unwrap(), ["data/seed.csv"]);
    }
}
