//! moto in server mode, the local stand-in for S3, MWAA, ECS and ECR: started once per test
//! binary on a free port of 127.0.0.1 (it takes a second or two), from the project's
//! `.venv` (`requirements-test.txt`) or PATH. Tests share it and keep apart by names (each
//! its own bucket, environment or family).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use dagship::aws::Cloud;
use dagship::aws::endpoints::Endpoints;

pub const REGION: &str = "us-east-1";
/// moto takes any keys; these are what the tests pass.
pub const KEY: &str = "testing";

/// moto's base URL.
pub fn url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(start)
}

fn binary() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("moto_server")
}

/// Starts moto from a thread that lives as long as the test binary, and (on Linux) asks the
/// kernel to stop moto when that thread ends (`PR_SET_PDEATHSIG`), so that no server outlives
/// the tests.
fn start() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut cmd = Command::new(binary());
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        #[cfg(target_os = "linux")]
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd.spawn();
        let started = child.is_ok();
        tx.send(child.map_err(|e| e.to_string())).unwrap();
        if started {
            loop {
                std::thread::park();
            }
        }
    });
    if let Err(e) = rx.recv().unwrap() {
        panic!(
            "cannot start moto_server ({e}): install requirements-test.txt into .venv \
             (scripts/python-env.sh)"
        );
    }
    let url = format!("http://127.0.0.1:{port}");
    wait_until_up(port);
    url
}

fn wait_until_up(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("moto_server did not listen on port {port} within 60 s");
}

/// Every service at moto.
pub fn endpoints() -> Endpoints {
    at(url())
}

/// Every service at `url`.
pub fn at(url: &str) -> Endpoints {
    let url = Some(url.to_string());
    Endpoints {
        s3: url.clone(),
        mwaa: url.clone(),
        ecs: url.clone(),
        ecr: url.clone(),
        sts: url,
    }
}

/// A connection to moto (or, with `s3`, S3 through another URL, such as a fault proxy).
pub async fn cloud(s3: Option<&str>) -> Cloud {
    let mut endpoints = endpoints();
    if let Some(s3) = s3 {
        endpoints.s3 = Some(s3.to_string());
    }
    Cloud::with_keys(REGION, endpoints, KEY, KEY).await
}

/// The SDK's S3 client on moto itself, for setting up and looking at buckets.
pub async fn s3_client() -> aws_sdk_s3::Client {
    let cloud = cloud(None).await;
    let conf = aws_sdk_s3::config::Builder::from(cloud.config().await)
        .endpoint_url(url())
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// A new bucket whose name starts with `name`.
pub async fn bucket(name: &str) -> String {
    let bucket = format!("{name}-{:08x}", fastrand::u32(..));
    s3_client()
        .await
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    bucket
}

/// The objects of `bucket`: key → content.
pub async fn objects(bucket: &str) -> std::collections::BTreeMap<String, String> {
    let s3 = s3_client().await;
    let listed = s3.list_objects_v2().bucket(bucket).send().await.unwrap();
    let mut found = std::collections::BTreeMap::new();
    for o in listed.contents() {
        let key = o.key().unwrap().to_string();
        let body = s3
            .get_object()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .unwrap();
        let bytes = body.body.collect().await.unwrap().into_bytes();
        found.insert(key, String::from_utf8_lossy(&bytes).into_owned());
    }
    found
}

/// A new bucket whose name starts with `name`, keeping object versions (as MWAA needs).
pub async fn versioned_bucket(name: &str) -> String {
    use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
    let bucket = bucket(name).await;
    let on = VersioningConfiguration::builder()
        .status(BucketVersioningStatus::Enabled)
        .build();
    let s3 = s3_client().await;
    let put = s3.put_bucket_versioning().bucket(&bucket);
    put.versioning_configuration(on).send().await.unwrap();
    bucket
}

/// The versions of `key` in `bucket`, newest first.
pub async fn versions(bucket: &str, key: &str) -> Vec<String> {
    let s3 = s3_client().await;
    let listed = s3.list_object_versions().bucket(bucket).prefix(key);
    let listed = listed.send().await.unwrap();
    listed
        .versions()
        .iter()
        .filter(|v| v.key() == Some(key))
        .filter_map(|v| v.version_id().map(str::to_string))
        .collect()
}

/// Version `version` of `key`, as bytes.
pub async fn object_version(bucket: &str, key: &str, version: &str) -> Vec<u8> {
    let s3 = s3_client().await;
    let got = s3.get_object().bucket(bucket).key(key).version_id(version);
    let got = got.send().await.unwrap();
    got.body.collect().await.unwrap().into_bytes().to_vec()
}
