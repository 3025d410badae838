//! Calls to Google APIs: bearer tokens, retries with backoff, and Google's error bodies.
//!
//! Transient failures (408, 429, 5xx, dropped or refused connections) are retried with
//! exponential backoff and jitter, or after the wait the server asks for in `Retry-After`
//! (up to the longest backoff); everything else fails at once with the API's own message.
//! A retried call is sent again whole, so callers make writes safe to repeat (preconditions).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::{Client, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;

use super::auth::{Auth, AuthError, install_crypto};

#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// The API answered with an error (after retries, when it was transient).
    #[error("{message} (HTTP {status}{})", reason.as_deref().map(|r| format!(", {r}")).unwrap_or_default())]
    Status {
        status: u16,
        message: String,
        /// Google's `status` (`NOT_FOUND`) or `errors[0].reason` (`conditionNotMet`).
        reason: Option<String>,
    },
    #[error("cannot reach {url}: {detail}")]
    Transport { url: String, detail: String },
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("unexpected answer from {url}: {detail}")]
    Decode { url: String, detail: String },
}

impl ApiError {
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    fn transient(&self) -> bool {
        match self {
            ApiError::Status { status, .. } => is_transient(*status),
            ApiError::Transport { .. } => true,
            ApiError::Auth(_) | ApiError::Decode { .. } => false,
        }
    }
}

pub fn is_transient(status: u16) -> bool {
    status == 408 || status == 429 || status >= 500
}

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Tries in all, the first included.
    pub attempts: u32,
    /// The first wait; each next one doubles, up to `max`. Cloud Storage allows about one
    /// write per second to one object, so the first retry of a write waits at least 1 s.
    pub base: Duration,
    pub max: Duration,
}

impl Default for Retry {
    fn default() -> Retry {
        Retry {
            attempts: 7,
            base: Duration::from_secs(1),
            max: Duration::from_secs(32),
        }
    }
}

impl Retry {
    /// The wait before try `n + 1` (after `n` failed): the doubling delay plus up to half of
    /// it again, so that parallel clients spread out instead of retrying in step.
    pub fn delay(&self, n: u32) -> Duration {
        let doubled = self.base.saturating_mul(1 << n.saturating_sub(1).min(16));
        let delay = doubled.min(self.max);
        delay + delay.mul_f64(fastrand::f64() / 2.0)
    }
}

/// A whole response, read inside the retry loop (a connection can also drop mid-body).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub url: String,
}

impl Reply {
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_slice(&self.body).map_err(|e| ApiError::Decode {
            url: self.url.clone(),
            detail: e.to_string(),
        })
    }
}

/// A client for one set of credentials.
#[derive(Clone)]
pub struct Api {
    http: Client,
    auth: Arc<Auth>,
    pub retry: Retry,
}

impl Api {
    pub fn new(auth: Arc<Auth>) -> Api {
        install_crypto();
        let http = Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .user_agent(concat!("dagship/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a TLS client can be configured");
        Api {
            http,
            auth,
            retry: Retry::default(),
        }
    }

    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// Sends the request `build` makes (again on every try) until it succeeds, fails for good,
    /// or the tries run out. Any status below 300 is success.
    pub async fn call(&self, build: impl Fn(&Client) -> RequestBuilder) -> Result<Reply, ApiError> {
        self.call_answering(&[], build).await
    }

    /// As [`Api::call`], and an answer with one of the statuses in `answers` is returned as
    /// it is rather than as an error (a registry's 401 carries the challenge to follow).
    pub async fn call_answering(
        &self,
        answers: &[u16],
        build: impl Fn(&Client) -> RequestBuilder,
    ) -> Result<Reply, ApiError> {
        let mut tries = 0;
        loop {
            tries += 1;
            match self.once(&build, answers).await {
                Err(f) if f.error.transient() && tries < self.retry.attempts => {
                    let backoff = self.retry.delay(tries);
                    let asked = f.retry_after.map(|d| d.min(self.retry.max));
                    tokio::time::sleep(asked.map_or(backoff, |a| a.max(backoff))).await;
                }
                Err(f) => return Err(f.error),
                Ok(reply) => return Ok(reply),
            }
        }
    }

    async fn once(
        &self,
        build: &impl Fn(&Client) -> RequestBuilder,
        answers: &[u16],
    ) -> Result<Reply, Failure> {
        let mut request = build(&self.http);
        if let Some(token) = self
            .auth
            .token()
            .await
            .map_err(|e| Failure::from(ApiError::from(e)))?
        {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(transport)?;
        let (status, headers, url) = (
            response.status(),
            response.headers().clone(),
            response.url().to_string(),
        );
        let body = response.bytes().await.map_err(transport)?;
        if status.as_u16() >= 300 && !answers.contains(&status.as_u16()) {
            return Err(Failure {
                error: google_error(status.as_u16(), &body),
                retry_after: retry_after(&headers),
            });
        }
        Ok(Reply {
            status,
            headers,
            body,
            url,
        })
    }
}

/// One failed try, and how long the server asked to wait before the next.
struct Failure {
    error: ApiError,
    retry_after: Option<Duration>,
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Failure {
        Failure {
            error,
            retry_after: None,
        }
    }
}

/// `Retry-After`: seconds, or an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let seconds = at.as_second() - jiff::Timestamp::now().as_second();
    Some(Duration::from_secs(seconds.max(0) as u64))
}

fn transport(e: reqwest::Error) -> Failure {
    let url = e.url().map(ToString::to_string).unwrap_or_default();
    // reqwest's Display stops at the outermost layer ("error sending request"); the cause
    // ("connection refused", "connection reset") is what a person needs.
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        detail = format!("{detail}: {cause}");
        source = cause.source();
    }
    Failure::from(ApiError::Transport { url, detail })
}

