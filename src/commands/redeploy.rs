//! What `promote` and `rollback` share: fetch a release that succeeded, show how the pipeline
//! file changed since it was cut, plan what deploys it again, and deploy it like a run
//! (lock, steps, a release of its own that names its source).

use super::current;
use super::deploy::{self, Deployment};
use crate::cli::args::{Execution, Output};
use crate::cloud::Connections;
use crate::error::{Error, ExitCode};
use crate::git::{Git, Revision};
use crate::pipeline::{Environment, Pipeline};
use crate::plan::{self, PlanRequest, Releases};
use crate::release::checkout::{Fetch, checkout};
use crate::release::history::{History, sha256};
use crate::release::record::{Command, Release, Source};
use crate::report;
use crate::resolve::ProcessEnv;
use crate::selection::Selection;
use crate::steps::Redeploy;

pub(crate) struct Replay<'a> {
    pub(crate) command: Command,
    /// Where the release was cut (the same environment for a rollback).
    pub(crate) from: &'a Environment,
    pub(crate) to: &'a Environment,
    /// The release asked for; by default the newest that succeeded (`promote`) or the one
    /// before the one deployed now (`rollback`).
    pub(crate) release: Option<&'a str>,
    pub(crate) downgrade: bool,
    pub(crate) dry_run: bool,
    pub(crate) execution: &'a Execution,
}

pub(crate) fn run(pipeline: &Pipeline, r: Replay, output: &Output) -> Result<ExitCode, Error> {
    let (release, recorded, old_file) = fetch(pipeline, &r)?;
    if let Some(old) = &old_file {
        anstream::eprintln!("{}", pipeline_diff(&release, old, &pipeline.file.text));
        if !r.dry_run && !r.execution.yes {
            return Err(Error::PipelineChanged {
                release: release.id.clone(),
            });
        }
    }
    let redeploy = Redeploy {
        release: &release.id,
        recorded: &recorded,
        rollback: r.command == Command::Rollback,
        downgrade: r.downgrade,
    };
    // What is deployed is the release's commit, whatever is checked out here.
    let git = Git::fixed(Revision {
        sha: release.git.sha.clone(),
        reference: release.git.reference.clone(),
    });
    let (current, mut info) = match r.dry_run {
        true => current::read(pipeline, r.to)?,
        false => (None, Default::default()),
    };
    info.deploys = Some(format!("{}/{}", r.from.name, release.summary()));
    let plan = plan::build(&PlanRequest {
        pipeline,
        environment: &r.to.name,
        selection: &Selection::All,
        git: &git,
        secrets: &ProcessEnv,
        live: r.dry_run,
        releases: Releases {
            current: current.as_ref(),
            redeploy: Some(&redeploy),
            info,
        },
    })?;
    if r.dry_run {
        anstream::print!("{}", plan::text::render(&plan));
        return Ok(ExitCode::Success);
    }
    super::ready::check(pipeline, &plan, r.execution.yes)?;
    let reporter = report::reporter(r.execution.output.resolve(), output.color_stdout);
    let deployment = Deployment {
        pipeline,
        plan: &plan,
        git: &git,
        execution: r.execution,
        command: r.command,
        source: Some(Source {
            environment: r.from.name.clone(),
            release: release.id.clone(),
        }),
        redeploy: Some(&redeploy),
        quiet: output.quiet,
    };
    deploy::deploy(deployment, reporter)
}

type Fetched = (
    Release,
    indexmap::IndexMap<String, crate::artifact::Checkout>,
    Option<String>,
);

/// The release, its content on this machine, and the pipeline file it was cut with when
/// that differs from today's.
fn fetch(pipeline: &Pipeline, r: &Replay) -> Result<Fetched, Error> {
    super::block_on(async {
        let connections = Connections::default();
        let history = History::open(r.from, pipeline.dir(), &connections)?;
        let release = match (r.command, r.release) {
            (Command::Rollback, None) => history.before_current().await?,
            (_, id) => history.deployable(id).await?,
        };
        let dir = current::checkout_dir(pipeline.dir(), &release.id);
        let recorded = checkout(&history, &release, &dir, Fetch::Everything).await?;
        let now = sha256(pipeline.file.text.as_bytes());
        let old = match now == release.pipeline_file.sha256 {
            true => None,
            false => {
                let bytes = history.blob(&release.pipeline_file.sha256).await?;
                Some(String::from_utf8_lossy(&bytes).into_owned())
            }
        };
        Ok((release, recorded, old))
    })
}

/// The pipeline file then and now, as a unified diff.
fn pipeline_diff(release: &Release, old: &str, new: &str) -> String {
    let diff = similar::TextDiff::from_lines(old, new);
    let then = format!("pipeline file of release {}", release.id);
    let mut text = diff
        .unified_diff()
        .context_radius(2)
        .header(&then, "pipeline file now")
        .to_string();
    text.insert_str(0, "The pipeline file changed since the release was cut:\n");
    text
}
