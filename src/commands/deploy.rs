//! What `run`, `promote` and `rollback` share once their plan is made: the environment's lock,
//! the run itself, and the release it leaves in the environment's state store.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::cli::args::Execution;
use crate::cloud::Connections;
use crate::error::{Error, ExitCode};
use crate::exec::mask::Masker;
use crate::exec::process::StopPolicy;
use crate::git::Git;
use crate::pipeline::Pipeline;
use crate::plan::Plan;
use crate::release::history::History;
use crate::release::lock::{self, Holder, Lock};
use crate::release::record::{Command, Release, Source};
use crate::release::recorder::{self, Recording};
use crate::release::store::{self, StoreError};
use crate::report::{Event, Outcome, Reporter, RunInfo, RunSummary, StepInfo};
use crate::resolve::ProcessEnv;
use crate::runner::{self, RunRequest};
use crate::steps::Redeploy;

pub(crate) struct Deployment<'a> {
    pub(crate) pipeline: &'a Pipeline,
    pub(crate) plan: &'a Plan,
    pub(crate) git: &'a Git,
    pub(crate) execution: &'a Execution,
    pub(crate) command: Command,
    /// The release deployed again, and where it was cut.
    pub(crate) source: Option<Source>,
    pub(crate) redeploy: Option<&'a Redeploy<'a>>,
    pub(crate) quiet: bool,
}

