//! The plan's live pass: after every step is planned, deploys and syncs are compared with
//! what is there now (read-only). It runs once, on one small runtime, with one set of
//! credentials, after the plan knows which files upstream steps generate; without
//! credentials it marks each comparison "unknown: no credentials" and makes no call.

use std::path::Path;

use super::PlannedStep;
use super::action::{Action, Live};
use crate::gcp::Cloud;
use crate::gcp::cloud_run::Resource;
use crate::pipeline::{DagsTarget, Environment};
use crate::steps::{cloud_run_deploy, composer_dags};

/// The reason shown when there are no credentials to read with.
pub fn no_credentials(problem: &str) -> String {
    if problem.starts_with("no Google Cloud credentials") {
        "no credentials".into()
    } else {
        format!("no credentials: {problem}")
    }
}

/// Fills in the `live` side of every deploy and sync of the steps that run; returns a summary
/// for the plan (`compared`, or why not).
pub fn compare(steps: &mut [PlannedStep], env: &Environment, dir: &Path) -> String {
    let actions: Vec<&mut Action> = steps
        .iter_mut()
        .filter(|s| !s.skipped)
        .flat_map(|s| s.actions.iter_mut())
        .collect();
    let (mut local, mut cloud): (Vec<_>, Vec<_>) = actions
        .into_iter()
        .filter(|a| matches!(a, Action::Deploy(_) | Action::Sync(_)))
        .partition(|a| matches!(a, Action::Sync(s) if matches!(s.destination, Some(DagsTarget::Dir { .. }))));
    for action in &mut local {
        if let Action::Sync(sync) = action {
            sync.live = Some(composer_dags::live_dir(sync, dir));
        }
    }
    if cloud.is_empty() {
        return "compared".into();
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return format!("unknown: {e}"),
    };
    runtime.block_on(async {
        let connection = Cloud::connect(env);
        for action in &mut cloud {
            match action {
                Action::Deploy(d) => {
                    let resource = match d.resource {
                        "cloud_run_job" => Resource::Job,
                        _ => Resource::Service,
                    };
                    d.live = Some(cloud_run_deploy::live(&connection, d, resource).await);
                }
                Action::Sync(s) => s.live = Some(composer_dags::live(&connection, s, dir).await),
                _ => {}
            }
        }
        if cloud.iter().all(|a| is_compared(a)) {
            return "compared".into();
        }
        match connection.credentials_problem() {
            Some(problem) => format!("unknown: {}", no_credentials(&problem)),
            None => "partly unknown: see each step".into(),
        }
    })
}

fn is_compared(action: &Action) -> bool {
    match action {
        Action::Deploy(d) => matches!(d.live, Some(Live::Compared(_))),
        Action::Sync(s) => matches!(s.live, Some(Live::Compared(_))),
        _ => true,
    }
}
