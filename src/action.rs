//! What a step would do: the concrete actions a plan lists and a run carries out.
//!
//! Actions are a closed set that the plan serializes and its renderers match on; what a step
//! kind does with them is the kind's own business (`steps/`).

use indexmap::IndexMap;
use serde::Serialize;

use crate::cloud::Provider;
use crate::expr::Resolved;
use crate::pipeline::DagsTarget;

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
    /// What a database migration would apply (read-only look, no change).
    Migrations(Migrations),
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

/// A resource a deploy creates or updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    CloudRunService,
    CloudRunJob,
    EcsTaskDefinition,
}

impl Resource {
    /// What people call it: `Cloud Run service`.
    pub fn noun(self) -> &'static str {
        match self {
            Resource::CloudRunService => "Cloud Run service",
            Resource::CloudRunJob => "Cloud Run job",
            Resource::EcsTaskDefinition => "ECS task definition",
        }
    }

    /// The cloud that hosts it.
    pub fn provider(self) -> Provider {
        match self {
            Resource::CloudRunService | Resource::CloudRunJob => Provider::Google,
            Resource::EcsTaskDefinition => Provider::Aws,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Deploy {
    pub description: String,
    pub resource: Resource,
    /// The Google Cloud project (none for an AWS resource).
    #[serde(skip_serializing_if = "Resolved::is_empty")]
    pub project: Resolved,
    pub region: Resolved,
    pub name: Resolved,
    pub image: Resolved,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub settings: IndexMap<String, Resolved>,
    /// Until the live resource is read, "create or update" is all a plan can say.
    pub change: &'static str,
    /// The service account whose identity the deploy uses (the environment's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impersonate: Option<String>,
    /// The IAM role an AWS deploy is made as (the environment's `assume_role`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assume_role: Option<String>,
    /// The image the environment's current release deployed (pinned), for `old → new`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub released_image: Option<String>,
    /// What is live and what would change (`plan` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<Live<DeployDiff>>,
}

/// How a deploy compares with the live resource.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DeployDiff {
    /// `false`: the resource does not exist and would be created.
    pub exists: bool,
    /// The image the live resource runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_image: Option<String>,
    /// The image that would be deployed, pinned to the digest its tag points to now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_image: Option<String>,
    pub changes: Vec<FieldChange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One setting of a live resource that a deploy would change (`None`: unset on that side).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldChange {
    pub field: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// What a sync would do to the files at its destination, as they are now.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct FileDiff {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub deleted: Vec<String>,
    pub unchanged: usize,
    /// At the destination already, but the content is known only after the step that
    /// generates it: uploaded if it changed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<String>,
    /// Why the sync would stop before changing anything: it would remove more of the files
    /// it manages than its `max_prune` allows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prune_stop: Option<String>,
}

impl FileDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.changed.is_empty()
            && self.deleted.is_empty()
            && self.pending.is_empty()
    }
}

/// The live side of a planned change: read (read-only) and compared, or unknown and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Live<T> {
    Compared(T),
    Unknown { reason: String },
}

/// How an unknown comparison begins when it is unknown for want of credentials (the plan's
/// summary looks for it).
const NO_CREDENTIALS: &str = "no credentials";

impl<T> Live<T> {
    pub fn unknown(reason: impl Into<String>) -> Live<T> {
        Live::Unknown {
            reason: reason.into(),
        }
    }

    /// Unknown because there are no credentials to read with; `problem` says what is missing.
    pub fn no_credentials(problem: &str) -> Live<T> {
        // The common case says it briefly: every comparison of the plan says the same.
        let brief = ["no Google Cloud credentials", "no AWS credentials"];
        let reason = if brief.iter().any(|b| problem.starts_with(b)) {
            NO_CREDENTIALS.to_string()
        } else {
            format!("{NO_CREDENTIALS}: {problem}")
        };
        Live::unknown(reason)
    }

    pub fn is_compared(&self) -> bool {
        matches!(self, Live::Compared(_))
    }

    /// The reason, when it is unknown for want of credentials.
    pub fn credentials_missing(&self) -> Option<&str> {
        match self {
            Live::Unknown { reason } if reason.starts_with(NO_CREDENTIALS) => Some(reason),
            _ => None,
        }
    }
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
    pub options: Result<Box<crate::dags::DagOptions>, crate::dags::OperatorError>,
    /// How much of the DAG files it wrote earlier a run may remove (`None`: any).
    #[serde(skip)]
    pub prune_limit: Option<crate::prune::PruneLimit>,
    /// Why a run would stop before writing: it would remove too many DAG files (`plan`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prune_stop: Option<String>,
    /// Deploying a release again: its recorded DAG files are written, nothing is generated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<ReleaseFiles>,
    /// How the DAGs change from the environment's current release, in dbt's terms (`plan`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dag_changes: Option<Live<DagChanges>>,
}

/// The DAG files of a release, fetched to this machine.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseFiles {
    pub release: String,
    #[serde(skip)]
    pub dir: std::path::PathBuf,
}

/// The DAGs' change from the current release, per DAG.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DagChanges {
    /// The release compared with.
    pub release: String,
    /// The new manifest (the one on disk now, when a step before writes it again).
    pub manifest: String,
    pub dags: Vec<crate::dags::DagChange>,
}

/// Which of Airflow's folders a sync fills (Cloud Composer's bucket layout: `dags/`, and
/// `plugins/` and `data/` beside it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Folder {
    #[default]
    Dags,
    Plugins,
    Data,
    /// Not a folder: the Python requirements file beside the DAG folder, which MWAA installs
    /// (`requirements.txt`).
    Requirements,
}

