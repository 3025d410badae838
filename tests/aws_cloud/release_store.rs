//! The release store on S3: records created once, the lock replaced and deleted only at the
//! ETag its holder read, on moto (which honours `If-None-Match: *` and `If-Match` on writes
//! and deletes as S3 does); a write whose answer was lost, retried by the SDK; and S3's
//! `409 ConditionalRequestConflict`, which moto never answers, on a strict fake.

use std::sync::Arc;

use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use dagship::release::store::{Backend, S3Store, StoreError, Version};

use crate::fault_proxy::{Fault, Proxy};
use crate::moto;

async fn store(s3: Option<&str>, bucket: &str) -> S3Store {
    let cloud = Arc::new(moto::cloud(s3).await);
    S3Store::new(cloud, &format!("s3://{bucket}/warehouse")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_once_replaced_and_deleted_only_at_the_version_read() {
    let bucket = moto::bucket("state").await;
    let store = store(None, &bucket).await;
    let first = store.create("prod/lock.json", b"run 1").await.unwrap();
    let again = store.create("prod/lock.json", b"run 2").await;
    assert!(matches!(again, Err(StoreError::Exists { .. })), "{again:?}");

    let stale = Version("\"0123456789abcdef0123456789abcdef\"".into());
    let refused = store.replace("prod/lock.json", b"run 2", &stale).await;
    assert!(
        matches!(refused, Err(StoreError::Changed { .. })),
        "{refused:?}"
    );
    let second = store
        .replace("prod/lock.json", b"run 1, refreshed", &first)
        .await
        .unwrap();
    assert_ne!(first, second);
    let read = store.read("prod/lock.json").await.unwrap().unwrap();
    assert_eq!(
        (read.bytes.as_slice(), &read.version),
        (&b"run 1, refreshed"[..], &second)
    );

    let refused = store.delete("prod/lock.json", &first).await;
    assert!(
        matches!(refused, Err(StoreError::Changed { .. })),
        "{refused:?}"
    );
    store.delete("prod/lock.json", &second).await.unwrap();
    store
        .delete("prod/lock.json", &second)
        .await
        .expect("gone already is fine");
    assert_eq!(store.read("prod/lock.json").await.unwrap(), None);

    store.create("prod/releases/r1.json", b"{}").await.unwrap();
    store.create("prod/releases/r2.json", b"{}").await.unwrap();
    store
        .create("staging/releases/r0.json", b"{}")
        .await
        .unwrap();
    let listed = store.list("prod/releases/").await.unwrap();
    assert_eq!(listed, ["prod/releases/r1.json", "prod/releases/r2.json"]);
    assert_eq!(store.url(), format!("s3://{bucket}/warehouse"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_whose_answer_was_lost_is_known_as_ours_and_anothers_is_not() {
    let bucket = moto::bucket("lost").await;
    let proxy = Proxy::start(moto::url()).await;
    let store = store(Some(&proxy.url), &bucket).await;
    proxy.fail_first_tries(Fault::LoseAnswer);
    // The first PUT is carried out, its answer replaced by 503: the SDK's retry then meets
    // 412 for our own object, which carries our write's mark.
    let version = store.create("prod/lock.json", b"mine").await.unwrap();
    let puts = proxy
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("PUT "));
    assert_eq!(
        puts.count(),
        2,
        "one write, retried once: {:?}",
        proxy.requests()
    );
    let read = store.read("prod/lock.json").await.unwrap().unwrap();
    assert_eq!((read.bytes, read.version), (b"mine".to_vec(), version));
    let other = store.create("prod/lock.json", b"theirs").await;
    assert!(matches!(other, Err(StoreError::Exists { .. })), "{other:?}");
}

/// S3 answers a conditional write that raced another write to the same key with 409
/// `ConditionalRequestConflict`; moto serialises requests and never does. This fake answers
/// every conditional PUT so (and refuses unconditional ones, which dagship never sends).
async fn racing_s3() -> String {
    async fn answer(method: Method, headers: HeaderMap) -> Response {
        let xml = |code: &str| {
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
                 <Message>{code}</Message><RequestId>fake</RequestId></Error>"
            )
        };
        match method {
            Method::PUT if headers.contains_key("if-none-match") => {
                (StatusCode::CONFLICT, xml("ConditionalRequestConflict")).into_response()
            }
            Method::PUT => (StatusCode::BAD_REQUEST, xml("UnconditionalWrite")).into_response(),
            Method::HEAD => StatusCode::NOT_FOUND.into_response(),
            _ => (StatusCode::NOT_IMPLEMENTED, xml("NotImplemented")).into_response(),
        }
    }
    let app = axum::Router::new().fallback(answer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_that_races_another_write_is_refused() {
    let url = racing_s3().await;
    let store = store(Some(&url), "state-bucket").await;
    let raced = store.create("prod/lock.json", b"mine").await;
    assert!(matches!(raced, Err(StoreError::Exists { .. })), "{raced:?}");
}
