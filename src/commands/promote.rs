//! `dagship promote --from SRC --to DST [--release ID] [--dry-run] [--yes] [--force]`: deploys to
//! DST exactly what a release of SRC deployed (image digests, DAG files, migration revision),
//! building nothing. DST gets a release of its own that names its source.

use std::path::Path;

use super::redeploy::{self, Replay};
use crate::cli::args::{Output, PromoteArgs};
use crate::error::{Error, ExitCode};
use crate::plan;
use crate::release::record::Command;

pub(crate) fn run(file: &Path, args: &PromoteArgs, output: &Output) -> Result<ExitCode, Error> {
    let pipeline = super::load(file, output)?;
    let from = plan::environment(&pipeline, &args.from)?;
    let to = plan::environment(&pipeline, &args.to)?;
    let promote_from = to.promote_from.as_ref().map(|n| n.name.clone());
    if promote_from.as_deref() != Some(from.name.as_str()) && !args.force {
        return Err(Error::NotPromotedFrom {
            from: from.name.clone(),
            to: to.name.clone(),
            promote_from,
        });
    }
    redeploy::run(
        &pipeline,
        Replay {
            command: Command::Promote,
            from,
            to,
            release: args.release.as_deref(),
            downgrade: false,
            dry_run: args.dry_run,
            execution: &args.execution,
        },
        output,
    )
}