/// Takes the lock, runs the plan with `reporter`, records the release, releases the lock;
/// returns the exit code the run deserves.
pub(crate) fn deploy(d: Deployment, reporter: Box<dyn Reporter>) -> Result<ExitCode, Error> {
    let run_id = run_id();
    let log_dir = d.pipeline.dir().join(".dagship/logs").join(&run_id);
    std::fs::create_dir_all(&log_dir).map_err(|source| Error::Write {
        path: log_dir.clone(),
        source,
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    let stop = CancellationToken::new();
    let result = runtime.block_on(async {
        tokio::spawn(stop_on_signal(stop.clone()));
        let connections = Arc::new(Connections::default());
        let environment = &d.pipeline.environments[d.plan.environment.as_str()];
        let history = History::open(environment, d.pipeline.dir(), &connections)?;
        let previous = history.current().await?;
        let lock = take_lock(Arc::clone(history.store()), &d, &run_id).await?;
        let started_at = jiff::Timestamp::now();
        let summary = run(&d, reporter, &run_id, log_dir, connections, stop).await;
        let recorded = record(&d, &history, &run_id, started_at, &summary, previous).await;
        if let Err(e) = lock.release().await {
            warn(&format!(
                "the lock of `{}` was not removed: {e}",
                environment.name
            ));
        }
        Ok::<_, Error>((summary.outcome, recorded?, history.store().url()))
    });
    runtime.shutdown_background();
    let (outcome, recorded, store) = result?;
    if let Some(release) = &recorded {
        if !d.quiet {
            anstream::eprintln!("release {} recorded in {store}", release.summary());
        }
        if let Err(e) = crate::report::github::set_outputs(&[("release_id", &release.id)]) {
            warn(&format!(
                "the step output `release_id` was not written: {e}"
            ));
        }
    }
    Ok(match outcome {
        Outcome::Succeeded | Outcome::Skipped => ExitCode::Success,
        Outcome::Failed => ExitCode::StepFailed,
        Outcome::Cancelled => ExitCode::Interrupted,
    })
}

async fn take_lock(
    store: Arc<dyn store::Backend>,
    d: &Deployment<'_>,
    run_id: &str,
) -> Result<Lock, Error> {
    let holder = Holder {
        run_id: run_id.to_string(),
        command: command_name(d.command).to_string(),
        host: crate::release::host(),
        pid: std::process::id(),
        actor: crate::release::actor(),
        ci_url: crate::release::ci_url(),
        started_at: jiff::Timestamp::now().to_string(),
        expires_at: String::new(),
    };
    let request = lock::Request {
        environment: &d.plan.environment,
        holder,
        wait: d.execution.lock_timeout,
        ttl: lock::ttl(),
        observer: Arc::new(Warn),
    };
    Ok(lock::acquire(store, request).await?)
}

fn command_name(command: Command) -> &'static str {
    match command {
        Command::Run => "run",
        Command::Promote => "promote",
        Command::Rollback => "rollback",
    }
}

/// Lock events, as warnings on standard error.
struct Warn;

impl lock::Observer for Warn {
    fn taken_over(&self, stale: &Holder) {
        warn(&format!(
            "took over the lock of {stale}: it expired at {} without being refreshed (its run was stopped, or its machine is gone)",
            stale.expires_at
        ));
    }

    fn lost(&self, error: &StoreError) {
        warn(&format!("the lock could not be refreshed: {error}"));
    }
}

fn warn(text: &str) {
    anstream::eprintln!("warning: {text}");
}

async fn run(
    d: &Deployment<'_>,
    mut reporter: Box<dyn Reporter>,
    run_id: &str,
    log_dir: PathBuf,
    connections: Arc<Connections>,
    stop: CancellationToken,
) -> RunSummary {
    let masker = Arc::new(Masker::new(secret_values(d.plan)));
    let (events, mut rx) = mpsc::unbounded_channel::<Event>();
    // One thread writes all output, in event order, so lines never interleave.
    let writer = std::thread::spawn(move || {
        while let Some(event) = rx.blocking_recv() {
            if reporter.report(&event).is_err() {
                break; // stdout closed: keep running, the logs still have everything
            }
        }
    });
    let info = run_info(d, run_id, &log_dir, &masker);
    let _ = events.send(Event::RunStarted(info));
    let e = d.execution;
    let summary = runner::run(RunRequest {
        connections,
        allow_prune: e.allow_prune || e.yes,
        pipeline: d.pipeline,
        plan: d.plan,
        git: d.git,
        secrets: &ProcessEnv,
        run_id: run_id.to_string(),
        log_dir,
        jobs: e.jobs,
        fail_fast: e.fail_fast,
        policy: StopPolicy {
            grace: e.stop_grace,
        },
        masker,
        stop,
        events: events.clone(),
        redeploy: d.redeploy,
    })
    .await;
    let _ = events.send(Event::RunFinished(summary.clone()));
    drop(events);
    let _ = tokio::task::spawn_blocking(move || writer.join()).await;
    summary
}

async fn record(
    d: &Deployment<'_>,
    history: &History,
    run_id: &str,
    started_at: jiff::Timestamp,
    summary: &RunSummary,
    previous: Option<Release>,
) -> Result<Option<Release>, Error> {
    // A run that ran nothing changed nothing; a promotion or rollback is recorded anyway:
    // it says which release the environment now runs.
    if d.command == Command::Run && !recorder::started_anything(summary) {
        return Ok(None);
    }
    let steps: Vec<(String, String)> = d
        .plan
        .steps
        .iter()
        .map(|s| (s.id.clone(), s.uses.clone()))
        .collect();
    let recording = Recording {
        id: run_id,
        pipeline: &d.pipeline.name,
        pipeline_text: &d.pipeline.file.text,
        environment: &d.plan.environment,
        command: d.command,
        source: d.source.clone(),
        started_at,
        git: d.git.revision(),
        steps: &steps,
        summary,
        previous: previous.as_ref(),
        dir: d.pipeline.dir(),
    };
    Ok(Some(recorder::record(history, recording).await?))
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

/// `20261121T083012.345Z-4f2a`: sortable to the millisecond (a release's id: the newest is
/// the current one), and unique enough for one environment.
fn run_id() -> String {
    let now = jiff::Timestamp::now();
    format!(
        "{}.{:03}Z-{:04x}",
        now.strftime("%Y%m%dT%H%M%S"),
        now.subsec_millisecond(),
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

fn run_info(d: &Deployment<'_>, run_id: &str, log_dir: &Path, masker: &Masker) -> RunInfo {
    RunInfo {
        run_id: run_id.to_string(),
        pipeline: d.pipeline.name.clone(),
        environment: d.plan.environment.clone(),
        steps: d
            .plan
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
