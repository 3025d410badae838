//! What Cloud Run services and jobs share: where they go, what they run, how they are checked
//! (here), and how they are deployed and compared with what is live (`deploy`).
//!
//! Values Cloud Run would refuse (names, region, image, CPU, memory) are refused before
//! anything runs: literal ones when the pipeline loads, each at its line and column; those
//! that hold `${{ }}` when the step starts, before any call.

use std::collections::BTreeMap;

use indexmap::IndexMap;

use super::Inputs;
use crate::action::{Action, Deploy, Resource};
use crate::diagnostic::Diagnostic;
use crate::gcp::cloud_run::RunResource;
use crate::gcp::registry::{ImageError, ImageRef};
use crate::gcp::run_values::{self, ValueError};
use crate::pipeline::{Pipeline, Step};
use crate::shape::{Field, Shape};
use crate::yaml::{Node, Value};

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

/// A value Cloud Run would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum Refused {
    #[error(transparent)]
    Value(#[from] ValueError),
    #[error(transparent)]
    Image(#[from] ImageError),
}

/// The inputs whose values are checked, and what each must look like.
const CHECKED: &[(&str, &str)] = &[
    (
        "name",
        "lowercase letters, digits and hyphens, beginning with a letter",
    ),
    ("region", "a region such as `europe-west1`"),
    (
        "image",
        "`REGISTRY/PATH:TAG` or `REGISTRY/PATH@sha256:DIGEST`",
    ),
    ("cpu", "1, 2, 4, 6 or 8, or 0.08 to 1"),
    ("memory", "a quantity from `128Mi` to `32Gi`"),
];

/// One input's value, as Cloud Run would take it.
fn check_value(resource: RunResource, key: &str, text: &str) -> Result<(), Refused> {
    match key {
        "name" => run_values::check_name(resource, text)?,
        "region" => run_values::check_region(text)?,
        "image" => {
            ImageRef::parse(text)?;
        }
        "cpu" => {
            run_values::cpu_millis(text)?;
        }
        "memory" => {
            run_values::memory_bytes(text)?;
        }
        _ => {}
    }
    Ok(())
}

/// The Admin API's name for a step's resource; `None` for a resource of another cloud.
pub(super) fn run_resource(resource: Resource) -> Option<RunResource> {
    match resource {
        Resource::CloudRunService => Some(RunResource::Service),
        Resource::CloudRunJob => Some(RunResource::Job),
        Resource::EcsTaskDefinition => None,
    }
}

/// Values known when the step starts (expressions resolved), before any call: the same rules
/// as when the pipeline loads, and how CPU and memory go together.
pub(super) fn check_started(
    resource: RunResource,
    name: &str,
    region: &str,
    image: &str,
    settings: &BTreeMap<String, String>,
) -> Result<(), Refused> {
    check_value(resource, "name", name)?;
    check_value(resource, "region", region)?;
    check_value(resource, "image", image)?;
    for key in ["cpu", "memory"] {
        if let Some(text) = settings.get(key) {
            check_value(resource, key, text)?;
        }
    }
    if let (Some(cpu), Some(memory)) = (settings.get("cpu"), settings.get("memory")) {
        run_values::check_cpu_memory(cpu, memory)?;
    }
    if settings.get("no_traffic").is_some_and(|v| v == "true") {
        run_values::check_tag_room(name)?;
    }
    Ok(())
}

/// A value written as it is, without `${{ }}`: known when the pipeline loads.
fn literal(node: &Node) -> Option<String> {
    match &node.value {
        Value::Str(s) if s.contains("${{") => None,
        Value::Str(_) | Value::Int(_) | Value::Float(_) => node.scalar_text(),
        _ => None,
    }
}

/// The literal values of a step's inputs, each at its place in the file.
fn check_literals(step: &Step, resource: RunResource, diags: &mut Vec<Diagnostic>) {
    let at = |key: &str| {
        let node = step.with.get(key)?;
        Some((node, literal(node)?))
    };
    for (key, expected) in CHECKED {
        if let Some((node, text)) = at(key)
            && let Err(refused) = check_value(resource, key, &text)
        {
            diags.push(Diagnostic::error(node.span, refused.to_string()).expected(*expected));
        }
    }
    if let (Some((_, cpu)), Some((node, memory))) = (at("cpu"), at("memory"))
        && let Err(ValueError::CpuMemory { min, max, .. }) =
            run_values::check_cpu_memory(&cpu, &memory)
    {
        let message = format!("memory limit `{memory}` does not go with {cpu} CPU");
        diags.push(
            Diagnostic::error(node.span, message)
                .expected(format!("with {cpu} CPU, from {min} to {max}")),
        );
    }
    let no_traffic = step
        .with
        .get("no_traffic")
        .is_some_and(|n| n.value == Value::Bool(true));
    if let (true, Some((node, name))) = (no_traffic, at("name"))
        && run_values::check_name(resource, &name).is_ok()
        && let Err(refused) = run_values::check_tag_room(&name)
    {
        diags.push(
            Diagnostic::error(node.span, refused.to_string())
                .label("this service deploys with `no_traffic: true`")
                .expected(format!(
                    "a name of at most {} characters",
                    run_values::TAG_AND_NAME - crate::gcp::run_traffic::CANDIDATE_TAG.len()
                )),
        );
    }
}

pub(super) fn check(
    step: &Step,
    pipeline: &Pipeline,
    resource: Resource,
    diags: &mut Vec<Diagnostic>,
) {
    if let Some(resource) = run_resource(resource) {
        check_literals(step, resource, diags);
    }
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
        assume_role: None,
        released_image: super::cloud_run_deploy::released_image(inputs),
        live: None,
    })
}
