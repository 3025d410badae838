//! The GitHub Action (`action.yml`, `scripts/action.sh`), run as the runner would run it
//! (`action_support`) against a fake GitHub on 127.0.0.1: which release binary a runner gets,
//! that it is checked against SHA256SUMS before it is run, the `cargo install` fallback, the
//! outputs, and that inputs are data, never code.

mod action_support;

use action_support::fake_github::{FakeGitHub, REPOSITORY, Release, TARGETS, TOKEN, asset, sha256};
use action_support::{Job, Ran};

fn github_with(releases: &[Release]) -> FakeGitHub {
    let github = FakeGitHub::start();
    for release in releases {
        github.publish(release);
    }
    github
}

fn deploy(job: &mut Job) -> Ran {
    job.uses(&[("args", "run --env staging")])
}

fn files_named_dagship(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_named_dagship(&path));
        } else if path.file_name().is_some_and(|n| n == "dagship") {
            found.push(path);
        }
    }
    found
}

#[test]
fn a_runner_gets_its_release_binary_checked_and_run_with_the_outputs_set() {
    let github = github_with(&[Release::new("v1.2.3", &TARGETS)]);
    let mut job = Job::new("Linux", "ARM64", &github.url);
    std::fs::create_dir(job.workspace().join("data platform")).unwrap();
    let ran = job.uses(&[
        ("args", "run  --env\tstaging\n--yes"),
        ("working-directory", "data platform"),
    ]);
    ran.succeeded();

    let cwd = job.workspace().join("data platform").display().to_string();
    assert_eq!(
        job.dagship_runs(),
        [[
            "aarch64-unknown-linux-musl",
            "v1.2.3",
            &cwd,
            "run",
            "--env",
            "staging",
            "--yes"
        ]]
    );
    assert_eq!(ran.outputs["run_id"], "01JRUN");
    assert_eq!(ran.outputs["outcome"], "succeeded");
    assert_eq!(ran.outputs["release_id"], "01JREL");
    assert_eq!(ran.outputs["has_changes"], "");
    assert!(ran.log.contains("sha256"), "{}", ran.log);

    // The binary is where the cache step saves it from, under its own key, and on the PATH.
    let dir = job
        .runner_temp()
        .join("dagship/v1.2.3/aarch64-unknown-linux-musl");
    assert_eq!(ran.step("resolve", "dir"), dir.display().to_string());
    assert_eq!(
        ran.step("resolve", "cache-key"),
        "dagship-v1.2.3-aarch64-unknown-linux-musl"
    );
    assert!(dir.join("bin/dagship").is_file());
    assert_eq!(job.path_entries(), [dir.join("bin").display().to_string()]);

    // The version came from the action's ref: no API call; both files with the job's token.
    let paths: Vec<_> = github.requests().into_iter().map(|r| r.path).collect();
    let base = format!("/github/{REPOSITORY}/releases/download/v1.2.3");
    assert_eq!(
        paths,
        [
            format!("{base}/dagship-aarch64-unknown-linux-musl.tar.gz"),
            format!("{base}/SHA256SUMS")
        ]
    );
    for request in github.requests() {
        assert_eq!(request.authorization, Some(format!("Bearer {TOKEN}")));
    }
    assert!(job.cargo_runs().is_empty());
}

#[test]
fn a_second_use_takes_the_binary_from_the_cache_and_a_plan_sets_has_changes() {
    let github = github_with(&[Release::new("v1.2.3", &TARGETS)]);
    let mut job = Job::new("Linux", "X64", &github.url);
    deploy(&mut job).succeeded();
    let downloads = github.requests().len();

    // The runner put back what the cache saved: the install step downloads nothing.
    let ran = job.uses(&[("args", "plan --env staging")]);
    ran.succeeded();
    assert!(ran.log.contains("restored from the cache"), "{}", ran.log);
    assert_eq!(github.requests().len(), downloads);
    assert_eq!(ran.outputs["has_changes"], "true");
    assert_eq!(ran.outputs["run_id"], "");
    assert_eq!(job.dagship_runs()[1][0], "x86_64-unknown-linux-musl");
    assert_eq!(job.dagship_runs()[1][3..], ["plan", "--env", "staging"]);
}

#[test]
fn a_checksum_mismatch_fails_and_the_binary_never_runs() {
    let wrong = sha256(b"another build");
    let release = Release::new("v1.2.3", &TARGETS).edit_sums(|sums| {
        sums.lines()
            .map(|line| match line.split_once("  ") {
                Some((_, name)) if name == asset("x86_64-unknown-linux-musl") => {
                    format!("{wrong}  {name}\n")
                }
                _ => format!("{line}\n"),
            })
            .collect()
    });
    let github = github_with(&[release]);
    let mut job = Job::new("Linux", "X64", &github.url);
    let ran = deploy(&mut job);
    ran.failed_in("Install dagship");
    assert!(
        ran.log.contains(&format!(
            "checksum mismatch for dagship-x86_64-unknown-linux-musl.tar.gz of release v1.2.3: SHA256SUMS says {wrong}"
        )),
        "{}",
        ran.log
    );
    assert!(ran.log.contains("::error title=dagship action::"));
    assert!(job.dagship_runs().is_empty());
    assert_eq!(
        files_named_dagship(&job.runner_temp()),
        Vec::<std::path::PathBuf>::new()
    );
    assert!(job.path_entries().is_empty());
    assert_eq!(ran.outputs["outcome"], "");
}

