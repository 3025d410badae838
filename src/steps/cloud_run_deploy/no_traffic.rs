//! `no_traffic`: a service's new revision is deployed under the tag `dagship` with no
//! traffic, checked, and only then given all of it.
//!
//! When anything fails before traffic moved, or the step is stopped (its `timeout`, an
//! interrupt), the traffic is put back as it was and dagship's tag removed: nothing stays
//! pinned to the old revision, so a later deploy, with or without `no_traffic`, moves traffic
//! as usual.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{ServiceFailed, write_and_wait};
use crate::exec::{Failure, Job};
use crate::gcp::cloud_run::{CloudRun, RunError, revision_failure, short_name};
use crate::gcp::run_spec::Spec;
use crate::gcp::run_traffic::{self, serving_revision};

/// How long putting the traffic back may take, after a failure or a stop.
const RESTORE_PATIENCE: Duration = Duration::from_secs(60);

/// Deploys `spec` as a candidate beside `serving` (the latest ready revision, which serves
/// today's "latest" traffic), then moves traffic to it.
pub(super) async fn deploy(
    job: &Job,
    run: &CloudRun<'_>,
    spec: &Spec,
    live: Value,
    serving: String,
) -> Result<Value, Failure> {
    let candidate = format!("{}-{:08x}", run.target.name, fastrand::u32(..));
    let before = live["traffic"].clone();
    let moved = job
        .ctx
        .or_stopped(stage_then_move(job, run, spec, &live, &serving, &candidate))
        .await;
    if moved.is_err() {
        restore(job, run, &before, &serving, &candidate).await;
    }
    moved
}

async fn stage_then_move(
    job: &Job,
    run: &CloudRun<'_>,
    spec: &Spec,
    live: &Value,
    serving: &str,
    candidate: &str,
) -> Result<Value, Failure> {
    let stage = |body: &mut Value| {
        body["template"]["revision"] = json!(candidate);
        body["traffic"] = run_traffic::staged(&body["traffic"], serving, candidate);
    };
    let staged = write_and_wait(job, run, spec, Some(live), Some(&stage)).await?;
    let revision = run.get_revision(candidate).await.map_err(Failure::of)?;
    if let Some(message) = revision_failure(&revision) {
        return Err(Failure::of(ServiceFailed {
            service: run.target.name.clone(),
            why: format!("revision {candidate} failed: {message}"),
            serving: Some(serving.to_string()),
        }));
    }
    let url = run_traffic::candidate_url(&staged).unwrap_or("(no tag URL)");
    job.ctx.say(&format!(
        "revision {candidate} is ready at {url} with no traffic; moving traffic to it"
    ));
    // The template is the same, so no new revision: only the traffic moves.
    let move_traffic = |body: &mut Value| {
        body["template"]["revision"] = json!(candidate);
        body["traffic"] = run_traffic::moved(&body["traffic"]);
    };
    write_and_wait(job, run, spec, Some(&staged), Some(&move_traffic)).await
}

/// Puts `before` back (without dagship's tag), and says where traffic goes now. The candidate
/// may have become ready meanwhile: "latest" entries then stay pinned to `serving`.
async fn restore(job: &Job, run: &CloudRun<'_>, before: &Value, serving: &str, candidate: &str) {
    let run = CloudRun {
        deadline: Some(Instant::now() + RESTORE_PATIENCE),
        ..*run
    };
    let restored = async {
        // A write while the candidate's operation runs would be refused: let it end first.
        let mut now = run.settle().await?.ok_or_else(|| gone(&run))?;
        let candidate_ready =
            now["latestReadyRevision"].as_str().map(short_name) == Some(candidate);
        now["traffic"] = run_traffic::restored(before, candidate_ready.then_some(serving));
        let op = run.update(&now).await?;
        // The operation may report the failed candidate again; what counts is the traffic.
        let _ = run.wait_operation(op).await;
        let after = run.get().await?.ok_or_else(|| gone(&run))?;
        Ok::<_, RunError>(serving_revision(&after))
    };
    match restored.await {
        Ok(serving) => job.ctx.say(&format!(
            "traffic is back as it was (revision {} serves) and the candidate's tag is removed",
            serving.unwrap_or_default()
        )),
        Err(e) => job
            .ctx
            .say(&format!("could not put the traffic back as it was: {e}")),
    }
}

fn gone(run: &CloudRun<'_>) -> RunError {
    RunError::Failed {
        noun: run.target.resource.noun(),
        name: run.target.name.clone(),
        message: "it vanished".into(),
    }
}
