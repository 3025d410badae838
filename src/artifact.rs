//! What a step leaves that a release records, so that the release can be deployed again
//! elsewhere (promotion) or later (rollback) without building anything: the image a Cloud Run
//! resource runs, pinned to its digest; the DAG files generated, by content; the migration
//! revision a database was brought to.

use serde::{Deserialize, Serialize};

use crate::action::Resource;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Artifact {
    Image(Image),
    Dags(DagBundle),
    Migration(Migration),
}

/// A deployed Cloud Run service or job, or an ECS task definition, and the image it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    pub resource: Resource,
    pub name: String,
    /// `HOST/PATH@sha256:...`: never a tag, which could move.
    pub image: String,
    /// The revision that runs it, where the resource has numbered ones of its own (an ECS
    /// task definition's ARN, `...:task-definition/FAMILY:REVISION`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
}

/// The files an `airflow_dags` step generated, by content. The per-environment settings
/// module is not part of it: each environment writes its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DagBundle {
    /// The folder they were written to, as the pipeline names it.
    pub out: String,
    pub files: Vec<BundleFile>,
    /// The dbt manifest they were generated from, gzip-compressed, by content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Blob>,
    /// The manifest's path when it was recorded (not stored: where to compress it from).
    #[serde(skip)]
    pub manifest_path: Option<std::path::PathBuf>,
    /// The selectors file the DAGs were made with, by content: a plan compares each side's
    /// DAGs with its own selectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selectors: Option<Blob>,
    #[serde(skip)]
    pub selectors_path: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleFile {
    /// Relative to `out`, `/`-separated.
    pub path: String,
    pub sha256: String,
    /// Lowercase hex, as Cloud Storage lists it.
    pub md5: String,
    pub size: u64,
}

/// Stored content, named by the SHA-256 of its bytes (as stored: a compressed one's hash is
/// of the compressed bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blob {
    pub sha256: String,
    pub size: u64,
}

/// The revision an alembic step brought its database to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Migration {
    pub revision: String,
}

impl std::fmt::Display for Artifact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Artifact::Image(i) => {
                write!(f, "{} `{}`: {}", i.resource.noun(), i.name, i.image)?;
                match &i.revision {
                    Some(revision) => write!(f, " ({revision})"),
                    None => Ok(()),
                }
            }
            Artifact::Dags(d) => write!(f, "{} DAG files in {}", d.files.len(), d.out),
            Artifact::Migration(m) => write!(f, "migration revision {}", m.revision),
        }
    }
}

/// A recorded artifact with the content it names fetched to this machine: the DAG files in a
/// folder (to deploy them again), the manifest decompressed (to compare DAGs with it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    pub artifact: Artifact,
    /// The release it comes from.
    pub release: String,
    pub files: Option<std::path::PathBuf>,
    pub manifest: Option<std::path::PathBuf>,
    pub selectors: Option<std::path::PathBuf>,
}
