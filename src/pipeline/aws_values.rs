//! Values AWS would refuse, checked when the pipeline loads, each at its line and column: an
//! AWS region, S3 locations (bucket names), MWAA environment names, IAM role ARNs, task
//! definition families (the
//! rules of the fields that hold them, in `fields.rs` and in the step kinds' inputs).
//! Without these, a misspelt bucket fails the run only when the upload starts.

use crate::shape::{Rule, Shape};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AwsValueError {
    #[error(
        "`{given}` is not s3://BUCKET/PREFIX: bucket name `{name}` {problem} (S3's naming \
         rules: https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html)"
    )]
    Bucket {
        given: String,
        name: String,
        problem: S3BucketProblem,
    },
    #[error("`{given}` is a Cloud Storage location; an S3 location is s3://BUCKET/PREFIX")]
    NotS3 { given: String },
    #[error(
        "MWAA environment name `{name}` {problem} (MWAA's rule: a letter, then up to 79 \
         letters, digits, `-` or `_`)"
    )]
    Mwaa { name: String, problem: &'static str },
    #[error(
        "`{arn}` is not an IAM role ARN such as `arn:aws:iam::123456789012:role/deploy` \
         ({problem})"
    )]
    RoleArn { arn: String, problem: &'static str },
    #[error(
        "task definition family `{name}` {problem} (ECS's rule: up to 255 letters, digits, \
         `-` and `_`)"
    )]
    Family { name: String, problem: &'static str },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum S3BucketProblem {
    #[error("has {0} characters, where bucket names have 3 to 63")]
    Length(usize),
    #[error("holds `{0}`; only lowercase letters, digits, `-` and `.` are allowed")]
    Character(char),
    #[error("does not begin and end with a lowercase letter or a digit")]
    Edge,
    #[error("has two dots in a row")]
    Dots,
    #[error("is an IP address")]
    IpAddress,
    #[error("begins or ends with a part S3 keeps for itself (`xn--`, `sthree-`, `-s3alias`, ...)")]
    Reserved,
}

/// An AWS region name: `eu-west-1`, `us-gov-west-1`, `ap-southeast-5`.
pub(crate) fn is_aws_region(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    let lower = |p: &&str| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase());
    let number = |p: &&str| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit());
    match parts.as_slice() {
        [area, direction, n] => area.len() == 2 && lower(area) && lower(direction) && number(n),
        [area, partition, direction, n] => {
            area.len() == 2 && lower(area) && lower(partition) && lower(direction) && number(n)
        }
        _ => false,
    }
}

/// `s3://BUCKET/PREFIX` (the prefix may be empty) → (`BUCKET`, `PREFIX`).
pub(crate) fn split_s3(given: &str) -> (&str, &str) {
    let rest = given.strip_prefix("s3://").unwrap_or(given);
    rest.split_once('/').unwrap_or((rest, ""))
}

/// `dags_target.s3` and `state.s3`: `s3://BUCKET/PREFIX`, the bucket by S3's rules.
pub(crate) fn check_s3_location(given: &str) -> Result<(), AwsValueError> {
    if given.starts_with("gs://") {
        return Err(AwsValueError::NotS3 {
            given: given.into(),
        });
    }
    let name = split_s3(given).0;
    match s3_bucket_problem(name) {
        None => Ok(()),
        Some(problem) => Err(AwsValueError::Bucket {
            given: given.into(),
            name: name.into(),
            problem,
        }),
    }
}

fn s3_bucket_problem(name: &str) -> Option<S3BucketProblem> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "-.".contains(c);
    if let Some(c) = name.chars().find(|c| !allowed(*c)) {
        return Some(S3BucketProblem::Character(c));
    }
    if !(3..=63).contains(&name.len()) {
        return Some(S3BucketProblem::Length(name.len()));
    }
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !edge(name.chars().next()) || !edge(name.chars().last()) {
        return Some(S3BucketProblem::Edge);
    }
    if name.contains("..") {
        return Some(S3BucketProblem::Dots);
    }
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() == 4 && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit())) {
        return Some(S3BucketProblem::IpAddress);
    }
    let prefixes = ["xn--", "sthree-", "amzn-s3-demo-"];
    let suffixes = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];
    if prefixes.iter().any(|p| name.starts_with(p)) || suffixes.iter().any(|s| name.ends_with(s)) {
        return Some(S3BucketProblem::Reserved);
    }
    None
}

/// An MWAA environment name (`GetEnvironment`'s `Name`: `^[a-zA-Z][0-9a-zA-Z-_]*$`, 1 to 80).
pub(crate) fn check_mwaa_environment(name: &str) -> Result<(), AwsValueError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let problem = if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        Some("does not begin with a letter")
    } else if name.chars().any(|c| !allowed(c)) {
        Some("holds a character other than a letter, a digit, `-` or `_`")
    } else if name.len() > 80 {
        Some("is longer than 80 characters")
    } else {
        None
    };
    problem.map_or(Ok(()), |problem| {
        Err(AwsValueError::Mwaa {
            name: name.into(),
            problem,
        })
    })
}

