//! `composer_dags`: puts DAG files where Airflow reads them: a Cloud Composer environment's
//! bucket, any bucket and prefix, or a local dags folder; then, where the Airflow that reads
//! them is known, waits until it has parsed the DAG files the sync wrote. A target that
//! reads plugins and requirements packed, at a version it names (MWAA), gets them so
//! ([`packed`]).

mod packed;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::kind::{Live as LiveAt, LiveFuture};
use super::{Inputs, Redeployed, StepKind, Unplanned};
use crate::action::{Action, AirflowAt, Confirm, FileDiff, FileList, Folder, Live, Sync};
use crate::airflow::{self, Credentials, TokenError, TokenSource, Wait};
use crate::artifact::Checkout;
use crate::cloud::Connections;
use crate::diagnostic::Diagnostic;
use crate::exec::{Failure, Job, StepFuture};
use crate::expr::Resolved;
use crate::gcp::{Cloud, composer};
use crate::pipeline::{Environment, KindSchema, Outputs, Pipeline, Step};
use crate::shape::{Field, Record, Shape, parse_duration};
use crate::sync::{self, DEFAULT_CONCURRENCY, Diff, Include, Owner, Place, Remote, Request, diff};
use crate::yaml::Value;

/// How long a confirmation waits by default: Composer copies its bucket to Airflow within a
/// minute or two, and parses a file again every 30 s or so.
const DEFAULT_CONFIRM_TIMEOUT: Duration = Duration::from_secs(600);
/// Airflow's user for a local Airflow (`dir` with `airflow_url`).
const USERNAME_VAR: &str = "DAGSHIP_AIRFLOW_USERNAME";
const PASSWORD_VAR: &str = "DAGSHIP_AIRFLOW_PASSWORD";

pub(super) struct ComposerDags;

const INPUTS: Record = Record {
    fields: &[
        Field::required(
            "source",
            Shape::Template,
            "Local folder of DAG files to sync.",
        ),
        Field::optional(
            "plugins",
            Shape::Template,
            "Local folder synced to the `plugins/` folder beside the DAG folder (Composer's bucket layout), before the DAG files. For an MWAA environment: zipped (the same files give the same bytes) and uploaded as its `plugins.zip` when it differs from the version the environment runs, which is then updated to run it (20 to 30 minutes).",
        ),
        Field::optional(
            "requirements",
            Shape::Template,
            "MWAA only: a local Python requirements file, uploaded as the environment's `requirements.txt` when it differs from the version the environment runs, which is then updated to install it (in the same update as `plugins`).",
        ),
        Field::optional(
            "data",
            Shape::Template,
            "Local folder synced to the `data/` folder beside the DAG folder, before the DAG files.",
        ),
        Field::optional(
            "prune",
            Shape::Bool,
            "Delete files dagship uploaded earlier that are gone locally (never others).",
        ),
        Field::optional(
            "max_prune",
            Shape::Int { min: 0, max: 100 },
            "The share (percent) of the files this step wrote earlier that one sync may delete (default: 50); past it, or when it would delete all of them, the step stops before changing anything unless the run has `--allow-prune`.",
        ),
        Field::optional(
            "concurrency",
            Shape::Int { min: 1, max: 64 },
            "Uploads at once (default: 16).",
        ),
        Field::optional(
            "include_hidden",
            Shape::Bool,
            "Also sync hidden files and caches (`.DS_Store`, `__pycache__/`, `.pytest_cache/`), which stay behind by default.",
        ),
        Field::optional(
            "confirm",
            Shape::Bool,
            "After the sync, wait until Airflow has parsed every DAG file it wrote (and holds no import error for those it left unchanged); fail with Airflow's own import error when one does not load. Default: true where the Airflow is known (a Composer environment, or a `dir` with `airflow_url`).",
        ),
        Field::optional(
            "confirm_timeout",
            Shape::Duration,
            "How long to wait for Airflow to parse the DAG files (default: 10m).",
        ),
    ],
    exactly_one_of: &[],
};

/// A Composer environment is looked up by project and region; the project may come from
/// the machine (`GOOGLE_CLOUD_PROJECT`), the region only from the file.
fn require_composer_region(step: &Step, pipeline: &Pipeline, diags: &mut Vec<Diagnostic>) {
    pipeline.require_in_environments(
        step,
        "a `region` to find its Composer environment",
        |env| {
            let needs = env.dags_target.as_ref().is_some_and(sync::needs_region);
            !needs || env.region.is_some()
        },
        diags,
    );
}

