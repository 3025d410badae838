//! Deploying a Cloud Run service or job (Admin API v2), and comparing a planned deploy with
//! what is live.
//!
//! A deploy pins the image to the digest its tag points to, writes the resource (create, or
//! read-modify-write), waits for the long-running operation, then for readiness. A service
//! with `no_traffic` first gets its new revision under a tag with no traffic, and traffic moves
//! only once that revision is ready: a failed revision leaves traffic where it was.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::Unplanned;
use super::kind::Live as LiveAt;
use crate::action::{Action, Deploy, DeployDiff, FieldChange, Live, Resource};
use crate::exec::{Failure, Job, StepFuture, StepOutputs};
use crate::expr::{Piece, Unrevealed};
use crate::gcp::Cloud;
use crate::gcp::cloud_run::{
    CloudRun, RunError, RunResource, Target, revision_failure, short_name,
};
use crate::gcp::registry::{self, ImageRef};
use crate::gcp::run_spec::{Change, EnvValue, Spec};

/// How long a deploy waits for Cloud Run in all when the step sets no `timeout`.
const PATIENCE: Duration = Duration::from_secs(30 * 60);
const POLL: Duration = Duration::from_secs(1);
/// Tries of a write that Cloud Run refuses with 409 (another change under way).
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
        job.ctx.or_stopped(deploy_now(&job, &deploy)).await
    })
}

/// The Cloud Run Admin API's name for a resource.
fn run_resource(resource: Resource) -> RunResource {
    match resource {
        Resource::CloudRunService => RunResource::Service,
        Resource::CloudRunJob => RunResource::Job,
    }
}

fn target(deploy: &Deploy) -> Result<Target, Unrevealed> {
    Ok(Target {
        resource: run_resource(deploy.resource),
        project: deploy.project.reveal()?,
        region: deploy.region.reveal()?,
        name: deploy.name.reveal()?,
    })
}

/// The image pinned to `digest`.
fn pin(image: &str, digest: &str) -> String {
    match ImageRef::parse(image) {
        Some(r) => r.pinned(digest),
        None => image.to_string(),
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
    let target = target(deploy)?;
    let resource = target.resource;
    let cloud = job
        .connections
        .google(Some(&target.project), deploy.impersonate.as_deref());
    let image = deploy.image.reveal()?;
    let digest = registry::digest(
        &cloud.plain,
        cloud.api.auth(),
        cloud.endpoints.registry.as_deref(),
        &image,
    )
    .await
    .map_err(Failure::of)?;
    job.ctx.say(&format!("image {image} is {digest}"));
    let spec = spec_of(deploy, pin(&image, &digest))?;
    let run = CloudRun {
        api: &cloud.api,
        base: &cloud.endpoints.run,
        target: &target,
        poll: POLL,
        patience: PATIENCE,
    };
    let no_traffic = deploy
        .settings
        .get("no_traffic")
        .is_some_and(|v| v.to_string() == "true");
    let since = Instant::now();
    let live = run.get().await.map_err(Failure::of)?;
    let done = match (resource, live) {
        (_, Some(live)) if unchanged_and_ready(&spec, resource, &live) => {
            job.ctx.say(&format!(
                "{} `{}` already runs this spec: no change",
                resource.noun(),
                target.name
            ));
            Ok(live)
        }
        (RunResource::Service, Some(live)) if no_traffic => {
            candidate_then_traffic(job, &run, &spec, live, since).await
        }
        (_, live) => write_and_wait(job, &run, &spec, live, None, since).await,
    }?;
    let mut outputs = StepOutputs::new();
    outputs.insert("image_digest".into(), digest);
    match resource {
        RunResource::Service => {
            let revision = done["latestReadyRevision"]
                .as_str()
                .map(short_name)
                .unwrap_or_default();
            outputs.insert("revision".into(), revision.to_string());
            outputs.insert(
                "url".into(),
                done["uri"].as_str().unwrap_or_default().to_string(),
            );
            job.ctx.say(&format!(
                "service `{}` serves revision {revision}",
                target.name
            ));
        }
        RunResource::Job => {
            outputs.insert("job".into(), target.name.clone());
            job.ctx.say(&format!("job `{}` is ready", target.name));
        }
    }
    Ok(outputs)
}

/// Whether the live resource already runs `spec` and is healthy: then there is nothing to do.
fn unchanged_and_ready(spec: &Spec, resource: RunResource, live: &Value) -> bool {
    let task = task_of(resource, live);
    let image = task["containers"][0]["image"].as_str().unwrap_or_default();
    live["reconciling"] != Value::Bool(true)
        && live["terminalCondition"]["state"] == "CONDITION_SUCCEEDED"
        && spec.diff(resource, live, image).is_empty()
}

/// Writes the resource (`spec` over what is live; `adjust` edits the body last), waits for the
/// operation and readiness. On a 409 (another change under way) it reads again and retries.
async fn write_and_wait(
    job: &Job,
    run: &CloudRun<'_>,
    spec: &Spec,
    mut live: Option<Value>,
    adjust: Option<&(dyn Fn(&mut Value) + Sync)>,
    since: Instant,
) -> Result<Value, Failure> {
    let resource = run.target.resource;
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
                job.ctx
                    .say(&format!("Cloud Run says: {error}; trying again"));
                tokio::time::sleep(POLL * tries).await;
                live = run.get().await.map_err(Failure::of)?;
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
    let written = run.wait_operation(op, since).await;
    let ready = match written {
        Ok(resource_now) => run.wait_ready(resource_now, since).await,
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
    let serving = now["latestReadyRevision"].as_str().map(short_name);
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
        serving: serving
            .filter(|ready| Some(*ready) != created)
            .map(str::to_string),
    })
}

