//! `dagship run --env ENV [--only IDS | --from ID] [--jobs N] [--fail-fast] [--dry-run] [--yes]`

use std::path::Path;

use super::deploy::{self, Deployment};
use crate::cli::args::{Output, RunArgs};
use crate::error::{Error, ExitCode};
use crate::git::Git;
use crate::plan;
use crate::release::record::Command;
use crate::report;

pub(crate) fn run(file: &Path, args: &RunArgs, output: &Output) -> Result<ExitCode, Error> {
    let pipeline = super::load(file, output)?;
    let git = Git::new(pipeline.dir());
    let plan = super::build_plan(&pipeline, &git, &args.target, args.dry_run)?;
    if args.dry_run {
        anstream::print!("{}", plan::text::render(&plan));
        return Ok(ExitCode::Success);
    }
    let execution = &args.execution;
    super::ready::check(&pipeline, &plan, execution.yes)?;
    let reporter = report::reporter(execution.output.resolve(), output.color_stdout);
    let deployment = Deployment {
        pipeline: &pipeline,
        plan: &plan,
        git: &git,
        execution,
        command: Command::Run,
        source: None,
        redeploy: None,
        quiet: output.quiet,
    };
    deploy::deploy(deployment, reporter)
}
