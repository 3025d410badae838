//! One file per command: each takes its arguments, does its work, and says what happened.

pub(crate) mod completions;
pub(crate) mod dags;
pub(crate) mod plan;
mod ready;
pub(crate) mod run;
pub(crate) mod schema;
pub(crate) mod validate;

use std::path::Path;

use crate::cli::args::Output;
use crate::diagnostic::Diagnostic;
use crate::error::Error;
use crate::pipeline::{self, Pipeline};

/// Loads the pipeline file and prints its warnings (unless `-q`).
pub(crate) fn load(path: &Path, output: &Output) -> Result<Pipeline, Error> {
    let (pipeline, warnings) = pipeline::load(path, &crate::steps::Kinds)?;
    print_warnings(&pipeline, &warnings, output);
    Ok(pipeline)
}

/// The plan of `target` (environment and selection), with live comparisons when `live`.
pub(crate) fn build_plan(
    pipeline: &Pipeline,
    git: &crate::git::Git,
    target: &crate::cli::args::Target,
    live: bool,
) -> Result<crate::plan::Plan, Error> {
    crate::plan::build(&crate::plan::PlanRequest {
        pipeline,
        environment: &target.env,
        selection: &target.selection(),
        git,
        secrets: &crate::resolve::ProcessEnv,
        live,
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
