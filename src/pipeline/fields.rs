//! The shape of `pipeline.yaml` outside the steps' `with` (which each step kind declares).

use super::aws_values::{MWAA_ENVIRONMENT, ROLE_ARN, S3_LOCATION};
use super::values::{COMPOSER_ENVIRONMENT, DAGS_BUCKET, REGION, STATE_BUCKET};
use crate::shape::{Field, POSITIVE_DURATION, Record, STRINGS, Shape};

pub(crate) const TOP: Record = Record {
    fields: &[
        Field::required(
            "version",
            Shape::Int { min: 1, max: 1 },
            "Format version of this file: `1`.",
        ),
        Field::required(
            "name",
            Shape::Str,
            "Name of the pipeline, shown in plans and release records.",
        ),
        Field::required(
            "environments",
            Shape::Map(&Shape::Record(&ENVIRONMENT)),
            "Where the pipeline deploys: one entry per environment (`local`, `staging`, `prod`, ...).",
        ),
        Field::required(
            "steps",
            Shape::Map(&Shape::Record(&STEP)),
            "The steps, by id. Order in the file does not matter: `needs` does.",
        ),
    ],
    exactly_one_of: &[],
};

pub(crate) const ENVIRONMENT: Record = Record {
    fields: &[
        Field::optional(
            "project",
            Shape::Str,
            "Google Cloud project id (`env.project`).",
        ),
        Field::optional(
            "region",
            REGION,
            "Google Cloud region, e.g. `europe-west1`, or AWS region, e.g. `eu-west-1` (`env.region`).",
        ),
        Field::optional(
            "vars",
            Shape::Map(&Shape::Template),
            "Values for `${{ vars.NAME }}` in this environment; may use `secrets`, `git` and `env`.",
        ),
        Field::optional(
            "dags_target",
            Shape::Record(&DAGS_TARGET),
            "Where `composer_dags` steps put DAG files in this environment.",
        ),
        Field::optional(
            "state",
            Shape::Record(&STATE),
            "Where release records and the environment's lock are kept (default: `{ dir: .dagship/state }`).",
        ),
        Field::optional(
            "promote_from",
            Shape::Str,
            "The environment whose releases `dagship promote` deploys here (its newest that succeeded, or `--release ID`).",
        ),
        Field::optional(
            "protected",
            Shape::Bool,
            "When true, `run`, `promote` and `rollback` need `--yes` on a terminal; in CI the CI's own protection rules apply.",
        ),
        Field::optional(
            "impersonate_service_account",
            Shape::Str,
            "Service account e-mail to impersonate for Google Cloud calls.",
        ),
        Field::optional(
            "assume_role",
            ROLE_ARN,
            "IAM role ARN to assume for AWS calls, with the credentials the AWS SDK finds (environment, profile, web identity, container or instance role).",
        ),
    ],
    exactly_one_of: &[],
};

pub(crate) const DAGS_TARGET: Record = Record {
    fields: &[
        Field::optional("dir", Shape::Str, "A local Airflow dags folder."),
        Field::optional(
            "bucket",
            DAGS_BUCKET,
            "A Cloud Storage bucket, `gs://NAME`.",
        ),
        Field::optional(
            "prefix",
            Shape::Str,
            "Object prefix inside `bucket` (default `dags/`).",
        ),
        Field::optional(
            "composer_environment",
            COMPOSER_ENVIRONMENT,
            "A Cloud Composer environment; its DAG bucket is looked up through the Composer API.",
        ),
        Field::optional(
            "s3",
            S3_LOCATION,
            "An S3 location, `s3://BUCKET/PREFIX` (prefix default `dags/`).",
        ),
        Field::optional(
            "mwaa_environment",
            MWAA_ENVIRONMENT,
            "An Amazon MWAA environment; its DAG folder (source bucket and DAG path) is looked up through the MWAA API.",
        ),
        Field::optional(
            "airflow_url",
            Shape::Str,
            "With `dir`: the Airflow that reads the folder (`http://localhost:8080`), asked through its REST API whether it parsed the files a sync wrote.",
        ),
    ],
    exactly_one_of: &[
        "dir",
        "bucket",
        "composer_environment",
        "s3",
        "mwaa_environment",
    ],
};

pub(crate) const STATE: Record = Record {
    fields: &[
        Field::optional("dir", Shape::Str, "A local folder."),
        Field::optional(
            "bucket",
            STATE_BUCKET,
            "A Cloud Storage location, `gs://NAME/PREFIX`.",
        ),
        Field::optional("s3", S3_LOCATION, "An S3 location, `s3://BUCKET/PREFIX`."),
    ],
    exactly_one_of: &["dir", "bucket", "s3"],
};

pub(crate) const STEP: Record = Record {
    fields: &[
        Field::required("uses", Shape::Str, "The step kind."),
        Field::optional(
            "with",
            Shape::Any,
            "The step's inputs; which ones depends on `uses`.",
        ),
        Field::optional(
            "needs",
            STRINGS,
            "Ids of the steps that must succeed before this one starts.",
        ),
        Field::optional(
            "environments",
            STRINGS,
            "The environments this step runs in; it is skipped in the others. Default: all.",
        ),
        Field::optional(
            "timeout",
            POSITIVE_DURATION,
            "Stop the step after this long, e.g. `30m`.",
        ),
        Field::optional(
            "retries",
            Shape::Int { min: 0, max: 10 },
            "How many times to retry a failed attempt (exponential backoff).",
        ),
        Field::optional(
            "env",
            Shape::Map(&Shape::Template),
            "Environment variables for the step's processes.",
        ),
    ],
    exactly_one_of: &[],
};

/// Fields of an environment that `${{ env.NAME }}` can read.
pub(crate) const ENV_FIELDS: &[&str] = &["name", "project", "region"];
