//! An HTTP/1.1 proxy in front of moto's S3 that records every request and, when faulty,
//! answers the first try of each request 503 `SlowDown` (S3's throttling answer, with its
//! XML body): every call is retried once, deterministically. The first try is either refused
//! before it reaches moto ([`Fault::Refuse`]) or carried out and only its answer replaced
//! ([`Fault::LoseAnswer`]), as when a write succeeds and the connection drops. The
//! forwarding is `proxy_support`'s.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::proxy_support::{self, Verdict};

/// What happens to the first try of each request while the proxy is faulty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Refuse,
    LoseAnswer,
}

#[derive(Default)]
struct FirstTries {
    /// Requests failed once already.
    tried: Mutex<HashSet<String>>,
    injected: AtomicUsize,
    faulty: AtomicBool,
    lose_answer: AtomicBool,
}

const SLOW_DOWN: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>\
<Message>Please reduce your request rate.</Message><RequestId>injected</RequestId></Error>";

impl FirstTries {
    /// `SlowDown` when `request` is a first try and the fault is at this point (`after`:
    /// once moto carried it out).
    fn slow_down(&self, request: &str, after: bool) -> Verdict {
        let here = self.lose_answer.load(Ordering::SeqCst) == after;
        if !self.faulty.load(Ordering::SeqCst) || !here {
            return Verdict::Pass;
        }
        if !self.tried.lock().unwrap().insert(request.to_string()) {
            return Verdict::Pass;
        }
        self.injected.fetch_add(1, Ordering::SeqCst);
        Verdict::Answer {
            status: 503,
            headers: vec![("content-type".into(), "application/xml".into())],
            body: SLOW_DOWN.as_bytes().to_vec(),
        }
    }
}

impl proxy_support::Faults for FirstTries {
    fn before(&self, request: &str) -> Verdict {
        self.slow_down(request, false)
    }

    fn after(&self, request: &str) -> Verdict {
        self.slow_down(request, true)
    }
}

pub struct Proxy {
    pub url: String,
    faults: Arc<FirstTries>,
    inner: proxy_support::Proxy,
}

impl Proxy {
    pub async fn start(upstream: &str) -> Proxy {
        let faults = Arc::new(FirstTries::default());
        let inner = proxy_support::Proxy::start(upstream, Arc::clone(&faults) as _).await;
        Proxy {
            url: inner.url.clone(),
            faults,
            inner,
        }
    }

    /// Every request so far, as `METHOD target`.
    pub fn requests(&self) -> Vec<String> {
        self.inner.requests()
    }

    /// Requests other than reads.
    pub fn writes(&self) -> Vec<String> {
        let reads = ["GET ", "HEAD "];
        let all = self.requests();
        all.into_iter()
            .filter(|r| !reads.iter().any(|m| r.starts_with(m)))
            .collect()
    }

    pub fn reset(&self) {
        self.inner.reset();
    }

    /// Fails the first try of each request from now on, as `fault` says.
    pub fn fail_first_tries(&self, fault: Fault) {
        let lose = fault == Fault::LoseAnswer;
        // Requests seen so far count as not tried yet.
        self.faults.tried.lock().unwrap().clear();
        self.faults.lose_answer.store(lose, Ordering::SeqCst);
        self.faults.faulty.store(true, Ordering::SeqCst);
    }

    pub fn injected(&self) -> usize {
        self.faults.injected.load(Ordering::SeqCst)
    }
}
