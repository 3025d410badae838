//! `composer_dags`: puts DAG files where Airflow reads them: a Cloud Composer environment's
//! bucket, any bucket and prefix, or a local dags folder.

use std::collections::BTreeMap;
use std::path::Path;

use super::{Inputs, Outputs, StepKind, require_in_environments};
use crate::diagnostic::Diagnostic;
use crate::gcp::{Cloud, composer};
use crate::pipeline::{DagsTarget, Environment, Pipeline, Step};
use crate::plan::action::{Action, FileDiff, FileList, Live, Sync};
use crate::runner::executor::{Failure, Job, StepFuture};
use crate::shape::{Field, Record, Shape};
use crate::sync::gcs::{DEFAULT_CONCURRENCY, GcsFolder};
use crate::sync::local::LocalDir;
use crate::sync::{Diff, Remote, diff, local_files};

pub struct ComposerDags;

const INPUTS: Record = Record {
    fields: &[
        Field::required(
            "source",
            Shape::Template,
            "Local folder of DAG files to sync.",
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
    ],
    exactly_one_of: &[],
};

impl StepKind for ComposerDags {
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
        require_in_environments(
            step,
            pipeline,
            "`dags_target`",
            |env| env.dags_target.is_some(),
            diags,
        );
    }

    fn can_run(&self, _environment: &Environment) -> bool {
        true
    }

    fn execute(&self, job: Job) -> StepFuture {
        Box::pin(async move {
            let Some(Action::Sync(sync)) = job.actions.first() else {
                return Err(Failure::Failed(
                    "a composer_dags step plans one sync".into(),
                ));
            };
            let source = job
                .exec
                .dir()
                .join(sync.source.reveal().map_err(Failure::Failed)?);
            let diff = match &sync.destination {
                Some(DagsTarget::Dir { path }) => sync_dir(&job, &source, path, sync.prune)?,
                Some(target) => {
                    let work = sync_bucket(&job, sync, target, &source);
                    job.exec.or_stopped(work).await?
                }
                None => return Err(Failure::Failed("no `dags_target` here".into())),
            };
            Ok(diff
                .counts()
                .iter()
                .map(|(k, n)| (k.to_string(), n.to_string()))
                .collect())
        })
    }

    fn plan(&self, inputs: &Inputs) -> Vec<Action> {
        let source = inputs.text_or("source", "");
        let prune = inputs.flag("prune");
        let env = inputs.environment;
        let target = describe_target(env);
        let files = match source.parts.len() {
            1 => list_files(&inputs.dir.join(source.to_string()), &source.to_string()),
            _ => FileList::unknown(format!("known once {source} is")),
        };
        let prune_note = if prune { " (prune)" } else { "" };
        let concurrency = inputs
            .text("concurrency")
            .and_then(|c| c.to_string().parse().ok())
            .unwrap_or(DEFAULT_CONCURRENCY);
        let cloud = !matches!(env.dags_target, Some(DagsTarget::Dir { .. }));
        vec![Action::Sync(Sync {
            description: format!("sync {source} → {target}{prune_note}"),
            source,
            target,
            destination: env.dags_target.clone(),
            prune,
            files,
            concurrency,
            project: env.project.clone().filter(|_| cloud),
            region: env.region.clone().filter(|_| cloud),
            impersonate: env.impersonate_service_account.clone().filter(|_| cloud),
            generated_by: None,
            live: None,
        })]
    }
}

fn sync_dir(job: &Job, source: &Path, path: &str, prune: bool) -> Result<Diff, Failure> {
    let target = LocalDir {
        root: job.exec.dir().join(path),
    };
    let diff = target.sync(source, prune).map_err(|e| {
        Failure::Failed(format!(
            "sync of {} to {path} failed: {e}",
            source.display()
        ))
    })?;
    for (name, verb) in [
        (&diff.added, "added"),
        (&diff.changed, "changed"),
        (&diff.deleted, "deleted"),
    ] {
        for file in name {
            job.exec.say(&format!("{verb} {path}/{file}"));
        }
    }
    Ok(diff)
}

async fn sync_bucket(
    job: &Job,
    sync: &Sync,
    target: &DagsTarget,
    source: &Path,
) -> Result<Diff, Failure> {
    let cloud = Cloud::connect_to(sync.project.as_deref(), sync.impersonate.as_deref());
    let folder = folder(&cloud, target, sync.region.as_deref())
        .await
        .map_err(Failure::Failed)?;
    job.exec
        .say(&format!("syncing {} to {}", sync.source, folder.url()));
    let exec = job.exec.clone();
    let diff = folder
        .sync(source, sync.prune, sync.concurrency, move |line| {
            exec.say(&line)
        })
        .await
        .map_err(|e| Failure::Failed(e.to_string()))?;
    let [a, c, d, u] = diff.counts().map(|(_, n)| n);
    job.exec.say(&format!(
        "{a} added, {c} changed, {d} deleted, {u} unchanged"
    ));
    Ok(diff)
}

