//! A Cloud Run deploy in a release: the image it ran, pinned to the digest the deploy resolved,
//! and deploying that same digest again (`promote`, `rollback`), no tag looked up again.

use crate::action::{Action, Deploy, Resource};
use crate::artifact::{Artifact, Checkout, Image};
use crate::expr::Resolved;
use crate::steps::{ArtifactError, Done, Inputs, Redeployed};

/// The deployed image, pinned to the digest the step output.
pub(in crate::steps) fn artifact(
    step: &str,
    done: &Done,
) -> Result<Option<Artifact>, ArtifactError> {
    let fail = |reason: String| ArtifactError {
        step: step.to_string(),
        reason,
    };
    let Some(Action::Deploy(deploy)) = done.actions.first() else {
        return Ok(None);
    };
    let digest = done
        .outputs
        .get("image_digest")
        .ok_or_else(|| fail("the deploy output no image digest".into()))?;
    let image = deploy.image.reveal().map_err(|e| fail(e.to_string()))?;
    Ok(Some(Artifact::Image(Image {
        resource: deploy.resource,
        name: deploy.name.reveal().map_err(|e| fail(e.to_string()))?,
        image: super::pin(&image, digest),
        revision: None,
    })))
}

/// The deploy as planned in this environment, with the release's image.
pub(in crate::steps) fn redeploy(
    planned: Action,
    resource: Resource,
    recorded: Option<&Checkout>,
) -> Redeployed {
    let Some(Artifact::Image(image)) = recorded.map(|c| &c.artifact) else {
        return Redeployed::Missing(format!(
            "the release has no image of this {}: the step did not run where it was cut",
            resource.noun()
        ));
    };
    let Action::Deploy(deploy) = planned else {
        return Redeployed::Actions(vec![planned]);
    };
    Redeployed::Actions(vec![Action::Deploy(Deploy {
        description: format!(
            "{} (the release's image {})",
            deploy.description, image.image
        ),
        image: Resolved::text(&image.image),
        ..deploy
    })])
}

/// What the environment's current release deployed, for the plan to show old → new.
pub(in crate::steps) fn released_image(inputs: &Inputs) -> Option<String> {
    match inputs.current.map(|c| &c.artifact) {
        Some(Artifact::Image(image)) => Some(image.image.clone()),
        _ => None,
    }
}
