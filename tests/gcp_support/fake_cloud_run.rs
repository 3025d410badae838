//! Cloud Run Admin API v2, as strict as Google's JSON front end and Cloud Run are about what
//! dagship sends (<https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services>):
//!
//! - a body with a top-level field the resource does not have is refused with 400
//!   `Invalid JSON payload received. Unknown name "...": Cannot find field.` (an operation's
//!   `response` carries `@type`, as a `google.protobuf.Any` does: writing it back fails);
//! - `serviceId`/`jobId` follow the create method's rules;
//! - traffic: a `REVISION` target names an existing revision (or the one being created),
//!   percents add up to 100, a tag's length plus the service name's is at most 46, tags are
//!   unique;
//! - a named revision that exists with another configuration is a 409;
//! - a create of a name that exists is a 409 `ALREADY_EXISTS`; a write while an operation
//!   on the resource still runs is a 409 `ABORTED`;
//! - operations finish after `polls` looks (a poll of the operation or a read of its
//!   resource), as time passes for the real ones; one that makes no new revision (traffic
//!   only) at the first look.

use std::collections::HashMap;

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::fake_google::{google_error, ok};

/// Top-level fields of `Service` (output-only ones included: sent back, they are ignored).
const SERVICE_FIELDS: &[&str] = &[
    "name",
    "description",
    "uid",
    "generation",
    "labels",
    "annotations",
    "createTime",
    "updateTime",
    "deleteTime",
    "expireTime",
    "creator",
    "lastModifier",
    "client",
    "clientVersion",
    "ingress",
    "launchStage",
    "binaryAuthorization",
    "template",
    "traffic",
    "scaling",
    "invokerIamDisabled",
    "defaultUriDisabled",
    "urls",
    "iapEnabled",
    "multiRegionSettings",
    "customAudiences",
    "observedGeneration",
    "terminalCondition",
    "conditions",
    "latestReadyRevision",
    "latestCreatedRevision",
    "trafficStatuses",
    "uri",
    "satisfiesPzs",
    "threatDetectionEnabled",
    "buildConfig",
    "reconciling",
    "etag",
];

/// Top-level fields of `Job`.
const JOB_FIELDS: &[&str] = &[
    "name",
    "uid",
    "generation",
    "labels",
    "annotations",
    "createTime",
    "updateTime",
    "deleteTime",
    "expireTime",
    "creator",
    "lastModifier",
    "client",
    "clientVersion",
    "launchStage",
    "binaryAuthorization",
    "template",
    "observedGeneration",
    "terminalCondition",
    "conditions",
    "executionCount",
    "latestCreatedExecution",
    "reconciling",
    "satisfiesPzs",
    "startExecutionToken",
    "runExecutionToken",
    "etag",
];

const LATEST: &str = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST";
const REVISION: &str = "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION";

#[derive(Default)]
pub struct CloudRun {
    /// Request bodies of writes (POST/PATCH), in order, as they were received.
    pub writes: Vec<Value>,
    /// Images (digest-pinned) whose revisions fail, with the condition message.
    pub failing_images: HashMap<String, String>,
    /// Looks an operation takes before it is done.
    pub polls: usize,
    pub services: HashMap<String, Value>,
    pub jobs: HashMap<String, Value>,
    pub revisions: HashMap<String, Value>,
    pub operations: HashMap<String, Operation>,
    next: usize,
}

pub struct Operation {
    looks_left: usize,
    collection: &'static str,
    resource: String,
    failure: Option<String>,
    done: bool,
}

fn invalid(message: String) -> Response {
    google_error(400, "INVALID_ARGUMENT", &message)
}

fn collection_name(c: &str) -> &'static str {
    if c == "services" { "services" } else { "jobs" }
}

