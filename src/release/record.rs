//! A release record: what one `run`, `promote` or `rollback` did to an environment, written
//! once when it ends (also when it failed or was interrupted) and never changed. Only a
//! release that succeeded can be promoted or rolled back to.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::artifact::{Artifact, Blob};
use crate::report::Outcome;

/// Changed when a field's meaning changes; fields may be added without it.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub format_version: u32,
    /// Sortable: `20261203T141502.123Z-4f2a` (the run's id).
    pub id: String,
    pub pipeline: String,
    pub environment: String,
    /// What made it.
    pub command: Command,
    pub outcome: ReleaseOutcome,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub finished_at: String,
    pub git: GitInfo,
    /// `GITHUB_ACTOR`, else the local user.
    pub actor: String,
    /// The CI run that made it, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_url: Option<String>,
    /// The pipeline file as it was, by content (stored: `promote` shows what changed since).
    pub pipeline_file: Blob,
    /// The release this one deployed again (`promote`: another environment's; `rollback`:
    /// an earlier one of this environment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    pub steps: Vec<StepRecord>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    Run,
    Promote,
    Rollback,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseOutcome {
    Succeeded,
    Failed,
    /// Stopped by SIGINT/SIGTERM, or found holding a lock it never released (killed).
    Interrupted,
}

impl std::fmt::Display for ReleaseOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReleaseOutcome::Succeeded => "succeeded",
            ReleaseOutcome::Failed => "failed",
            ReleaseOutcome::Interrupted => "interrupted",
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha: Option<String>,
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub environment: String,
    pub release: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    pub id: String,
    pub uses: String,
    pub outcome: Outcome,
    /// Why it failed or did not run (secrets masked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// As the run showed them: secrets masked.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub outputs: IndexMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<Artifact>,
    /// The step did not run in this release (`--only`, `--from`): its artifact is the one
    /// this earlier release recorded, still deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carried_from: Option<String>,
}

/// Why a stored record cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("release record `{key}` is not a release record dagship can read")]
    Corrupt {
        key: String,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "release record `{key}` has format version {found}; this dagship reads version {FORMAT_VERSION}: use a newer dagship"
    )]
    Newer { key: String, found: u32 },
}

impl Release {
    pub fn succeeded(&self) -> bool {
        self.outcome == ReleaseOutcome::Succeeded
    }

    /// The record as stored: pretty JSON, so that a person can read it in the bucket.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("records serialize");
        bytes.push(b'\n');
        bytes
    }

    pub fn parse(key: &str, bytes: &[u8]) -> Result<Release, RecordError> {
        #[derive(Deserialize)]
        struct Version {
            format_version: u32,
        }
        let corrupt = |source| RecordError::Corrupt {
            key: key.to_string(),
            source,
        };
        let version: Version = serde_json::from_slice(bytes).map_err(corrupt)?;
        if version.format_version > FORMAT_VERSION {
            return Err(RecordError::Newer {
                key: key.to_string(),
                found: version.format_version,
            });
        }
        serde_json::from_slice(bytes).map_err(corrupt)
    }

    /// The artifact of step `id`, recorded by this release or carried over.
    pub fn artifact(&self, id: &str) -> Option<&Artifact> {
        self.steps
            .iter()
            .find(|s| s.id == id)
            .and_then(|s| s.artifact.as_ref())
    }

    /// Short, for lists and messages: `20261203T141502Z-4f2a (succeeded, abc1234 by ana)`.
    pub fn summary(&self) -> String {
        let sha = self.git.sha.as_deref().map_or("no git sha", short_sha);
        format!("{} ({}, {sha} by {})", self.id, self.outcome, self.actor)
    }
}

pub fn short_sha(sha: &str) -> &str {
    &sha[..sha.len().min(7)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::Migration;

    fn release() -> Release {
        Release {
            format_version: FORMAT_VERSION,
            id: "20261203T141502.123Z-4f2a".into(),
            pipeline: "warehouse".into(),
            environment: "staging".into(),
            command: Command::Run,
            outcome: ReleaseOutcome::Succeeded,
            started_at: "2026-12-03T14:15:02Z".into(),
            finished_at: "2026-12-03T14:16:40Z".into(),
            git: GitInfo {
                sha: Some("0123456789abcdef".into()),
                reference: Some("refs/heads/main".into()),
            },
            actor: "ana".into(),
            ci_url: None,
            pipeline_file: Blob {
                sha256: "00".repeat(32),
                size: 10,
            },
            source: None,
            steps: vec![StepRecord {
                id: "migrate".into(),
                uses: "alembic".into(),
                outcome: Outcome::Succeeded,
                reason: None,
                outputs: IndexMap::from([("to_revision".into(), "b2".into())]),
                artifact: Some(Artifact::Migration(Migration {
                    revision: "b2".into(),
                })),
                carried_from: None,
            }],
        }
    }

    #[test]
    fn a_record_reads_back_as_written() {
        let r = release();
        let back = Release::parse("k", &r.to_bytes()).unwrap();
        assert_eq!(back, r);
        assert_eq!(
            back.artifact("migrate"),
            Some(&Artifact::Migration(Migration {
                revision: "b2".into()
            }))
        );
        assert_eq!(
            r.summary(),
            "20261203T141502.123Z-4f2a (succeeded, 0123456 by ana)"
        );
    }

    #[test]
    fn damaged_and_newer_records_are_refused_with_their_key() {
        let cut = &release().to_bytes()[..40];
        let e = Release::parse("e/releases/x.json", cut).unwrap_err();
        assert!(e.to_string().contains("`e/releases/x.json`"), "{e}");
        let newer = br#"{"format_version": 9}"#;
        let e = Release::parse("k", newer).unwrap_err();
        assert!(matches!(e, RecordError::Newer { found: 9, .. }), "{e}");
    }
}
