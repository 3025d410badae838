//! How an attempt of a step ends when it does not succeed.

use std::time::Duration;

use crate::expr::Unrevealed;

#[derive(Debug)]
pub(crate) enum Failure {
    /// The step failed; the runner shows the error (with its causes) in one line.
    Failed(StepError),
    /// The step was stopped (cancelled, or timed out: the runner knows which).
    Stopped,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum StepError {
    #[error("cannot start `{program}`")]
    CannotStart {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{program}` exited with code {code}")]
    Exited { program: String, code: i32 },
    #[error("`{program}` was killed by signal {signal}")]
    Signalled { program: String, signal: i32 },
    #[error("timed out after {}", crate::report::human_duration(*limit))]
    TimedOut { limit: Duration },
    #[error("step crashed")]
    Crashed {
        #[source]
        source: tokio::task::JoinError,
    },
    #[error(transparent)]
    Unrevealed(#[from] Unrevealed),
    /// What the kind itself reports: an API's answer, a sync's trouble, a bad manifest.
    #[error(transparent)]
    Kind(Box<dyn std::error::Error + Send + Sync>),
}

impl Failure {
    /// A failure with the kind's own error.
    pub(crate) fn of(error: impl std::error::Error + Send + Sync + 'static) -> Failure {
        Failure::Failed(StepError::Kind(Box::new(error)))
    }
}

impl From<StepError> for Failure {
    fn from(error: StepError) -> Failure {
        Failure::Failed(error)
    }
}

impl From<Unrevealed> for Failure {
    fn from(error: Unrevealed) -> Failure {
        Failure::Failed(error.into())
    }
}
