//! What a step would do: the concrete actions a plan lists and a run carries out.

use indexmap::IndexMap;
use serde::Serialize;

use crate::expr::Resolved;

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// Runs a program (dbt, alembic, a command).
    Exec(Exec),
    /// Creates or updates a Cloud Run service or job.
    Deploy(Deploy),
    /// Writes generated files (Airflow DAGs).
    Generate(Generate),
    /// Copies a folder's files to a DAG bucket or folder.
    Sync(Sync),
}

#[derive(Debug, Clone, Serialize)]
pub struct Exec {
    pub description: String,
    pub argv: Vec<Resolved>,
    /// Relative to the pipeline file's folder; `None` is that folder itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwd: Option<Resolved>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub env: IndexMap<String, Resolved>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Deploy {
    pub description: String,
    pub resource: &'static str,
    pub project: Resolved,
    pub region: Resolved,
    pub name: Resolved,
    pub image: Resolved,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub settings: IndexMap<String, Resolved>,
    /// Until the live resource is read, "create or update" is all a plan can say.
    pub change: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Generate {
    pub description: String,
    pub manifest: Resolved,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selectors: Option<Resolved>,
    pub out: Resolved,
    pub files: FileList,
    /// The generator's settings from the step's other inputs (the description sums them
    /// up), or why they are not known yet.
    #[serde(skip)]
    pub options: Result<Box<crate::dags::DagOptions>, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Sync {
    pub description: String,
    pub source: Resolved,
    pub target: String,
    pub prune: bool,
    pub files: FileList,
}

/// Files an action writes, when they can be known before it runs.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FileList {
    pub known: bool,
    pub names: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl FileList {
    pub fn known(names: Vec<String>) -> FileList {
        FileList {
            known: true,
            names,
            note: None,
        }
    }

    pub fn unknown(note: impl Into<String>) -> FileList {
        FileList {
            known: false,
            names: Vec::new(),
            note: Some(note.into()),
        }
    }
}

impl Action {
    pub fn description(&self) -> &str {
        match self {
            Action::Exec(a) => &a.description,
            Action::Deploy(a) => &a.description,
            Action::Generate(a) => &a.description,
            Action::Sync(a) => &a.description,
        }
    }
}

/// A command line as a person would type it, for descriptions (secrets already `***`).
pub fn command_line(argv: &[Resolved]) -> String {
    let words: Vec<String> = argv.iter().map(ToString::to_string).collect();
    shlex::try_join(words.iter().map(String::as_str)).unwrap_or_else(|_| words.join(" "))
}

impl Exec {
    pub fn new(argv: Vec<Resolved>) -> Exec {
        Exec {
            description: command_line(&argv),
            argv,
            cwd: None,
            env: IndexMap::new(),
        }
    }
}