#[test]
fn a_release_whose_sha256sums_lacks_the_binary_fails() {
    let release = Release::new("v1.2.3", &TARGETS).edit_sums(|sums| {
        sums.lines()
            .filter(|line| !line.ends_with("x86_64-unknown-linux-musl.tar.gz"))
            .map(|line| format!("{line}\n"))
            .collect()
    });
    let github = github_with(&[release]);
    let mut job = Job::new("Linux", "X64", &github.url);
    let ran = deploy(&mut job);
    ran.failed_in("Install dagship");
    assert!(
        ran.log.contains(
            "SHA256SUMS of release v1.2.3 has no line for dagship-x86_64-unknown-linux-musl.tar.gz"
        ),
        "{}",
        ran.log
    );
    assert!(job.dagship_runs().is_empty());
    assert!(files_named_dagship(&job.runner_temp()).is_empty());

    // Without any SHA256SUMS the binary cannot be checked either.
    let github = github_with(&[Release::new("v1.2.3", &TARGETS).without("SHA256SUMS")]);
    let mut job = Job::new("Linux", "X64", &github.url);
    let ran = deploy(&mut job);
    ran.failed_in("Install dagship");
    assert!(
        ran.log
            .contains("its SHA256SUMS could not be downloaded (HTTP 404)"),
        "{}",
        ran.log
    );
    assert!(job.dagship_runs().is_empty());
}

#[test]
fn a_runner_without_a_release_binary_builds_dagship_with_cargo() {
    let github = github_with(&[Release::new("v1.2.3", &TARGETS)]);
    let mut job = Job::new("macOS", "X64", &github.url);
    let ran = deploy(&mut job);
    ran.succeeded();

    let dir = job.runner_temp().join("dagship/v1.2.3/macos-x64");
    let git = format!("{}/github/{REPOSITORY}", github.url);
    let root = dir.display().to_string();
    assert_eq!(
        job.cargo_runs(),
        [[
            "install", "--locked", "--git", &git, "--tag", "v1.2.3", "--root", &root, "dagship"
        ]]
    );
    assert_eq!(ran.step("resolve", "cache-key"), "dagship-v1.2.3-macos-x64");
    assert_eq!(job.dagship_runs()[0][0], "built-by-cargo");
    assert_eq!(ran.outputs["outcome"], "succeeded");
    assert!(github.requests().is_empty(), "{:?}", github.requests());
    assert!(ran.log.contains("::notice"), "{}", ran.log);
}

#[test]
fn a_release_without_the_runners_asset_builds_dagship_with_cargo() {
    let github = github_with(&[Release::new("v1.2.3", &["aarch64-apple-darwin"])]);
    let mut job = Job::new("Linux", "X64", &github.url);
    let ran = deploy(&mut job);
    ran.succeeded();
    assert!(
        ran.log
            .contains("release v1.2.3 has no dagship-x86_64-unknown-linux-musl.tar.gz"),
        "{}",
        ran.log
    );
    assert_eq!(
        job.cargo_runs()[0][..6],
        [
            "install",
            "--locked",
            "--git",
            &format!("{}/github/{REPOSITORY}", github.url),
            "--tag",
            "v1.2.3"
        ]
    );
    assert_eq!(job.dagship_runs()[0][0], "built-by-cargo");
}

#[test]
fn without_cargo_the_fallback_says_what_to_install() {
    let github = github_with(&[Release::new("v1.2.3", &TARGETS)]);
    let mut job = Job::new("macOS", "X64", &github.url);
    job.env
        .insert("DAGSHIP_CARGO".into(), "no-such-cargo".into());
    let ran = deploy(&mut job);
    ran.failed_in("Install dagship");
    assert!(
        ran.log.contains(
            "no dagship binary in release v1.2.3 for macOS X64, and no cargo to build one"
        ),
        "{}",
        ran.log
    );
}

#[test]
fn a_windows_runner_is_told_at_once_that_dagship_needs_unix() {
    let github = github_with(&[Release::new("v1.2.3", &TARGETS)]);
    let mut job = Job::new("Windows", "X64", &github.url);
    let ran = deploy(&mut job);
    ran.failed_in("Choose the dagship version and binary");
    assert!(
        ran.log
            .contains("dagship runs on Linux and macOS runners, not on Windows"),
        "{}",
        ran.log
    );
    assert!(job.cargo_runs().is_empty());
}

