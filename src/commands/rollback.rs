//! `dagship rollback --env ENV [--to ID] [--downgrade] [--dry-run] [--yes]`: deploys an earlier
//! release of ENV again, the way `promote` deploys one (default: the release before the one
//! deployed now). Databases stay at their revision unless `--downgrade`.

use std::path::Path;

use super::redeploy::{self, Replay};
use crate::cli::args::{Output, RollbackArgs};
use crate::error::{Error, ExitCode};
use crate::plan;
use crate::release::record::Command;

pub(crate) fn run(file: &Path, args: &RollbackArgs, output: &Output) -> Result<ExitCode, Error> {
    let pipeline = super::load(file, output)?;
    let env = plan::environment(&pipeline, &args.env)?;
    redeploy::run(
        &pipeline,
        Replay {
            command: Command::Rollback,
            from: env,
            to: env,
            release: args.to.as_deref(),
            downgrade: args.downgrade,
            dry_run: args.dry_run,
            execution: &args.execution,
        },
        output,
    )
}
