//! `cloud_run_job`: deploys a Cloud Run job (Cloud Run Admin API v2), e.g. the dbt runner
//! that Airflow executes one dbt node at a time.

use super::kind::{Live, LiveFuture};
use super::{ArtifactError, Done, Inputs, Redeployed, StepKind, cloud_run, cloud_run_deploy};
use crate::action::{Action, Resource};
use crate::artifact::{Artifact, Checkout};
use crate::diagnostic::Diagnostic;
use crate::exec::{Job, StepFuture};
use crate::pipeline::{KindSchema, Outputs, Pipeline, Step};
use crate::shape::{Field, Record, Shape};

pub(super) struct CloudRunJob;

const INPUTS: Record = Record {
    fields: &[
        cloud_run::NAME,
        cloud_run::IMAGE,
        cloud_run::PROJECT,
        cloud_run::REGION,
        cloud_run::ENV,
        cloud_run::SECRETS,
        cloud_run::CPU,
        cloud_run::MEMORY,
        cloud_run::SERVICE_ACCOUNT,
        cloud_run::LABELS,
        Field::optional(
            "tasks",
            Shape::Int {
                min: 1,
                max: 10_000,
            },
            "Tasks per execution.",
        ),
        Field::optional(
            "parallelism",
            Shape::Int {
                min: 0,
                max: 10_000,
            },
            "Tasks run at once.",
        ),
        Field::optional(
            "task_timeout",
            crate::shape::POSITIVE_DURATION,
            "Time limit of one task.",
        ),
        Field::optional(
            "max_retries",
            Shape::Int { min: 0, max: 10 },
            "Retries of a failed task.",
        ),
    ],
    exactly_one_of: &[],
};

impl KindSchema for CloudRunJob {
    fn name(&self) -> &'static str {
        "cloud_run_job"
    }
    fn about(&self) -> &'static str {
        "Create or update a Cloud Run job, its image pinned to a digest."
    }
    fn inputs(&self) -> &'static Record {
        &INPUTS
    }
    fn outputs(&self) -> Outputs {
        Outputs::Named(&["image_digest", "job"])
    }
    fn check(&self, step: &Step, pipeline: &Pipeline, diags: &mut Vec<Diagnostic>) {
        cloud_run::check(step, pipeline, Resource::CloudRunJob, diags);
    }
}

impl StepKind for CloudRunJob {
    fn plan(&self, inputs: &Inputs) -> Vec<Action> {
        vec![cloud_run::deploy(inputs, Resource::CloudRunJob)]
    }
    fn live<'a>(&'a self, actions: &'a mut [Action], at: &'a Live<'a>) -> LiveFuture<'a> {
        Box::pin(cloud_run_deploy::live(actions, at))
    }
    fn execute(&self, job: Job) -> StepFuture {
        cloud_run_deploy::execute(job)
    }
    fn artifact(&self, done: &Done) -> Result<Option<Artifact>, ArtifactError> {
        cloud_run_deploy::artifact(self.name(), done)
    }
    fn redeploy(&self, inputs: &Inputs, recorded: Option<&Checkout>) -> Redeployed {
        let planned = self.plan(inputs).remove(0);
        cloud_run_deploy::redeploy(planned, Resource::CloudRunJob, recorded)
    }
}
