//! `dagship validate [--env ENV]`

use std::path::Path;

use crate::cli::args::{Output, ValidateArgs};
use crate::error::{Error, ExitCode};
use crate::git::Git;
use crate::graph::Graph;
use crate::plan::{self, PlanRequest};
use crate::resolve::ProcessEnv;
use crate::selection::Selection;

pub(crate) fn run(file: &Path, args: &ValidateArgs, output: &Output) -> Result<ExitCode, Error> {
    let pipeline = super::load(file, output)?;
    let mut summary = format!(
        "{} is valid: {} steps in {} stages, {} environments",
        file.display(),
        pipeline.steps.len(),
        Graph::of(&pipeline)
            .stages()
            .map_or(0, |s| s.iter().max().map_or(0, |m| m + 1)),
        pipeline.environments.len(),
    );
    if let Some(env) = &args.env {
        // Building the plan resolves every value the environment's steps would use.
        let git = Git::new(pipeline.dir());
        let plan = plan::build(&PlanRequest {
            pipeline: &pipeline,
            environment: env,
            selection: &Selection::All,
            git: &git,
            secrets: &ProcessEnv,
            live: false,
            releases: Default::default(),
        })?;
        if !output.quiet {
            for warning in &plan.warnings {
                anstream::eprintln!("warning: {warning}");
            }
        }
        summary.push_str(&format!("; environment `{env}` checked"));
    }
    if !output.quiet {
        anstream::println!("{summary}");
    }
    Ok(ExitCode::Success)
}
