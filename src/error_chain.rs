//! An error with its causes, in one line: `cannot write `x`: Permission denied (os error 13)`.
//!
//! Errors say only their own sentence and keep what caused them as their `source`, so that
//! each layer adds what it knows (nextest's `DisplayErrorChain` works the same way).

use std::error::Error;
use std::fmt;

pub(crate) struct ErrorChain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(e) = cause {
            write!(f, ": {e}")?;
            cause = e.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot write `{path}`")]
    struct Write {
        path: String,
        source: std::io::Error,
    }

    #[test]
    fn each_cause_follows_its_effect() {
        let e = Write {
            path: "a.py".into(),
            source: std::io::Error::other("disk full"),
        };
        assert_eq!(ErrorChain(&e).to_string(), "cannot write `a.py`: disk full");
    }
}
