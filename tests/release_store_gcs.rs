//! The state store in a Cloud Storage bucket. One contract, written once against the
//! `Backend` trait, holds for the folder store and the bucket store alike: what is written is
//! read and listed back, and a write or delete that expects another version is refused. The
//! bucket store runs it against fake-gcs-server (which ignores `ifGenerationMatch`: the
//! refusals are checked against the in-test fake that honours it), then meets failures: a
//! transient error retried, an answer lost after the write, a 403 and an unreachable
//! endpoint, each named in the message with the store.

mod gcp_support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use dagship::gcp::auth::Auth;
use dagship::gcp::http::{Api, Retry};
use dagship::gcp::storage::{Expect, Storage};
use dagship::release::store::{Backend, DirStore, GcsStore, StoreError, Version};
use gcp_support::proxy::{Faults, Proxy};
use gcp_support::{FakeGcs, fake_storage};

/// A key in which every character but letters and digits is escaped in a URL.
const ODD_KEY: &str = "e/releases/2026-05-01T10:00:00+02:00 #1 ?&=%ü.json";

fn storage(base: &str, retry: Retry) -> Storage {
    let mut api = Api::new(Arc::new(Auth::Anonymous));
    api.retry = retry;
    Storage::new(api, base)
}

/// Quick retries: the fakes have no one-write-per-second limit.
fn quick(attempts: u32) -> Retry {
    Retry {
        attempts,
        base: Duration::from_millis(150),
        max: Duration::from_millis(300),
    }
}

fn gcs_store(base: &str, url: &str) -> GcsStore {
    GcsStore::new(storage(base, quick(4)), url).unwrap()
}

fn text(stored: Option<dagship::release::store::Stored>) -> Option<String> {
    stored.map(|s| String::from_utf8(s.bytes).unwrap())
}

/// The error and its causes, as dagship prints them.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        line = format!("{line}: {e}");
        cause = e.source();
    }
    line
}

/// What is written is read and listed back, under the store's root only; a write at the
/// current version replaces, a delete at it removes, and a key needing escapes is a key.
async fn keeps_what_it_is_given(store: &dyn Backend) {
    let lock = "e/lock.json";
    assert_eq!(store.read(lock).await.unwrap(), None);
    let v1 = store.create(lock, b"{\"run\":\"r1\"}").await.unwrap();
    let read = store.read(lock).await.unwrap().unwrap();
    assert_eq!(
        (read.bytes.as_slice(), &read.version),
        (&b"{\"run\":\"r1\"}"[..], &v1)
    );

    let v2 = store
        .replace(lock, b"{\"run\":\"r1\",\"n\":2}", &v1)
        .await
        .unwrap();
    assert_ne!(v1, v2, "a replaced object is at a new version");
    let read = store.read(lock).await.unwrap().unwrap();
    assert_eq!(
        (text(Some(read.clone())).unwrap(), read.version),
        ("{\"run\":\"r1\",\"n\":2}".to_string(), v2.clone())
    );

    // More keys under one prefix than one page of the in-test fake holds (two).
    let releases: Vec<String> = (1..=5)
        .rev()
        .map(|i| format!("e/releases/{i:04}.json"))
        .collect();
    for key in &releases {
        store.create(key, key.as_bytes()).await.unwrap();
    }
    store.create("f/releases/0001.json", b"f").await.unwrap();
    let odd = store.create(ODD_KEY, "ü".as_bytes()).await.unwrap();
    let read = store.read(ODD_KEY).await.unwrap().unwrap();
    assert_eq!((read.bytes, read.version), ("ü".as_bytes().to_vec(), odd));

    let mut want: Vec<String> = releases.clone();
    want.push(ODD_KEY.to_string());
    want.sort();
    assert_eq!(store.list("e/releases/").await.unwrap(), want);
    assert_eq!(
        store.list("e/releases/000").await.unwrap(),
        &want[..5],
        "a prefix need not end at a folder"
    );
    let mut everything = want.clone();
    everything.extend([lock.to_string(), "f/releases/0001.json".to_string()]);
    everything.sort();
    assert_eq!(store.list("").await.unwrap(), everything);
    assert_eq!(store.list("g/").await.unwrap(), Vec::<String>::new());

    store.delete(lock, &v2).await.unwrap();
    assert_eq!(store.read(lock).await.unwrap(), None);
    store.delete(lock, &v2).await.unwrap();
    assert!(!store.list("e/").await.unwrap().contains(&lock.to_string()));
    store.create(lock, b"{\"run\":\"r2\"}").await.unwrap();
    assert_eq!(
        text(store.read(lock).await.unwrap()).as_deref(),
        Some("{\"run\":\"r2\"}")
    );
}