impl KindSchema for ComposerDags {
    fn name(&self) -> &'static str {
        "composer_dags"
    }
    fn about(&self) -> &'static str {
        "Sync DAG files to the environment's `dags_target` by content (Composer, bucket or folder)."
    }
    fn inputs(&self) -> &'static Record {
        &INPUTS
    }
    fn outputs(&self) -> Outputs {
        Outputs::Named(&["added", "changed", "deleted", "unchanged"])
    }

    fn check(&self, step: &Step, pipeline: &Pipeline, diags: &mut Vec<Diagnostic>) {
        require_composer_region(step, pipeline, diags);
        packed::require_packing_target(step, pipeline, diags);
        pipeline.require_in_environments(
            step,
            "`dags_target`",
            |env| env.dags_target.is_some(),
            diags,
        );
        if matches!(
            step.with.get("confirm").map(|n| &n.value),
            Some(Value::Bool(true))
        ) {
            pipeline.require_in_environments(
                step,
                "an Airflow to ask for `confirm: true` (a `dags_target` with `composer_environment`, or `dir` and `airflow_url`)",
                |env| env.dags_target.is_none() || airflow_at(env).is_some(),
                diags,
            );
        }
    }
}

impl StepKind for ComposerDags {
    /// A release's DAG files are put in `source` by the step that generated them (deploying
    /// it again, that step writes the recorded files there): the sync is the same.
    fn redeploy(&self, inputs: &Inputs, _recorded: Option<&Checkout>) -> Redeployed {
        Redeployed::Actions(self.plan(inputs))
    }

    /// One sync per folder: plugins, requirements and data first (DAG files may import from
    /// them), then the DAG files. Where the target reads a folder packed (MWAA's
    /// `plugins.zip`), the sync is of that one file; a requirements file goes only there.
    fn plan(&self, inputs: &Inputs) -> Vec<Action> {
        let target = inputs.environment.dags_target.as_ref();
        let packs = |folder| target.is_some_and(|t| sync::packs(t, folder));
        [
            (Folder::Plugins, inputs.text("plugins")),
            (Folder::Requirements, inputs.text("requirements")),
            (Folder::Data, inputs.text("data")),
            (Folder::Dags, Some(inputs.text_or("source", ""))),
        ]
        .into_iter()
        .filter_map(|(folder, source)| {
            let source = source?;
            let planned = sync_of(inputs, folder, source.clone());
            match (packs(folder), folder) {
                (true, _) => Some(packed::planned(planned, folder, &source, inputs.dir)),
                (false, Folder::Requirements) => None,
                (false, _) => Some(planned),
            }
        })
        .map(Action::Sync)
        .collect()
    }

    fn live<'a>(&'a self, actions: &'a mut [Action], at: &'a LiveAt<'a>) -> LiveFuture<'a> {
        Box::pin(async move {
            for action in actions {
                if let Action::Sync(sync) = action {
                    sync.live = Some(match packed::is_packed(sync) {
                        true => packed::live(sync, at).await,
                        false => live(sync, at).await,
                    });
                }
            }
        })
    }

    fn execute(&self, job: Job) -> StepFuture {
        Box::pin(async move {
            let mut total = Diff::default();
            let packs: Vec<&Sync> = job
                .actions
                .iter()
                .filter_map(|a| match a {
                    Action::Sync(s) if packed::is_packed(s) => Some(s),
                    _ => None,
                })
                .collect();
            if !packs.is_empty() {
                let work = packed::execute(&job, &packs);
                total.add(job.ctx.or_stopped(work).await?);
            }
            for action in &job.actions {
                let Action::Sync(sync) = action else {
                    return Err(Failure::of(Unplanned("a composer_dags step plans syncs")));
                };
                if packed::is_packed(sync) {
                    continue;
                }
                let work = sync_now(&job, sync);
                let diff = job.ctx.or_stopped(work).await?;
                if let Some(confirm) = &sync.confirm {
                    let written = jiff::Timestamp::now();
                    let (changed, unchanged) = dag_files(&job, sync, &diff)?;
                    let wait = Wait::new(changed, unchanged, written, confirm.timeout());
                    job.ctx
                        .or_stopped(confirm_now(&job, sync, confirm, wait))
                        .await?;
                }
                total.add(diff);
            }
            Ok(total
                .counts()
                .iter()
                .map(|(k, n)| (k.to_string(), n.to_string()))
                .collect())
        })
    }
}

