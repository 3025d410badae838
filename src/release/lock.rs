//! One run at a time per environment: a lock object in the state store, created only where
//! none is (`ifGenerationMatch=0`, or an exclusive link on disk), refreshed while the run lasts
//! and removed when it ends. A holder that stops refreshing (killed, its machine gone) lets the
//! lock expire; the next run then takes it over, with a warning.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use super::store::{Backend, StoreError, Version};

/// How long a lock holds without being refreshed; it is refreshed three times as often.
pub const DEFAULT_TTL: Duration = Duration::from_secs(120);

/// Overrides [`DEFAULT_TTL`] (seconds): for tests, and for networks where a refresh can take
/// long.
pub const TTL_VAR: &str = "DAGSHIP_LOCK_TTL";

/// Who holds the lock, as stored in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub run_id: String,
    /// `run`, `promote`, `rollback`.
    pub command: String,
    pub host: String,
    pub pid: u32,
    pub actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_url: Option<String>,
    /// RFC 3339, UTC.
    pub started_at: String,
    /// Past this, without a refresh, the lock may be taken over.
    pub expires_at: String,
}

impl Holder {
    fn expired(&self, now: jiff::Timestamp) -> bool {
        self.expires_at
            .parse::<jiff::Timestamp>()
            .is_ok_and(|at| at < now)
    }

    fn with_expiry(&self, ttl: Duration) -> Holder {
        Holder {
            expires_at: later(ttl).to_string(),
            ..self.clone()
        }
    }

    fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("holders serialize")
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` {} by {} on {} (pid {}) since {}",
            self.command, self.run_id, self.actor, self.host, self.pid, self.started_at
        )?;
        if let Some(url) = &self.ci_url {
            write!(f, ", {url}")?;
        }
        Ok(())
    }
}

fn later(ttl: Duration) -> jiff::Timestamp {
    let ttl = jiff::SignedDuration::try_from(ttl).unwrap_or(jiff::SignedDuration::MAX);
    jiff::Timestamp::now()
        .checked_add(ttl)
        .unwrap_or(jiff::Timestamp::MAX)
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("environment `{environment}` is locked by {holder}")]
    Held {
        environment: String,
        holder: Box<Holder>,
    },
    #[error("the lock of environment `{environment}` cannot be used")]
    Store {
        environment: String,
        #[source]
        source: StoreError,
    },
    #[error(
        "the lock of environment `{environment}` (`{key}`) is not one dagship can read: remove it with `dagship unlock --env {environment}`"
    )]
    Corrupt { environment: String, key: String },
}

/// The key of `environment`'s lock.
pub fn key(environment: &str) -> String {
    format!("{environment}/lock.json")
}

/// The lock as it is now, with its version (for `unlock`), or `None` when nobody holds it.
pub async fn holder(
    store: &dyn Backend,
    environment: &str,
) -> Result<Option<(Holder, Version)>, LockError> {
    let key = key(environment);
    let stored = store.read(&key).await.map_err(|source| LockError::Store {
        environment: environment.to_string(),
        source,
    })?;
    let Some(stored) = stored else {
        return Ok(None);
    };
    let holder = serde_json::from_slice(&stored.bytes).map_err(|_| LockError::Corrupt {
        environment: environment.to_string(),
        key: key.clone(),
    })?;
    Ok(Some((holder, stored.version)))
}

/// What waiting for a lock reports: a holder whose lock expired is taken over.
pub trait Observer: Send + Sync {
    fn taken_over(&self, stale: &Holder);
    fn lost(&self, error: &StoreError);
}

/// A lock this process holds, refreshed in the background until [`Lock::release`].
pub struct Lock {
    store: Arc<dyn Backend>,
    key: String,
    version: Arc<Mutex<Version>>,
    stop: CancellationToken,
    refresher: tokio::task::JoinHandle<()>,
}

pub struct Request<'a> {
    pub environment: &'a str,
    pub holder: Holder,
    /// How long to wait for a holder to finish (`--lock-timeout`).
    pub wait: Duration,
    pub ttl: Duration,
    pub observer: Arc<dyn Observer>,
}

/// Takes `environment`'s lock, waiting up to `wait` for its holder; a lock past its expiry is
/// taken over (reported to the observer, which gets its holder).
pub async fn acquire(store: Arc<dyn Backend>, req: Request<'_>) -> Result<Lock, LockError> {
    let key = key(req.environment);
    let deadline = tokio::time::Instant::now() + req.wait;
    let store_error = |source| LockError::Store {
        environment: req.environment.to_string(),
        source,
    };
    loop {
        let ours = req.holder.with_expiry(req.ttl);
        match store.create(&key, &ours.to_bytes()).await {
            Ok(version) => return Ok(start(store, key, version, ours, &req)),
            Err(StoreError::Exists { .. }) => {}
            Err(e) => return Err(store_error(e)),
        }
        let Some((theirs, version)) = holder(store.as_ref(), req.environment).await? else {
            continue; // released meanwhile
        };
        if theirs.expired(jiff::Timestamp::now()) {
            match store.delete(&key, &version).await {
                // Another run may have taken it over first: then it holds it, and we wait.
                Ok(()) | Err(StoreError::Changed { .. }) => {}
                Err(e) => return Err(store_error(e)),
            }
            req.observer.taken_over(&theirs);
            continue;
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Err(LockError::Held {
                environment: req.environment.to_string(),
                holder: Box::new(theirs),
            });
        }
        tokio::time::sleep((deadline - now).min(Duration::from_secs(1))).await;
    }
}

fn start(
    store: Arc<dyn Backend>,
    key: String,
    version: Version,
    holder: Holder,
    req: &Request,
) -> Lock {
    let version = Arc::new(Mutex::new(version));
    let stop = CancellationToken::new();
    let refresher = tokio::spawn(refresh(
        Arc::clone(&store),
        key.clone(),
        Arc::clone(&version),
        holder,
        req.ttl,
        stop.clone(),
        Arc::clone(&req.observer),
    ));
    Lock {
        store,
        key,
        version,
        stop,
        refresher,
    }
}

/// Pushes the expiry forward every third of the TTL until stopped, or until the lock is no
/// longer ours (taken over after a pause longer than its TTL).
async fn refresh(
    store: Arc<dyn Backend>,
    key: String,
    version: Arc<Mutex<Version>>,
    holder: Holder,
    ttl: Duration,
    stop: CancellationToken,
    observer: Arc<dyn Observer>,
) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(ttl / 3) => {}
        }
        let mut current = version.lock().await;
        let bytes = holder.with_expiry(ttl).to_bytes();
        match store.replace(&key, &bytes, &current).await {
            Ok(next) => *current = next,
            Err(e @ StoreError::Changed { .. }) => return observer.lost(&e),
            // A failed refresh is tried again; the lock holds until its expiry meanwhile.
            Err(e) => observer.lost(&e),
        }
    }
}

impl Lock {
    /// Stops refreshing and removes the lock (unless another run took it over meanwhile).
    pub async fn release(self) -> Result<(), StoreError> {
        self.stop.cancel();
        let _ = self.refresher.await;
        let version = self.version.lock().await;
        match self.store.delete(&self.key, &version).await {
            Ok(()) | Err(StoreError::Changed { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// The TTL locks are taken with: [`TTL_VAR`] when set, else [`DEFAULT_TTL`].
pub fn ttl() -> Duration {
    std::env::var(TTL_VAR)
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .map_or(DEFAULT_TTL, Duration::from_secs_f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::store::DirStore;
    use std::sync::Mutex as StdMutex;

    #[derive(Default)]
    struct Seen(StdMutex<Vec<String>>);

    impl Observer for Seen {
        fn taken_over(&self, stale: &Holder) {
            self.0
                .lock()
                .unwrap()
                .push(format!("took over {}", stale.run_id));
        }
        fn lost(&self, error: &StoreError) {
            self.0.lock().unwrap().push(format!("lost: {error}"));
        }
    }

    fn holder(run_id: &str) -> Holder {
        Holder {
            run_id: run_id.into(),
            command: "run".into(),
            host: "h".into(),
            pid: 1,
            actor: "ana".into(),
            ci_url: None,
            started_at: "2026-12-03T14:00:00Z".into(),
            expires_at: String::new(),
        }
    }

    fn request<'a>(holder: Holder, ttl: Duration, seen: &Arc<Seen>) -> Request<'a> {
        Request {
            environment: "local",
            holder,
            wait: Duration::ZERO,
            ttl,
            observer: Arc::clone(seen) as Arc<dyn Observer>,
        }
    }

    #[tokio::test]
    async fn one_holder_at_a_time_then_released() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Backend> = Arc::new(DirStore::new(dir.path().into(), "state"));
        let seen = Arc::new(Seen::default());
        let ttl = Duration::from_secs(60);
        let first = acquire(Arc::clone(&store), request(holder("a"), ttl, &seen))
            .await
            .unwrap();
        let second = acquire(Arc::clone(&store), request(holder("b"), ttl, &seen)).await;
        match second {
            Err(LockError::Held { holder, .. }) => assert_eq!(holder.run_id, "a"),
            other => panic!("expected Held, got {:?}", other.err()),
        }
        first.release().await.unwrap();
        assert!(
            super::holder(store.as_ref(), "local")
                .await
                .unwrap()
                .is_none()
        );
        let third = acquire(Arc::clone(&store), request(holder("c"), ttl, &seen))
            .await
            .unwrap();
        third.release().await.unwrap();
        assert!(seen.0.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_refreshed_lock_holds_and_an_abandoned_one_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Backend> = Arc::new(DirStore::new(dir.path().into(), "state"));
        let seen = Arc::new(Seen::default());
        let ttl = Duration::from_millis(300);
        let held = acquire(Arc::clone(&store), request(holder("a"), ttl, &seen))
            .await
            .unwrap();
        // Three TTLs later, the refreshes kept it.
        tokio::time::sleep(ttl * 3).await;
        let refused = acquire(Arc::clone(&store), request(holder("b"), ttl, &seen)).await;
        assert!(matches!(refused, Err(LockError::Held { .. })));
        // Its holder stops refreshing (as if killed): past the TTL it is taken over.
        held.stop.cancel();
        let _ = held.refresher.await;
        tokio::time::sleep(ttl * 2).await;
        let taken = acquire(Arc::clone(&store), request(holder("b"), ttl, &seen))
            .await
            .unwrap();
        assert_eq!(*seen.0.lock().unwrap(), ["took over a"]);
        taken.release().await.unwrap();
    }
}
