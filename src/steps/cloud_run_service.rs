//! `cloud_run_service`: deploys a Cloud Run service (Cloud Run Admin API v2).

use super::kind::{Live, LiveFuture};
use super::{ArtifactError, Done, Inputs, Redeployed, StepKind, cloud_run, cloud_run_deploy};
use crate::action::{Action, Resource};
use crate::artifact::{Artifact, Checkout};
use crate::diagnostic::Diagnostic;
use crate::exec::{Job, StepFuture};
use crate::pipeline::{KindSchema, Outputs, Pipeline, Step};
use crate::shape::{Field, Record, Shape};

pub(super) struct CloudRunService;

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
            "concurrency",
            Shape::Int { min: 1, max: 1000 },
            "Requests per instance.",
        ),
        Field::optional(
            "min_instances",
            Shape::Int { min: 0, max: 1000 },
            "Minimum instances.",
        ),
        Field::optional(
            "max_instances",
            Shape::Int { min: 1, max: 1000 },
            "Maximum instances.",
        ),
        Field::optional(
            "ingress",
            Shape::Enum(&["all", "internal", "internal-and-cloud-load-balancing"]),
            "Who may reach the service.",
        ),
        Field::optional(
            "no_traffic",
            Shape::Bool,
            "Deploy the new revision with a tag and no traffic, check it, then move traffic.",
        ),
    ],
    exactly_one_of: &[],
};

impl KindSchema for CloudRunService {
    fn name(&self) -> &'static str {
        "cloud_run_service"
    }
    fn about(&self) -> &'static str {
        "Create or update a Cloud Run service, its image pinned to a digest."
    }
    fn inputs(&self) -> &'static Record {
        &INPUTS
    }
    fn outputs(&self) -> Outputs {
        Outputs::Named(&["image_digest", "revision", "url"])
    }
    fn check(&self, step: &Step, pipeline: &Pipeline, diags: &mut Vec<Diagnostic>) {
        cloud_run::check(step, pipeline, Resource::CloudRunService, diags);
    }
}

impl StepKind for CloudRunService {
    fn plan(&self, inputs: &Inputs) -> Vec<Action> {
        vec![cloud_run::deploy(inputs, Resource::CloudRunService)]
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
        cloud_run_deploy::redeploy(planned, Resource::CloudRunService, recorded)
    }
}
