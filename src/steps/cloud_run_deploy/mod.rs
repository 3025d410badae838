//! Deploying a Cloud Run service or job (Admin API v2), and comparing a planned deploy with
//! what is live (`compare`).
//!
//! A deploy first checks its resolved values as Cloud Run would, so that nothing is sent that
//! it would refuse. It then pins the image to the digest its tag points to, writes the
//! resource (create, or read-modify-write), and waits for the long-running operation, then for
//! readiness, for as long as the step's `timeout` lets it (no limit of its own). A write that
//! Cloud Run refuses with 409 (a change under way, or a create retried after its answer was
//! lost, which finds the resource already there) waits for the resource to settle before it
//! is read and written again. A service with `no_traffic` is deployed by `no_traffic`.

mod compare;
mod no_traffic;
mod recorded;

use std::time::Duration;

use serde_json::Value;

use super::Unplanned;
use super::cloud_run::{check_started, run_resource};
use crate::action::{Action, Deploy};
use crate::exec::{Failure, Job, StepError, StepFuture, StepOutputs};
use crate::expr::{Piece, Unrevealed};
use crate::gcp::cloud_run::{
    CloudRun, RunError, RunResource, Target, revision_failure, short_name,
};
use crate::gcp::registry::{self, ImageRef};
use crate::gcp::run_spec::{EnvValue, Spec};
use crate::gcp::run_traffic::serving_revision;

pub(super) use compare::live;
pub(super) use recorded::{artifact, redeploy, released_image};

const POLL: Duration = Duration::from_secs(1);
/// Writes in all when Cloud Run answers 409, each after the resource settled.
const CONFLICT_TRIES: u32 = 4;

/// A service whose new revision failed, and where its traffic stays.
#[derive(Debug, thiserror::Error)]
#[error("Cloud Run service `{service}`: {why}{}", stays(serving))]
struct ServiceFailed {
    service: String,
    why: String,
    /// The revision that still serves, when it is not the one that failed.
    serving: Option<String>,
}

fn stays(serving: &Option<String>) -> String {
    serving
        .as_ref()
        .map(|r| format!("; traffic stays on {r}"))
        .unwrap_or_default()
}

pub(super) fn execute(job: Job) -> StepFuture {
    Box::pin(async move {
        let Some(Action::Deploy(deploy)) = job.actions.first().cloned() else {
            return Err(Failure::of(Unplanned("a Cloud Run step plans one deploy")));
        };
        // Each wait below ends when the attempt is stopped (its timeout, an interrupt); a
        // no-traffic deploy then still puts the traffic back before the step ends.
        deploy_now(&job, &deploy).await
    })
}

/// The Cloud Run Admin API for `target`, waiting as long as the step runs (its `timeout`).
fn admin<'a>(cloud: &'a crate::gcp::Cloud, target: &'a Target) -> CloudRun<'a> {
    CloudRun {
        api: &cloud.api,
        base: &cloud.endpoints.run,
        target,
        poll: POLL,
        deadline: None,
    }
}

/// Where `deploy` goes: refused for a resource Cloud Run does not host (a defect of the
/// kind that planned it).
fn target(deploy: &Deploy) -> Result<Target, Box<dyn std::error::Error + Send + Sync>> {
    let resource = run_resource(deploy.resource).ok_or(Unplanned(
        "a Cloud Run step deploys a Cloud Run service or job",
    ))?;
    Ok(Target {
        resource,
        project: deploy.project.reveal()?,
        region: deploy.region.reveal()?,
        name: deploy.name.reveal()?,
    })
}

/// The image pinned to `digest`.
fn pin(image: &str, digest: &str) -> String {
    match ImageRef::parse(image) {
        Ok(r) => r.pinned(digest),
        Err(_) => image.to_string(),
    }
}

