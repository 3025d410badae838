//! The plan's live pass: after every step is planned, each step's kind compares its actions
//! with what is there now (read-only). It runs once, on one small runtime, with connections
//! shared by every comparison, after the plan knows which files upstream steps generate;
//! without credentials each comparison says "unknown: no credentials" and makes no call.

use super::PlannedStep;
use crate::cloud::Connections;
use crate::pipeline::Pipeline;
use crate::steps::{self, Live};

/// Fills in the `live` side of the actions of the steps that run; returns a summary for the
/// plan (`compared`, or why not).
pub(super) fn compare(steps: &mut [PlannedStep], pipeline: &Pipeline) -> String {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return format!("unknown: {e}"),
    };
    runtime.block_on(async {
        let connections = Connections::default();
        let at = Live {
            dir: pipeline.dir(),
            connections: &connections,
        };
        for step in steps.iter_mut().filter(|s| !s.skipped) {
            let kind = steps::of(&pipeline.steps[step.id.as_str()]);
            kind.live(&mut step.actions, &at).await;
        }
        summary(steps)
    })
}

fn summary(steps: &[PlannedStep]) -> String {
    let actions = steps.iter().filter(|s| !s.skipped).flat_map(|s| &s.actions);
    let unknown: Vec<_> = actions
        .filter(|a| a.live_compared() == Some(false))
        .collect();
    if unknown.is_empty() {
        return "compared".into();
    }
    match unknown.iter().find_map(|a| a.credentials_missing()) {
        Some(reason) => format!("unknown: {reason}"),
        None => "partly unknown: see each step".into(),
    }
}
