//! `composer_dags`: puts DAG files where Airflow reads them: a Cloud Composer environment's
//! bucket, any bucket and prefix, or a local dags folder.

use std::path::Path;

use super::{Inputs, Outputs, StepKind, require_in_environments};
use crate::diagnostic::Diagnostic;
use crate::pipeline::{DagsTarget, Environment, Pipeline, Step};
use crate::plan::action::{Action, FileList, Sync};
use crate::runner::executor::{Failure, Job, StepFuture};
use crate::shape::{Field, Record, Shape};
use crate::sync::local::LocalDir;

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

    /// Local folders for now; buckets and Composer come with the Google Cloud support.
    fn can_run(&self, environment: &Environment) -> bool {
        matches!(environment.dags_target, Some(DagsTarget::Dir { .. }))
    }

    fn execute(&self, job: Job) -> StepFuture {
        Box::pin(async move {
            let Some(Action::Sync(sync)) = job.actions.first() else {
                return Err(Failure::Failed(
                    "a composer_dags step plans one sync".into(),
                ));
            };
            let Some(DagsTarget::Dir { path }) = &sync.destination else {
                return Err(Failure::Failed(format!(
                    "cannot sync to {} yet",
                    sync.target
                )));
            };
            let source = job
                .exec
                .dir()
                .join(sync.source.reveal().map_err(Failure::Failed)?);
            let target = LocalDir {
                root: job.exec.dir().join(path),
            };
            let diff = target.sync(&source, sync.prune).map_err(|e| {
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
        let target = describe_target(inputs.environment);
        let files = match source.parts.len() {
            1 => list_files(&inputs.dir.join(source.to_string()), &source.to_string()),
            _ => FileList::unknown(format!("known once {source} is")),
        };
        let prune_note = if prune { " (prune)" } else { "" };
        vec![Action::Sync(Sync {
            description: format!("sync {source} → {target}{prune_note}"),
            source,
            target,
            destination: inputs.environment.dags_target.clone(),
            prune,
            files,
        })]
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
