//! DAG sync to Cloud Storage: against fake-gcs-server (first sync, no-change sync, change and
//! prune, someone else's file), through a proxy that injects 429/503 and dropped connections,
//! and preconditions, checksums and paging against a small fake that honours them.

mod gcp_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use dagship::gcp::auth::Auth;
use dagship::gcp::http::{Api, Retry};
use dagship::gcp::storage::{Expect, Storage, StorageError};
use dagship::sync::gcs::{GcsFolder, MD5_KEY, OWNER_KEY};
use dagship::sync::md5_hex;
use gcp_support::proxy::{Faults, Proxy};
use gcp_support::{FakeGcs, download, fake_storage};

fn storage(base: &str) -> Storage {
    Storage::new(Api::new(Arc::new(Auth::Anonymous)), base)
}

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

async fn sync(folder: &GcsFolder, src: &Path, prune: bool) -> dagship::sync::Diff {
    let req = dagship::sync::Request {
        prune,
        ..dagship::sync::Request::new(src)
    };
    dagship::sync::sync(folder, &req, |_| {}).await.unwrap()
}

fn writes(proxy: &Proxy) -> Vec<String> {
    proxy
        .requests()
        .into_iter()
        .filter(|r| !r.starts_with("GET "))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_sync_then_nothing_then_change_and_prune_sparing_other_files() {
    let gcs = FakeGcs::start();
    gcs.bucket("composer-bucket").await;
    let proxy = Proxy::start(&gcs.url, Faults::default()).await;
    let folder = GcsFolder::new(
        storage(&proxy.url),
        "gs://composer-bucket",
        "dags",
        "warehouse/upload",
    );
    let src = tempfile::tempdir().unwrap();
    for (name, text) in [("a.py", "a = 1"), ("b.py", "b = 1"), ("sub/c.py", "c = 1")] {
        write(src.path(), name, text);
    }
    let first = sync(&folder, src.path(), true).await;
    assert_eq!(first.added, ["a.py", "b.py", "sub/c.py"]);

    proxy.reset();
    let again = sync(&folder, src.path(), true).await;
    assert_eq!(
        (
            again.added.len(),
            again.changed.len(),
            again.unchanged.len()
        ),
        (0, 0, 3)
    );
    assert!(
        writes(&proxy).is_empty(),
        "an unchanged sync only lists: {:?}",
        proxy.requests()
    );

    // Someone else's file, in the folder and outside it: never pruned.
    let other = storage(&gcs.url);
    let none = BTreeMap::new();
    other
        .upload(
            "composer-bucket",
            "dags/theirs.py",
            b"x",
            &none,
            Expect::Absent,
        )
        .await
        .unwrap();
    other
        .upload("composer-bucket", "data/b.py", b"y", &none, Expect::Absent)
        .await
        .unwrap();
    write(src.path(), "a.py", "a = 2");
    std::fs::remove_file(src.path().join("b.py")).unwrap();
    let change = sync(&folder, src.path(), true).await;
    assert_eq!(
        (change.changed.clone(), change.deleted.clone()),
        (vec!["a.py".to_string()], vec!["b.py".to_string()])
    );
    assert_eq!(
        download(&gcs.url, "composer-bucket", "dags/a.py")
            .await
            .as_deref(),
        Some("a = 2")
    );
    assert_eq!(
        download(&gcs.url, "composer-bucket", "dags/b.py").await,
        None
    );
    assert_eq!(
        download(&gcs.url, "composer-bucket", "dags/theirs.py")
            .await
            .as_deref(),
        Some("x")
    );
    assert_eq!(
        download(&gcs.url, "composer-bucket", "data/b.py")
            .await
            .as_deref(),
        Some("y")
    );

    let listed = other.list("composer-bucket", "dags/").await.unwrap();
    let a = listed.iter().find(|o| o.name == "dags/a.py").unwrap();
    assert_eq!(
        a.metadata.get(MD5_KEY),
        Some(&md5_hex(b"a = 2")),
        "marked as dagship's"
    );
    assert_eq!(
        a.metadata.get(OWNER_KEY).map(String::as_str),
        Some("warehouse/upload"),
        "with who wrote it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_on_the_way_still_leave_exactly_the_right_files() {
    let gcs = FakeGcs::start();
    gcs.bucket("dag-bucket").await;
    let faults = Faults {
        status: 0.2,
        drop_before: 0.05,
        drop_after: 0.05,
    };
    let proxy = Proxy::start(&gcs.url, faults).await;
    // Production waits at least 1 s before retrying (one write per second per object); the
    // emulator has no such limit, and a shorter wait keeps this test quick.
    let mut api = Api::new(Arc::new(Auth::Anonymous));
    api.retry = Retry {
        attempts: 8,
        base: Duration::from_millis(100),
        max: Duration::from_secs(2),
    };
    let folder = GcsFolder::new(Storage::new(api, &proxy.url), "dag-bucket", "dags/", "p/s");
    let src = tempfile::tempdir().unwrap();
    for i in 0..40 {
        write(src.path(), &format!("dag_{i:02}.py"), &format!("x = {i}"));
    }
    storage(&gcs.url)
        .upload(
            "dag-bucket",
            "dags/foreign.py",
            b"keep",
            &BTreeMap::new(),
            Expect::Absent,
        )
        .await
        .unwrap();
    sync(&folder, src.path(), true).await;
    for i in 0..10 {
        std::fs::remove_file(src.path().join(format!("dag_{i:02}.py"))).unwrap();
    }
    for i in 10..20 {
        write(
            src.path(),
            &format!("dag_{i:02}.py"),
            &format!("x = {i} changed"),
        );
    }
    let d = sync(&folder, src.path(), true).await;
    assert_eq!(
        (d.deleted.len(), d.changed.len(), d.unchanged.len()),
        (10, 10, 20)
    );
    assert!(
        proxy
            .stats
            .injected
            .load(std::sync::atomic::Ordering::SeqCst)
            > 5,
        "faults were injected"
    );

    let objects = storage(&gcs.url).list("dag-bucket", "dags/").await.unwrap();
    let got: BTreeMap<String, String> = objects
        .iter()
        .map(|o| (o.name.clone(), o.md5.clone().unwrap()))
        .collect();
    let mut want: BTreeMap<String, String> = dagship::sync::local_files(src.path())
        .unwrap()
        .into_iter()
        .map(|(n, md5)| (format!("dags/{n}"), md5))
        .collect();
    want.insert("dags/foreign.py".into(), md5_hex(b"keep"));
    assert_eq!(got, want);
}

fn fast(api: Api) -> Api {
    let mut api = api;
    api.retry = Retry {
        attempts: 4,
        base: Duration::from_millis(20),
        max: Duration::from_millis(100),
    };
    api
}

#[tokio::test]
async fn preconditions_checksums_paging_and_lost_answers() {
    let (url, bucket) = fake_storage::start().await;
    let s = Storage::new(fast(Api::new(Arc::new(Auth::Anonymous))), &url);
    let meta = BTreeMap::new();
    let first = s
        .upload("bk", "dags/a.py", b"one", &meta, Expect::Absent)
        .await
        .unwrap();
    let again = s
        .upload("bk", "dags/a.py", b"two", &meta, Expect::Absent)
        .await;
    assert!(
        matches!(again, Err(StorageError::Changed { .. })),
        "{again:?}"
    );
    let stale = s
        .upload(
            "bk",
            "dags/a.py",
            b"two",
            &meta,
            Expect::Generation(first.generation - 1),
        )
        .await;
    assert!(
        matches!(stale, Err(StorageError::Changed { .. })),
        "{stale:?}"
    );
    let second = s
        .upload(
            "bk",
            "dags/a.py",
            b"two",
            &meta,
            Expect::Generation(first.generation),
        )
        .await
        .unwrap();
    assert!(second.generation > first.generation);
    let gone = s.delete("bk", "dags/a.py", first.generation).await;
    assert!(
        matches!(gone, Err(StorageError::Changed { .. })),
        "a replaced object is not deleted"
    );

    // Every upload declared checksums that match its bytes (the fake refuses others).
    let uploads = bucket.lock().unwrap().uploads.clone();
    assert!(
        uploads
            .iter()
            .all(|(_, m)| m["md5Hash"].is_string() && m["crc32c"].is_string())
    );

    // The first answer is lost after the write: the retry meets 412 and finds its own bytes.
    bucket
        .lock()
        .unwrap()
        .lose_answer
        .insert("dags/b.py".into());
    s.upload("bk", "dags/b.py", b"bee", &meta, Expect::Absent)
        .await
        .unwrap();

    bucket.lock().unwrap().forbidden.insert("dags/no.py".into());
    let denied = s
        .upload("bk", "dags/no.py", b"n", &meta, Expect::Absent)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        denied.contains("gs://bk/dags/no.py")
            && denied.contains("does not have storage.objects.create access"),
        "{denied}"
    );

    for i in 0..5 {
        s.upload("bk", &format!("dags/p{i}.py"), b"p", &meta, Expect::Absent)
            .await
            .unwrap();
    }
    let names: BTreeSet<String> = s
        .list("bk", "dags/")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.name)
        .collect();
    assert_eq!(
        names.len(),
        7,
        "all pages (two objects each) were read: {names:?}"
    );
}