/// The sync of the local folder `source` into `folder` of the environment's `dags_target`.
fn sync_of(inputs: &Inputs, folder: Folder, source: Resolved) -> Sync {
    let prune = inputs.flag("prune");
    let env = inputs.environment;
    let target = match &env.dags_target {
        Some(t) => sync::describe(t, folder),
        None => "(no dags_target)".to_string(),
    };
    let include_hidden = inputs.flag("include_hidden");
    let files = match source.parts.len() {
        1 => list_files(
            &inputs.dir.join(source.to_string()),
            &source.to_string(),
            include(include_hidden),
        ),
        _ => FileList::unknown(format!("known once {source} is")),
    };
    let prune_note = if prune { " (prune)" } else { "" };
    let confirm = (folder == Folder::Dags)
        .then(|| confirmation(inputs))
        .flatten();
    let confirm_note = confirm.as_ref().map_or(String::new(), |c| {
        let airflow = match &c.airflow {
            AirflowAt::Composer { .. } => "its Airflow".to_string(),
            AirflowAt::Url { url } => format!("the Airflow at {url}"),
        };
        let timeout = crate::report::human_duration(c.timeout());
        format!(", then wait up to {timeout} for {airflow} to parse the DAG files")
    });
    let concurrency = inputs
        .text("concurrency")
        .and_then(|c| c.to_string().parse().ok())
        .unwrap_or(DEFAULT_CONCURRENCY);
    let remote = env.dags_target.as_ref().is_some_and(|t| !t.is_local());
    Sync {
        description: format!("sync {source} → {target}{prune_note}{confirm_note}"),
        folder,
        source,
        target,
        provider: env.dags_target.as_ref().and_then(sync::provider),
        destination: env.dags_target.clone(),
        prune,
        prune_limit: inputs.prune_limit(),
        owner: format!("{}/{}", inputs.pipeline, inputs.step.id),
        include_hidden,
        files,
        concurrency,
        project: env.project.clone().filter(|_| remote),
        region: env.region.clone().filter(|_| remote),
        impersonate: env.impersonate_service_account.clone().filter(|_| remote),
        assume_role: env.assume_role.clone().filter(|_| remote),
        generated_by: None,
        live: None,
        confirm,
    }
}

/// The Airflow that reads an environment's `dags_target`, where it is known.
fn airflow_at(env: &Environment) -> Option<AirflowAt> {
    let target = env.dags_target.as_ref()?;
    sync::airflow_at(target, env.airflow_url.as_deref())
}

/// Whether and how the step confirms that Airflow parsed its DAG files: by default wherever
/// the Airflow is known.
fn confirmation(inputs: &Inputs) -> Option<Confirm> {
    let wanted = !matches!(
        inputs.node("confirm").map(|n| &n.value),
        Some(Value::Bool(false))
    );
    let timeout = inputs
        .node("confirm_timeout")
        .and_then(|n| match &n.value {
            Value::Int(seconds) => u64::try_from(*seconds).ok(),
            Value::Str(text) => parse_duration(text),
            _ => None,
        })
        .unwrap_or(DEFAULT_CONFIRM_TIMEOUT.as_secs());
    Some(Confirm {
        airflow: airflow_at(inputs.environment).filter(|_| wanted)?,
        timeout_seconds: timeout,
    })
}

/// Files by name, with their content.
type Sources = BTreeMap<String, String>;

/// The DAG files (as Airflow tells them) among those the sync wrote, and among those it
/// found unchanged.
fn dag_files(job: &Job, sync: &Sync, diff: &Diff) -> Result<(Sources, Sources), Failure> {
    let source = job.ctx.dir().join(sync.source.reveal()?);
    let dags = |names: &mut dyn Iterator<Item = &String>| -> Sources {
        names
            .filter_map(|name| {
                let bytes = std::fs::read(source.join(name)).ok()?;
                sync::is_dag_file(name, &bytes)
                    .then(|| (name.clone(), String::from_utf8_lossy(&bytes).into_owned()))
            })
            .collect()
    };
    Ok((
        dags(&mut diff.added.iter().chain(&diff.changed)),
        dags(&mut diff.unchanged.iter()),
    ))
}

