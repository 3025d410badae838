//! When to try a failed step again: exponential backoff with jitter.

use std::time::Duration;

const BASE: Duration = Duration::from_secs(1);
const CAP: Duration = Duration::from_secs(60);

/// The wait after failed attempt `attempt` (1-based): 1 s, 2 s, 4 s … up to a minute, each
/// between half and all of that ("equal jitter"), so parallel retries do not stampede.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let full = BASE
        .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
        .min(CAP);
    let half = full / 2;
    half + half.mul_f64(fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_within_bounds() {
        for attempt in 1..12 {
            let d = backoff(attempt);
            let full = (BASE * 2u32.pow(attempt - 1)).min(CAP);
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
    }
}
