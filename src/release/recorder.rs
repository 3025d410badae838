//! Writes the release of a deployment once it has ended: what each step did, and the content
//! its artifacts name (DAG files, the manifest, the pipeline file) stored by hash first, so
//! that a record never names content that is not there.

use indexmap::IndexMap;

use super::checkout::{compress, content_hash};
use super::history::{History, ReleaseError};
use super::record::{
    Command, FORMAT_VERSION, GitInfo, Release, ReleaseOutcome, Source, StepRecord,
};
use crate::artifact::{Artifact, DagBundle};
use crate::git::Revision;
use crate::report::{Outcome, RunSummary};

/// What a deployment was, for its record.
pub struct Recording<'a> {
    pub id: &'a str,
    pub pipeline: &'a str,
    /// The pipeline file's text as the deployment read it.
    pub pipeline_text: &'a str,
    pub environment: &'a str,
    pub command: Command,
    pub source: Option<Source>,
    pub started_at: jiff::Timestamp,
    pub git: &'a Revision,
    /// Step kinds by id, in the plan's order.
    pub steps: &'a [(String, String)],
    pub summary: &'a RunSummary,
    /// The environment's current release before this one: steps this deployment did not
    /// select keep what it recorded of them.
    pub previous: Option<&'a Release>,
    /// The pipeline file's folder: DAG folders and manifests are read from it.
    pub dir: &'a std::path::Path,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error(transparent)]
    Store(#[from] ReleaseError),
    #[error("cannot read `{}` to record it", path.display())]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` changed after step `{step}` wrote it: the release records what was deployed, and this is no longer it", path.display())]
    Changed {
        step: String,
        path: std::path::PathBuf,
    },
}

/// Whether a deployment did anything worth a record: a step started.
pub fn started_anything(summary: &RunSummary) -> bool {
    summary.results.iter().any(|r| r.attempts > 0)
}

/// Stores the content, then the record.
pub async fn record(history: &History, r: Recording<'_>) -> Result<Release, RecordingError> {
    let pipeline_file = history.put_blob(r.pipeline_text.as_bytes()).await?;
    let mut steps = Vec::new();
    for (id, uses) in r.steps {
        let Some(result) = r.summary.results.iter().find(|s| &s.id == id) else {
            continue;
        };
        let artifact = match r.summary.artifacts.get(id) {
            Some(artifact) => Some(store_artifact(history, id, artifact, r.dir).await?),
            None => None,
        };
        steps.push(StepRecord {
            id: id.clone(),
            uses: uses.clone(),
            outcome: result.outcome,
            reason: result.reason.clone(),
            outputs: result.outputs.clone(),
            artifact,
            carried_from: None,
        });
    }
    steps.extend(carried(r.previous, r.steps));
    let release = Release {
        format_version: FORMAT_VERSION,
        id: r.id.to_string(),
        pipeline: r.pipeline.to_string(),
        environment: r.environment.to_string(),
        command: r.command,
        outcome: outcome(r.summary.outcome),
        started_at: r.started_at.to_string(),
        finished_at: jiff::Timestamp::now().to_string(),
        git: GitInfo {
            sha: r.git.sha.clone(),
            reference: r.git.reference.clone(),
        },
        actor: super::actor(),
        ci_url: super::ci_url(),
        pipeline_file,
        source: r.source,
        steps,
    };
    history.save(&release).await?;
    Ok(release)
}

fn outcome(outcome: Outcome) -> ReleaseOutcome {
    match outcome {
        Outcome::Succeeded | Outcome::Skipped => ReleaseOutcome::Succeeded,
        Outcome::Failed => ReleaseOutcome::Failed,
        Outcome::Cancelled => ReleaseOutcome::Interrupted,
    }
}

/// What the previous release recorded of steps this deployment did not plan at all.
fn carried(previous: Option<&Release>, planned: &[(String, String)]) -> Vec<StepRecord> {
    let Some(previous) = previous else {
        return Vec::new();
    };
    previous
        .steps
        .iter()
        .filter(|s| s.artifact.is_some() && !planned.iter().any(|(id, _)| *id == s.id))
        .map(|s| StepRecord {
            id: s.id.clone(),
            uses: s.uses.clone(),
            outcome: Outcome::Skipped,
            reason: Some("not selected: still what this release recorded".to_string()),
            outputs: IndexMap::new(),
            artifact: s.artifact.clone(),
            carried_from: Some(s.carried_from.clone().unwrap_or(previous.id.clone())),
        })
        .collect()
}

async fn store_artifact(
    history: &History,
    step: &str,
    artifact: &Artifact,
    dir: &std::path::Path,
) -> Result<Artifact, RecordingError> {
    let Artifact::Dags(bundle) = artifact else {
        return Ok(artifact.clone());
    };
    let read = |path: std::path::PathBuf| {
        std::fs::read(&path).map_err(|source| RecordingError::Read { path, source })
    };
    let out = dir.join(&bundle.out);
    for file in &bundle.files {
        let path = out.join(&file.path);
        let bytes = read(path.clone())?;
        if content_hash(&bytes) != file.sha256 {
            return Err(RecordingError::Changed {
                step: step.to_string(),
                path,
            });
        }
        history.put_blob(&bytes).await?;
    }
    let manifest = match (&bundle.manifest, &bundle.manifest_path) {
        (Some(blob), _) => Some(blob.clone()),
        (None, Some(path)) => Some(history.put_blob(&compress(&read(dir.join(path))?)).await?),
        (None, None) => None,
    };
    let selectors = match (&bundle.selectors, &bundle.selectors_path) {
        (Some(blob), _) => Some(blob.clone()),
        (None, Some(path)) => Some(history.put_blob(&read(dir.join(path))?).await?),
        (None, None) => None,
    };
    Ok(Artifact::Dags(DagBundle {
        manifest,
        selectors,
        ..bundle.clone()
    }))
}