impl Folder {
    /// The folder's name beside `dags/`.
    pub fn name(self) -> &'static str {
        match self {
            Folder::Dags => "dags",
            Folder::Plugins => "plugins",
            Folder::Data => "data",
            Folder::Requirements => "requirements.txt",
        }
    }

    fn is_dags(&self) -> bool {
        *self == Folder::Dags
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Sync {
    pub description: String,
    /// Which folder of the destination this fills.
    #[serde(skip_serializing_if = "Folder::is_dags")]
    pub folder: Folder,
    pub source: Resolved,
    pub target: String,
    /// `None` where the environment has no `dags_target` (refused when the pipeline loads).
    pub destination: Option<DagsTarget>,
    /// The cloud the destination is in (`None`: a local folder, or an emulator).
    #[serde(skip)]
    pub provider: Option<Provider>,
    pub prune: bool,
    /// How much of what it wrote earlier one sync may delete (`None`: any).
    #[serde(skip)]
    pub prune_limit: Option<crate::prune::PruneLimit>,
    /// Who syncs (`pipeline/step`): only what it wrote is ever pruned by it.
    #[serde(skip)]
    pub owner: String,
    /// Hidden files and caches of `source` are synced too.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub include_hidden: bool,
    pub files: FileList,
    /// The upstream step that writes `files` (their content is known only after it ran).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated_by: Option<String>,
    /// Uploads at once (buckets).
    pub concurrency: usize,
    /// Where a Composer or MWAA environment is looked up, and whose identity is used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impersonate: Option<String>,
    /// The IAM role an S3 or MWAA destination is reached as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assume_role: Option<String>,
    /// What the destination holds now and what would change (`plan` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<Live<FileDiff>>,
    /// After the sync, waiting until Airflow has parsed the DAG files it wrote.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirm: Option<Confirm>,
}

/// Waiting, after a sync, until Airflow has parsed the DAG files it wrote (and failing with
/// Airflow's import error when one does not load).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Confirm {
    pub airflow: AirflowAt,
    pub timeout_seconds: u64,
}

impl Confirm {
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.timeout_seconds)
    }
}

/// Which Airflow is asked.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AirflowAt {
    /// The Composer environment's own, found through the Composer API (`config.airflowUri`).
    Composer { environment: String },
    /// The REST API at this base URL (a local Airflow).
    Url { url: String },
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Migrations {
    pub description: String,
    /// The database's revision now (`base` for an empty one); `None` when it cannot be read.
    pub current: Option<String>,
    /// Revisions the upgrade would apply, oldest first, as `id: message`.
    pub pending: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The SQL of the upgrade (offline `alembic upgrade --sql`), when asked for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sql: Vec<String>,
    /// The revision the environment's current release recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub released_revision: Option<String>,
    /// Revisions between that one and the target, oldest first, as `id: message`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub since_release: Vec<String>,
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
    /// Why a run would stop at this action before changing anything, for removing more of
    /// what it manages than its `max_prune` allows (`plan` only).
    pub fn prune_stop(&self) -> Option<&str> {
        match self {
            Action::Generate(g) => g.prune_stop.as_deref(),
            Action::Sync(s) => match &s.live {
                Some(Live::Compared(diff)) => diff.prune_stop.as_deref(),
                _ => None,
            },
            Action::Exec(_) | Action::Deploy(_) | Action::Migrations(_) => None,
        }
    }

    /// Whether the plan knows this action would change nothing.
    pub fn is_no_op(&self) -> bool {
        match self {
            Action::Deploy(d) => {
                matches!(&d.live, Some(Live::Compared(diff)) if diff.exists && diff.changes.is_empty())
            }
            Action::Sync(s) => matches!(&s.live, Some(Live::Compared(diff)) if diff.is_empty()),
            Action::Migrations(m) => {
                m.current.is_some() && m.pending.is_empty() && m.note.is_none()
            }
            Action::Exec(_) | Action::Generate(_) => false,
        }
    }

    /// The cloud this action calls, if any: its credentials must be at hand before a run.
    pub fn provider(&self) -> Option<Provider> {
        match self {
            Action::Deploy(d) => Some(d.resource.provider()),
            Action::Sync(s) => s.provider,
            Action::Exec(_) | Action::Generate(_) | Action::Migrations(_) => None,
        }
    }

    /// Whether what is live was compared: `None` for an action with no live side.
    pub fn live_compared(&self) -> Option<bool> {
        match self {
            Action::Deploy(d) => Some(d.live.as_ref().is_some_and(Live::is_compared)),
            Action::Sync(s) => Some(s.live.as_ref().is_some_and(Live::is_compared)),
            Action::Exec(_) | Action::Generate(_) | Action::Migrations(_) => None,
        }
    }

    /// Why the live side is unknown, when it is for want of credentials.
    pub fn credentials_missing(&self) -> Option<&str> {
        match self {
            Action::Deploy(d) => d.live.as_ref()?.credentials_missing(),
            Action::Sync(s) => s.live.as_ref()?.credentials_missing(),
            Action::Exec(_) | Action::Generate(_) | Action::Migrations(_) => None,
        }
    }

    pub fn description(&self) -> &str {
        match self {
            Action::Exec(a) => &a.description,
            Action::Deploy(a) => &a.description,
            Action::Generate(a) => &a.description,
            Action::Sync(a) => &a.description,
            Action::Migrations(a) => &a.description,
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
