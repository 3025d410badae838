//! The pipeline: what `pipeline.yaml` says, as typed values that keep their place in the file.

pub(crate) mod aws_values;
mod catalog;
mod check;
pub(crate) mod fields;
mod load;
mod values;

use std::path::Path;
use std::time::Duration;

use indexmap::IndexMap;

use crate::diagnostic::Span;
use crate::expr::Template;
use crate::source::SourceFile;
use crate::yaml::Node;

pub use catalog::{Catalog, KindSchema, Outputs};
pub use load::load;

#[derive(Debug)]
pub struct Pipeline {
    pub file: SourceFile,
    pub name: String,
    pub environments: IndexMap<String, Environment>,
    pub steps: IndexMap<String, Step>,
}

/// A name written in the file (a `needs` entry, an environment), with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub name: String,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Environment {
    pub name: String,
    pub span: Span,
    pub project: Option<String>,
    pub region: Option<String>,
    pub vars: IndexMap<String, Template>,
    pub dags_target: Option<DagsTarget>,
    /// `dags_target.airflow_url`: the REST API of the Airflow that reads a `dir` target,
    /// asked whether it parsed what a sync wrote (a Composer environment's is looked up).
    pub airflow_url: Option<String>,
    pub state: Option<StateStore>,
    pub promote_from: Option<Named>,
    pub protected: bool,
    pub impersonate_service_account: Option<String>,
    /// An IAM role's ARN, assumed for AWS calls with the credentials found.
    pub assume_role: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DagsTarget {
    Dir {
        path: String,
    },
    Bucket {
        bucket: String,
        prefix: String,
    },
    Composer {
        environment: String,
    },
    /// An S3 bucket and key prefix (`s3://BUCKET/PREFIX`).
    S3 {
        bucket: String,
        prefix: String,
    },
    /// An Amazon MWAA environment, whose DAG folder is looked up through its API.
    Mwaa {
        environment: String,
    },
}

impl DagsTarget {
    /// A folder on this machine (no cloud, quick to write).
    pub fn is_local(&self) -> bool {
        matches!(self, DagsTarget::Dir { .. })
    }
}

impl std::fmt::Display for DagsTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DagsTarget::Dir { path } => f.write_str(path),
            DagsTarget::Bucket { bucket, prefix } => {
                let bucket = bucket.trim_end_matches('/');
                let scheme = if bucket.starts_with("gs://") {
                    ""
                } else {
                    "gs://"
                };
                write!(f, "{scheme}{bucket}/{}", prefix.trim_start_matches('/'))
            }
            DagsTarget::Composer { environment } => {
                write!(f, "the DAG folder of Composer environment `{environment}`")
            }
            DagsTarget::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
            DagsTarget::Mwaa { environment } => {
                write!(f, "the DAG folder of MWAA environment `{environment}`")
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateStore {
    Dir(String),
    Bucket(String),
    /// `s3://BUCKET/PREFIX`.
    S3(String),
}

#[derive(Debug)]
pub struct Step {
    pub id: String,
    pub span: Span,
    /// `None` when `uses` names no known kind (already reported).
    pub kind: Option<&'static dyn KindSchema>,
    pub with: Node,
    pub needs: Vec<Named>,
    pub environments: Option<Vec<Named>>,
    pub timeout: Option<Duration>,
    pub retries: u32,
    pub env: IndexMap<String, Template>,
}

impl Pipeline {
    /// Relative paths in the file resolve against its folder, and steps run there.
    pub fn dir(&self) -> &Path {
        match self.file.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        }
    }

    pub fn environment_names(&self) -> Vec<&str> {
        self.environments.keys().map(String::as_str).collect()
    }
}

impl Environment {
    /// The value of `${{ env.NAME }}`: `None` for an unknown field, `Some(None)` when unset.
    pub fn field(&self, name: &str) -> Option<Option<&str>> {
        match name {
            "name" => Some(Some(&self.name)),
            "project" => Some(self.project.as_deref()),
            "region" => Some(self.region.as_deref()),
            _ => None,
        }
    }
}

impl Step {
    pub fn kind_name(&self) -> &'static str {
        self.kind.map_or("?", |k| k.name())
    }

    pub fn runs_in(&self, environment: &str) -> bool {
        self.environments
            .as_ref()
            .is_none_or(|envs| envs.iter().any(|e| e.name == environment))
    }
}