impl CloudRun {
    /// Answers a Cloud Run request, or `None` when the path is not Cloud Run's.
    pub fn route(
        &mut self,
        method: &Method,
        path: &str,
        query: &str,
        body: &[u8],
    ) -> Option<Response> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let name = path.trim_start_matches("/v2/").to_string();
        let response = match (method.as_str(), segments.as_slice()) {
            ("GET", ["v2", "projects", _, "locations", _, "operations", _]) => self.poll(&name),
            (
                "GET",
                [
                    "v2",
                    "projects",
                    _,
                    "locations",
                    _,
                    "services",
                    _,
                    "revisions",
                    _,
                ],
            ) => match self.revisions.get(&name) {
                Some(r) => ok(r.clone()),
                None => google_error(404, "NOT_FOUND", &format!("Revision {name} not found.")),
            },
            (
                "GET",
                [
                    "v2",
                    "projects",
                    _,
                    "locations",
                    _,
                    c @ ("services" | "jobs"),
                    _,
                ],
            ) => {
                self.look_at(&name);
                match self.collection(c).get(&name) {
                    Some(r) => ok(r.clone()),
                    None => google_error(
                        404,
                        "NOT_FOUND",
                        &format!("Resource '{name}' does not exist."),
                    ),
                }
            }
            (
                "POST",
                [
                    "v2",
                    "projects",
                    p,
                    "locations",
                    r,
                    c @ ("services" | "jobs"),
                ],
            ) => {
                let id_param = if *c == "services" {
                    "serviceId"
                } else {
                    "jobId"
                };
                let id = query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix(&format!("{id_param}=")))
                    .unwrap_or_default()
                    .to_string();
                if let Some(why) = bad_id(c, &id) {
                    return Some(invalid(format!("{id_param} `{id}` {why}")));
                }
                let name = format!("projects/{p}/locations/{r}/{c}/{id}");
                if self.collection(c).contains_key(&name) {
                    return Some(google_error(
                        409,
                        "ALREADY_EXISTS",
                        &format!("Resource '{id}' already exists."),
                    ));
                }
                self.write(c, name, body)
            }
            (
                "PATCH",
                [
                    "v2",
                    "projects",
                    _,
                    "locations",
                    _,
                    c @ ("services" | "jobs"),
                    _,
                ],
            ) => {
                if !self.collection(c).contains_key(&name) {
                    return Some(google_error(
                        404,
                        "NOT_FOUND",
                        &format!("Resource '{name}' does not exist."),
                    ));
                }
                if self.pending(&name) {
                    return Some(google_error(
                        409,
                        "ABORTED",
                        &format!(
                            "Conflict for resource '{name}': an operation on it is still in progress."
                        ),
                    ));
                }
                self.write(c, name, body)
            }
            _ => return None,
        };
        Some(response)
    }

    fn collection(&mut self, c: &str) -> &mut HashMap<String, Value> {
        if c == "services" {
            &mut self.services
        } else {
            &mut self.jobs
        }
    }

    fn pending(&self, resource: &str) -> bool {
        self.operations
            .values()
            .any(|op| op.resource == resource && !op.done)
    }

    /// A create or update: a new generation (and, for services, perhaps a revision),
    /// reconciling until its operation is done.
    fn write(&mut self, c: &str, name: String, body: &[u8]) -> Response {
        let c = collection_name(c);
        let mut body: Value = match serde_json::from_slice(body) {
            Ok(v @ Value::Object(_)) => v,
            _ => return invalid("Invalid JSON payload received.".into()),
        };
        let known = if c == "services" {
            SERVICE_FIELDS
        } else {
            JOB_FIELDS
        };
        if let Some(unknown) = body
            .as_object()
            .unwrap()
            .keys()
            .find(|k| !known.contains(&k.as_str()))
        {
            let message = format!(
                "Invalid JSON payload received. Unknown name \"{unknown}\": Cannot find field."
            );
            let details = json!([{ "@type": "type.googleapis.com/google.rpc.BadRequest",
                                   "fieldViolations": [{ "description": message }] }]);
            let error = json!({ "error": { "code": 400, "message": message, "status": "INVALID_ARGUMENT", "details": details } });
            return (StatusCode::BAD_REQUEST, axum::Json(error)).into_response();
        }
        self.writes.push(body.clone());
        self.next += 1;
        let short = name.rsplit('/').next().unwrap().to_string();
        let previous = self.collection(c).get(&name).cloned().unwrap_or(json!({}));
        let generation = previous["generation"]
            .as_str()
            .and_then(|g| g.parse::<u64>().ok())
            .unwrap_or(0)
            + 1;
        let task = if c == "services" {
            &body["template"]
        } else {
            &body["template"]["template"]
        };
        let image = task["containers"][0]["image"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let failure = self.failing_images.get(&image).cloned();
        let mut looks = self.polls;
        if c == "services" {
            let revision = match body["template"]["revision"].as_str() {
                Some(r) => r.to_string(),
                None if previous["template"] == body["template"] => {
                    previous["latestCreatedRevision"]
                        .as_str()
                        .unwrap_or_default()
                        .rsplit('/')
                        .next()
                        .unwrap()
                        .to_string()
                }
                None => format!("{short}-{generation:05}-x{}", self.next),
            };
            if let Err(why) = self.check_traffic(&name, &short, &body, &revision) {
                self.writes.pop();
                return invalid(why);
            }
            let rev_name = format!("{name}/revisions/{revision}");
            // Only a new revision takes time to start; moving traffic is quick.
            if self.revisions.contains_key(&rev_name) {
                looks = 0;
            }
            match self.revisions.get(&rev_name) {
                Some(r) if r["containers"] != body["template"]["containers"] => {
                    self.writes.pop();
                    return google_error(
                        409,
                        "ALREADY_EXISTS",
                        &format!(
                            "Revision named '{revision}' with different configuration already exists."
                        ),
                    );
                }
                Some(_) => {}
                None => {
                    let conditions = match &failure {
                        Some(message) => {
                            json!([{ "type": "Ready", "state": "CONDITION_FAILED", "message": message, "reason": "ContainerMissing" }])
                        }
                        None => json!([{ "type": "Ready", "state": "CONDITION_SUCCEEDED" }]),
                    };
                    self.revisions.insert(rev_name.clone(), json!({ "name": rev_name, "conditions": conditions, "containers": body["template"]["containers"] }));
                }
            }
            body["latestCreatedRevision"] = json!(rev_name);
            body["latestReadyRevision"] = previous["latestReadyRevision"].clone();
            body["uri"] = json!(format!("https://{short}-abc123-ew.a.run.app"));
            body["trafficStatuses"] = previous["trafficStatuses"].clone();
        }
        body["name"] = json!(name);
        body["generation"] = json!(generation.to_string());
        body["reconciling"] = json!(true);
        body["terminalCondition"] = json!({ "type": "Ready", "state": "CONDITION_RECONCILING" });
        body["etag"] = json!(format!("\"{generation}\""));
        self.collection(c).insert(name.clone(), body);
        let parent = name.split(&format!("/{c}/")).next().unwrap().to_string();
        let op = format!("{parent}/operations/op-{}", self.next);
        let operation = Operation {
            looks_left: looks,
            collection: c,
            resource: name,
            failure,
            done: false,
        };
        self.operations.insert(op.clone(), operation);
        ok(
            json!({ "name": op, "done": false, "metadata": { "@type": format!("type.googleapis.com/google.cloud.run.v2.{}", resource_type(c)) } }),
        )
    }

    /// Cloud Run's rules for `traffic` (`TrafficTarget`), over the body of a service write.
    fn check_traffic(
        &self,
        name: &str,
        short: &str,
        body: &Value,
        created: &str,
    ) -> Result<(), String> {
        let Some(targets) = body["traffic"].as_array().filter(|t| !t.is_empty()) else {
            return Ok(());
        };
        let mut tags = Vec::new();
        let mut total = 0;
        for t in targets {
            let revision = t["revision"].as_str().unwrap_or_default();
            match t["type"].as_str().unwrap_or_default() {
                LATEST => {}
                REVISION if revision.is_empty() => {
                    return Err(
                        "spec.traffic: a traffic target of type REVISION must name a revision"
                            .into(),
                    );
                }
                REVISION
                    if revision != created
                        && !self
                            .revisions
                            .contains_key(&format!("{name}/revisions/{revision}")) =>
                {
                    return Err(format!("spec.traffic: Revision {revision} not found."));
                }
                REVISION => {}
                other => return Err(format!("spec.traffic: unknown type `{other}`")),
            }
            total += t["percent"].as_u64().unwrap_or(0);
            if let Some(tag) = t["tag"].as_str().filter(|t| !t.is_empty()) {
                if tag.len() + short.len() > 46 {
                    return Err(format!(
                        "spec.traffic.tag: traffic tag '{tag}' and service name '{short}' together are too long. Combined traffic tag and service name cannot exceed 46 characters."
                    ));
                }
                if tags.contains(&tag) {
                    return Err(format!("spec.traffic.tag: tag '{tag}' is used twice"));
                }
                tags.push(tag);
            }
        }
        if total != 100 {
            return Err(format!(
                "spec.traffic: the percents add up to {total}, not 100"
            ));
        }
        Ok(())
    }

    /// Reading a resource lets time pass for its operations.
    fn look_at(&mut self, resource: &str) {
        let ops: Vec<String> = self
            .operations
            .iter()
            .filter(|(_, op)| op.resource == resource && !op.done)
            .map(|(name, _)| name.clone())
            .collect();
        for op in ops {
            self.look(&op);
        }
    }

    fn look(&mut self, op: &str) {
        let Some(o) = self.operations.get_mut(op) else {
            return;
        };
        if o.done {
            return;
        }
        if o.looks_left > 0 {
            o.looks_left -= 1;
            return;
        }
        o.done = true;
        let (c, resource, failure) = (o.collection, o.resource.clone(), o.failure.clone());
        self.finish(c, &resource, failure.as_deref());
    }

    fn poll(&mut self, name: &str) -> Response {
        self.look(name);
        let Some(op) = self.operations.get(name) else {
            return google_error(404, "NOT_FOUND", "Operation not found.");
        };
        if !op.done {
            return ok(json!({ "name": name, "done": false }));
        }
        let (c, resource) = (op.collection, op.resource.clone());
        match op.failure.clone() {
            Some(message) => ok(
                json!({ "name": name, "done": true, "error": { "code": 9, "message": format!("Revision is not ready and cannot serve traffic. {message}") } }),
            ),
            None => {
                // The response is a `google.protobuf.Any`: the resource with its type.
                let mut response = self
                    .collection(c)
                    .get(&resource)
                    .cloned()
                    .unwrap_or_default();
                response["@type"] = json!(format!(
                    "type.googleapis.com/google.cloud.run.v2.{}",
                    resource_type(c)
                ));
                ok(json!({ "name": name, "done": true, "response": response }))
            }
        }
    }

    /// The operation is done: the resource settles, traffic follows the ready revision.
    fn finish(&mut self, c: &str, name: &str, failure: Option<&str>) {
        let r = self.collection(c).get_mut(name).unwrap();
        r["reconciling"] = json!(false);
        r["terminalCondition"] = match failure {
            Some(m) => json!({ "type": "Ready", "state": "CONDITION_FAILED", "message": m }),
            None => json!({ "type": "Ready", "state": "CONDITION_SUCCEEDED" }),
        };
        if c != "services" {
            return;
        }
        if failure.is_none() {
            r["latestReadyRevision"] = r["latestCreatedRevision"].clone();
        }
        let ready = r["latestReadyRevision"]
            .as_str()
            .unwrap_or_default()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        let traffic = r["traffic"]
            .as_array()
            .filter(|t| !t.is_empty())
            .cloned()
            .unwrap_or_else(|| vec![json!({ "type": LATEST, "percent": 100 })]);
        let statuses: Vec<Value> = traffic
            .iter()
            .map(|t| {
                let revision = if t["type"] == LATEST {
                    json!(ready)
                } else {
                    t["revision"].clone()
                };
                let mut s =
                    json!({ "type": t["type"], "revision": revision, "percent": t["percent"] });
                if let Some(tag) = t["tag"].as_str() {
                    s["tag"] = json!(tag);
                    s["uri"] = json!(format!("https://{tag}---svc-abc123-ew.a.run.app"));
                }
                s
            })
            .collect();
        r["trafficStatuses"] = json!(statuses);
    }
}

fn resource_type(c: &str) -> &'static str {
    if c == "services" { "Service" } else { "Job" }
}

/// Why an id is refused: services "must begin with letter, and cannot end with hyphen; must
/// contain fewer than 50 characters"; jobs are DNS labels.
fn bad_id(c: &str, id: &str) -> Option<&'static str> {
    let longest = if c == "services" { 49 } else { 63 };
    if !id.starts_with(|c: char| c.is_ascii_lowercase()) {
        Some("must begin with a letter")
    } else if id.ends_with('-') {
        Some("cannot end with hyphen")
    } else if !id
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        Some("may hold only lowercase letters, digits and hyphens")
    } else if id.len() > longest {
        Some("is too long")
    } else {
        None
    }
}
