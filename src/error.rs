//! Everything that stops a command, with messages written for the person at the terminal.

use std::path::PathBuf;

use crate::diagnostic::Diagnostic;
use crate::source::SourceFile;

/// Process exit codes, as the spec fixes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    Success = 0,
    StepFailed = 1,
    InvalidInput = 2,
    Locked = 3,
    Interrupted = 130,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("cannot write `{path}`: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("cannot change directory to `{path}`: {source}")]
    ChangeDir {
        path: PathBuf,
        source: std::io::Error,
    },

    /// The pipeline file has mistakes: each diagnostic points at one.
    #[error("{} in `{}`", count_errors(diagnostics), file.display_path())]
    Invalid {
        file: Box<SourceFile>,
        diagnostics: Vec<Diagnostic>,
    },

    #[error("unknown environment `{name}`{}; the pipeline defines {known}", help.as_deref().map(|h| format!(" ({h})")).unwrap_or_default())]
    UnknownEnvironment {
        name: String,
        known: String,
        help: Option<String>,
    },

    #[error("unknown step `{name}` in `{flag}`{}; the pipeline defines {known}", help.as_deref().map(|h| format!(" ({h})")).unwrap_or_default())]
    UnknownStep {
        name: String,
        flag: &'static str,
        known: String,
        help: Option<String>,
    },

    #[error("environment `{0}` is protected: pass `--yes` to run in it (CI runs need no flag)")]
    Protected(String),

    #[error(
        "`dagship run` cannot run {0} yet; leave them out with `--only`/`--from`, or with `environments:` on the step"
    )]
    CannotRun(String),

    #[error("{0}: the steps that use them would fail, so nothing was run")]
    MissingSecrets(String),

    #[error("{problem}; steps {steps} call Google Cloud, so nothing was run")]
    NoCredentials { problem: String, steps: String },

    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),

    /// `dagship dags`: a manifest, selectors or option problem, or a file not written.
    #[error(transparent)]
    Dags(#[from] crate::dags::DagsError),
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Read { .. }
            | Error::ChangeDir { .. }
            | Error::Invalid { .. }
            | Error::UnknownEnvironment { .. }
            | Error::UnknownStep { .. }
            | Error::Protected(_)
            | Error::CannotRun(_)
            | Error::MissingSecrets(_)
            | Error::NoCredentials { .. } => ExitCode::InvalidInput,
            Error::Dags(e) if e.is_invalid_input() => ExitCode::InvalidInput,
            Error::Write { .. } | Error::Runtime(_) | Error::Dags(_) => ExitCode::StepFailed,
        }
    }
}

fn count_errors(diagnostics: &[Diagnostic]) -> String {
    match diagnostics.iter().filter(|d| d.is_error()).count() {
        1 => "1 error".to_string(),
        n => format!("{n} errors"),
    }
}
