//! An HTTP/1.1 proxy in front of a local server that records requests and, on request, fails a
//! fraction of them: 429 or 503 with Google's error body, or a dropped connection (before the
//! request reaches the server, or after it was carried out, so that only the answer is lost).
//! The forwarding is `proxy_support`'s.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::proxy_support::{self, Verdict};

#[derive(Default)]
pub struct Faults {
    /// Fraction of requests answered 429 or 503 without reaching the server.
    pub status: f64,
    /// Fraction of connections dropped before the request is forwarded.
    pub drop_before: f64,
    /// Fraction of connections dropped after the server answered.
    pub drop_after: f64,
}

#[derive(Default)]
pub struct Stats {
    pub injected: AtomicUsize,
    pub faulty: AtomicBool,
}

pub struct Proxy {
    pub url: String,
    pub stats: Arc<Stats>,
    inner: proxy_support::Proxy,
}

struct Fractions {
    faults: Faults,
    stats: Arc<Stats>,
}

impl Fractions {
    fn inject(&self, verdict: Verdict) -> Verdict {
        self.stats.injected.fetch_add(1, Ordering::SeqCst);
        verdict
    }
}

impl proxy_support::Faults for Fractions {
    fn before(&self, _request: &str) -> Verdict {
        if !self.stats.faulty.load(Ordering::SeqCst) {
            return Verdict::Pass;
        }
        let roll = fastrand::f64();
        if roll < self.faults.drop_before {
            return self.inject(Verdict::Drop);
        }
        if roll < self.faults.drop_before + self.faults.status {
            let code = if fastrand::bool() { 429 } else { 503 };
            let body = format!(
                r#"{{"error":{{"code":{code},"message":"injected fault","errors":[{{"reason":"backendError"}}]}}}}"#
            );
            return self.inject(Verdict::Answer {
                status: code,
                headers: Vec::new(),
                body: body.into_bytes(),
            });
        }
        Verdict::Pass
    }

    fn after(&self, _request: &str) -> Verdict {
        if self.stats.faulty.load(Ordering::SeqCst) && fastrand::f64() < self.faults.drop_after {
            return self.inject(Verdict::Drop);
        }
        Verdict::Pass
    }
}

impl Proxy {
    pub async fn start(upstream: &str, faults: Faults) -> Proxy {
        let stats = Arc::new(Stats::default());
        stats.faulty.store(true, Ordering::SeqCst);
        let fractions = Fractions {
            faults,
            stats: Arc::clone(&stats),
        };
        let inner = proxy_support::Proxy::start(upstream, Arc::new(fractions)).await;
        Proxy {
            url: inner.url.clone(),
            stats,
            inner,
        }
    }

    /// Every request so far, as `METHOD path` (with query).
    pub fn requests(&self) -> Vec<String> {
        self.inner.requests()
    }

    pub fn reset(&self) {
        self.inner.reset();
    }

    /// Stops (or resumes) injecting faults.
    pub fn faulty(&self, on: bool) {
        self.stats.faulty.store(on, Ordering::SeqCst);
    }
}