/// Google's error body is `{"error": {"code", "message", "status", "errors": [{"reason"}]}}`
/// (`google.rpc.Status` for the newer APIs); anything else is shown as text.
pub fn google_error(status: u16, body: &[u8]) -> ApiError {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let error = &json["error"];
    let message = error["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            if text.is_empty() {
                StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("error")
                    .to_string()
            } else {
                text.chars().take(300).collect()
            }
        });
    let reason = error["status"]
        .as_str()
        .or_else(|| error["errors"][0]["reason"].as_str())
        .map(str::to_string);
    ApiError::Status {
        status,
        message,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_google_error_bodies() {
        let body =
            br#"{"error":{"code":404,"message":"Service [x] not found.","status":"NOT_FOUND"}}"#;
        let e = google_error(404, body);
        assert_eq!(
            e.to_string(),
            "Service [x] not found. (HTTP 404, NOT_FOUND)"
        );
        let storage = br#"{"error":{"code":412,"message":"At least one of the pre-conditions you specified did not hold.","errors":[{"reason":"conditionNotMet"}]}}"#;
        assert!(
            google_error(412, storage)
                .to_string()
                .ends_with("(HTTP 412, conditionNotMet)")
        );
        assert_eq!(google_error(502, b"").to_string(), "Bad Gateway (HTTP 502)");
    }

    #[test]
    fn retry_after_is_seconds_or_a_date() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert("retry-after", "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(30);
        let date = jiff::fmt::rfc2822::DateTimePrinter::new()
            .timestamp_to_rfc9110_string(&soon)
            .unwrap();
        headers.insert("retry-after", date.parse().unwrap());
        let wait = retry_after(&headers).unwrap().as_secs();
        assert!((28..=30).contains(&wait), "{wait}");
        headers.insert(
            "retry-after",
            "Sun, 06 Nov 1994 08:49:37 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
    }

    /// A 429 asking for a 1 s wait is retried after that second, not after the (here 1 ms)
    /// backoff.
    #[test]
    fn the_wait_a_server_asks_for_is_honoured() {
        use axum::http::StatusCode as Code;
        use std::sync::atomic::{AtomicU32, Ordering};
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            static CALLS: AtomicU32 = AtomicU32::new(0);
            let app = axum::Router::new().route(
                "/",
                axum::routing::get(|| async {
                    if CALLS.fetch_add(1, Ordering::SeqCst) == 0 {
                        (Code::TOO_MANY_REQUESTS, [("retry-after", "1")], "{}")
                    } else {
                        (Code::OK, [("retry-after", "0")], "{}")
                    }
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/", listener.local_addr().unwrap());
            tokio::spawn(async move { axum::serve(listener, app).await });
            let mut api = Api::new(Arc::new(Auth::Anonymous));
            api.retry.base = Duration::from_millis(1);
            let started = std::time::Instant::now();
            let reply = api.call(|http| http.get(&url)).await.unwrap();
            assert_eq!(reply.status, StatusCode::OK);
            assert_eq!(CALLS.load(Ordering::SeqCst), 2);
            assert!(
                started.elapsed() >= Duration::from_secs(1),
                "{:?}",
                started.elapsed()
            );
        });
    }

    #[test]
    fn delays_double_with_jitter_and_never_drop_below_the_base() {
        let r = Retry::default();
        for n in 1..10 {
            let d = r.delay(n);
            let floor = (r.base * (1 << (n - 1))).min(r.max);
            assert!(d >= floor && d <= floor.mul_f64(1.5), "try {n}: {d:?}");
        }
        assert!(is_transient(429) && is_transient(503) && is_transient(408));
        assert!(!is_transient(404) && !is_transient(412) && !is_transient(409));
    }
}
