//! What checking a pipeline file needs to know of step kinds: the inputs each takes, the
//! outputs it sets, and its rules beyond their shapes. The kinds themselves live above the
//! pipeline (they plan and run steps) and come in through [`Catalog`].

use std::fmt;

use super::{Environment, Pipeline, Step};
use crate::diagnostic::Diagnostic;
use crate::shape::Record;

/// The outputs a kind sets.
pub enum Outputs {
    Named(&'static [&'static str]),
    /// Whatever the step writes (a `command` step's `$DAGSHIP_OUTPUT`).
    Any,
}

/// A step kind as the pipeline file sees it.
pub trait KindSchema: Sync {
    /// The name used in `uses:`.
    fn name(&self) -> &'static str;
    /// One line for the schema and the reference.
    fn about(&self) -> &'static str;
    fn inputs(&self) -> &'static Record;
    fn outputs(&self) -> Outputs;
    /// Rules beyond the shape of the inputs: between inputs, or with the environments.
    fn check(&self, _step: &Step, _pipeline: &Pipeline, _diags: &mut Vec<Diagnostic>) {}
}

impl fmt::Debug for dyn KindSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The step kinds a pipeline may use.
pub trait Catalog {
    fn kind(&self, name: &str) -> Option<&'static dyn KindSchema>;
    fn names(&self) -> Vec<&'static str>;
}

impl Pipeline {
    /// Reports the environments `step` runs in that lack what it needs (`has` says whether
    /// one has it), e.g. a `dags_target` or a `project`.
    pub fn require_in_environments(
        &self,
        step: &Step,
        what: &str,
        has: impl Fn(&Environment) -> bool,
        diags: &mut Vec<Diagnostic>,
    ) {
        let missing: Vec<&str> = self
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
}