async fn confirm_now(job: &Job, sync: &Sync, confirm: &Confirm, wait: Wait) -> Result<(), Failure> {
    if wait.written.is_empty() && wait.unchanged.is_empty() {
        job.ctx
            .say("no DAG file here: nothing for Airflow to parse");
        return Ok(());
    }
    let (url, credentials) = match &confirm.airflow {
        AirflowAt::Composer { environment } => {
            let cloud = job
                .connections
                .google(sync.project.as_deref(), sync.impersonate.as_deref());
            let (Some(project), Some(region)) = (cloud.project.as_deref(), sync.region.as_deref())
            else {
                return Err(Failure::of(Unplanned(
                    "a Composer environment is looked up in the environment's project and region",
                )));
            };
            let api = &cloud.endpoints.composer;
            let url = composer::airflow_uri(&cloud.api, api, project, region, environment)
                .await
                .map_err(Failure::of)?;
            (
                url,
                Credentials::Bearer(Arc::new(GoogleToken(Arc::clone(&cloud)))),
            )
        }
        AirflowAt::Url { url } => (url.clone(), local_credentials()),
    };
    let ctx = job.ctx.clone();
    airflow::confirm(&url, &credentials, &wait, move |line| ctx.say(&line))
        .await
        .map_err(Failure::of)
}

/// A local Airflow's user, from the process environment; none when it is not set (Airflow
/// 3's simple auth manager with `all_admins`, or an open Airflow 2).
fn local_credentials() -> Credentials {
    let var = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
    match var(USERNAME_VAR) {
        Some(username) => Credentials::User {
            username,
            password: var(PASSWORD_VAR).unwrap_or_default(),
        },
        None => Credentials::Anonymous,
    }
}

/// Google's access token, which Composer's Airflow takes for its REST API.
struct GoogleToken(Arc<Cloud>);

#[async_trait::async_trait]
impl TokenSource for GoogleToken {
    async fn token(&self) -> Result<String, TokenError> {
        match self.0.api.auth().token().await? {
            Some(token) => Ok(token),
            None => Err("no Google Cloud credentials are sent to this endpoint".into()),
        }
    }
}

fn include(hidden: bool) -> Include {
    if hidden {
        Include::All
    } else {
        Include::Visible
    }
}

/// Where the sync runs, as the action says.
fn place<'a>(sync: &'a Sync, dir: &'a Path, connections: &'a Connections) -> Place<'a> {
    Place {
        dir,
        owner: &sync.owner,
        project: sync.project.as_deref(),
        region: sync.region.as_deref(),
        impersonate: sync.impersonate.as_deref(),
        assume_role: sync.assume_role.as_deref(),
        connections,
    }
}

async fn sync_now(job: &Job, sync: &Sync) -> Result<Diff, Failure> {
    let dir = job.ctx.dir();
    let source = dir.join(sync.source.reveal()?);
    let Some(target) = &sync.destination else {
        return Err(Failure::of(Unplanned("no `dags_target` here")));
    };
    let dest = sync::open(target, sync.folder, &place(sync, dir, &job.connections))
        .await
        .map_err(Failure::of)?;
    // A local folder is quick: what changed says enough. A bucket takes a while.
    let remote = !target.is_local();
    if remote {
        job.ctx
            .say(&format!("syncing {} to {}", sync.source, dest.url()));
    }
    let ctx = job.ctx.clone();
    let req = Request {
        source: &source,
        include: include(sync.include_hidden),
        prune: sync.prune,
        prune_limit: sync.prune_limit,
        concurrency: sync.concurrency,
    };
    let diff = sync::sync(&*dest, &req, move |line| ctx.say(&line))
        .await
        .map_err(Failure::of)?;
    if remote {
        let [a, c, d, u] = diff.counts().map(|(_, n)| n);
        job.ctx.say(&format!(
            "{a} added, {c} changed, {d} deleted, {u} unchanged"
        ));
    }
    Ok(diff)
}

