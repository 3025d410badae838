//! The inputs of the executors `kubernetes_pod`, `docker`, `dbt_cloud` and `ecs_task`: the
//! shapes of their list entries, and `validate`'s check that a step gives its executor the
//! settings it requires and none of another executor's.

use super::super::Inputs;
use crate::dags::{self, Operator, OperatorError};
use crate::diagnostic::Diagnostic;
use crate::pipeline::Step;
use crate::shape::{Rule, Shape};
use crate::yaml::{Node, Value};

/// The step's fields (given as the macro's arguments), then the executors' own settings.
macro_rules! with_executor_fields {
    ($($field:expr),* $(,)?) => {{
        use $crate::shape::{Field, Shape};
        use $crate::steps::airflow_dags::executor_inputs::{
            ID, MOUNTS, PAIRS, SECRET_ENV, TASK_DEFINITION,
        };
        [
            $($field,)*
            Field::optional(
                "image",
                Shape::Template,
                "Image holding the dbt project (`kubernetes_pod`, `docker`).",
            ),
            Field::optional(
                "namespace",
                Shape::Template,
                "Kubernetes namespace (`kubernetes_pod`).",
            ),
            Field::optional(
                "service_account",
                Shape::Template,
                "Kubernetes service account (`kubernetes_pod`).",
            ),
            Field::optional(
                "requests",
                PAIRS,
                "Resource requests, `cpu=500m` (`kubernetes_pod`).",
            ),
            Field::optional(
                "limits",
                PAIRS,
                "Resource limits, `memory=2Gi` (`kubernetes_pod`).",
            ),
            Field::optional(
                "secret_env",
                SECRET_ENV,
                "Env from secrets, `VAR=SECRET:KEY` (`kubernetes_pod`).",
            ),
            Field::optional(
                "config_file",
                Shape::Template,
                "Kube config file; else in-cluster (`kubernetes_pod`).",
            ),
            Field::optional(
                "network",
                Shape::Template,
                "Docker network of the container (`docker`).",
            ),
            Field::optional(
                "mounts",
                MOUNTS,
                "Bind mounts, `SOURCE:TARGET[:ro]` (`docker`).",
            ),
            Field::optional(
                "job_id",
                ID,
                "dbt Cloud job id (`dbt_cloud`).",
            ),
            Field::optional(
                "account_id",
                ID,
                "dbt Cloud account id (`dbt_cloud`).",
            ),
            Field::optional(
                "conn_id",
                Shape::Template,
                "Airflow connection to dbt Cloud (`dbt_cloud`).",
            ),
            Field::optional(
                "wait_for_termination",
                Shape::Bool,
                "Wait for the run's end (`dbt_cloud`; default true).",
            ),
            Field::optional("cluster", Shape::Template, "ECS cluster (`ecs_task`)."),
            Field::optional(
                "task_definition",
                TASK_DEFINITION,
                "ECS task definition: family, `family:revision` or ARN (`ecs_task`).",
            ),
            Field::optional(
                "container_name",
                Shape::Template,
                "Container that runs dbt (`ecs_task`).",
            ),
            Field::optional(
                "launch_type",
                Shape::Enum(&["FARGATE", "EC2", "EXTERNAL"]),
                "ECS launch type (`ecs_task`; default FARGATE).",
            ),
            Field::optional(
                "subnets",
                Shape::List(&Shape::Template),
                "Subnets of the awsvpc network (`ecs_task`).",
            ),
            Field::optional(
                "security_groups",
                Shape::List(&Shape::Template),
                "Security groups (`ecs_task`).",
            ),
            Field::optional(
                "assign_public_ip",
                Shape::Bool,
                "Give the task a public IP (`ecs_task`).",
            ),
            Field::optional(
                "awslogs_group",
                Shape::Template,
                "CloudWatch log group to show (`ecs_task`).",
            ),
            Field::optional(
                "awslogs_stream_prefix",
                Shape::Template,
                "CloudWatch stream prefix (`ecs_task`).",
            ),
            Field::optional(
                "aws_region",
                Shape::Template,
                "AWS region; else the connection's (`ecs_task`).",
            ),
            Field::optional(
                "deferrable",
                Shape::Bool,
                "Wait in the triggerer (`kubernetes_pod`, `dbt_cloud`, `ecs_task`).",
            ),
        ]
    }};
}
pub(super) use with_executor_fields;

/// `NAME=VALUE` entries (resource requests and limits).
pub(super) const PAIRS: Shape = Shape::List(&Shape::Valid(&Rule {
    shape: &Shape::Template,
    describe: "`NAME=VALUE`, such as `cpu=500m`",
    null: false,
    check: |text| dags::parse_pair(text).map(|_| ()),
}));

pub(super) const SECRET_ENV: Shape = Shape::List(&Shape::Valid(&Rule {
    shape: &Shape::Template,
    describe: "`VARIABLE=SECRET:KEY`, such as `DBT_PASSWORD=dbt:password`",
    null: false,
    check: |text| dags::parse_secret_env(text).map(|_| ()),
}));

pub(super) const MOUNTS: Shape = Shape::List(&Shape::Valid(&Rule {
    shape: &Shape::Template,
    describe: "`SOURCE:TARGET` or `SOURCE:TARGET:ro`, such as `/srv/dbt:/dbt:ro`",
    null: false,
    check: |text| dags::parse_mount(text).map(|_| ()),
}));

/// The ECS task definition a task runs (`${{ }}` checked once resolved).
pub(super) const TASK_DEFINITION: Shape = Shape::Valid(&Rule {
    shape: &Shape::Template,
    describe: "an ECS task definition, `FAMILY`, `FAMILY:REVISION` or its ARN",
    null: false,
    check: dags::parse_task_definition,
});

/// dbt Cloud's ids: positive numbers.
pub(super) const ID: Shape = Shape::Int {
    min: 1,
    max: i32::MAX as i64,
};

/// Reports the settings `executor` requires and the step lacks, and those of other
/// executors the step gives, each where the step or the setting is written.
pub(super) fn check(step: &Step, executor: &str, diags: &mut Vec<Diagnostic>) {
    for setting in Operator::required_settings(executor) {
        if step.with.get(setting).is_none() {
            diags.push(
                Diagnostic::error(step.span, format!("step `{}` has no `{setting}`", step.id))
                    .label(format!("executor `{executor}` needs it"))
                    .expected(format!("`{setting}:`; see docs/executors.md")),
            );
        }
    }
    for setting in Operator::foreign_settings(executor) {
        if let Some(node) = step.with.get(setting) {
            diags.push(
                Diagnostic::error(
                    node.span,
                    format!("executor `{executor}` does not take `{setting}`"),
                )
                .label("a setting of another executor")
                .expected(format!(
                    "the settings of `{executor}`: {}",
                    Operator::own_settings(executor).join(", ")
                )),
            );
        }
    }
}

/// An optional setting's value: `true`/`false` for a yes/no one, a number as written.
pub(super) fn optional(inputs: &Inputs, name: &str) -> Result<Option<String>, OperatorError> {
    match inputs.node(name) {
        None => Ok(None),
        Some(Node {
            value: Value::Bool(b),
            ..
        }) => Ok(Some(b.to_string())),
        Some(Node {
            value: Value::Int(i),
            ..
        }) => Ok(Some(i.to_string())),
        Some(_) => Ok(inputs.text(name).map(|r| r.reveal()).transpose()?),
    }
}
