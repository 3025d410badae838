//! Names the source a binary was built from, for `dagship --version`: the crate's version, the
//! release tag when the commit carries one, the commit, and whether the sources differed from it.
//! A binary found on a runner can then be traced to the exact code it runs.
//!
//! Where the answer comes from, first match wins:
//! 1. `DAGSHIP_BUILD_TAG` / `DAGSHIP_BUILD_COMMIT`, set by the release workflow (and by anyone
//!    packaging from a source tarball): whoever builds says what they build, and the build does
//!    not depend on git working inside a cross-compiling container.
//! 2. git, when the crate is the root of a checkout.
//! 3. "unknown": a crates.io or `cargo install` build has no `.git`.
//!
//! "modified" means the files that make the binary (`src/`, `build.rs`, `Cargo.toml`,
//! `Cargo.lock`) differ from the commit, not any change in the tree: an edited test or README
//! does not change the binary. Those same files are what this script watches, so the flag is
//! never stale, and a change anywhere else (tests, docs) does not rebuild the crate.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What the binary's sources are, as far as the build can tell.
#[derive(Default)]
struct Provenance {
    tag: Option<String>,
    commit: Option<String>,
    modified: bool,
}

/// The files the binary is made of: their changes mark the build "modified".
const INPUTS: [&str; 4] = ["src", "build.rs", "Cargo.toml", "Cargo.lock"];

/// As many hex digits of the commit as `dagship --version` shows.
const COMMIT_DIGITS: usize = 12;

fn main() {
    println!("cargo:rerun-if-env-changed=DAGSHIP_BUILD_TAG");
    println!("cargo:rerun-if-env-changed=DAGSHIP_BUILD_COMMIT");
    for input in INPUTS {
        println!("cargo:rerun-if-changed={input}");
    }
    let root = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let provenance = from_environment()
        .or_else(|| from_git(&root))
        .unwrap_or_default();
    let version = env::var("CARGO_PKG_VERSION").expect("cargo sets it");
    println!(
        "cargo:rustc-env=DAGSHIP_VERSION={}",
        describe(&version, &provenance)
    );
}

/// `0.1.0 (v0.1.0, commit 1a2b3c4d5e6f)`, `0.1.0 (commit 1a2b3c4d5e6f, modified)`,
/// `0.1.0 (commit unknown)`: clap prints it after the program's name.
fn describe(version: &str, provenance: &Provenance) -> String {
    let mut parts = Vec::new();
    parts.extend(provenance.tag.clone());
    let commit = provenance.commit.as_deref().unwrap_or("unknown");
    parts.push(format!("commit {commit}"));
    if provenance.modified {
        parts.push("modified".to_string());
    }
    format!("{version} ({})", parts.join(", "))
}

fn from_environment() -> Option<Provenance> {
    let tag = non_empty_var("DAGSHIP_BUILD_TAG");
    let commit = non_empty_var("DAGSHIP_BUILD_COMMIT");
    if tag.is_none() && commit.is_none() {
        return None;
    }
    Some(Provenance {
        tag,
        commit: commit.map(|c| short(&c)),
        modified: false,
    })
}

fn non_empty_var(name: &str) -> Option<String> {
    // One line only: the value ends up inside a `cargo:` instruction.
    env::var(name)
        .ok()
        .and_then(|v| v.lines().next().map(|l| l.trim().to_string()))
        .filter(|v| !v.is_empty())
}

fn short(commit: &str) -> String {
    commit.chars().take(COMMIT_DIGITS).collect()
}

fn from_git(root: &Path) -> Option<Provenance> {
    // Only the crate's own checkout: a tarball unpacked inside another repository (a vendored
    // copy, a distribution's packaging repository) must not report that repository's commit.
    if !root.join(".git").exists() {
        return None;
    }
    let git = Git { root };
    watch_git_state(&git);
    let commit = git.output(&["rev-parse", "HEAD"])?;
    let tag = git.output(&[
        "describe",
        "--tags",
        "--exact-match",
        "--match",
        "v*",
        "HEAD",
    ]);
    let mut status = vec!["status", "--porcelain", "--"];
    status.extend(INPUTS);
    let modified = git.output(&status).is_some_and(|s| !s.is_empty());
    Some(Provenance {
        tag,
        commit: Some(short(&commit)),
        modified,
    })
}

/// Reruns this script when HEAD moves (checkout, commit) or tags change. Asks git for the paths,
/// since in a worktree `.git` is a file and the refs live in the main repository. Only paths that
/// exist are named: cargo reruns a script on every build while a named path is missing.
fn watch_git_state(git: &Git) {
    let mut state = vec![
        "HEAD".to_string(),
        "packed-refs".to_string(),
        "refs/tags".to_string(),
    ];
    // The branch HEAD names; none when detached, where the HEAD file itself holds the commit.
    state.extend(git.output(&["symbolic-ref", "-q", "HEAD"]));
    for name in state {
        let Some(path) = git.output(&["rev-parse", "--git-path", &name]) else {
            continue;
        };
        let path = git.root.join(path);
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}

struct Git<'a> {
    root: &'a Path,
}

impl Git<'_> {
    /// The command's trimmed output, or `None` when git is missing or the command fails.
    fn output(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(self.root)
            // A build must not write to the repository: `status` may otherwise refresh the index.
            .arg("--no-optional-locks")
            // Set when cargo runs from a git hook, and pointing elsewhere than `-C`.
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE")
            .args(args)
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        Some(String::from_utf8(out.stdout).ok()?.trim().to_string())
    }
}