/// What the pipeline declares, with values revealed (secrets included: they go to the API).
fn spec_of(deploy: &Deploy, image: String) -> Result<Spec, Unrevealed> {
    let mut spec = Spec {
        image,
        ..Spec::default()
    };
    for (key, value) in &deploy.settings {
        let text = value.reveal()?;
        if let Some(var) = key.strip_prefix("env.") {
            let secret = value
                .parts
                .iter()
                .any(|p| matches!(p, Piece::Secret { .. }));
            spec.env.push((
                var.into(),
                EnvValue::Plain {
                    value: text,
                    secret,
                },
            ));
        } else if let Some(var) = key.strip_prefix("secret.") {
            spec.env.push((var.into(), EnvValue::secret_ref(&text)));
        } else if let Some(label) = key.strip_prefix("label.") {
            spec.labels.insert(label.into(), text);
        } else {
            spec.settings.insert(key.clone(), text);
        }
    }
    Ok(spec)
}

async fn deploy_now(job: &Job, deploy: &Deploy) -> Result<StepOutputs, Failure> {
    let target = target(deploy).map_err(|e| Failure::Failed(StepError::Kind(e)))?;
    let resource = target.resource;
    let image = deploy.image.reveal()?;
    let mut spec = spec_of(deploy, image.clone())?;
    check_started(
        resource,
        &target.name,
        &target.region,
        &image,
        &spec.settings,
    )
    .map_err(Failure::of)?;
    let cloud = job
        .connections
        .google(Some(&target.project), deploy.impersonate.as_deref());
    let run = admin(&cloud, &target);
    let (digest, live) = job
        .ctx
        .or_stopped(async {
            let registry = cloud.endpoints.registry.as_deref();
            let digest = registry::digest(&cloud.plain, cloud.api.auth(), registry, &image).await;
            let digest = digest.map_err(Failure::of)?;
            Ok((digest, run.get().await.map_err(Failure::of)?))
        })
        .await?;
    job.ctx.say(&format!("image {image} is {digest}"));
    spec.image = pin(&image, &digest);
    let no_traffic = spec.settings.get("no_traffic").is_some_and(|v| v == "true");
    let latest_ready = live
        .as_ref()
        .and_then(|l| l["latestReadyRevision"].as_str());
    let done = match (resource, &live, latest_ready.map(short_name)) {
        (_, Some(live), _) if unchanged_and_ready(&spec, resource, live) => {
            job.ctx.say(&format!(
                "{} `{}` already runs this spec: no change",
                resource.noun(),
                target.name
            ));
            live.clone()
        }
        (RunResource::Service, Some(live), Some(serving)) if no_traffic => {
            let serving = serving.to_string();
            no_traffic::deploy(job, &run, &spec, live.clone(), serving).await?
        }
        // Without a ready revision nothing serves: there is no traffic to keep away.
        _ => {
            let written = write_and_wait(job, &run, &spec, live.as_ref(), None);
            job.ctx.or_stopped(written).await?
        }
    };
    Ok(outputs(job, &target, digest, &done))
}

fn outputs(job: &Job, target: &Target, digest: String, done: &Value) -> StepOutputs {
    let mut outputs = StepOutputs::new();
    outputs.insert("image_digest".into(), digest);
    match target.resource {
        RunResource::Service => {
            let serving = serving_revision(done).unwrap_or_default();
            let latest = done["latestReadyRevision"]
                .as_str()
                .map(short_name)
                .unwrap_or_default();
            if !serving.is_empty() && serving != latest {
                job.ctx.say(&format!(
                    "the service's traffic names its revisions, so the new revision {latest} gets none: traffic stays on {serving}"
                ));
            }
            job.ctx.say(&format!(
                "service `{}` serves revision {serving}",
                target.name
            ));
            outputs.insert("revision".into(), serving);
            outputs.insert(
                "url".into(),
                done["uri"].as_str().unwrap_or_default().to_string(),
            );
        }
        RunResource::Job => {
            outputs.insert("job".into(), target.name.clone());
            job.ctx.say(&format!("job `{}` is ready", target.name));
        }
    }
    outputs
}