/// The bucket folder a target names, looking a Composer environment up when it is one.
pub async fn folder(
    cloud: &Cloud,
    target: &DagsTarget,
    region: Option<&str>,
) -> Result<GcsFolder, String> {
    match target {
        DagsTarget::Bucket { bucket, prefix } => {
            Ok(GcsFolder::new(cloud.storage.clone(), bucket, prefix))
        }
        DagsTarget::Composer { environment } => {
            let (Some(project), Some(region)) = (cloud.project.as_deref(), region) else {
                return Err(format!(
                    "finding Composer environment `{environment}` needs the environment's `project` (or GOOGLE_CLOUD_PROJECT) and `region`"
                ));
            };
            let found = composer::dag_folder(
                &cloud.api,
                &cloud.endpoints.composer,
                project,
                region,
                environment,
            )
            .await
            .map_err(|e| e.to_string())?;
            Ok(GcsFolder::new(
                cloud.storage.clone(),
                &found.bucket,
                &found.prefix,
            ))
        }
        DagsTarget::Dir { path } => Err(format!("{path} is a local folder")),
    }
}

pub fn describe_target(env: &Environment) -> String {
    match &env.dags_target {
        Some(DagsTarget::Dir { path }) => path.clone(),
        Some(DagsTarget::Bucket { bucket, prefix }) => {
            let bucket = bucket.trim_end_matches('/');
            let bucket = if bucket.starts_with("gs://") {
                bucket.to_string()
            } else {
                format!("gs://{bucket}")
            };
            format!("{bucket}/{}", prefix.trim_start_matches('/'))
        }
        Some(DagsTarget::Composer { environment }) => {
            format!("the DAG folder of Composer environment `{environment}`")
        }
        None => "(no dags_target)".to_string(),
    }
}

/// The files a sync would consider, as they are now. A later step may still write more; the
/// plan replaces this list with that step's own when it knows it.
fn list_files(dir: &Path, shown: &str) -> FileList {
    if !dir.is_dir() {
        return FileList::unknown(format!("{shown} does not exist yet"));
    }
    let mut names = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(folder) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else if let Ok(rel) = path.strip_prefix(dir) {
                names.push(format!("{}/{}", shown.trim_end_matches('/'), rel.display()));
            }
        }
    }
    names.sort();
    FileList::known(names)
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
    local_files(&dir.join(&source))
        .map(Wanted::Content)
        .map_err(|e| format!("cannot read {source}: {e}"))
}

fn file_diff(wanted: Wanted, remote: &BTreeMap<String, Remote>, prune: bool) -> FileDiff {
    match wanted {
        Wanted::Content(local) => {
            let d = diff(&local, remote, prune);
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
                .filter(|(n, r)| prune && r.ours && !names.contains(n))
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

/// For `plan`: what a sync to a local folder would change there.
pub fn live_dir(sync: &Sync, dir: &Path) -> Live<FileDiff> {
    let Some(DagsTarget::Dir { path }) = &sync.destination else {
        return Live::Unknown {
            reason: "not a folder".into(),
        };
    };
    let listing = LocalDir {
        root: dir.join(path),
    }
    .listing();
    match (wanted(sync, dir), listing) {
        (Ok(w), Ok(remote)) => Live::Compared(file_diff(w, &remote, sync.prune)),
        (Err(reason), _) => Live::Unknown { reason },
        (_, Err(e)) => Live::Unknown {
            reason: format!("cannot read {path}: {e}"),
        },
    }
}

/// For `plan`: what a sync to a bucket would change there (lists the prefix, nothing more).
pub async fn live(cloud: &Cloud, sync: &Sync, dir: &Path) -> Live<FileDiff> {
    let unknown = |reason: String| Live::Unknown { reason };
    let Some(target) = &sync.destination else {
        return unknown("no dags_target".into());
    };
    let needs_credentials =
        !matches!(target, DagsTarget::Bucket { .. }) || !cloud.endpoints.storage_emulator;
    if let (true, Some(problem)) = (needs_credentials, cloud.credentials_problem()) {
        return unknown(crate::plan::live::no_credentials(&problem));
    }
    let wanted = match wanted(sync, dir) {
        Ok(w) => w,
        Err(reason) => return unknown(reason),
    };
    let folder = match folder(cloud, target, sync.region.as_deref()).await {
        Ok(f) => f,
        Err(reason) => return unknown(reason),
    };
    let source = dir.join(sync.source.to_string());
    match folder.listing(Some(&source)).await {
        Ok(listing) => Live::Compared(file_diff(wanted, &listing.remote, sync.prune)),
        Err(e) => unknown(format!("cannot list {}: {e}", folder.url())),
    }
}