#[tokio::test]
async fn a_failed_upload_fails_the_sync_and_prunes_nothing() {
    let (url, bucket) = fake_storage::start().await;
    let s = Storage::new(fast(Api::new(Arc::new(Auth::Anonymous))), &url);
    let folder = GcsFolder::new(s.clone(), "bk", "dags", "p/s");
    let src = tempfile::tempdir().unwrap();
    write(src.path(), "old.py", "o");
    sync(&folder, src.path(), true).await;
    std::fs::remove_file(src.path().join("old.py")).unwrap();
    write(src.path(), "new.py", "n");
    bucket
        .lock()
        .unwrap()
        .forbidden
        .insert("dags/new.py".into());
    let req = dagship::sync::Request {
        prune: true,
        concurrency: 4,
        ..dagship::sync::Request::new(src.path())
    };
    let err = dagship::sync::sync(&folder, &req, |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("1 of 1 uploads failed, so nothing was pruned") && err.contains("dags/new.py"),
        "{err}"
    );
    assert!(bucket.lock().unwrap().objects.contains_key("dags/old.py"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pipelines_share_a_bucket_and_earlier_objects_are_adopted_not_deleted() {
    let gcs = FakeGcs::start();
    gcs.bucket("shared").await;
    let s = storage(&gcs.url);
    let team_a = GcsFolder::new(s.clone(), "shared", "dags", "team_a/upload");
    let team_b = GcsFolder::new(s.clone(), "shared", "dags", "team_b/upload");
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write(a.path(), "a.py", "a = 1");
    write(b.path(), "b.py", "b = 1");
    // Written by dagship before owners were recorded: its MD5 mark, no owner.
    for (name, text) in [("dags/a_old.py", "old"), ("dags/b_kept.py", "kept")] {
        let mark = BTreeMap::from([(MD5_KEY.to_string(), md5_hex(text.as_bytes()))]);
        s.upload("shared", name, text.as_bytes(), &mark, Expect::Absent)
            .await
            .unwrap();
    }
    write(b.path(), "b_kept.py", "kept");

    sync(&team_a, a.path(), true).await;
    let d = sync(&team_b, b.path(), true).await;
    assert!(d.deleted.is_empty(), "b's prune spares a's files: {d:?}");
    assert_eq!(d.adopted, ["b_kept.py"], "{d:?}");
    let d = sync(&team_a, a.path(), true).await;
    assert!(
        d.deleted.is_empty(),
        "a's prune spares b's files and the unmarked one: {d:?}"
    );
    for name in ["dags/a.py", "dags/b.py", "dags/a_old.py", "dags/b_kept.py"] {
        assert!(
            download(&gcs.url, "shared", name).await.is_some(),
            "{name} is there"
        );
    }
    let listed = s.list("shared", "dags/").await.unwrap();
    let kept = listed.iter().find(|o| o.name == "dags/b_kept.py").unwrap();
    assert_eq!(
        kept.metadata.get(OWNER_KEY).map(String::as_str),
        Some("team_b/upload")
    );
    std::fs::remove_file(b.path().join("b_kept.py")).unwrap();
    let d = sync(&team_b, b.path(), true).await;
    assert_eq!(
        d.deleted,
        ["b_kept.py"],
        "adopted, then pruned by its new owner"
    );
}
