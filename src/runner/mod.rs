//! The runner: carries out a plan's steps in dependency order, independent ones in parallel.
//!
//! One loop owns all scheduling state: it starts a step as soon as every step it needs has
//! succeeded (or was skipped by `environments`), at most `jobs` at a time, and skips the
//! dependents of a step that failed. Each started step is a task of its own that runs its
//! attempts (timeouts, retries with backoff) and reports through events.

mod retry;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use indexmap::IndexMap;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::action::Action;
use crate::artifact::Artifact;
use crate::cloud::Connections;
use crate::error_chain::ErrorChain;
use crate::exec::mask::Masker;
use crate::exec::process::StopPolicy;
use crate::exec::{ContextParts, Failure, Job, StepContext, StepError};
use crate::git::Git;
use crate::pipeline::{Pipeline, Step};
use crate::plan::{Plan, PlannedStep};
use crate::report::{Event, Outcome, RunSummary, StepResult};
use crate::resolve::{Resolver, SecretSource};
use crate::steps::{self, ArtifactError, Done, Inputs, Redeploy, StepKind};

pub(crate) struct RunRequest<'a> {
    pub(crate) pipeline: &'a Pipeline,
    pub(crate) plan: &'a Plan,
    pub(crate) git: &'a Git,
    pub(crate) secrets: &'a dyn SecretSource,
    pub(crate) run_id: String,
    pub(crate) log_dir: PathBuf,
    pub(crate) jobs: usize,
    pub(crate) fail_fast: bool,
    pub(crate) policy: StopPolicy,
    pub(crate) masker: Arc<Masker>,
    /// Cancelled on SIGINT/SIGTERM: running steps are stopped, nothing new starts.
    pub(crate) stop: CancellationToken,
    pub(crate) events: mpsc::UnboundedSender<Event>,
    /// The run's connections to the clouds, shared by its steps.
    pub(crate) connections: Arc<Connections>,
    /// Steps may remove past their `max_prune` (`--allow-prune`, `--yes`).
    pub(crate) allow_prune: bool,
    /// The release being deployed again (`promote`, `rollback`).
    pub(crate) redeploy: Option<&'a Redeploy<'a>>,
}

enum State {
    Waiting,
    Running,
    /// `satisfies`: whether steps that need this one may start (success, or skipped by env).
    Done {
        satisfies: bool,
    },
}

/// What a step task hands back: its result, and its outputs unmasked (for later steps).
struct Finished {
    index: usize,
    result: StepResult,
    outputs: IndexMap<String, String>,
    artifact: Option<Artifact>,
}

/// Runs the plan to the end (or to the interruption) and returns the summary.
pub(crate) async fn run(req: RunRequest<'_>) -> RunSummary {
    let started = Instant::now();
    let mut engine = Engine::new(&req);
    let mut tasks: JoinSet<Finished> = JoinSet::new();
    let mut interrupted = false;
    loop {
        engine.advance(&req, &mut tasks, interrupted);
        if tasks.is_empty() {
            break;
        }
        tokio::select! {
            Some(joined) = tasks.join_next() => {
                let finished = joined.expect("step tasks do not panic");
                engine.finish(&req, finished);
            }
            _ = req.stop.cancelled(), if !interrupted => interrupted = true,
        }
    }
    engine.summary(&req, started.elapsed(), interrupted)
}

struct Engine {
    state: Vec<State>,
    results: Vec<Option<StepResult>>,
    needs: Vec<Vec<usize>>,
    outputs: HashMap<String, HashMap<String, String>>,
    artifacts: IndexMap<String, Artifact>,
    failed: bool,
}

