//! The files a `composer_dags` step's target reads packed, at a version it names, and runs
//! only once updated (an MWAA environment's `plugins.zip` and `requirements.txt`): planned
//! as syncs of one file each, compared by checksum with the version the environment runs,
//! uploaded when they differ, then applied in one update that the step waits for.

use std::path::Path;

use super::super::kind::Live as LiveAt;
use super::{include, place};
use crate::action::{FileDiff, FileList, Folder, Live, Sync};
use crate::diagnostic::Diagnostic;
use crate::exec::{Failure, Job};
use crate::expr::Resolved;
use crate::pipeline::{Pipeline, Step};
use crate::steps::Unplanned;
use crate::sync::{self, Diff};

/// A requirements file is read only by a target that installs it (an MWAA environment):
/// anywhere else it would be ignored without a word.
pub(super) fn require_packing_target(
    step: &Step,
    pipeline: &Pipeline,
    diags: &mut Vec<Diagnostic>,
) {
    let Some(node) = step.with.get("requirements") else {
        return;
    };
    let elsewhere: Vec<&str> = pipeline
        .environments
        .values()
        .filter(|env| step.runs_in(&env.name))
        .filter(|env| {
            env.dags_target
                .as_ref()
                .is_some_and(|t| !sync::packs(t, Folder::Requirements))
        })
        .map(|env| env.name.as_str())
        .collect();
    if elsewhere.is_empty() {
        return;
    }
    diags.push(
        Diagnostic::error(
            node.span,
            format!(
                "step `{}` has `requirements`, which only an MWAA environment installs, but runs in {}, whose `dags_target` is not one",
                step.id,
                crate::diagnostic::environments_phrase(&elsewhere)
            ),
        )
        .label("nothing there would read this file")
        .expected(
            "`dags_target: { mwaa_environment: NAME }`, or `environments:` on the step to leave the others out",
        ),
    );
}

/// Whether `sync` is of one file its target reads packed.
pub(super) fn is_packed(sync: &Sync) -> bool {
    sync.destination
        .as_ref()
        .is_some_and(|t| sync::packs(t, sync.folder))
}

/// `sync`, planned by the caller for `folder`, made the upload of one packed file.
pub(super) fn planned(mut sync: Sync, folder: Folder, source: &Resolved, dir: &Path) -> Sync {
    let applied = sync
        .destination
        .as_ref()
        .and_then(sync::applied_by)
        .unwrap_or_default();
    let what = match folder {
        Folder::Requirements => format!("upload {source}"),
        _ => format!("zip {source} and upload it"),
    };
    sync.description = format!(
        "{what} → {} if it differs from the version running there, then {applied}",
        sync.target
    );
    sync.prune = false;
    sync.prune_limit = None;
    if folder == Folder::Requirements && source.parts.len() == 1 {
        let shown = source.to_string();
        sync.files = if dir.join(&shown).is_file() {
            FileList::known(vec![shown])
        } else {
            FileList::unknown(format!("{shown} does not exist yet"))
        };
    }
    sync
}

/// For `plan`: whether the file differs from the version the environment runs.
pub(super) async fn live(sync: &mut Sync, at: &LiveAt<'_>) -> Live<FileDiff> {
    let Some(target) = sync.destination.clone() else {
        return Live::unknown("no dags_target");
    };
    let place = place(sync, at.dir, at.connections);
    if let Some(problem) = sync::credentials_problem(&target, &place) {
        return Live::no_credentials(&problem);
    }
    if !sync.files.known || sync.generated_by.is_some() {
        return Live::unknown("its content is known only after the steps before");
    }
    let source = at.dir.join(sync.source.to_string());
    let bytes = match sync::pack(sync.folder, &source, include(sync.include_hidden)) {
        Ok(bytes) => bytes,
        Err(e) => return Live::unknown(crate::error_chain::ErrorChain(&e).to_string()),
    };
    let compared = async {
        let Some(env) = sync::open_packed(&target, &place).await? else {
            return Ok(None);
        };
        let same = sync::unchanged(&*env, sync.folder, &bytes).await?;
        let new = !env.runs_any(sync.folder);
        Ok::<_, sync::SyncError>(Some((env.url(sync.folder), same, new)))
    };
    match compared.await {
        Ok(None) => Live::unknown("this target reads no packed files"),
        Ok(Some((url, true, _))) => {
            sync.description = format!(
                "{} at {url}: the environment runs this content already, no update",
                sync.source
            );
            Live::Compared(FileDiff {
                unchanged: 1,
                ..FileDiff::default()
            })
        }
        Ok(Some((url, false, new))) => {
            let applied = sync::applied_by(&target).unwrap_or_default();
            sync.description = format!(
                "upload {} as a new version of {url}, then {applied}",
                sync.source
            );
            let (added, changed) = match new {
                true => (vec![url], Vec::new()),
                false => (Vec::new(), vec![url]),
            };
            Live::Compared(FileDiff {
                added,
                changed,
                ..FileDiff::default()
            })
        }
        Err(e) => Live::unknown(crate::error_chain::ErrorChain(&e).to_string()),
    }
}

/// Uploads each packed file that differs from the version the environment runs, then makes
/// it run them all in one update and waits for it (as long as the step's timeout allows).
pub(super) async fn execute(job: &Job, syncs: &[&Sync]) -> Result<Diff, Failure> {
    let Some(first) = syncs.first() else {
        return Ok(Diff::default());
    };
    let Some(target) = &first.destination else {
        return Err(Failure::of(Unplanned("no `dags_target` here")));
    };
    let dir = job.ctx.dir();
    let env = sync::open_packed(target, &place(first, dir, &job.connections))
        .await
        .map_err(Failure::of)?
        .ok_or_else(|| Failure::of(Unplanned("this target reads no packed files")))?;
    let mut diff = Diff::default();
    let mut uploaded = Vec::new();
    for sync in syncs {
        let source = dir.join(sync.source.reveal()?);
        let bytes =
            sync::pack(sync.folder, &source, include(sync.include_hidden)).map_err(Failure::of)?;
        let url = env.url(sync.folder);
        if sync::unchanged(&*env, sync.folder, &bytes)
            .await
            .map_err(Failure::of)?
        {
            job.ctx
                .say(&format!("{url}: the environment runs this content already"));
            diff.unchanged.push(url);
            continue;
        }
        let up = env.upload(sync.folder, bytes).await.map_err(Failure::of)?;
        job.ctx.say(&format!(
            "uploaded {} as {url} (version {})",
            sync.source, up.version
        ));
        match env.runs_any(sync.folder) {
            true => diff.changed.push(url),
            false => diff.added.push(url),
        }
        uploaded.push(up);
    }
    if uploaded.is_empty() {
        job.ctx.say("nothing to update");
        return Ok(diff);
    }
    let ctx = job.ctx.clone();
    let say = move |line: String| ctx.say(&line);
    env.apply(&uploaded, &say).await.map_err(Failure::of)?;
    Ok(diff)
}
