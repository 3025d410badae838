//! `ecs_task_definition`: registers the next revision of an ECS task definition family (dbt
//! as a Fargate task) with one container's image pinned to the digest its ECR tag points to,
//! every other field kept from the family's latest revision. When that revision already runs
//! exactly this image, nothing is registered. Outputs the revision's ARN (for the `ecs_task`
//! executor of generated DAGs) and the digest; a release records the pinned image, so that a
//! promotion registers the same digest elsewhere without looking the tag up again.

use std::sync::Arc;

use super::kind::{Live as LiveAt, LiveFuture};
use super::{ArtifactError, Done, Inputs, Redeployed, StepKind, Unplanned, cloud_run_deploy};
use crate::action::{Action, Deploy, DeployDiff, FieldChange, Live, Resource};
use crate::artifact::{Artifact, Checkout, Image};
use crate::aws::Cloud;
use crate::aws::ecr::{EcrImage, Reference};
use crate::aws::ecs::{EcsError, Latest};
use crate::diagnostic::Diagnostic;
use crate::exec::{Failure, Job, StepFuture, StepOutputs};
use crate::expr::Resolved;
use crate::pipeline::aws_values::{ECR_IMAGE, FAMILY};
use crate::pipeline::{KindSchema, Outputs, Pipeline, Step};
use crate::shape::{Field, Record, Shape};

pub(super) struct EcsTaskDefinition;

const INPUTS: Record = Record {
    fields: &[
        Field::required(
            "family",
            FAMILY,
            "The task definition family. Its first revision is your infrastructure code's (roles, CPU, memory, logging): dagship registers the next ones.",
        ),
        Field::required(
            "image",
            ECR_IMAGE,
            "The image in ECR, `ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY:TAG`: deployed pinned to the digest the tag points to.",
        ),
        Field::optional(
            "container",
            Shape::Template,
            "The container whose image is replaced (default: the only one).",
        ),
        Field::optional(
            "region",
            Shape::Template,
            "AWS region of the family (default: the environment's `region`).",
        ),
    ],
    exactly_one_of: &[],
};

impl KindSchema for EcsTaskDefinition {
    fn name(&self) -> &'static str {
        "ecs_task_definition"
    }
    fn about(&self) -> &'static str {
        "Register an ECS task definition revision whose image is pinned to its ECR digest."
    }
    fn inputs(&self) -> &'static Record {
        &INPUTS
    }
    fn outputs(&self) -> Outputs {
        Outputs::Named(&["task_definition_arn", "image_digest"])
    }
    fn check(&self, step: &Step, pipeline: &Pipeline, diags: &mut Vec<Diagnostic>) {
        if step.with.get("region").is_none() {
            pipeline.require_in_environments(step, "a `region`", |env| env.region.is_some(), diags);
        }
    }
}

impl StepKind for EcsTaskDefinition {
    fn plan(&self, inputs: &Inputs) -> Vec<Action> {
        let family = inputs.text_or("family", "");
        let region = inputs.text_or_env("region");
        let settings = inputs
            .text("container")
            .map(|c| ("container".to_string(), c))
            .into_iter()
            .collect();
        vec![Action::Deploy(Deploy {
            description: format!(
                "register a revision of ECS task definition `{family}` in region {region}, \
                 its image pinned to a digest"
            ),
            resource: Resource::EcsTaskDefinition,
            project: Resolved::text(""),
            region,
            name: family,
            image: inputs.text_or("image", ""),
            settings,
            change: "register_revision",
            impersonate: None,
            assume_role: inputs.environment.assume_role.clone(),
            released_image: cloud_run_deploy::released_image(inputs),
            live: None,
        })]
    }

    fn live<'a>(&'a self, actions: &'a mut [Action], at: &'a LiveAt<'a>) -> LiveFuture<'a> {
        Box::pin(async move {
            for action in actions {
                if let Action::Deploy(deploy) = action {
                    deploy.live = Some(live_one(deploy, at).await);
                }
            }
        })
    }

    fn execute(&self, job: Job) -> StepFuture {
        Box::pin(async move {
            let Some(Action::Deploy(deploy)) = job.actions.first().cloned() else {
                return Err(Failure::of(Unplanned("an ECS step plans one deploy")));
            };
            register_now(&job, &deploy).await
        })
    }

    fn artifact(&self, done: &Done) -> Result<Option<Artifact>, ArtifactError> {
        let fail = |reason: String| ArtifactError {
            step: self.name().to_string(),
            reason,
        };
        let Some(Action::Deploy(deploy)) = done.actions.first() else {
            return Ok(None);
        };
        let digest = done
            .outputs
            .get("image_digest")
            .ok_or_else(|| fail("the step output no image digest".into()))?;
        let image = deploy.image.reveal().map_err(|e| fail(e.to_string()))?;
        let image = EcrImage::parse(&image).map_err(|e| fail(e.to_string()))?;
        Ok(Some(Artifact::Image(Image {
            resource: deploy.resource,
            name: deploy.name.reveal().map_err(|e| fail(e.to_string()))?,
            image: image.pinned(digest),
            revision: done.outputs.get("task_definition_arn").cloned(),
        })))
    }

