//! `dagship plan --env ENV [--only IDS | --from ID] [--format F] [--out FILE]`

use std::path::Path;

use crate::cli::args::{Output, PlanArgs, PlanFormat};
use crate::error::{Error, ExitCode};
use crate::git::Git;
use crate::plan;

pub(crate) fn run(file: &Path, args: &PlanArgs, output: &Output) -> Result<ExitCode, Error> {
    let pipeline = super::load(file, output)?;
    let git = Git::new(pipeline.dir());
    let plan = super::build_plan(&pipeline, &git, &args.target, true)?;
    let rendered = match args.format {
        PlanFormat::Text => plan::text::render(&plan),
        PlanFormat::Json => plan::json::render(&plan),
        PlanFormat::Mermaid => plan::mermaid::render(&plan),
        PlanFormat::Markdown => plan::markdown::render(&plan),
    };
    match &args.out {
        // A file gets no colour codes, whatever the terminal does.
        Some(path) => std::fs::write(path, anstream::adapter::strip_str(&rendered).to_string())
            .map_err(|source| Error::Write {
                path: path.clone(),
                source,
            })?,
        None => anstream::print!("{rendered}"),
    }
    let has_changes = plan.changes.has_changes.to_string();
    if let Err(e) = crate::report::github::set_outputs(&[("has_changes", &has_changes)]) {
        anstream::eprintln!("warning: the step output `has_changes` was not written: {e}");
    }
    if output.verbose > 0 {
        anstream::eprintln!(
            "planned {} steps from {}",
            plan.summary.steps,
            file.display()
        );
    }
    Ok(ExitCode::Success)
}