/// `create` refuses a key that is there, even with the same bytes; `replace` and `delete`
/// refuse a version that is not the current one, also when the bytes agree.
async fn refuses_stale_writes(store: &dyn Backend) {
    let lock = "e/lock.json";
    let v1 = store.create(lock, b"mine").await.unwrap();
    for bytes in [&b"theirs"[..], b"mine"] {
        let again = store.create(lock, bytes).await;
        assert!(
            matches!(&again, Err(StoreError::Exists { key, .. }) if key == lock),
            "{again:?}"
        );
    }
    let v2 = store.replace(lock, b"mine, later", &v1).await.unwrap();
    for bytes in [&b"theirs"[..], b"mine, later"] {
        let stale = store.replace(lock, bytes, &v1).await;
        assert!(
            matches!(&stale, Err(StoreError::Changed { key, .. }) if key == lock),
            "{stale:?}"
        );
    }
    let stale = store.delete(lock, &v1).await;
    assert!(
        matches!(stale, Err(StoreError::Changed { .. })),
        "{stale:?}"
    );
    let foreign = Version("not-a-version".into());
    let stale = store.replace(lock, b"x", &foreign).await;
    assert!(
        matches!(stale, Err(StoreError::Changed { .. })),
        "{stale:?}"
    );
    let stale = store.delete(lock, &foreign).await;
    assert!(
        matches!(stale, Err(StoreError::Changed { .. })),
        "{stale:?}"
    );
    let read = store.read(lock).await.unwrap().unwrap();
    assert_eq!(
        (read.bytes.as_slice(), read.version),
        (&b"mine, later"[..], v2.clone()),
        "nothing refused was written"
    );

    store.delete(lock, &v2).await.unwrap();
    store.delete(lock, &foreign).await.unwrap();
    let gone = store.replace(lock, b"x", &v2).await;
    assert!(matches!(gone, Err(StoreError::Changed { .. })), "{gone:?}");
    assert_eq!(
        store.read(lock).await.unwrap(),
        None,
        "a refused replace creates nothing"
    );

    let record = "e/releases/0001.json";
    store.create(record, b"{}").await.unwrap();
    let twice = store.create(record, b"{}").await;
    assert!(matches!(twice, Err(StoreError::Exists { .. })), "{twice:?}");
}

#[tokio::test]
async fn the_folder_store_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = DirStore::new(dir.path().join("a"), "a");
    keeps_what_it_is_given(&store).await;
    let store = DirStore::new(dir.path().join("b"), "b");
    refuses_stale_writes(&store).await;
}

