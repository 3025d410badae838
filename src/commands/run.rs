//! `dagship run --env ENV [--only IDS | --from ID] [--jobs N] [--fail-fast] [--dry-run] [--yes]`

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::cli::args::{Output, RunArgs};
use crate::cloud::Connections;
use crate::error::{Error, ExitCode};
use crate::exec::mask::Masker;
use crate::exec::process::StopPolicy;
use crate::git::Git;
use crate::pipeline::Pipeline;
use crate::plan::{self, Plan};
use crate::report::{self, Event, Outcome, Reporter, RunInfo, StepInfo};
use crate::resolve::ProcessEnv;
use crate::runner::{self, RunRequest};

pub(crate) fn run(file: &Path, args: &RunArgs, output: &Output) -> Result<ExitCode, Error> {
    let pipeline = super::load(file, output)?;
    let git = Git::new(pipeline.dir());
    let plan = super::build_plan(&pipeline, &git, &args.target, args.dry_run)?;
    if args.dry_run {
        anstream::print!("{}", plan::text::render(&plan));
        return Ok(ExitCode::Success);
    }
    super::ready::check(&pipeline, &plan, args.yes)?;
    let reporter = report::reporter(args.output.resolve(), output.color_stdout);
    execute(&pipeline, &plan, &git, args, reporter)
}

/// Runs the plan with `reporter`, returning the exit code the run deserves.
pub(crate) fn execute(
    pipeline: &Pipeline,
    plan: &Plan,
    git: &Git,
    args: &RunArgs,
    mut reporter: Box<dyn Reporter>,
) -> Result<ExitCode, Error> {
    let run_id = run_id();
    let log_dir = pipeline.dir().join(".dagship/logs").join(&run_id);
    std::fs::create_dir_all(&log_dir).map_err(|source| Error::Write {
        path: log_dir.clone(),
        source,
    })?;
    let masker = Arc::new(Masker::new(secret_values(plan)));
    let (events, mut rx) = mpsc::unbounded_channel::<Event>();
    // One thread writes all output, in event order, so lines never interleave.
    let writer = std::thread::spawn(move || {
        while let Some(event) = rx.blocking_recv() {
            if reporter.report(&event).is_err() {
                break; // stdout closed: keep running, the logs still have everything
            }
        }
    });
    let _ = events.send(Event::RunStarted(run_info(
        pipeline, plan, &run_id, &log_dir, &masker,
    )));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    let stop = CancellationToken::new();
    let summary = runtime.block_on(async {
        tokio::spawn(stop_on_signal(stop.clone()));
        runner::run(RunRequest {
            connections: Arc::new(Connections::default()),
            allow_prune: args.allow_prune || args.yes,
            pipeline,
            plan,
            git,
            secrets: &ProcessEnv,
            run_id: run_id.clone(),
            log_dir,
            jobs: args.jobs,
            fail_fast: args.fail_fast,
            policy: StopPolicy {
                grace: args.stop_grace,
            },
            masker,
            stop: stop.clone(),
            events: events.clone(),
        })
        .await
    });
    let outcome = summary.outcome;
    let _ = events.send(Event::RunFinished(summary));
    drop(events);
    let _ = writer.join();
    runtime.shutdown_background();
    Ok(match outcome {
        Outcome::Succeeded | Outcome::Skipped => ExitCode::Success,
        Outcome::Failed => ExitCode::StepFailed,
        Outcome::Cancelled => ExitCode::Interrupted,
    })
}

async fn stop_on_signal(stop: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
    stop.cancel();
}

/// `20261121T083012Z-4f2a`: sortable, and unique enough for one machine.
fn run_id() -> String {
    let now = jiff::Timestamp::now();
    format!(
        "{}-{:04x}",
        now.strftime("%Y%m%dT%H%M%SZ"),
        fastrand::u16(..)
    )
}

fn secret_values(plan: &Plan) -> Vec<String> {
    plan.steps
        .iter()
        .flat_map(|s| s.secrets.iter())
        .filter_map(|name| std::env::var(name).ok())
        .collect()
}

fn run_info(
    pipeline: &Pipeline,
    plan: &Plan,
    run_id: &str,
    log_dir: &Path,
    masker: &Masker,
) -> RunInfo {
    RunInfo {
        run_id: run_id.to_string(),
        pipeline: pipeline.name.clone(),
        environment: plan.environment.clone(),
        steps: plan
            .steps
            .iter()
            .map(|s| StepInfo {
                id: s.id.clone(),
                uses: s.uses.clone(),
                stage: s.stage,
                needs: s.needs.clone(),
            })
            .collect(),
        log_dir: PathBuf::from(log_dir),
        mask_values: masker.values().to_vec(),
    }
}
