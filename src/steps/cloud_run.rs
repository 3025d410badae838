//! What Cloud Run services and jobs share: where they go, what they run, how they are checked
//! (here), and how they are deployed and compared with what is live (`deploy`).

use indexmap::IndexMap;

use super::Inputs;
use crate::action::{Action, Deploy, Resource};
use crate::diagnostic::Diagnostic;
use crate::pipeline::{Pipeline, Step};
use crate::shape::{Field, Shape};

pub(super) const NAME: Field =
    Field::required("name", Shape::Template, "Name of the Cloud Run resource.");
pub(super) const IMAGE: Field = Field::required(
    "image",
    Shape::Template,
    "Container image; deployed pinned to its digest.",
);
pub(super) const PROJECT: Field = Field::optional(
    "project",
    Shape::Template,
    "Google Cloud project (default: the environment's `project`).",
);
pub(super) const REGION: Field = Field::optional(
    "region",
    Shape::Template,
    "Region (default: the environment's `region`).",
);
pub(super) const ENV: Field = Field::optional(
    "env",
    Shape::Map(&Shape::Template),
    "Environment variables of the container.",
);
pub(super) const SECRETS: Field = Field::optional(
    "secrets",
    Shape::Map(&Shape::Str),
    "Environment variables from Secret Manager: `VAR: secret-name:version`.",
);
pub(super) const CPU: Field = Field::optional("cpu", Shape::Scalar, "CPU limit, e.g. `1` or `2`.");
pub(super) const MEMORY: Field =
    Field::optional("memory", Shape::Str, "Memory limit, e.g. `512Mi` or `2Gi`.");
pub(super) const SERVICE_ACCOUNT: Field = Field::optional(
    "service_account",
    Shape::Template,
    "Service account the container runs as.",
);
pub(super) const LABELS: Field =
    Field::optional("labels", Shape::Map(&Shape::Template), "Resource labels.");

/// Settings shown in the plan, in this order, when set.
const SETTINGS: &[&str] = &[
    "cpu",
    "memory",
    "service_account",
    "concurrency",
    "min_instances",
    "max_instances",
    "ingress",
    "tasks",
    "parallelism",
    "task_timeout",
    "max_retries",
    "no_traffic",
];

pub(super) fn check(step: &Step, pipeline: &Pipeline, diags: &mut Vec<Diagnostic>) {
    for field in ["project", "region"] {
        if step.with.get(field).is_none() {
            pipeline.require_in_environments(
                step,
                &format!("a `{field}`"),
                |env| env.field(field).flatten().is_some(),
                diags,
            );
        }
    }
}

pub(super) fn deploy(inputs: &Inputs, resource: Resource) -> Action {
    let project = inputs.text_or_env("project");
    let region = inputs.text_or_env("region");
    let name = inputs.text_or("name", "");
    let mut settings: IndexMap<String, _> = SETTINGS
        .iter()
        .filter_map(|key| Some((key.to_string(), inputs.text(key)?)))
        .collect();
    for (var, value) in inputs.map("env") {
        settings.insert(format!("env.{var}"), value);
    }
    for (var, value) in inputs.map("secrets") {
        settings.insert(format!("secret.{var}"), value);
    }
    for (key, value) in inputs.map("labels") {
        settings.insert(format!("label.{key}"), value);
    }
    Action::Deploy(Deploy {
        description: format!(
            "create or update {} `{name}` in project {project}, region {region}",
            resource.noun()
        ),
        resource,
        project,
        region,
        name,
        image: inputs.text_or("image", ""),
        settings,
        change: "create_or_update",
        impersonate: inputs.environment.impersonate_service_account.clone(),
        live: None,
    })
}
