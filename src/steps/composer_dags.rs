//! `composer_dags`: puts DAG files where Airflow reads them: a Cloud Composer environment's
//! bucket, any bucket and prefix, or a local dags folder.

use std::collections::BTreeMap;
use std::path::Path;

use super::kind::{Live as LiveAt, LiveFuture};
use super::{Inputs, StepKind, Unplanned};
use crate::action::{Action, FileDiff, FileList, Folder, Live, Sync};
use crate::cloud::Connections;
use crate::diagnostic::Diagnostic;
use crate::exec::{Failure, Job, StepFuture};
use crate::expr::Resolved;
use crate::pipeline::{KindSchema, Outputs, Pipeline, Step};
use crate::shape::{Field, Record, Shape};
use crate::sync::{self, DEFAULT_CONCURRENCY, Diff, Include, Owner, Place, Remote, Request, diff};

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
            "Local folder synced to the `plugins/` folder beside the DAG folder (Composer's bucket layout), before the DAG files.",
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
            "concurrency",
            Shape::Int { min: 1, max: 64 },
            "Uploads at once (default: 16).",
        ),
        Field::optional(
            "include_hidden",
            Shape::Bool,
            "Also sync hidden files and caches (`.DS_Store`, `__pycache__/`, `.pytest_cache/`), which stay behind by default.",
        ),
    ],
    exactly_one_of: &[],
};

/// A Composer environment is looked up by project and region; the project may come from
/// the machine (`GOOGLE_CLOUD_PROJECT`), the region only from the file.
fn require_composer_region(step: &Step, pipeline: &Pipeline, diags: &mut Vec<Diagnostic>) {
    use crate::pipeline::DagsTarget;
    pipeline.require_in_environments(
        step,
        "a `region` to find its Composer environment",
        |env| {
            let composer = matches!(env.dags_target, Some(DagsTarget::Composer { .. }));
            !composer || env.region.is_some()
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
        pipeline.require_in_environments(
            step,
            "`dags_target`",
            |env| env.dags_target.is_some(),
            diags,
        );
    }
}

impl StepKind for ComposerDags {
    /// One sync per folder: plugins and data first (DAG files may import from them), then
    /// the DAG files.
    fn plan(&self, inputs: &Inputs) -> Vec<Action> {
        [
            (Folder::Plugins, inputs.text("plugins")),
            (Folder::Data, inputs.text("data")),
            (Folder::Dags, Some(inputs.text_or("source", ""))),
        ]
        .into_iter()
        .filter_map(|(folder, source)| Some(Action::Sync(sync_of(inputs, folder, source?))))
        .collect()
    }

    fn live<'a>(&'a self, actions: &'a mut [Action], at: &'a LiveAt<'a>) -> LiveFuture<'a> {
        Box::pin(async move {
            for action in actions {
                if let Action::Sync(sync) = action {
                    sync.live = Some(live(sync, at).await);
                }
            }
        })
    }

    fn execute(&self, job: Job) -> StepFuture {
        Box::pin(async move {
            let mut total = Diff::default();
            for action in &job.actions {
                let Action::Sync(sync) = action else {
                    return Err(Failure::of(Unplanned("a composer_dags step plans syncs")));
                };
                let work = sync_now(&job, sync);
                let diff = job.ctx.or_stopped(work).await?;
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
    let concurrency = inputs
        .text("concurrency")
        .and_then(|c| c.to_string().parse().ok())
        .unwrap_or(DEFAULT_CONCURRENCY);
    let remote = env.dags_target.as_ref().is_some_and(|t| !t.is_local());
    Sync {
        description: format!("sync {source} → {target}{prune_note}"),
        folder,
        source,
        target,
        provider: env.dags_target.as_ref().and_then(sync::provider),
        destination: env.dags_target.clone(),
        prune,
        owner: format!("{}/{}", inputs.pipeline, inputs.step.id),
        include_hidden,
        files,
        concurrency,
        project: env.project.clone().filter(|_| remote),
        region: env.region.clone().filter(|_| remote),
        impersonate: env.impersonate_service_account.clone().filter(|_| remote),
        generated_by: None,
        live: None,
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
        Ok(remote) => Live::Compared(file_diff(wanted, &remote, &source, sync.prune)),
        Err(e) => Live::unknown(format!(
            "cannot list {}: {}",
            dest.url(),
            crate::error_chain::ErrorChain(&e)
        )),
    }
}