/// Whether the live resource already runs `spec` and is healthy: then there is nothing to do.
fn unchanged_and_ready(spec: &Spec, resource: RunResource, live: &Value) -> bool {
    let task = task_of(resource, live);
    let image = task["containers"][0]["image"].as_str().unwrap_or_default();
    live["reconciling"] != Value::Bool(true)
        && live["terminalCondition"]["state"] == "CONDITION_SUCCEEDED"
        && spec.diff(resource, live, image).is_empty()
}

/// The part of a service or job that describes its container.
fn task_of(resource: RunResource, live: &Value) -> &Value {
    match resource {
        RunResource::Service => &live["template"],
        RunResource::Job => &live["template"]["template"],
    }
}

/// Edits a body last, after the spec was applied (a no-traffic deploy's traffic).
type Adjust<'a> = Option<&'a (dyn Fn(&mut Value) + Sync)>;

/// Writes the resource (`spec` over what is live, `adjust` last) and waits for the operation
/// and readiness. After a 409 it waits for the resource to settle and reads it again; when
/// that already runs `spec` (a create whose answer was lost, then carried out) nothing more
/// is written.
async fn write_and_wait(
    job: &Job,
    run: &CloudRun<'_>,
    spec: &Spec,
    live: Option<&Value>,
    adjust: Adjust<'_>,
) -> Result<Value, Failure> {
    let resource = run.target.resource;
    let mut live = live.cloned();
    let mut tries = 0;
    let op = loop {
        tries += 1;
        let mut body = spec.apply(resource, live.as_ref());
        if let Some(adjust) = adjust {
            adjust(&mut body);
        }
        let sent = match &live {
            None => run.create(&body).await,
            Some(_) => run.update(&body).await,
        };
        match sent {
            Err(RunError::Api { error, .. })
                if error.status() == Some(409) && tries < CONFLICT_TRIES =>
            {
                job.ctx.say(&format!(
                    "Cloud Run says: {error}; waiting for the {} to settle",
                    resource.noun()
                ));
                live = run.settle().await.map_err(Failure::of)?;
                if let Some(now) = &live
                    && adjust.is_none()
                    && unchanged_and_ready(spec, resource, now)
                {
                    return Ok(now.clone());
                }
            }
            other => break other.map_err(Failure::of)?,
        }
    };
    let verb = if live.is_some() {
        "updating"
    } else {
        "creating"
    };
    job.ctx.say(&format!(
        "{verb} {} `{}`: {}",
        resource.noun(),
        run.target.name,
        op["name"].as_str().unwrap_or("operation")
    ));
    let ready = match run.wait_operation(op).await {
        Ok(resource_now) => run.wait_ready(resource_now).await,
        Err(e) => Err(e),
    };
    match ready {
        Ok(r) => Ok(r),
        Err(e) if resource == RunResource::Service => Err(explain_service_failure(run, e).await),
        Err(e) => Err(Failure::of(e)),
    }
}

/// A failed service update says why its new revision failed and where traffic stays.
async fn explain_service_failure(run: &CloudRun<'_>, e: RunError) -> Failure {
    let Ok(Some(now)) = run.get().await else {
        return Failure::of(e);
    };
    let created = now["latestCreatedRevision"].as_str().map(short_name);
    let why = match created {
        Some(rev) => match run
            .get_revision(rev)
            .await
            .ok()
            .as_ref()
            .and_then(revision_failure)
        {
            Some(message) => format!("revision {rev} failed: {message}"),
            None => e.to_string(),
        },
        None => e.to_string(),
    };
    Failure::of(ServiceFailed {
        service: run.target.name.clone(),
        why,
        serving: serving_revision(&now).filter(|serving| Some(serving.as_str()) != created),
    })
}
