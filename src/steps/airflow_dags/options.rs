//! The generator's options ([`DagOptions`]) from an `airflow_dags` step's inputs.

use indexmap::IndexMap;

use super::super::Inputs;
use super::{executor_inputs, notify_inputs};
use crate::dags::options::NO_SCHEDULE;
use crate::dags::{
    DagOptions, ExtraKind, ExtraTask, Operator, OperatorError, OperatorSettings, TestsMode,
};
use crate::expr::{Resolved, Template, Unrevealed};
use crate::yaml::{Node, Value};

/// The generator's options from the step's inputs; an error when a value is not known yet
/// (the step is planned again, with upstream outputs, when it starts).
pub(super) fn options(inputs: &Inputs) -> Result<DagOptions, OperatorError> {
    let text = |name: &str| inputs.text(name).map(|r| r.reveal()).transpose();
    let defaults = DagOptions::default();
    /// An operator's settings from the inputs named after them, else from the
    /// environment's field of that name (`project`, `region`); a missing one is empty,
    /// which `check` reported and `DagOptions::check` refuses.
    struct Settings<'a, 'b>(&'a Inputs<'b>);
    impl OperatorSettings for Settings<'_, '_> {
        fn required(&self, _: &'static str, name: &'static str) -> Result<String, OperatorError> {
            Ok(self.0.text_or_env(name).reveal()?)
        }
        fn optional(&self, name: &'static str) -> Result<Option<String>, OperatorError> {
            executor_inputs::optional(self.0, name)
        }
        fn list(&self, name: &'static str) -> Result<Vec<String>, OperatorError> {
            let items = self.0.list(name);
            Ok(items
                .iter()
                .map(Resolved::reveal)
                .collect::<Result<_, _>>()?)
        }
    }
    let operator = match inputs.text("executor") {
        Some(name) => Operator::from_settings(&name.to_string(), &Settings(inputs))?,
        None => Operator::default(),
    };
    let (project_dir, profiles_dir) = (text("project_dir")?, text("profiles_dir")?);
    let schedules = inputs
        .node("schedules")
        .and_then(Node::as_map)
        .unwrap_or(&[])
        .iter()
        .map(|(selector, node)| {
            let schedule = match node.value {
                Value::Null => Ok(NO_SCHEDULE.to_string()),
                _ => inputs.resolver.resolve(&Template::of(node)).reveal(),
            };
            schedule.map(|s| (selector.name.clone(), s))
        })
        .collect::<Result<IndexMap<_, _>, _>>()?;
    let tags = inputs
        .list("tags")
        .iter()
        .map(Resolved::reveal)
        .collect::<Result<Vec<_>, _>>()?;
    let number = |name: &str| text(name).map(|v| v.and_then(|v| v.parse::<u64>().ok()));
    Ok(DagOptions {
        operator,
        project_dir,
        profiles_dir,
        target: text("target")?,
        tests: text("tests")?
            .as_deref()
            .and_then(TestsMode::parse)
            .unwrap_or_default(),
        schedules,
        source_freshness: inputs.flag("source_freshness"),
        start_date: text("start_date")?.unwrap_or(defaults.start_date),
        tags: if inputs.node("tags").is_some() {
            tags
        } else {
            defaults.tags
        },
        max_active_runs: number("max_active_runs")?.map_or(defaults.max_active_runs, |n| n as u32),
        retries: number("retries")?.map_or(defaults.retries, |n| n as u32),
        retry_delay: text("retry_delay")?
            .and_then(|d| crate::shape::parse_duration(&d))
            .unwrap_or(defaults.retry_delay),
        pool: text("pool")?,
        on_failure_callback: text("on_failure_callback")?,
        notify: notify_inputs::read(inputs)?,
        before: extra_tasks(inputs, "before")?,
        after: extra_tasks(inputs, "after")?,
    })
}

fn extra_tasks(inputs: &Inputs, name: &str) -> Result<Vec<ExtraTask>, Unrevealed> {
    let items = inputs.node(name).and_then(Node::as_seq).unwrap_or(&[]);
    items
        .iter()
        .filter_map(|item| {
            let field = |key: &str| item.get(key);
            let id = field("id")
                .and_then(Node::as_str)
                .unwrap_or_default()
                .to_string();
            let kind = match (field("bash"), field("operator").and_then(Node::as_str)) {
                (Some(bash), _) => match inputs.resolver.resolve(&Template::of(bash)).reveal() {
                    Ok(command) => ExtraKind::Bash(command),
                    Err(e) => return Some(Err(e)),
                },
                (None, Some(path)) => ExtraKind::Operator {
                    path: path.to_string(),
                    arguments: field("arguments")
                        .and_then(Node::as_map)
                        .unwrap_or(&[])
                        .iter()
                        .map(|(k, v)| (k.name.clone(), scalar(v)))
                        .collect(),
                },
                // Loading the pipeline requires one of the two (`exactly_one_of`).
                (None, None) => return None,
            };
            Some(Ok(ExtraTask { id, kind }))
        })
        .collect()
}

/// A YAML scalar as the JSON value the DAG file writes as a Python literal.
fn scalar(node: &Node) -> serde_json::Value {
    match &node.value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        Value::Str(s) => serde_json::Value::String(s.clone()),
        // The shape allows scalars only; anything else was reported by `validate`.
        Value::Seq(_) | Value::Map(_) => serde_json::Value::Null,
    }
}