/// The files a sync would consider, as they are now. A later step may still write more; the
/// plan replaces this list with that step's own when it knows it.
fn list_files(dir: &Path, shown: &str, include: Include) -> FileList {
    if !dir.is_dir() {
        return FileList::unknown(format!("{shown} does not exist yet"));
    }
    match sync::walk(dir, include) {
        Ok(files) => FileList::known(
            files
                .into_keys()
                .map(|name| format!("{}/{name}", shown.trim_end_matches('/')))
                .collect(),
        ),
        Err(e) => FileList::unknown(format!("cannot read {shown}: {e}")),
    }
}

/// What the sync would put at the destination: files with their content, or only names when
/// an upstream step generates them.
enum Wanted {
    Content(BTreeMap<String, String>),
    Names(Vec<String>),
}

fn wanted(sync: &Sync, dir: &Path) -> Result<Wanted, String> {
    if !sync.files.known {
        return Err(sync
            .files
            .note
            .clone()
            .unwrap_or_else(|| "files unknown".into()));
    }
    let source = sync.source.to_string();
    if sync.generated_by.is_some() {
        let base = format!("{}/", source.trim_start_matches("./").trim_end_matches('/'));
        let names = sync.files.names.iter();
        return Ok(Wanted::Names(
            names
                .map(|n| {
                    n.trim_start_matches("./")
                        .strip_prefix(&base)
                        .unwrap_or(n)
                        .to_string()
                })
                .collect(),
        ));
    }
    sync::checksums(&dir.join(&source), include(sync.include_hidden))
        .map(Wanted::Content)
        .map_err(|e| format!("cannot read {source}: {e}"))
}

fn file_diff(
    wanted: Wanted,
    remote: &BTreeMap<String, Remote>,
    source: &Path,
    sync: &Sync,
) -> FileDiff {
    let mut d = file_changes(wanted, remote, source, sync.prune);
    if let Some(limit) = sync.prune_limit {
        let managed = remote.values().filter(|r| r.owner == Owner::Ours).count();
        let keeping = d.added.len() + d.changed.len() + d.unchanged + d.pending.len();
        let stop = limit.check(&sync.target, d.deleted.len(), managed, keeping);
        d.prune_stop = stop.err().map(|e| e.to_string());
    }
    d
}

fn file_changes(
    wanted: Wanted,
    remote: &BTreeMap<String, Remote>,
    source: &Path,
    prune: bool,
) -> FileDiff {
    match wanted {
        Wanted::Content(local) => {
            let d = diff(&local, remote, source, prune);
            FileDiff {
                unchanged: d.unchanged.len(),
                added: d.added,
                changed: d.changed,
                deleted: d.deleted,
                pending: Vec::new(),
                prune_stop: None,
            }
        }
        Wanted::Names(names) => {
            let (pending, added) = names.iter().cloned().partition(|n| remote.contains_key(n));
            let deleted = remote
                .iter()
                .filter(|(n, r)| prune && r.owner == Owner::Ours && !names.contains(n))
                .map(|(n, _)| n.clone())
                .collect();
            FileDiff {
                added,
                changed: Vec::new(),
                deleted,
                unchanged: 0,
                pending,
                prune_stop: None,
            }
        }
    }
}

/// For `plan`: what the sync would change at its destination (one listing, nothing more).
async fn live(sync: &Sync, at: &LiveAt<'_>) -> Live<FileDiff> {
    let Some(target) = &sync.destination else {
        return Live::unknown("no dags_target");
    };
    let place = place(sync, at.dir, at.connections);
    if let Some(problem) = sync::credentials_problem(target, &place) {
        return Live::no_credentials(&problem);
    }
    let wanted = match wanted(sync, at.dir) {
        Ok(w) => w,
        Err(reason) => return Live::unknown(reason),
    };
    let dest = match sync::open(target, sync.folder, &place).await {
        Ok(d) => d,
        Err(e) => return Live::unknown(crate::error_chain::ErrorChain(&e).to_string()),
    };
    let source = at.dir.join(sync.source.to_string());
    match dest.list().await {
        Ok(remote) => Live::Compared(file_diff(wanted, &remote, &source, sync)),
        Err(e) => Live::unknown(format!(
            "cannot list {}: {}",
            dest.url(),
            crate::error_chain::ErrorChain(&e)
        )),
    }
}