impl Engine {
    fn new(req: &RunRequest) -> Engine {
        let steps = &req.plan.steps;
        let index: HashMap<&str, usize> = steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i))
            .collect();
        Engine {
            state: steps.iter().map(|_| State::Waiting).collect(),
            results: steps.iter().map(|_| None).collect(),
            // Needs outside the selection are assumed done (`--only`).
            needs: steps
                .iter()
                .map(|s| {
                    s.needs
                        .iter()
                        .filter_map(|n| index.get(n.as_str()).copied())
                        .collect()
                })
                .collect(),
            outputs: HashMap::new(),
            artifacts: IndexMap::new(),
            failed: false,
        }
    }

    /// Starts what can start and settles what never will.
    fn advance(&mut self, req: &RunRequest, tasks: &mut JoinSet<Finished>, interrupted: bool) {
        for i in 0..self.state.len() {
            if !matches!(self.state[i], State::Waiting) {
                continue;
            }
            let id = &req.plan.steps[i].id;
            if let Some(blocker) = self.blocker(req, i) {
                let reason = format!("not run: it needs `{blocker}`, which did not succeed");
                self.settle(req, i, not_run(id, Outcome::Skipped, reason), false);
            } else if interrupted {
                self.settle(
                    req,
                    i,
                    not_run(id, Outcome::Cancelled, "not started: interrupted".into()),
                    false,
                );
            } else if self.failed && req.fail_fast {
                let reason = "not started: --fail-fast after a failure".to_string();
                self.settle(req, i, not_run(id, Outcome::Cancelled, reason), false);
            } else if let (true, Some(reason)) = (self.ready(i), &req.plan.steps[i].skip_reason) {
                // Settled once its needs are: steps after it still wait for those.
                self.settle(req, i, not_run(id, Outcome::Skipped, reason.clone()), true);
            } else if self.ready(i) && tasks.len() < req.jobs.max(1) {
                self.state[i] = State::Running;
                tasks.spawn(start(req, i, &self.outputs));
            }
        }
    }

    fn blocker<'a>(&self, req: &'a RunRequest, i: usize) -> Option<&'a str> {
        self.needs[i]
            .iter()
            .find(|&&n| matches!(self.state[n], State::Done { satisfies: false }))
            .map(|&n| req.plan.steps[n].id.as_str())
    }

    fn ready(&self, i: usize) -> bool {
        self.needs[i]
            .iter()
            .all(|&n| matches!(self.state[n], State::Done { satisfies: true }))
    }

    fn finish(&mut self, req: &RunRequest, finished: Finished) {
        let ok = finished.result.outcome == Outcome::Succeeded;
        if ok {
            let id = req.plan.steps[finished.index].id.clone();
            if let Some(artifact) = finished.artifact {
                self.artifacts.insert(id.clone(), artifact);
            }
            self.outputs
                .insert(id, finished.outputs.into_iter().collect());
        } else {
            self.failed = true;
        }
        self.settle(req, finished.index, finished.result, ok);
    }

    fn settle(&mut self, req: &RunRequest, i: usize, result: StepResult, satisfies: bool) {
        self.state[i] = State::Done { satisfies };
        let _ = req.events.send(Event::StepFinished(result.clone()));
        self.results[i] = Some(result);
    }

    fn summary(self, req: &RunRequest, duration: Duration, interrupted: bool) -> RunSummary {
        let results: Vec<StepResult> = self.results.into_iter().flatten().collect();
        let outcome = if interrupted {
            Outcome::Cancelled
        } else if results.iter().any(|r| r.outcome == Outcome::Failed) {
            Outcome::Failed
        } else {
            Outcome::Succeeded
        };
        RunSummary {
            run_id: req.run_id.clone(),
            outcome,
            duration,
            results,
            artifacts: self.artifacts,
        }
    }
}

fn not_run(id: &str, outcome: Outcome, reason: String) -> StepResult {
    StepResult {
        id: id.to_string(),
        outcome,
        reason: Some(reason),
        attempts: 0,
        duration: Duration::ZERO,
        started_at: None,
        finished_at: None,
        log_tail: Vec::new(),
        outputs: IndexMap::new(),
    }
}

/// Plans the step again with the outputs known now (its actions may read them), then hands
/// it to a task. Planning happens here, on the scheduling loop, because resolving reads
/// secrets through a source that stays on this thread.
fn start(
    req: &RunRequest,
    i: usize,
    outputs: &HashMap<String, HashMap<String, String>>,
) -> impl std::future::Future<Output = Finished> + Send + 'static {
    let planned = &req.plan.steps[i];
    let step = &req.pipeline.steps[planned.id.as_str()];
    let environment = &req.pipeline.environments[req.plan.environment.as_str()];
    let resolver = Resolver::new(environment, req.git, req.secrets, outputs);
    let kind = steps::of(step);
    let inputs = Inputs {
        pipeline: &req.pipeline.name,
        step,
        environment,
        resolver: &resolver,
        dir: req.pipeline.dir(),
        inspect: false,
        allow_prune: req.allow_prune,
        current: None,
        redeploy: req.redeploy,
        expected: None,
    };
    let actions = steps::actions_for(kind, &inputs);
    let attempt = Attempts::new(req, planned, step, kind, actions);
    async move { attempt.run(i).await }
}

/// Everything one step's task needs, owned.
struct Attempts {
    kind: &'static dyn StepKind,
    actions: Vec<Action>,
    ctx: StepContext,
    connections: Arc<Connections>,
    id: String,
    retries: u32,
    timeout: Option<Duration>,
    stop: CancellationToken,
}

