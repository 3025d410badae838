//! What a step kind is given to carry out its actions: a [`Job`] (the actions, planned with
//! the outputs known when the step started) and a [`StepContext`] that runs programs with
//! masking, logging, progress and stopping taken care of. It sits below the runner and the
//! plan, so that step kinds never depend on either.

mod failure;
pub(crate) mod mask;
pub(crate) mod outputs;
pub mod process;

use std::collections::VecDeque;
use std::fs::File;
use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use indexmap::IndexMap;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::action::{Action, Exec};
use crate::cloud::Connections;
use crate::report::{Event, Stream};
pub(crate) use failure::{Failure, StepError};
use mask::Masker;
use process::{Ended, Program, StopPolicy};

/// How many lines of a failed step's output the summary shows.
const TAIL_LINES: usize = 20;

pub(crate) type StepOutputs = IndexMap<String, String>;
pub(crate) type StepFuture = Pin<Box<dyn Future<Output = Result<StepOutputs, Failure>> + Send>>;

/// How a kind presents one line of its program's output.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct LineView {
    /// What to show instead of the raw line (`None`: show nothing; the log keeps it all).
    pub(crate) display: Option<String>,
    /// Progress the line reports: done of total.
    pub(crate) progress: Option<(u64, u64)>,
}

/// Turns raw output lines into what people see; may keep state (dbt counts finished nodes).
pub(crate) type LineFilter<'a> = &'a mut (dyn FnMut(&str) -> LineView + Send + 'static);

/// One attempt of one step: its actions and the means to carry them out.
pub(crate) struct Job {
    pub(crate) actions: Vec<Action>,
    pub(crate) ctx: StepContext,
    /// The run's connections to the clouds, shared by its steps.
    pub(crate) connections: Arc<Connections>,
}

/// One step's way to run programs and speak: its log, the tail of its output, its stop.
#[derive(Clone)]
pub(crate) struct StepContext {
    inner: Arc<Inner>,
}

struct Inner {
    parts: ContextParts,
    log: Arc<Mutex<File>>,
    tail: Arc<Mutex<VecDeque<String>>>,
    stop: CancellationToken,
}

/// What every attempt of one step shares.
#[derive(Clone)]
pub(crate) struct ContextParts {
    pub(crate) step: String,
    /// The pipeline file's folder, where steps run.
    pub(crate) dir: PathBuf,
    /// Where a `command` step writes its outputs (`$DAGSHIP_OUTPUT`).
    pub(crate) outputs_file: PathBuf,
    pub(crate) base_env: Vec<(String, String)>,
    pub(crate) events: mpsc::UnboundedSender<Event>,
    pub(crate) masker: Arc<Masker>,
    pub(crate) policy: StopPolicy,
}

impl StepContext {
    pub(crate) fn new(parts: ContextParts, log: File, stop: CancellationToken) -> StepContext {
        StepContext {
            inner: Arc::new(Inner {
                parts,
                log: Arc::new(Mutex::new(log)),
                tail: Arc::new(Mutex::new(VecDeque::new())),
                stop,
            }),
        }
    }

    /// The same step (log, tail) with another stop token: one per attempt, so that a timeout
    /// stops the attempt without cancelling the step's retries.
    pub(crate) fn for_attempt(&self, stop: CancellationToken) -> StepContext {
        StepContext {
            inner: Arc::new(Inner {
                parts: self.inner.parts.clone(),
                log: Arc::clone(&self.inner.log),
                tail: Arc::clone(&self.inner.tail),
                stop,
            }),
        }
    }

    pub(crate) fn outputs_file(&self) -> &PathBuf {
        &self.inner.parts.outputs_file
    }

    /// The pipeline file's folder, where steps run.
    pub(crate) fn dir(&self) -> &PathBuf {
        &self.inner.parts.dir
    }

    /// The last lines of output, masked, for a failure summary.
    pub(crate) fn tail(&self) -> Vec<String> {
        self.inner
            .tail
            .lock()
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Runs one program of the step. With `capture`, returns its standard output.
    pub(crate) async fn exec(
        &self,
        exec: &Exec,
        extra_env: &[(String, String)],
        filter: Option<LineFilter<'_>>,
        capture: bool,
    ) -> Result<String, Failure> {
        let program = self.program(exec, extra_env)?;
        self.log_line(&format!(
            "$ {}",
            self.inner.parts.masker.mask(&exec.description)
        ));
        let (tx, rx) = mpsc::unbounded_channel();
        let running = process::run(&program, tx, &self.inner.stop, self.inner.parts.policy);
        let (ended, captured) = tokio::join!(running, self.consume(rx, filter, capture));
        let name = || program.argv[0].clone();
        let ended = ended.map_err(|source| StepError::CannotStart {
            program: name(),
            source,
        })?;
        match ended {
            Ended::Exited(0) => Ok(captured),
            Ended::Exited(code) => Err(StepError::Exited {
                program: name(),
                code,
            }
            .into()),
            Ended::Signalled(signal) => Err(StepError::Signalled {
                program: name(),
                signal,
            }
            .into()),
            Ended::Stopped => Err(Failure::Stopped),
        }
    }

    fn program(&self, exec: &Exec, extra_env: &[(String, String)]) -> Result<Program, Failure> {
        let argv = exec
            .argv
            .iter()
            .map(|a| a.reveal())
            .collect::<Result<Vec<_>, _>>()?;
        let mut env = self.inner.parts.base_env.clone();
        for (k, v) in &exec.env {
            env.push((k.clone(), v.reveal()?));
        }
        env.extend(extra_env.iter().cloned());
        let cwd = match &exec.cwd {
            Some(cwd) => self.inner.parts.dir.join(cwd.reveal()?),
            None => self.inner.parts.dir.clone(),
        };
        Ok(Program { argv, cwd, env })
    }

    async fn consume(
        &self,
        mut rx: mpsc::UnboundedReceiver<(Stream, String)>,
        mut filter: Option<LineFilter<'_>>,
        capture: bool,
    ) -> String {
        let mut captured = String::new();
        while let Some((stream, raw)) = rx.recv().await {
            if capture && stream == Stream::Stdout {
                captured.push_str(&raw);
                captured.push('\n');
            }
            let line = self.inner.parts.masker.mask(&raw);
            self.log_line(&line);
            let view = match filter.as_mut() {
                Some(f) => f(&line),
                None => LineView {
                    display: Some(line),
                    progress: None,
                },
            };
            self.show(stream, view);
        }
        captured
    }

    fn show(&self, stream: Stream, view: LineView) {
        let id = self.inner.parts.step.clone();
        if let Some((done, total)) = view.progress {
            self.emit(Event::StepProgress {
                id: id.clone(),
                done,
                total,
            });
        }
        if let Some(line) = view.display {
            if let Ok(mut tail) = self.inner.tail.lock() {
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line.clone());
            }
            self.emit(Event::StepOutput { id, stream, line });
        }
    }

    /// Runs `work` until it ends or this attempt is stopped (interrupted or timed out): for
    /// kinds that wait on APIs rather than on a program.
    pub(crate) async fn or_stopped<T>(
        &self,
        work: impl Future<Output = Result<T, Failure>>,
    ) -> Result<T, Failure> {
        tokio::select! {
            done = work => done,
            _ = self.inner.stop.cancelled() => Err(Failure::Stopped),
        }
    }

    /// A line of the step's own output (a kind that works in-process, not through a
    /// program): logged and shown like a program's line.
    pub(crate) fn say(&self, line: &str) {
        let line = self.mask(line);
        self.log_line(&line);
        self.show(
            Stream::Stdout,
            LineView {
                display: Some(line),
                progress: None,
            },
        );
    }

    pub(crate) fn emit(&self, event: Event) {
        // The reporter may be gone when a run is torn down; the log still has everything.
        let _ = self.inner.parts.events.send(event);
    }

    /// Appends a line to the step's log file (masked by the caller).
    pub(crate) fn log_line(&self, line: &str) {
        if let Ok(mut log) = self.inner.log.lock() {
            let _ = writeln!(log, "{line}");
        }
    }

    pub(crate) fn mask(&self, text: &str) -> String {
        self.inner.parts.masker.mask(text)
    }

    /// Runs every `exec` action in order (what most local kinds do).
    pub(crate) async fn exec_all(
        &self,
        actions: &[Action],
        mut filter: Option<LineFilter<'_>>,
    ) -> Result<(), Failure> {
        for action in actions {
            if let Action::Exec(exec) = action {
                self.exec(exec, &[], filter.as_deref_mut(), false).await?;
            }
        }
        Ok(())
    }
}
