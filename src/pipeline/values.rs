//! Values Google Cloud or GitHub would refuse, checked when the pipeline loads, each at its
//! line and column: an environment's region, bucket names, Composer environment names (the
//! rules of the fields that hold them, in `fields.rs`) and the names of secrets. Without
//! these, a misspelt bucket fails the run only when the upload starts, after the migrations
//! ran.

use crate::gcp::run_values;
use crate::shape::{Rule, Shape};

/// A value Google Cloud or GitHub would refuse, and the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum ValueError {
    #[error(
        "`{region}` is not a Google Cloud region name such as `europe-west1` \
         (https://cloud.google.com/about/locations) nor an AWS region name such as `eu-west-1`"
    )]
    Region { region: String },
    #[error("`{zone}` is a zone; an environment's `region` is the region, `{region}`")]
    Zone { zone: String, region: String },
    #[error(
        "bucket name `{name}` {problem} (Cloud Storage's naming rules: \
         https://cloud.google.com/storage/docs/buckets#naming)"
    )]
    Bucket {
        name: String,
        problem: BucketProblem,
    },
    #[error(
        "`{given}` names a folder inside bucket `{name}`: write the bucket in `bucket` and \
         the folder in `prefix` (`prefix: {folder}/`)"
    )]
    BucketFolder {
        given: String,
        name: String,
        folder: String,
    },
    #[error(
        "Composer environment name `{name}` {problem} (Composer's rule: a lowercase letter, \
         then up to 63 lowercase letters, digits or hyphens, not ending with a hyphen; \
         https://cloud.google.com/composer/docs/reference/rest/v1/projects.locations.environments)"
    )]
    Composer {
        name: String,
        problem: ComposerProblem,
    },
    #[error(
        "secret name `{name}` holds `{found}`: GitHub's secret names are letters, digits and \
         `_`, not starting with a digit (https://docs.github.com/en/actions/security-for-\
         github-actions/security-guides/using-secrets-in-github-actions#naming-your-secrets)"
    )]
    Secret { name: String, found: char },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(super) enum BucketProblem {
    #[error("has {len} characters, where bucket names have 3 to 63")]
    Length { len: usize },
    #[error(
        "has {len} characters, where a name with dots has at most 222, each part between \
         dots at most 63"
    )]
    DottedLength { len: usize },
    #[error("holds `{0}`; only lowercase letters, digits, `-`, `_` and `.` are allowed")]
    Character(char),
    #[error("does not begin and end with a lowercase letter or a digit")]
    Edge,
    #[error("has an empty part between two dots")]
    EmptyPart,
    #[error("is an IP address")]
    IpAddress,
    #[error("begins with `goog`, which Google keeps for itself")]
    Goog,
    #[error("holds `google` (or a look-alike such as `g00gle`), which Google keeps for itself")]
    Google,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(super) enum ComposerProblem {
    #[error("is empty")]
    Empty,
    #[error("has {len} characters, more than 64")]
    TooLong { len: usize },
    #[error("does not begin with a lowercase letter")]
    Start,
    #[error("ends with a hyphen")]
    End,
    #[error("holds `{0}`")]
    Character(char),
}

/// An environment's `region`: a region as Cloud Run and Composer name it, not a zone.
pub(super) fn check_region(region: &str) -> Result<(), ValueError> {
    if super::aws_values::is_aws_region(region) {
        return Ok(());
    }
    match run_values::check_region(region) {
        Ok(()) => Ok(()),
        Err(run_values::ValueError::Zone { zone, region }) => {
            Err(ValueError::Zone { zone, region })
        }
        Err(_) => Err(ValueError::Region {
            region: region.to_string(),
        }),
    }
}

/// `dags_target.bucket`: `gs://NAME` or `NAME`, a bucket and nothing inside it.
pub(super) fn check_dags_bucket(given: &str) -> Result<(), ValueError> {
    let (name, folder) = split_gs(given);
    if !folder.is_empty() {
        return Err(ValueError::BucketFolder {
            given: given.to_string(),
            name: name.to_string(),
            folder: folder.to_string(),
        });
    }
    check_bucket(name)
}

/// `state.bucket`: `gs://NAME/PREFIX`, a bucket and a folder inside it.
pub(super) fn check_state_bucket(given: &str) -> Result<(), ValueError> {
    check_bucket(split_gs(given).0)
}

