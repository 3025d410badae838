//! `git.sha` and `git.ref`: from GitHub Actions' variables, else from the repository itself.
//!
//! Only read-only `git` queries run here, and only when an expression asks for them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Revision {
    pub sha: Option<String>,
    #[serde(rename = "ref")]
    pub reference: Option<String>,
}

#[derive(Debug)]
pub struct Git {
    dir: PathBuf,
    revision: OnceLock<Revision>,
}

impl Git {
    pub fn new(dir: &Path) -> Git {
        Git {
            dir: dir.to_path_buf(),
            revision: OnceLock::new(),
        }
    }

    /// A fixed revision, for callers that already know it.
    pub fn fixed(revision: Revision) -> Git {
        let git = Git::new(Path::new("."));
        let _ = git.revision.set(revision);
        git
    }

    pub fn revision(&self) -> &Revision {
        self.revision.get_or_init(|| detect(&self.dir))
    }
}

fn detect(dir: &Path) -> Revision {
    let from_env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    Revision {
        sha: from_env("GITHUB_SHA").or_else(|| query(dir, &["rev-parse", "HEAD"])),
        reference: from_env("GITHUB_REF")
            .or_else(|| query(dir, &["symbolic-ref", "-q", "HEAD"]))
            .or_else(|| query(dir, &["rev-parse", "HEAD"])),
    }
}

fn query(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?.trim().to_string();
    (output.status.success() && !text.is_empty()).then_some(text)
}
