//! Reporting a run: the runner emits [`Event`]s, one reporter turns them into output.
//!
//! Reporters are swappable (terminal, plain lines, GitHub Actions, JSON lines) and never see a
//! secret: the runner masks every line before it becomes an event. Only [`RunInfo::mask_values`]
//! carries the values, for GitHub's `::add-mask::`.

use std::io;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use indexmap::IndexMap;
use serde::Serialize;

pub mod github;
pub mod json;
pub mod plain;
pub mod summary;
pub mod tty;

#[cfg(test)]
mod fixture;

/// What a run is about to do.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub run_id: String,
    pub pipeline: String,
    pub environment: String,
    pub steps: Vec<StepInfo>,
    /// Where each step's full output is kept (`<log_dir>/<step>.log`).
    pub log_dir: PathBuf,
    /// Secret values to hide; never printed, except to GitHub as `::add-mask::`.
    #[serde(skip)]
    pub mask_values: Vec<String>,
}

impl RunInfo {
    /// `run ID: pipeline P, environment E, N steps`, the first line reporters print.
    pub fn headline(&self) -> String {
        format!(
            "run {}: pipeline {}, environment {}, {} steps",
            self.run_id,
            self.pipeline,
            self.environment,
            self.steps.len()
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StepInfo {
    pub id: String,
    pub uses: String,
    pub stage: usize,
    pub needs: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    Stdout,
    Stderr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Succeeded,
    Failed,
    /// Not run: excluded by `environments`, or a step it needs did not succeed.
    Skipped,
    /// Stopped by SIGINT/SIGTERM, or never started because of it or `--fail-fast`.
    Cancelled,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepResult {
    pub id: String,
    pub outcome: Outcome,
    /// Why it failed or was skipped, in one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub attempts: u32,
    #[serde(with = "seconds")]
    pub duration: Duration,
    /// When it started and ended (Unix time), `None` when it never started.
    #[serde(skip_serializing_if = "Option::is_none", with = "unix_time_opt")]
    pub started_at: Option<SystemTime>,
    #[serde(skip_serializing_if = "Option::is_none", with = "unix_time_opt")]
    pub finished_at: Option<SystemTime>,
    /// The last lines of output of a failed step.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub log_tail: Vec<String>,
    pub outputs: IndexMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub outcome: Outcome,
    #[serde(with = "seconds")]
    pub duration: Duration,
    /// In stage order, then id.
    pub results: Vec<StepResult>,
    /// What the steps that succeeded deployed, for the release record, by step id.
    #[serde(skip)]
    pub artifacts: IndexMap<String, crate::artifact::Artifact>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted(RunInfo),
    StepStarted {
        id: String,
        attempt: u32,
    },
    /// One line of a step's output, already masked.
    StepOutput {
        id: String,
        stream: Stream,
        line: String,
    },
    /// Progress a step reports (dbt: nodes done of total).
    StepProgress {
        id: String,
        done: u64,
        total: u64,
    },
    StepRetrying {
        id: String,
        /// The attempt that failed.
        attempt: u32,
        reason: String,
        #[serde(with = "seconds")]
        delay: Duration,
    },
    StepFinished(StepResult),
    RunFinished(RunSummary),
}

pub trait Reporter: Send {
    fn report(&mut self, event: &Event) -> io::Result<()>;
}

/// Which reporter to use; `Auto` picks GitHub under `GITHUB_ACTIONS=true`, the terminal one on a
/// TTY, plain lines otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputKind {
    Auto,
    Tty,
    Plain,
    Github,
    Json,
}

/// The reporter for `kind` (resolved first), writing to stdout; GitHub's also writes the files
/// named by `$GITHUB_STEP_SUMMARY` and `$GITHUB_OUTPUT`. `color` is the caller's decision (it
/// has applied `--color` and `NO_COLOR`); only the terminal reporter colours.
pub fn reporter(kind: OutputKind, color: bool) -> Box<dyn Reporter> {
    match kind.resolve() {
        OutputKind::Tty => Box::new(tty::TtyReporter::stdout(color)),
        OutputKind::Github => Box::new(github::GithubReporter::from_env()),
        OutputKind::Json => Box::new(json::JsonReporter::stdout()),
        OutputKind::Plain | OutputKind::Auto => Box::new(plain::PlainReporter::stdout()),
    }
}

impl OutputKind {
    pub fn resolve(self) -> OutputKind {
        use std::io::IsTerminal;
        match self {
            OutputKind::Auto if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") => {
                OutputKind::Github
            }
            OutputKind::Auto if io::stdout().is_terminal() => OutputKind::Tty,
            OutputKind::Auto => OutputKind::Plain,
            other => other,
        }
    }
}

/// A line as a terminal would show it, without anything that could move the cursor or colour a
/// log: escape sequences go, a carriage return keeps what was drawn last, tabs become spaces.
pub fn clean_line(line: &str) -> String {
    let stripped = anstream::adapter::strip_str(line).to_string();
    let shown = stripped
        .trim_end_matches('\r')
        .rsplit('\r')
        .next()
        .unwrap_or_default();
    shown
        .chars()
        .filter_map(|c| match c {
            '\t' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect()
}

mod seconds {
    use std::time::Duration;

    pub(super) fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
    }
}

mod unix_time_opt {
    use std::time::{SystemTime, UNIX_EPOCH};

    pub(super) fn serialize<S: serde::Serializer>(
        t: &Option<SystemTime>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match t.and_then(|t| t.duration_since(UNIX_EPOCH).ok()) {
            Some(d) => s.serialize_f64(d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }
}

/// `1.2s`, `3m04s`, `1h02m`: durations as people read them in a summary.
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0..60 => format!("{:.1}s", d.as_secs_f64()),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60),
    }
}
