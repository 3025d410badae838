//! Step kinds: one file each, behind one trait.
//!
//! A kind declares its inputs (which drive checking and the JSON Schema), its outputs (which
//! `${{ steps.ID.outputs.NAME }}` may read), and the actions it takes in an environment.

mod airflow_dags;
mod alembic;
mod cloud_run;
pub(crate) mod cloud_run_deploy;
mod cloud_run_job;
mod cloud_run_service;
mod command;
pub(crate) mod composer_dags;
mod dbt;
mod migrations;

use std::fmt;
use std::path::Path;

use indexmap::IndexMap;

use crate::diagnostic::Diagnostic;
use crate::expr::{Resolved, Template};
use crate::pipeline::{Environment, Pipeline, Step};
use crate::plan::action::Action;
use crate::resolve::Resolver;
use crate::runner::executor::{Failure, Job, StepFuture};
use crate::shape::Record;
use crate::yaml::{Node, Value};

/// The outputs a kind sets.
pub enum Outputs {
    Named(&'static [&'static str]),
    /// Whatever the step writes (a `command` step's `$DAGSHIP_OUTPUT`).
    Any,
}

pub trait StepKind: Sync {
    /// The name used in `uses:`.
    fn name(&self) -> &'static str;
    /// One line for the schema and `--help`-like listings.
    fn about(&self) -> &'static str;
    fn inputs(&self) -> &'static Record;
    fn outputs(&self) -> Outputs;
    /// Rules beyond the shape of the inputs: between inputs, or with the environments.
    fn check(&self, _step: &Step, _pipeline: &Pipeline, _diags: &mut Vec<Diagnostic>) {}
    /// The actions this step takes in one environment, in order.
    fn plan(&self, inputs: &Inputs) -> Vec<Action>;
    /// Whether `dagship run` can carry out this kind (yet) in this environment.
    fn can_run(&self, _environment: &Environment) -> bool {
        false
    }
    /// Carries out the actions `plan` returned (planned again when the step starts, with the
    /// outputs of the steps before it) and returns the step's outputs.
    fn execute(&self, job: Job) -> StepFuture {
        let name = self.name();
        drop(job);
        Box::pin(async move {
            Err(Failure::Failed(format!(
                "`dagship run` cannot run `{name}` steps yet"
            )))
        })
    }
}

impl fmt::Debug for dyn StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

pub const KINDS: &[&dyn StepKind] = &[
    &dbt::Dbt,
    &airflow_dags::AirflowDags,
    &cloud_run_service::CloudRunService,
    &cloud_run_job::CloudRunJob,
    &composer_dags::ComposerDags,
    &alembic::Alembic,
    &command::Command,
];

pub fn kind(name: &str) -> Option<&'static dyn StepKind> {
    KINDS.iter().copied().find(|k| k.name() == name)
}

pub fn kind_names() -> Vec<&'static str> {
    KINDS.iter().map(|k| k.name()).collect()
}

/// A step's inputs in one environment, expressions resolved.
pub struct Inputs<'a> {
    pub step: &'a Step,
    pub environment: &'a Environment,
    pub resolver: &'a Resolver<'a>,
    /// The pipeline file's folder: relative paths resolve against it.
    pub dir: &'a Path,
    /// For a plan, kinds may look at live state read-only (pending migrations); when a run
    /// starts a step, they must not spend time on it.
    pub inspect: bool,
}

impl Inputs<'_> {
    fn node(&self, name: &str) -> Option<&Node> {
        self.step.with.get(name)
    }

    pub fn text(&self, name: &str) -> Option<Resolved> {
        self.node(name)
            .map(|n| self.resolver.resolve(&Template::of(n)))
    }

    pub fn text_or(&self, name: &str, default: &str) -> Resolved {
        self.text(name).unwrap_or_else(|| Resolved::text(default))
    }

    /// One value or a list of them.
    pub fn list(&self, name: &str) -> Vec<Resolved> {
        match self.node(name) {
            None => Vec::new(),
            Some(Node {
                value: Value::Seq(items),
                ..
            }) => items
                .iter()
                .map(|n| self.resolver.resolve(&Template::of(n)))
                .collect(),
            Some(node) => vec![self.resolver.resolve(&Template::of(node))],
        }
    }

    pub fn flag(&self, name: &str) -> bool {
        matches!(
            self.node(name),
            Some(Node {
                value: Value::Bool(true),
                ..
            })
        )
    }

    pub fn map(&self, name: &str) -> IndexMap<String, Resolved> {
        self.node(name)
            .and_then(Node::as_map)
            .unwrap_or(&[])
            .iter()
            .map(|(k, v)| (k.name.clone(), self.resolver.resolve(&Template::of(v))))
            .collect()
    }

    /// The step's own `env:`, resolved.
    pub fn step_env(&self) -> IndexMap<String, Resolved> {
        self.step
            .env
            .iter()
            .map(|(k, t)| (k.clone(), self.resolver.resolve(t)))
            .collect()
    }

    /// An input that falls back to a field of the environment (`project`, `region`).
    pub fn text_or_env(&self, name: &str) -> Resolved {
        self.text(name).unwrap_or_else(|| {
            Resolved::text(self.environment.field(name).flatten().unwrap_or_default())
        })
    }
}

/// Errors for environments where the step runs but a value it needs is missing.
pub fn require_in_environments(
    step: &Step,
    pipeline: &Pipeline,
    what: &str,
    has: impl Fn(&Environment) -> bool,
    diags: &mut Vec<Diagnostic>,
) {
    let missing: Vec<&str> = pipeline
        .environments
        .values()
        .filter(|env| step.runs_in(&env.name) && !has(env))
        .map(|env| env.name.as_str())
        .collect();
    if missing.is_empty() {
        return;
    }
    diags.push(
        Diagnostic::error(
            step.span,
            format!(
                "step `{}` needs {what} in {}",
                step.id,
                crate::diagnostic::environments_phrase(&missing)
            ),
        )
        .label(format!("this `{}` step runs there", step.kind_name()))
        .expected(format!(
            "{what} in every environment the step runs in, or `environments:` on the step to leave the others out"
        )),
    );
}