/// `assume_role`: `arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME`.
pub(crate) fn check_role_arn(arn: &str) -> Result<(), AwsValueError> {
    let fail = |problem| {
        Err(AwsValueError::RoleArn {
            arn: arn.into(),
            problem,
        })
    };
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [scheme, partition, service, region, account, resource] = parts.as_slice() else {
        return fail("an ARN has six parts separated by `:`");
    };
    if *scheme != "arn" || !partition.starts_with("aws") {
        return fail("it does not begin with `arn:aws`");
    }
    if *service != "iam" || !region.is_empty() {
        return fail("a role's ARN is `arn:aws:iam::ACCOUNT:role/NAME`");
    }
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return fail("the account id has 12 digits");
    }
    let name_ok = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c);
    match resource.strip_prefix("role/") {
        Some(name) if !name.is_empty() && name.chars().all(name_ok) => Ok(()),
        Some(_) => fail("a role name is letters, digits and `+=,.@_-`"),
        None => fail("the resource is `role/NAME`"),
    }
}

/// A task definition family: up to 255 letters, digits, `-` and `_`.
pub(crate) fn check_family(name: &str) -> Result<(), AwsValueError> {
    crate::aws::ecs_names::family_problem(name).map_or(Ok(()), |problem| {
        Err(AwsValueError::Family {
            name: name.into(),
            problem,
        })
    })
}

fn message(result: Result<(), AwsValueError>) -> Result<(), String> {
    result.map_err(|e| e.to_string())
}

/// An `ecs_task_definition` step's `image` (`${{ }}` checked once resolved).
pub(crate) const ECR_IMAGE: Shape = Shape::Valid(&Rule {
    shape: &Shape::Template,
    describe: "an ECR image, `ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY:TAG`",
    null: false,
    check: |text| {
        crate::aws::ecr::EcrImage::parse(text)
            .map(|_| ())
            .map_err(|e| e.to_string())
    },
});

/// `dags_target.s3` and `state.s3`.
pub(crate) const S3_LOCATION: Shape = Shape::Valid(&Rule {
    shape: &Shape::Str,
    describe: "an S3 location, `s3://BUCKET/PREFIX`",
    null: false,
    check: |text| message(check_s3_location(text)),
});

/// `dags_target.mwaa_environment`.
pub(crate) const MWAA_ENVIRONMENT: Shape = Shape::Valid(&Rule {
    shape: &Shape::Str,
    describe: "an MWAA environment name such as `airflow-prod`",
    null: false,
    check: |text| message(check_mwaa_environment(text)),
});

/// An environment's `assume_role`.
pub(crate) const ROLE_ARN: Shape = Shape::Valid(&Rule {
    shape: &Shape::Str,
    describe: "an IAM role ARN, `arn:aws:iam::ACCOUNT:role/NAME`",
    null: false,
    check: |text| message(check_role_arn(text)),
});

/// A task definition family (`${{ }}` checked once resolved).
pub(crate) const FAMILY: Shape = Shape::Valid(&Rule {
    shape: &Shape::Template,
    describe: "a task definition family such as `dbt-runner`",
    null: false,
    check: |text| message(check_family(text)),
});

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(given: &str) -> Option<S3BucketProblem> {
        match check_s3_location(given) {
            Ok(()) => None,
            Err(AwsValueError::Bucket { problem, .. }) => Some(problem),
            Err(other) => panic!("{other}"),
        }
    }

    #[test]
    fn s3_locations_follow_s3s_bucket_rules() {
        for ok in [
            "s3://airflow-acme/dags",
            "s3://a.b.c/",
            "s3://abc",
            "airflow-acme/x/y",
        ] {
            assert_eq!(bucket(ok), None, "{ok}");
        }
        assert_eq!(
            bucket("s3://acme_dags/x"),
            Some(S3BucketProblem::Character('_'))
        );
        assert_eq!(bucket("s3://Acme/x"), Some(S3BucketProblem::Character('A')));
        assert_eq!(bucket("s3://ab/x"), Some(S3BucketProblem::Length(2)));
        assert_eq!(bucket("s3://-ab/x"), Some(S3BucketProblem::Edge));
        assert_eq!(bucket("s3://a..b/x"), Some(S3BucketProblem::Dots));
        assert_eq!(bucket("s3://10.0.0.1/x"), Some(S3BucketProblem::IpAddress));
        assert_eq!(bucket("s3://xn--dags/x"), Some(S3BucketProblem::Reserved));
        assert_eq!(bucket("s3://dags-s3alias"), Some(S3BucketProblem::Reserved));
        assert!(matches!(
            check_s3_location("gs://acme/x"),
            Err(AwsValueError::NotS3 { .. })
        ));
    }

    #[test]
    fn regions_mwaa_names_role_arns_and_families() {
        for region in [
            "eu-west-1",
            "us-gov-west-1",
            "ap-southeast-5",
            "il-central-1",
        ] {
            assert!(is_aws_region(region), "{region}");
        }
        for not in ["europe-west1", "eu-west1", "EU-west-1", "eu-west-1a", "eu"] {
            assert!(!is_aws_region(not), "{not}");
        }
        assert_eq!(check_mwaa_environment("airflow_prod-2"), Ok(()));
        assert!(check_mwaa_environment("2airflow").is_err());
        assert!(check_mwaa_environment("air flow").is_err());
        assert_eq!(
            check_role_arn("arn:aws:iam::123456789012:role/ci/deploy"),
            Ok(())
        );
        let short = check_role_arn("arn:aws:iam::1234:role/deploy").unwrap_err();
        assert!(short.to_string().contains("12 digits"), "{short}");
        assert!(check_role_arn("arn:aws:iam::123456789012:user/me").is_err());
        assert!(check_role_arn("deploy").is_err());
        assert_eq!(check_family("dbt-runner_2"), Ok(()));
        assert!(check_family("dbt:runner").is_err());
        assert!(check_family(&"f".repeat(256)).is_err());
    }
}