/// `gs://NAME/FOLDER/` → (`NAME`, `FOLDER`).
fn split_gs(given: &str) -> (&str, &str) {
    let rest = given.strip_prefix("gs://").unwrap_or(given);
    let rest = rest.trim_end_matches('/');
    rest.split_once('/').unwrap_or((rest, ""))
}

/// A bucket name by Cloud Storage's rules
/// (<https://cloud.google.com/storage/docs/buckets#naming>).
pub(super) fn check_bucket(name: &str) -> Result<(), ValueError> {
    bucket_problem(name).map_or(Ok(()), |problem| {
        Err(ValueError::Bucket {
            name: name.to_string(),
            problem,
        })
    })
}

fn bucket_problem(name: &str) -> Option<BucketProblem> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c);
    if let Some(c) = name.chars().find(|c| !allowed(*c)) {
        return Some(BucketProblem::Character(c));
    }
    let len = name.len();
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() == 1 && !(3..=63).contains(&len) {
        return Some(BucketProblem::Length { len });
    }
    if parts.len() > 1 && (!(3..=222).contains(&len) || parts.iter().any(|p| p.len() > 63)) {
        return Some(BucketProblem::DottedLength { len });
    }
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !edge(name.chars().next()) || !edge(name.chars().last()) {
        return Some(BucketProblem::Edge);
    }
    if parts.iter().any(|p| p.is_empty()) {
        return Some(BucketProblem::EmptyPart);
    }
    let octet = |p: &&str| p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit());
    if parts.len() == 4 && parts.iter().all(octet) {
        return Some(BucketProblem::IpAddress);
    }
    if name.starts_with("goog") {
        return Some(BucketProblem::Goog);
    }
    // "Close misspellings, such as g00gle": zeros for the o's.
    if name.replace('0', "o").contains("google") {
        return Some(BucketProblem::Google);
    }
    None
}

/// A Composer environment id (`Environment.name` in Composer's API reference).
pub(super) fn check_composer_environment(name: &str) -> Result<(), ValueError> {
    let problem = if name.is_empty() {
        Some(ComposerProblem::Empty)
    } else if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        Some(ComposerProblem::Character(c))
    } else if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        Some(ComposerProblem::Start)
    } else if name.ends_with('-') {
        Some(ComposerProblem::End)
    } else if name.len() > 64 {
        Some(ComposerProblem::TooLong { len: name.len() })
    } else {
        None
    };
    problem.map_or(Ok(()), |problem| {
        Err(ValueError::Composer {
            name: name.to_string(),
            problem,
        })
    })
}

/// The name in `${{ secrets.NAME }}`: what GitHub accepts as a secret name, so that the
/// workflow can pass it on as an environment variable of the same name. (GitHub also
/// refuses its own `GITHUB_` prefix for secrets it stores, but `GITHUB_TOKEN` is one it
/// gives every job, so that prefix is allowed here.)
pub(super) fn check_secret_name(name: &str) -> Result<(), ValueError> {
    let bad = name.chars().enumerate().find(|(i, c)| {
        !(c.is_ascii_alphanumeric() || *c == '_') || (*i == 0 && c.is_ascii_digit())
    });
    match bad {
        Some((_, found)) => Err(ValueError::Secret {
            name: name.to_string(),
            found,
        }),
        None => Ok(()),
    }
}

fn message(result: Result<(), ValueError>) -> Result<(), String> {
    result.map_err(|e| e.to_string())
}

/// An environment's `region`.
pub(crate) const REGION: Shape = Shape::Valid(&Rule {
    shape: &Shape::Str,
    describe: "a Google Cloud region such as `europe-west1`, or an AWS region such as `eu-west-1`",
    null: false,
    check: |text| message(check_region(text)),
});

/// `dags_target.bucket`.
pub(crate) const DAGS_BUCKET: Shape = Shape::Valid(&Rule {
    shape: &Shape::Str,
    describe: "a Cloud Storage bucket, `gs://NAME`",
    null: false,
    check: |text| message(check_dags_bucket(text)),
});

/// `state.bucket`.
pub(crate) const STATE_BUCKET: Shape = Shape::Valid(&Rule {
    shape: &Shape::Str,
    describe: "a Cloud Storage location, `gs://NAME/PREFIX`",
    null: false,
    check: |text| message(check_state_bucket(text)),
});

