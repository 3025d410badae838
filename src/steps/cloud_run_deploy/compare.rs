//! For `plan`: each deploy's live resource and what the deploy would change there, read-only.
//! A value Cloud Run would refuse is said instead, and nothing is read.

use super::super::cloud_run::check_started;
use super::super::kind::Live as LiveAt;
use super::{pin, spec_of, target, task_of};
use crate::action::{Action, Deploy, DeployDiff, FieldChange, Live};
use crate::gcp::Cloud;
use crate::gcp::registry;
use crate::gcp::run_spec::Change;

pub(in super::super) async fn live(actions: &mut [Action], at: &LiveAt<'_>) {
    for action in actions {
        if let Action::Deploy(deploy) = action {
            let cloud = at.connections.google(
                deploy.project.reveal().ok().as_deref(),
                deploy.impersonate.as_deref(),
            );
            deploy.live = Some(live_one(&cloud, deploy).await);
        }
    }
}

async fn live_one(cloud: &Cloud, deploy: &Deploy) -> Live<DeployDiff> {
    if let Some(problem) = cloud.credentials_problem() {
        return Live::no_credentials(&problem);
    }
    match compare(cloud, deploy).await {
        Ok(diff) => Live::Compared(diff),
        Err(reason) => Live::Unknown { reason },
    }
}

async fn compare(cloud: &Cloud, deploy: &Deploy) -> Result<DeployDiff, String> {
    let target = target(deploy).map_err(|e| e.to_string())?;
    let resource = target.resource;
    let image = deploy.image.reveal().map_err(|e| e.to_string())?;
    let declared = spec_of(deploy, image.clone()).map_err(|e| e.to_string())?;
    check_started(
        resource,
        &target.name,
        &target.region,
        &image,
        &declared.settings,
    )
    .map_err(|e| format!("Cloud Run would refuse it: {e}"))?;
    let run = super::admin(cloud, &target);
    let now = run.get().await.map_err(|e| format!("cannot read: {e}"))?;
    let registry = cloud.endpoints.registry.as_deref();
    let (new_image, note) =
        match registry::digest(&cloud.plain, cloud.api.auth(), registry, &image).await {
            Ok(digest) => (pin(&image, &digest), None),
            Err(e) => (image.clone(), Some(e.to_string())),
        };
    let spec = spec_of(deploy, new_image.clone()).map_err(|e| e.to_string())?;
    let Some(now) = now else {
        return Ok(DeployDiff {
            exists: false,
            current_image: None,
            new_image: Some(new_image),
            changes: vec![],
            note,
        });
    };
    let current = task_of(resource, &now)["containers"][0]["image"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    Ok(DeployDiff {
        exists: true,
        changes: spec
            .diff(resource, &now, &current)
            .into_iter()
            .map(field_change)
            .collect(),
        current_image: Some(current),
        new_image: Some(new_image),
        note,
    })
}

fn field_change(c: Change) -> FieldChange {
    FieldChange {
        field: c.field,
        before: c.before,
        after: c.after,
    }
}