#[test]
fn the_release_named_by_the_version_input_the_ref_or_the_commit_else_the_latest() {
    let this_commits = format!("v{}", env!("CARGO_PKG_VERSION"));
    let github = github_with(&[
        Release::new("v1.2.3", &TARGETS),
        Release::new("v1.3.0", &TARGETS),
        Release::new(&this_commits, &TARGETS),
    ]);
    github.set_latest("v1.3.0");

    // A branch is no release: the API says which is the latest.
    let mut job = Job::new("Linux", "X64", &github.url);
    job.action_ref = "main".into();
    deploy(&mut job).succeeded();
    assert_eq!(job.dagship_runs()[0][1], "v1.3.0");
    let api = &github.requests()[0];
    assert_eq!(api.path, format!("/api/repos/{REPOSITORY}/releases/latest"));
    assert_eq!(api.authorization, Some(format!("Bearer {TOKEN}")));

    // `version` wins over the ref, with or without its `v`.
    for (version, tag) in [
        ("1.2.3", "v1.2.3"),
        ("v1.2.3", "v1.2.3"),
        ("latest", "v1.3.0"),
    ] {
        let mut job = Job::new("Linux", "X64", &github.url);
        job.action_ref = "v9.9.9".into();
        job.uses(&[("args", "run --env staging"), ("version", version)])
            .succeeded();
        assert_eq!(job.dagship_runs()[0][1], tag, "version {version}");
    }

    // Pinned by commit: the version in Cargo.toml at that commit (the action's own folder).
    let mut job = Job::new("Linux", "X64", &github.url);
    job.action_ref = "0123456789abcdef0123456789abcdef01234567".into();
    deploy(&mut job).succeeded();
    assert_eq!(job.dagship_runs()[0][1], this_commits);

    // `uses: ./` in dagship's own repository: no action repository, the workflow's is it.
    let mut job = Job::new("Linux", "X64", &github.url);
    job.action_repository = String::new();
    job.env
        .insert("GITHUB_REPOSITORY".into(), REPOSITORY.into());
    deploy(&mut job).succeeded();
    assert_eq!(job.dagship_runs()[0][1], "v1.2.3");
}

#[test]
fn without_any_release_the_action_asks_for_a_version() {
    let github = FakeGitHub::start();
    let mut job = Job::new("Linux", "X64", &github.url);
    job.action_ref = "main".into();
    let ran = deploy(&mut job);
    ran.failed_in("Choose the dagship version and binary");
    assert!(
        ran.log
            .contains("acme/dagship has no GitHub release yet: set the action's `version` input"),
        "{}",
        ran.log
    );
}

#[test]
fn a_mirror_serves_the_files_and_never_sees_the_token() {
    let github = github_with(&[Release::new("v1.2.3", &TARGETS)]);
    let mut job = Job::new("Linux", "X64", &github.url);
    job.env.insert(
        "DAGSHIP_RELEASES_URL".into(),
        format!("{}/mirror", github.url),
    );
    deploy(&mut job).succeeded();
    let requests = github.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    for request in requests {
        assert!(request.path.starts_with("/mirror/v1.2.3/"), "{request:?}");
        assert_eq!(request.authorization, None);
    }
}

#[test]
fn inputs_are_data_never_code() {
    let github = github_with(&[Release::new("v1.2.3", &TARGETS)]);
    let mut job = Job::new("Linux", "X64", &github.url);
    let ran = job.uses(&[(
        "args",
        "run --env $(touch${IFS}pwned) `touch pwned` ;touch pwned",
    )]);
    ran.succeeded();
    assert_eq!(
        job.dagship_runs()[0][3..],
        [
            "run",
            "--env",
            "$(touch${IFS}pwned)",
            "`touch",
            "pwned`",
            ";touch",
            "pwned"
        ]
    );
    assert!(!job.workspace().join("pwned").exists());

    let ran = job.uses(&[("args", " \n ")]);
    ran.failed_in("dagship");
    assert!(ran.log.contains("args is empty"), "{}", ran.log);

    // Quotes would be taken literally, so they are refused rather than passed on.
    let ran = job.uses(&[("args", "promote --release \"a b\"")]);
    ran.failed_in("dagship");
    assert!(ran.log.contains("take no quotes"), "{}", ran.log);

    let mut job = Job::new("Linux", "X64", &github.url);
    let ran = job.uses(&[("args", "run"), ("version", "1.2.3; touch pwned")]);
    ran.failed_in("Choose the dagship version and binary");
    assert!(
        ran.log
            .contains("version '1.2.3; touch pwned' is not a release version"),
        "{}",
        ran.log
    );
    assert!(github.requests().iter().all(|r| !r.path.contains("pwned")));
}