/// `dags_target.composer_environment`.
pub(crate) const COMPOSER_ENVIRONMENT: Shape = Shape::Valid(&Rule {
    shape: &Shape::Str,
    describe: "a Composer environment name such as `composer-prod`",
    null: false,
    check: |text| message(check_composer_environment(text)),
});

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(name: &str) -> Option<BucketProblem> {
        match check_bucket(name) {
            Ok(()) => None,
            Err(ValueError::Bucket { problem, .. }) => Some(problem),
            Err(other) => panic!("{other}"),
        }
    }

    #[test]
    fn bucket_names_follow_cloud_storages_rules() {
        for ok in [
            "acme-dags",
            "europe-west1-composer-prod-bucket",
            "a_b",
            "123",
            "dags.acme.example.com",
            &"b".repeat(63),
        ] {
            assert_eq!(bucket(ok), None, "{ok}");
        }
        assert_eq!(bucket("ab"), Some(BucketProblem::Length { len: 2 }));
        assert_eq!(
            bucket(&"b".repeat(64)),
            Some(BucketProblem::Length { len: 64 })
        );
        let dotted = format!("{}.{}", "b".repeat(64), "c");
        assert_eq!(
            bucket(&dotted),
            Some(BucketProblem::DottedLength { len: 66 })
        );
        assert_eq!(bucket("Acme"), Some(BucketProblem::Character('A')));
        assert_eq!(bucket("acme dags"), Some(BucketProblem::Character(' ')));
        assert_eq!(bucket("-acme"), Some(BucketProblem::Edge));
        assert_eq!(bucket("acme_"), Some(BucketProblem::Edge));
        assert_eq!(bucket("a..b"), Some(BucketProblem::EmptyPart));
        assert_eq!(bucket("192.168.5.4"), Some(BucketProblem::IpAddress));
        assert_eq!(bucket("goog-dags"), Some(BucketProblem::Goog));
        assert_eq!(bucket("my-g00gle-dags"), Some(BucketProblem::Google));
    }

    #[test]
    fn dags_and_state_buckets() {
        assert_eq!(check_dags_bucket("gs://acme-dags"), Ok(()));
        assert_eq!(check_dags_bucket("gs://acme-dags/"), Ok(()));
        assert_eq!(check_dags_bucket("acme-dags"), Ok(()));
        assert_eq!(
            check_dags_bucket("gs://acme-dags/dags")
                .unwrap_err()
                .to_string(),
            "`gs://acme-dags/dags` names a folder inside bucket `acme-dags`: write the bucket \
             in `bucket` and the folder in `prefix` (`prefix: dags/`)"
        );
        assert_eq!(check_state_bucket("gs://acme-state/warehouse"), Ok(()));
        assert!(check_state_bucket("gs://Acme/warehouse").is_err());
    }

    #[test]
    fn regions_composer_environments_and_secrets() {
        assert_eq!(check_region("europe-west1"), Ok(()));
        assert!(matches!(
            check_region("europe-west1-b"),
            Err(ValueError::Zone { .. })
        ));
        assert!(matches!(check_region("EU"), Err(ValueError::Region { .. })));
        assert_eq!(check_composer_environment("composer-prod"), Ok(()));
        assert_eq!(
            check_composer_environment(&format!("c{}", "1".repeat(63))),
            Ok(())
        );
        let composer = |name: &str| match check_composer_environment(name) {
            Err(ValueError::Composer { problem, .. }) => Some(problem),
            _ => None,
        };
        assert_eq!(
            composer(&"c".repeat(65)),
            Some(ComposerProblem::TooLong { len: 65 })
        );
        assert_eq!(composer("Prod"), Some(ComposerProblem::Character('P')));
        assert_eq!(composer("1prod"), Some(ComposerProblem::Start));
        assert_eq!(composer("prod-"), Some(ComposerProblem::End));
        assert_eq!(check_secret_name("WAREHOUSE_DB_URL"), Ok(()));
        assert_eq!(check_secret_name("_x1"), Ok(()));
        assert_eq!(check_secret_name("GITHUB_TOKEN"), Ok(()));
        assert!(matches!(
            check_secret_name("DB-URL"),
            Err(ValueError::Secret { found: '-', .. })
        ));
        assert!(check_secret_name("1PASSWORD").is_err());
    }
}
