//! Helpers shared by the integration tests: running the real binary, reading golden files.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The dagship binary with a clean, fixed environment: no colour, a known commit, no secrets.
pub fn dagship(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dagship"));
    cmd.current_dir(dir)
        // No project venv on the path: what a plan shows must not depend on installed tools.
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567")
        .env("GITHUB_REF", "refs/heads/main")
        // CI runners set `CI=true`, which lets a protected environment run without `--yes`.
        .env_remove("CI")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("STAGING_DATABASE_URL")
        .env_remove("PROD_DATABASE_URL")
        // No Google Cloud credentials nor endpoints: plans say "unknown: no credentials".
        .env("CLOUDSDK_CONFIG", "/nonexistent/gcloud")
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .env_remove("GCE_METADATA_HOST")
        .env_remove("K_SERVICE")
        .env_remove("CLOUD_RUN_JOB")
        .env_remove("GOOGLE_CLOUD_PROJECT")
        .env_remove("STORAGE_EMULATOR_HOST")
        .env_remove("DAGSHIP_STORAGE_ENDPOINT")
        .env_remove("DAGSHIP_RUN_ENDPOINT")
        .env_remove("DAGSHIP_COMPOSER_ENDPOINT")
        .env_remove("DAGSHIP_IAM_ENDPOINT")
        .env_remove("DAGSHIP_REGISTRY_ENDPOINT")
        // Nor AWS credentials (the machine's profile files and instance role included).
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
        .env_remove("AWS_ROLE_ARN")
        .env_remove("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        .env_remove("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT_URL_S3")
        .env_remove("AWS_ENDPOINT_URL_MWAA")
        .env_remove("AWS_ENDPOINT_URL_ECS")
        .env_remove("AWS_ENDPOINT_URL_ECR")
        .env_remove("AWS_ENDPOINT_URL_STS")
        .env("AWS_CONFIG_FILE", "/nonexistent/aws/config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws/credentials",
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .arg("--color")
        .arg("never");
    cmd
}

pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("dagship runs");
    (
        status.code().unwrap_or(-1),
        String::from_utf8(stdout).expect("stdout is UTF-8"),
        String::from_utf8(stderr).expect("stderr is UTF-8"),
    )
}

/// Compares with a golden file; `UPDATE_GOLDEN=1` rewrites it instead.
pub fn assert_golden(name: &str, actual: &str) {
    let path = repo_root().join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("golden file written");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
            path.display()
        )
    });
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{name} differs from the golden file at line {}:\n  golden: {:?}\n  actual: {:?}\n\
             (UPDATE_GOLDEN=1 cargo test rewrites golden files; review the diff)",
            first + 1,
            expected.lines().nth(first),
            actual.lines().nth(first),
        );
    }
}