/// `no_traffic`: the new revision under a tag and 0% first; traffic moves once it is ready.
async fn candidate_then_traffic(
    job: &Job,
    run: &CloudRun<'_>,
    spec: &Spec,
    live: Value,
    since: Instant,
) -> Result<Value, Failure> {
    let suffix = format!("{:08x}", fastrand::u32(..));
    let revision = format!("{}-{suffix}", run.target.name);
    let tag = format!("dagship-{suffix}");
    let serving = live["latestReadyRevision"]
        .as_str()
        .map(short_name)
        .unwrap_or_default()
        .to_string();
    let pin_traffic = |body: &mut Value| {
        body["template"]["revision"] = json!(revision);
        body["traffic"] = pinned_traffic(&body["traffic"], &serving, &revision, &tag);
    };
    let staged = write_and_wait(job, run, spec, Some(live), Some(&pin_traffic), since).await?;
    let candidate = run.get_revision(&revision).await.map_err(Failure::of)?;
    if let Some(message) = revision_failure(&candidate) {
        return Err(Failure::of(ServiceFailed {
            service: run.target.name.clone(),
            why: format!("revision {revision} failed: {message}"),
            serving: Some(serving),
        }));
    }
    let tagged_url = staged["trafficStatuses"]
        .as_array()
        .and_then(|list| list.iter().find(|t| t["tag"] == json!(tag)))
        .and_then(|t| t["uri"].as_str())
        .unwrap_or("(no tag URL)");
    job.ctx.say(&format!(
        "revision {revision} is ready at {tagged_url} with no traffic; moving traffic to it"
    ));
    let move_traffic = |body: &mut Value| {
        body["traffic"] = final_traffic(&body["traffic"], &tag);
    };
    // The template is unchanged, so no new revision: only traffic moves.
    let keep = |body: &mut Value| {
        body["template"]["revision"] = json!(revision);
        move_traffic(body);
    };
    write_and_wait(job, run, spec, Some(staged), Some(&keep), since).await
}

/// Today's traffic with "latest" replaced by the revision serving now, plus the candidate
/// under its tag with 0%.
fn pinned_traffic(traffic: &Value, serving: &str, candidate: &str, tag: &str) -> Value {
    let mut list: Vec<Value> = traffic.as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        list.push(json!({ "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100 }));
    }
    for t in &mut list {
        if t["type"] == "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST" {
            t["type"] = json!("TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION");
            t["revision"] = json!(serving);
        }
    }
    list.push(json!({
        "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
        "revision": candidate, "percent": 0, "tag": tag
    }));
    Value::Array(list)
}

/// All traffic to the latest (the candidate, now ready); other tags keep their 0% routes.
fn final_traffic(traffic: &Value, candidate_tag: &str) -> Value {
    let mut list = vec![json!({ "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100 })];
    for t in traffic.as_array().into_iter().flatten() {
        let tag = t["tag"].as_str().unwrap_or_default();
        if !tag.is_empty() && tag != candidate_tag {
            let mut kept = t.clone();
            kept["percent"] = json!(0);
            list.push(kept);
        }
    }
    Value::Array(list)
}

/// For `plan`: each deploy's live resource and what it would change there (read-only).
pub(super) async fn live(actions: &mut [Action], at: &LiveAt<'_>) {
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
    let run = CloudRun {
        api: &cloud.api,
        base: &cloud.endpoints.run,
        target: &target,
        poll: POLL,
        patience: PATIENCE,
    };
    let now = run.get().await.map_err(|e| format!("cannot read: {e}"))?;
    let (new_image, note) = match registry::digest(
        &cloud.plain,
        cloud.api.auth(),
        cloud.endpoints.registry.as_deref(),
        &image,
    )
    .await
    {
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

/// The part of a service or job that describes its container.
fn task_of(resource: RunResource, live: &Value) -> &Value {
    match resource {
        RunResource::Service => &live["template"],
        RunResource::Job => &live["template"]["template"],
    }
}

fn field_change(c: Change) -> FieldChange {
    FieldChange {
        field: c.field,
        before: c.before,
        after: c.after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traffic_is_pinned_then_moved() {
        let live = json!([{ "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100 },
                          { "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": "s-old", "percent": 0, "tag": "old" }]);
        let pinned = pinned_traffic(&live, "s-1", "s-2", "dagship-2");
        assert_eq!(pinned[0]["revision"], "s-1");
        assert_eq!(
            pinned[2],
            json!({ "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": "s-2", "percent": 0, "tag": "dagship-2" })
        );
        let moved = final_traffic(&pinned, "dagship-2");
        assert_eq!(moved.as_array().unwrap().len(), 2, "{moved}");
        assert_eq!(moved[0]["type"], "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST");
        assert_eq!(moved[1]["tag"], "old");
    }
}