impl Attempts {
    fn new(
        req: &RunRequest,
        planned: &PlannedStep,
        step: &Step,
        kind: &'static dyn StepKind,
        actions: Vec<Action>,
    ) -> Attempts {
        let log_path = req.log_dir.join(format!("{}.log", planned.id));
        let log = std::fs::File::create(&log_path)
            .or_else(|_| std::fs::File::create("/dev/null"))
            .expect("a log file or /dev/null can be opened");
        let parts = ContextParts {
            step: planned.id.clone(),
            dir: req.pipeline.dir().to_path_buf(),
            outputs_file: req.log_dir.join(format!("{}.outputs", planned.id)),
            base_env: vec![
                ("DAGSHIP_RUN_ID".into(), req.run_id.clone()),
                ("DAGSHIP_STEP".into(), planned.id.clone()),
                ("DAGSHIP_ENVIRONMENT".into(), req.plan.environment.clone()),
            ],
            events: req.events.clone(),
            masker: Arc::clone(&req.masker),
            policy: req.policy,
        };
        let stop = req.stop.child_token();
        Attempts {
            kind,
            actions,
            ctx: StepContext::new(parts, log, stop.clone()),
            connections: Arc::clone(&req.connections),
            id: planned.id.clone(),
            retries: step.retries,
            timeout: step.timeout,
            stop,
        }
    }

    async fn run(self, index: usize) -> Finished {
        let started_at = SystemTime::now();
        let clock = Instant::now();
        let mut attempt = 0;
        let (outcome, reason, outputs, artifact) = loop {
            attempt += 1;
            self.ctx.emit(Event::StepStarted {
                id: self.id.clone(),
                attempt,
            });
            match self.attempt().await {
                Ok(outputs) => match self.artifact(&outputs) {
                    Ok(artifact) => break (Outcome::Succeeded, None, outputs, artifact),
                    Err(error) => {
                        let reason = self.ctx.mask(&ErrorChain(&error).to_string());
                        break (Outcome::Failed, Some(reason), IndexMap::new(), None);
                    }
                },
                Err(Failure::Stopped) => {
                    break (
                        Outcome::Cancelled,
                        Some("interrupted".to_string()),
                        IndexMap::new(),
                        None,
                    );
                }
                Err(Failure::Failed(error)) if attempt > self.retries => {
                    let reason = ErrorChain(&error).to_string();
                    break (
                        Outcome::Failed,
                        Some(self.ctx.mask(&reason)),
                        IndexMap::new(),
                        None,
                    );
                }
                Err(Failure::Failed(error)) => {
                    let reason = ErrorChain(&error).to_string();
                    if !self.wait_before_retry(attempt, &reason).await {
                        break (
                            Outcome::Cancelled,
                            Some("interrupted".to_string()),
                            IndexMap::new(),
                            None,
                        );
                    }
                }
            }
        };
        let shown: IndexMap<String, String> = outputs
            .iter()
            .map(|(k, v)| (k.clone(), self.ctx.mask(v)))
            .collect();
        let result = StepResult {
            id: self.id.clone(),
            outcome,
            reason,
            attempts: attempt,
            duration: clock.elapsed(),
            started_at: Some(started_at),
            finished_at: Some(SystemTime::now()),
            log_tail: if outcome == Outcome::Failed {
                self.ctx.tail()
            } else {
                Vec::new()
            },
            outputs: shown,
        };
        Finished {
            index,
            result,
            outputs,
            artifact,
        }
    }

    /// What a release records of the step, read once it succeeded.
    fn artifact(
        &self,
        outputs: &IndexMap<String, String>,
    ) -> Result<Option<Artifact>, ArtifactError> {
        self.kind.artifact(&Done {
            actions: &self.actions,
            outputs,
            dir: self.ctx.dir(),
        })
    }

    /// One attempt, stopped (whole process group) when its timeout passes.
    async fn attempt(&self) -> Result<IndexMap<String, String>, Failure> {
        let stop = self.stop.child_token();
        let job = Job {
            actions: self.actions.clone(),
            ctx: self.ctx.for_attempt(stop.clone()),
            connections: Arc::clone(&self.connections),
        };
        let mut task = tokio::spawn(self.kind.execute(job));
        let joined = match self.timeout {
            None => (&mut task).await,
            Some(limit) => tokio::select! {
                joined = &mut task => joined,
                _ = tokio::time::sleep(limit) => {
                    stop.cancel();
                    let _ = task.await;
                    return Err(StepError::TimedOut { limit }.into());
                }
            },
        };
        joined.unwrap_or_else(|source| Err(StepError::Crashed { source }.into()))
    }

    /// Announces the retry and waits; false when interrupted meanwhile.
    async fn wait_before_retry(&self, attempt: u32, reason: &str) -> bool {
        let delay = retry::backoff(attempt);
        self.ctx.emit(Event::StepRetrying {
            id: self.id.clone(),
            attempt,
            reason: self.ctx.mask(reason),
            delay,
        });
        self.ctx.log_line(&format!(
            "attempt {attempt} failed: {reason}; retrying in {delay:?}"
        ));
        tokio::select! {
            _ = tokio::time::sleep(delay) => true,
            _ = self.stop.cancelled() => false,
        }
    }
}
