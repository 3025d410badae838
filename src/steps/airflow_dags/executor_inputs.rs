//! The inputs of the executors `kubernetes_pod`, `docker`, `dbt_cloud` and `ecs_task`: the
//! shapes of their list entries, and `validate`'s check that a step gives its executor the
//! settings it requires and none of another executor's.

use super::super::Inputs;
use crate::dags::{self, Operator, OperatorError};
use crate::diagnostic::Diagnostic;
use crate::pipeline::Step;
use crate::shape::{Rule, Shape};
use crate::yaml::{Node, Value};

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