#[tokio::test]
async fn the_bucket_store_keeps_the_contract() {
    let (url, bucket) = fake_storage::start().await;
    let store = gcs_store(&url, "gs://bk/state/");
    assert_eq!(store.url(), "gs://bk/state");
    keeps_what_it_is_given(&store).await;
    let objects = bucket
        .lock()
        .unwrap()
        .objects
        .keys()
        .cloned()
        .collect::<Vec<_>>();
    assert!(
        objects.iter().all(|name| name.starts_with("state/")),
        "{objects:?}"
    );
    assert!(objects.contains(&format!("state/{ODD_KEY}")), "{objects:?}");

    let store = gcs_store(&url, "gs://bk/other");
    refuses_stale_writes(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bucket_store_against_fake_gcs_server() {
    let gcs = FakeGcs::start();
    gcs.bucket("acme-state").await;
    // Beside the store's root, sharing the start of its name: never the store's.
    let raw = storage(&gcs.url, quick(2));
    let none = BTreeMap::new();
    for name in ["warehouse-old/e/releases/0001.json", "e/releases/0009.json"] {
        raw.upload("acme-state", name, b"x", &none, Expect::Absent)
            .await
            .unwrap();
    }
    let store = gcs_store(&gcs.url, "gs://acme-state/warehouse");
    keeps_what_it_is_given(&store).await;
    let listed = raw
        .list("acme-state", "warehouse/e/releases/")
        .await
        .unwrap();
    let odd = listed
        .iter()
        .find(|o| o.name == format!("warehouse/{ODD_KEY}"));
    assert!(
        odd.is_some(),
        "the odd key is one object of that name: {listed:?}"
    );
}

/// Fails the next request the proxy sees (429 or 503), then lets the rest through.
fn fail_once(proxy: &Proxy) {
    let stats = Arc::clone(&proxy.stats);
    let before = stats.injected.load(Ordering::SeqCst);
    stats.faulty.store(true, Ordering::SeqCst);
    tokio::spawn(async move {
        while stats.injected.load(Ordering::SeqCst) == before {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        stats.faulty.store(false, Ordering::SeqCst);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_error_is_retried_and_a_lost_answer_is_still_our_write() {
    let (url, bucket) = fake_storage::start().await;
    let faults = Faults {
        status: 1.0,
        ..Faults::default()
    };
    let proxy = Proxy::start(&url, faults).await;
    let store = gcs_store(&proxy.url, "gs://bk/state");

    fail_once(&proxy);
    let version = store.create("e/lock.json", b"r1").await.unwrap();
    fail_once(&proxy);
    let read = store.read("e/lock.json").await.unwrap().unwrap();
    assert_eq!(
        (read.bytes.as_slice(), &read.version),
        (&b"r1"[..], &version)
    );
    assert_eq!(proxy.stats.injected.load(Ordering::SeqCst), 2);
    let requests = proxy.requests();
    assert_eq!(
        requests.len(),
        4,
        "each call failed once, then passed: {requests:?}"
    );
    assert!(requests[0].starts_with("POST /upload/") && requests[1] == requests[0]);
    assert!(requests[2].contains("alt=media") && requests[3] == requests[2]);

    // Written, then answered 503: the retry meets 412 and knows the object for its own.
    bucket
        .lock()
        .unwrap()
        .lose_answer
        .insert("state/e/releases/0001.json".into());
    let version = store.create("e/releases/0001.json", b"{}").await.unwrap();
    let generation = bucket.lock().unwrap().objects["state/e/releases/0001.json"].generation;
    assert_eq!(version, Version(generation.to_string()));
}

#[tokio::test]
async fn a_refused_write_names_the_store_the_key_and_the_cause() {
    let (url, bucket) = fake_storage::start().await;
    bucket
        .lock()
        .unwrap()
        .forbidden
        .insert("state/e/lock.json".into());
    let store = gcs_store(&url, "gs://bk/state");
    let denied = store.create("e/lock.json", b"r1").await.unwrap_err();
    assert!(
        matches!(denied, StoreError::Unavailable { .. }),
        "{denied:?}"
    );
    let message = chain(&denied);
    assert!(
        message.starts_with("the state store gs://bk/state cannot be used (e/lock.json): ")
            && message.contains("does not have storage.objects.create access")
            && message.ends_with("(HTTP 403, forbidden)"),
        "{message}"
    );
}

#[tokio::test]
async fn an_unreachable_store_is_unavailable_not_a_panic() {
    let nothing = format!("http://127.0.0.1:{}", gcp_support::free_port());
    let store = GcsStore::new(storage(&nothing, quick(2)), "gs://bk/state").unwrap();
    let read = store.read("e/lock.json").await.unwrap_err();
    let create = store.create("e/lock.json", b"r1").await.unwrap_err();
    let list = store.list("e/releases/").await.unwrap_err();
    for (error, key) in [
        (read, "e/lock.json"),
        (create, "e/lock.json"),
        (list, "e/releases/"),
    ] {
        let message = chain(&error);
        assert!(matches!(error, StoreError::Unavailable { .. }), "{error:?}");
        assert!(
            message.starts_with(&format!(
                "the state store gs://bk/state cannot be used ({key}): "
            )) && message.contains("cannot reach"),
            "{message}"
        );
    }
}

/// The environment lock on a bucket that enforces `ifGenerationMatch` (fake-gcs-server does
/// not): one holder at a time, refreshed in place, removed by its holder, and taken over once
/// its holder stopped refreshing past its expiry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lock_in_a_bucket_has_one_holder_at_a_time() {
    use dagship::release::lock::{self, Holder, LockError, Observer, Request};

    struct Quiet;
    impl Observer for Quiet {
        fn taken_over(&self, _: &Holder) {}
        fn lost(&self, _: &StoreError) {}
    }
    let holder = |run_id: &str| Holder {
        run_id: run_id.into(),
        command: "run".into(),
        host: "ci".into(),
        pid: 1,
        actor: "ana".into(),
        ci_url: None,
        started_at: "2026-12-03T14:00:00Z".into(),
        expires_at: String::new(),
    };
    let request = |run_id: &'static str, ttl: Duration| Request {
        environment: "prod",
        holder: holder(run_id),
        wait: Duration::ZERO,
        ttl,
        observer: Arc::new(Quiet),
    };
    let (url, bucket) = fake_storage::start().await;
    let store: Arc<dyn Backend> = Arc::new(gcs_store(&url, "gs://bk/state"));
    let ttl = Duration::from_millis(600);
    let first = lock::acquire(Arc::clone(&store), request("a", ttl))
        .await
        .unwrap();
    let generation = |bucket: &fake_storage::Shared| {
        bucket.lock().unwrap().objects["state/prod/lock.json"].generation
    };
    let created = generation(&bucket);
    match lock::acquire(Arc::clone(&store), request("b", ttl)).await {
        Err(LockError::Held { holder, .. }) => assert_eq!(holder.run_id, "a"),
        other => panic!("a second holder: {:?}", other.err()),
    }
    // Refreshed in place: a new generation, still the first run's.
    tokio::time::sleep(ttl).await;
    assert!(generation(&bucket) > created);
    first.release().await.unwrap();
    assert!(
        !bucket
            .lock()
            .unwrap()
            .objects
            .contains_key("state/prod/lock.json")
    );

    // A holder that stopped refreshing (its process killed) left a lock past its expiry:
    // deleted at the generation read, then created anew.
    let stale = Holder {
        expires_at: "2026-12-03T14:00:30Z".into(),
        ..holder("killed")
    };
    store
        .create("prod/lock.json", &serde_json::to_vec(&stale).unwrap())
        .await
        .unwrap();
    let taken = lock::acquire(Arc::clone(&store), request("e", ttl))
        .await
        .unwrap();
    let (now, _) = lock::holder(store.as_ref(), "prod").await.unwrap().unwrap();
    assert_eq!(now.run_id, "e");
    taken.release().await.unwrap();
}