    fn redeploy(&self, inputs: &Inputs, recorded: Option<&Checkout>) -> Redeployed {
        let planned = self.plan(inputs).remove(0);
        cloud_run_deploy::redeploy(planned, Resource::EcsTaskDefinition, recorded)
    }
}

/// What a deploy names, revealed (the image as written, possibly a tag).
struct Wanted {
    family: String,
    region: String,
    container: Option<String>,
    image: EcrImage,
}

fn wanted(deploy: &Deploy) -> Result<Wanted, Failure> {
    let container = match deploy.settings.get("container") {
        Some(c) => Some(c.reveal()?),
        None => None,
    };
    let image = EcrImage::parse(&deploy.image.reveal()?).map_err(Failure::of)?;
    Ok(Wanted {
        family: deploy.name.reveal()?,
        region: deploy.region.reveal()?,
        container,
        image,
    })
}

/// What is there now, and what a deploy would register.
struct Looked {
    latest: Latest,
    /// The container whose image is pinned.
    container: String,
    /// Its image in the latest revision.
    current: String,
    /// The image pinned to the digest its tag points to now.
    pinned: String,
    digest: String,
}

/// Reads the family's latest revision and the digest of the wanted image (read-only), with
/// connections made by `cloud` for a region.
async fn look(
    cloud: &(dyn Fn(&str) -> Arc<Cloud> + Sync),
    wanted: &Wanted,
) -> Result<Looked, Failure> {
    let digest = cloud(&wanted.image.region)
        .ecr()
        .await
        .digest(&wanted.image)
        .await
        .map_err(Failure::of)?;
    let latest = cloud(&wanted.region)
        .ecs()
        .await
        .latest(&wanted.family)
        .await;
    let Some(latest) = latest.map_err(Failure::of)? else {
        let family = wanted.family.clone();
        return Err(Failure::of(EcsError::NoFamily { family }));
    };
    let (container, current) = latest
        .container(wanted.container.as_deref())
        .map_err(Failure::of)?;
    Ok(Looked {
        pinned: wanted.image.pinned(&digest),
        latest,
        container,
        current,
        digest,
    })
}

async fn register_now(job: &Job, deploy: &Deploy) -> Result<StepOutputs, Failure> {
    let wanted = wanted(deploy)?;
    let role = deploy.assume_role.as_deref();
    let cloud = |region: &str| job.connections.aws(Some(region), role);
    let found = job.ctx.or_stopped(look(&cloud, &wanted)).await?;
    if let Reference::Tag(tag) = &wanted.image.reference {
        job.ctx
            .say(&format!("image tag `{tag}` is {}", found.digest));
    }
    let (container, pinned) = (&found.container, &found.pinned);
    let arn = if found.current == *pinned {
        job.ctx.say(&format!(
            "{} already runs {pinned} in container `{container}`: no new revision",
            found.latest.arn
        ));
        found.latest.arn.clone()
    } else {
        let ecs = cloud(&wanted.region).ecs().await;
        let registering = async {
            let registered = ecs.register(&found.latest, container, pinned).await;
            registered.map_err(Failure::of)
        };
        let arn = job.ctx.or_stopped(registering).await?;
        job.ctx.say(&format!(
            "registered {arn} (container `{container}`: {pinned})"
        ));
        arn
    };
    let mut outputs = StepOutputs::new();
    outputs.insert("task_definition_arn".into(), arn);
    outputs.insert("image_digest".into(), found.digest);
    Ok(outputs)
}

/// For `plan`: the family's latest revision and what registering would change, read-only.
async fn live_one(deploy: &Deploy, at: &LiveAt<'_>) -> Live<DeployDiff> {
    let role = deploy.assume_role.as_deref();
    let cloud = |region: &str| at.connections.aws(Some(region), role);
    let region = deploy.region.reveal().unwrap_or_default();
    if let Some(problem) = cloud(&region).credentials_problem() {
        return Live::no_credentials(&problem);
    }
    let found = match wanted(deploy) {
        Ok(wanted) => look(&cloud, &wanted).await,
        Err(e) => Err(e),
    };
    let found = match found {
        Ok(found) => found,
        Err(Failure::Failed(e)) => {
            return Live::unknown(crate::error_chain::ErrorChain(&e).to_string());
        }
        Err(Failure::Stopped) => return Live::unknown("stopped"),
    };
    let changes = if found.current == found.pinned {
        Vec::new()
    } else {
        vec![FieldChange {
            field: format!("containerDefinitions[{}].image", found.container),
            before: Some(found.current.clone()),
            after: Some(found.pinned.clone()),
        }]
    };
    Live::Compared(DeployDiff {
        exists: true,
        current_image: Some(found.current),
        new_image: Some(found.pinned),
        changes,
        note: Some(format!("latest revision: {}", found.latest.arn)),
    })
}
