//! The DAG sync to an S3 prefix, through a proxy in front of moto that records every request
//! (and, when asked, throttles every first try).

use std::path::Path;

use dagship::sync::s3::{CRC32C_KEY, OWNER_KEY, S3Folder};
use dagship::sync::{Diff, Request};

use crate::fault_proxy::{Fault, Proxy};
use crate::moto;

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

async fn sync(folder: &S3Folder, src: &Path) -> Diff {
    let req = Request {
        prune: true,
        prune_limit: None,
        ..Request::new(src)
    };
    dagship::sync::sync(folder, &req, |_| {}).await.unwrap()
}

async fn folder(bucket: &str, proxy: &Proxy, owner: &str) -> S3Folder {
    let cloud = moto::cloud(Some(&proxy.url)).await;
    S3Folder::new(cloud.s3().await, bucket, "dags", owner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_sync_then_nothing_then_change_and_prune_sparing_other_files() {
    let bucket = moto::bucket("mwaa-dags").await;
    let proxy = Proxy::start(moto::url()).await;
    let ours = folder(&bucket, &proxy, "warehouse/upload").await;
    let src = tempfile::tempdir().unwrap();
    for (name, text) in [("a.py", "a = 1"), ("b.py", "b = 1"), ("sub/c.py", "c = 1")] {
        write(src.path(), name, text);
    }
    let first = sync(&ours, src.path()).await;
    assert_eq!(first.added, ["a.py", "b.py", "sub/c.py"]);
    let puts = proxy.writes();
    assert_eq!(puts.len(), 3, "one PUT a file: {puts:?}");
    assert!(puts.iter().all(|p| p.starts_with("PUT /")), "{puts:?}");

    proxy.reset();
    let again = sync(&ours, src.path()).await;
    let counts = (
        again.added.len(),
        again.changed.len(),
        again.unchanged.len(),
    );
    assert_eq!(counts, (0, 0, 3));
    assert!(
        proxy.writes().is_empty(),
        "an unchanged sync only reads: {:?}",
        proxy.requests()
    );

    // Another pipeline's file in the same folder, and a file put there by hand.
    let theirs = folder(&bucket, &proxy, "marketing/upload").await;
    let other_src = tempfile::tempdir().unwrap();
    write(other_src.path(), "marketing.py", "m = 1");
    sync(&theirs, other_src.path()).await;
    let s3 = moto::s3_client().await;
    let by_hand = s3.put_object().bucket(&bucket).key("dags/by_hand.py");
    by_hand
        .body("h = 1".as_bytes().to_vec().into())
        .send()
        .await
        .unwrap();

    write(src.path(), "a.py", "a = 2");
    std::fs::remove_file(src.path().join("b.py")).unwrap();
    proxy.reset();
    let d = sync(&ours, src.path()).await;
    assert_eq!(
        (d.changed, d.deleted),
        (vec!["a.py".into()], vec!["b.py".into()])
    );
    assert_eq!(proxy.writes().len(), 2, "{:?}", proxy.writes());
    let found = moto::objects(&bucket).await;
    let keys: Vec<&str> = found.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "dags/a.py",
            "dags/by_hand.py",
            "dags/marketing.py",
            "dags/sub/c.py"
        ],
        "the other owner's file and the one put by hand survive the prune"
    );
    assert_eq!(found["dags/a.py"], "a = 2");
    let head = s3.head_object().bucket(&bucket).key("dags/a.py");
    let head = head.checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled);
    let head = head.send().await.unwrap();
    let metadata = head.metadata().unwrap();
    assert_eq!(metadata[OWNER_KEY], "warehouse/upload");
    assert_eq!(head.checksum_crc32_c(), Some(metadata[CRC32C_KEY].as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_requests_are_retried_to_the_same_bucket() {
    let (calm_bucket, throttled_bucket) =
        (moto::bucket("calm").await, moto::bucket("throttled").await);
    let src = tempfile::tempdir().unwrap();
    for i in 0..12 {
        write(src.path(), &format!("dag_{i}.py"), &format!("n = {i}"));
    }
    write(src.path(), "helpers/common.py", "X = 1");
    let calm = Proxy::start(moto::url()).await;
    sync(&folder(&calm_bucket, &calm, "w/upload").await, src.path()).await;

    let throttled = Proxy::start(moto::url()).await;
    throttled.fail_first_tries(Fault::Refuse);
    let dest = folder(&throttled_bucket, &throttled, "w/upload").await;
    let d = sync(&dest, src.path()).await;
    assert_eq!(d.added.len(), 13);
    assert!(
        throttled.injected() >= 13,
        "every first try was refused: {}",
        throttled.injected()
    );
    write(src.path(), "dag_0.py", "n = 100");
    std::fs::remove_file(src.path().join("dag_1.py")).unwrap();
    sync(&dest, src.path()).await;
    sync(&folder(&calm_bucket, &calm, "w/upload").await, src.path()).await;
    assert_eq!(
        moto::objects(&throttled_bucket).await,
        moto::objects(&calm_bucket).await,
        "throttling changes nothing in the end"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_changed_since_the_listing_is_not_overwritten_nor_deleted() {
    use dagship::sync::{Destination, Precondition, SyncError};
    let bucket = moto::bucket("raced").await;
    let proxy = Proxy::start(moto::url()).await;
    let dest = folder(&bucket, &proxy, "w/upload").await;
    let src = tempfile::tempdir().unwrap();
    write(src.path(), "a.py", "a = 1");
    write(src.path(), "b.py", "b = 1");
    sync(&dest, src.path()).await;
    let listed = dest.list().await.unwrap();
    // Someone rewrites both files after the listing.
    let s3 = moto::s3_client().await;
    for key in ["dags/a.py", "dags/b.py"] {
        let put = s3.put_object().bucket(&bucket).key(key);
        put.body(b"theirs".to_vec().into()).send().await.unwrap();
    }
    let changed = |r: Result<(), SyncError>| {
        matches!(
            r,
            Err(SyncError::S3(dagship::aws::s3::S3Error::Changed { .. }))
        )
    };
    let put = dest.put("a.py", b"a = 2".to_vec(), listed["a.py"].version.clone());
    assert!(
        changed(put.await),
        "If-Match with the listed ETag refuses the write"
    );
    let delete = dest.delete("b.py", listed["b.py"].version.clone());
    assert!(changed(delete.await), "If-Match refuses the delete");
    let create = dest.put("a.py", b"a = 2".to_vec(), Precondition::Absent);
    assert!(
        changed(create.await),
        "If-None-Match: * refuses a new file that is there"
    );
    let found = moto::objects(&bucket).await;
    assert_eq!(
        (found["dags/a.py"].as_str(), found["dags/b.py"].as_str()),
        ("theirs", "theirs")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_whose_answers_were_lost_are_known_as_this_syncs() {
    let bucket = moto::bucket("lost-answers").await;
    let proxy = Proxy::start(moto::url()).await;
    let dest = folder(&bucket, &proxy, "w/upload").await;
    let src = tempfile::tempdir().unwrap();
    write(src.path(), "a.py", "a = 1");
    write(src.path(), "b.py", "b = 1");
    sync(&dest, src.path()).await;
    // Every first try is carried out and its answer replaced by 503: each retried write
    // then meets 412 (If-None-Match, If-Match) for its own object.
    proxy.reset();
    proxy.fail_first_tries(Fault::LoseAnswer);
    write(src.path(), "a.py", "a = 2");
    write(src.path(), "c.py", "c = 1");
    let d = sync(&dest, src.path()).await;
    assert_eq!(
        (d.added, d.changed),
        (vec!["c.py".into()], vec!["a.py".into()])
    );
    let found = moto::objects(&bucket).await;
    assert_eq!(
        (found["dags/a.py"].as_str(), found["dags/c.py"].as_str()),
        ("a = 2", "c = 1")
    );
    let retried = proxy
        .requests()
        .iter()
        .filter(|r| r.starts_with("PUT "))
        .count();
    assert_eq!(
        retried,
        4,
        "two writes, each tried twice: {:?}",
        proxy.requests()
    );
}
