//! Everything that stops a command, as data: each variant holds what happened (names, the
//! cause as its `source`), `Display` writes the sentence for the person at the terminal, the
//! command line prints it with its causes, and [`Error::exit_code`] is the one place that
//! maps an error to the exit code the spec fixes.

use std::path::PathBuf;

use crate::cloud::{CredentialsProblem, Provider};
use crate::diagnostic::{Diagnostic, one_of};
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

/// A secret a step uses whose value is not set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingSecret {
    pub step: String,
    pub name: String,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read `{}`", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("cannot write `{}`", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("cannot change directory to `{}`", path.display())]
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

    #[error(
        "unknown environment `{name}`{}; the pipeline defines {}",
        suggest(suggestion),
        one_of(known)
    )]
    UnknownEnvironment {
        name: String,
        known: Vec<String>,
        suggestion: Option<String>,
    },

    #[error(
        "unknown step `{name}` in `{flag}`{}; the pipeline defines {}",
        suggest(suggestion),
        one_of(known)
    )]
    UnknownStep {
        name: String,
        flag: &'static str,
        known: Vec<String>,
        suggestion: Option<String>,
    },

    /// `run` found reasons not to start: every one of them, so that one try tells them all.
    #[error("{}", unready(problems))]
    NotReady { problems: Vec<Unready> },

    /// A release cannot be deployed again here: steps of this environment deploy what it
    /// did not record.
    #[error(
        "release {release} cannot be deployed to `{environment}`:{}",
        bullets(problems)
    )]
    CannotRedeploy {
        release: String,
        environment: String,
        problems: Vec<String>,
    },

    /// Another run holds the environment's lock, or the lock cannot be used.
    #[error(transparent)]
    Lock(#[from] crate::release::lock::LockError),

    /// The environment's releases cannot be read, or the one asked for cannot be deployed.
    #[error(transparent)]
    Release(#[from] crate::release::history::ReleaseError),

    /// A release's content could not be fetched to this machine.
    #[error(transparent)]
    Checkout(#[from] crate::release::checkout::CheckoutError),

    /// The deployment ran, but its release could not be recorded.
    #[error("the deployment ran, but its release was not recorded")]
    Recording(#[from] crate::release::recorder::RecordingError),

    #[error(
        "environment `{to}` is not promoted from `{from}`: {}; add `promote_from: {from}` to `{to}`, or pass `--force`",
        match promote_from { Some(p) => format!("its `promote_from` is `{p}`"), None => "it has no `promote_from`".to_string() }
    )]
    NotPromotedFrom {
        from: String,
        to: String,
        promote_from: Option<String>,
    },

    #[error(
        "the pipeline file changed since release {release} was cut (the difference is above): pass `--yes` to deploy the release with today's file"
    )]
    PipelineChanged { release: String },

    #[error("cannot start the runtime")]
    Runtime(#[source] std::io::Error),

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
            | Error::NotReady { .. }
            | Error::CannotRedeploy { .. }
            | Error::Release(_)
            | Error::Checkout(_)
            | Error::NotPromotedFrom { .. }
            | Error::PipelineChanged { .. } => ExitCode::InvalidInput,
            Error::Lock(crate::release::lock::LockError::Held { .. }) => ExitCode::Locked,
            Error::Lock(_) => ExitCode::InvalidInput,
            Error::Recording(_) => ExitCode::StepFailed,
            Error::Dags(e) if e.is_invalid_input() => ExitCode::InvalidInput,
            Error::Write { .. } | Error::Runtime(_) | Error::Dags(_) => ExitCode::StepFailed,
        }
    }
}

/// A reason for `run` not to start, found before anything runs.
#[derive(Debug, thiserror::Error)]
pub enum Unready {
    #[error(
        "environment `{environment}` is protected: pass `--yes` to run in it (CI runs need no flag)"
    )]
    Protected { environment: String },

    #[error(
        "secrets not set: {}: the steps that use them would fail",
        missing_list(missing)
    )]
    MissingSecrets { missing: Vec<MissingSecret> },

    #[error("steps {} call {provider}", quoted(steps))]
    NoCredentials {
        provider: Provider,
        steps: Vec<String>,
        source: CredentialsProblem,
    },

    #[error(
        "step `{step}` reads `steps.{producer}.outputs.{output}`, but `{producer}` {why}, so the value would never be there: select `{producer}` too, or leave `{step}` out"
    )]
    UnproducedOutput {
        step: String,
        producer: String,
        output: String,
        why: NotRunning,
    },

    #[error(
        "`{program}` is not installed here (not on PATH): step `{step}` runs it; install it, or put it on PATH (for the README's venv: `bash scripts/python-env.sh` and `export PATH=\"$PWD/.venv/bin:$PATH\"`)"
    )]
    MissingProgram { step: String, program: String },
}

/// Why a step does not run in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotRunning {
    /// `--only` or `--from` left it out.
    NotSelected,
    /// Its `environments:` exclude this environment.
    NotInEnvironment,
}

impl std::fmt::Display for NotRunning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NotRunning::NotSelected => "is not selected (`--only`/`--from`)",
            NotRunning::NotInEnvironment => "does not run in this environment",
        })
    }
}

/// One reason: `..., so nothing was run: cause`; several: a list, each with its causes.
fn unready(problems: &[Unready]) -> String {
    use crate::error_chain::ErrorChain;
    match problems {
        [one] => {
            let causes = ErrorChain(one).to_string();
            let (headline, rest) = causes.split_at(one.to_string().len());
            format!("{headline}, so nothing was run{rest}")
        }
        many => {
            let mut text = format!("nothing was run: {} things to fix first", many.len());
            for p in many {
                text.push_str(&format!("\n  - {}", ErrorChain(p)));
            }
            text
        }
    }
}

fn bullets(items: &[String]) -> String {
    items.iter().map(|i| format!("\n  - {i}")).collect()
}

fn count_errors(diagnostics: &[Diagnostic]) -> String {
    match diagnostics.iter().filter(|d| d.is_error()).count() {
        1 => "1 error".to_string(),
        n => format!("{n} errors"),
    }
}

fn suggest(suggestion: &Option<String>) -> String {
    suggestion
        .as_ref()
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default()
}

fn quoted(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    quoted.join(", ")
}

fn missing_list(missing: &[MissingSecret]) -> String {
    let items: Vec<String> = missing
        .iter()
        .map(|m| format!("`{}` (step `{}`)", m.name, m.step))
        .collect();
    items.join(", ")
}
