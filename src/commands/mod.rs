//! One file per command: each takes its arguments, does its work, and says what happened.

pub(crate) mod completions;
mod current;
pub(crate) mod dags;
mod deploy;
pub(crate) mod plan;
pub(crate) mod promote;
mod ready;
mod redeploy;
pub(crate) mod releases;
pub(crate) mod rollback;
pub(crate) mod run;
pub(crate) mod schema;
pub(crate) mod unlock;
pub(crate) mod validate;

use std::path::Path;

use crate::cli::args::Output;
use crate::diagnostic::Diagnostic;
use crate::error::Error;
use crate::pipeline::{self, Pipeline};

/// Runs `work` (reading a state store, fetching a release) on a small runtime of its own.
pub(crate) fn block_on<T>(
    work: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)?
        .block_on(work)
}

/// Loads the pipeline file and prints its warnings (unless `-q`).
pub(crate) fn load(path: &Path, output: &Output) -> Result<Pipeline, Error> {
    let (pipeline, warnings) = pipeline::load(path, &crate::steps::Kinds)?;
    print_warnings(&pipeline, &warnings, output);
    Ok(pipeline)
}

/// The plan of `target` (environment and selection); a preview (`live`) also compares with
/// what is deployed now and with the environment's current release.
pub(crate) fn build_plan(
    pipeline: &Pipeline,
    git: &crate::git::Git,
    target: &crate::cli::args::Target,
    live: bool,
) -> Result<crate::plan::Plan, Error> {
    let environment = crate::plan::environment(pipeline, &target.env)?;
    let (current, info) = match live {
        true => current::read(pipeline, environment)?,
        false => (None, Default::default()),
    };
    crate::plan::build(&crate::plan::PlanRequest {
        pipeline,
        environment: &target.env,
        selection: &target.selection(),
        git,
        secrets: &crate::resolve::ProcessEnv,
        live,
        releases: crate::plan::Releases {
            current: current.as_ref(),
            redeploy: None,
            info,
        },
    })
}

pub(crate) fn print_warnings(pipeline: &Pipeline, warnings: &[Diagnostic], output: &Output) {
    if output.quiet {
        return;
    }
    for w in warnings {
        anstream::eprintln!("{}\n", pipeline.file.render(w, output.color_stderr));
    }
}
