//! Cloud Run Admin API v2: services and jobs, their long-running operations, and readiness.
//!
//! Resources are handled as JSON, read-modify-write: an update changes the fields dagship
//! manages and keeps everything else someone set on the resource (VPC access, probes, ...).
//! What is written back is what `GET` returned, never an operation's `response`: that one is a
//! `google.protobuf.Any` with an `@type` field, which the JSON front end refuses in a request
//! ("Invalid JSON payload received. Unknown name \"@type\"").

use std::time::{Duration, Instant};

use serde_json::Value;

use super::http::{Api, ApiError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunResource {
    Service,
    Job,
}

impl RunResource {
    fn collection(self) -> &'static str {
        match self {
            RunResource::Service => "services",
            RunResource::Job => "jobs",
        }
    }
    fn id_param(self) -> &'static str {
        match self {
            RunResource::Service => "serviceId",
            RunResource::Job => "jobId",
        }
    }
    pub fn noun(self) -> &'static str {
        match self {
            RunResource::Service => "service",
            RunResource::Job => "job",
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum RunError {
    #[error("Cloud Run {noun} `{name}`: {error}")]
    Api {
        noun: &'static str,
        name: String,
        error: ApiError,
    },
    #[error("Cloud Run {noun} `{name}` failed: {message}")]
    Failed {
        noun: &'static str,
        name: String,
        message: String,
    },
    #[error("Cloud Run {noun} `{name}` was still changing after {}", crate::report::human_duration(*waited))]
    NotReady {
        noun: &'static str,
        name: String,
        waited: Duration,
    },
}

/// Where one service or job lives.
#[derive(Debug, Clone)]
pub struct Target {
    pub resource: RunResource,
    pub project: String,
    pub region: String,
    pub name: String,
}

/// Talks to the Cloud Run Admin API at `base` for one target.
pub struct CloudRun<'a> {
    pub api: &'a Api,
    pub base: &'a str,
    pub target: &'a Target,
    /// How often to look at an operation or a resource while waiting; grows to 8 s.
    pub poll: Duration,
    /// When waiting gives up. `None`: never, the step's `timeout` (which stops the whole
    /// attempt) is the limit.
    pub deadline: Option<Instant>,
}

impl CloudRun<'_> {
    fn parent(&self) -> String {
        format!(
            "{}/v2/projects/{}/locations/{}/{}",
            self.base,
            self.target.project,
            self.target.region,
            self.target.resource.collection()
        )
    }

    fn url(&self) -> String {
        format!("{}/{}", self.parent(), self.target.name)
    }

    fn error(&self, error: ApiError) -> RunError {
        RunError::Api {
            noun: self.target.resource.noun(),
            name: self.target.name.clone(),
            error,
        }
    }

    fn failed(&self, message: impl Into<String>) -> RunError {
        RunError::Failed {
            noun: self.target.resource.noun(),
            name: self.target.name.clone(),
            message: message.into(),
        }
    }

    /// The live resource, or `None` when it does not exist.
    pub async fn get(&self) -> Result<Option<Value>, RunError> {
        let url = self.url();
        match self.api.call(|http| http.get(&url)).await {
            Ok(reply) => reply.json().map(Some).map_err(|e| self.error(e)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(self.error(e)),
        }
    }

    pub async fn get_revision(&self, revision: &str) -> Result<Value, RunError> {
        let url = format!(
            "{}/v2/projects/{}/locations/{}/services/{}/revisions/{revision}",
            self.base, self.target.project, self.target.region, self.target.name
        );
        let reply = self.api.call(|http| http.get(&url)).await;
        reply.and_then(|r| r.json()).map_err(|e| self.error(e))
    }

    /// Creates the resource; returns the long-running operation.
    pub async fn create(&self, body: &Value) -> Result<Value, RunError> {
        let (url, query) = (
            self.parent(),
            [(self.target.resource.id_param(), self.target.name.clone())],
        );
        let reply = self
            .api
            .call(|http| http.post(&url).query(&query).json(body))
            .await;
        reply.and_then(|r| r.json()).map_err(|e| self.error(e))
    }

    /// Replaces the resource with `body` (read, then modified); returns the operation.
    pub async fn update(&self, body: &Value) -> Result<Value, RunError> {
        let url = self.url();
        let reply = self.api.call(|http| http.patch(&url).json(body)).await;
        reply.and_then(|r| r.json()).map_err(|e| self.error(e))
    }

    /// Waits for operation `op` to finish; returns its `response` (the resource, without the
    /// `@type` it carries as an `Any`).
    pub async fn wait_operation(&self, mut op: Value) -> Result<Value, RunError> {
        let (mut poll, since) = (self.poll, Instant::now());
        while op["done"] != Value::Bool(true) {
            self.pause(&mut poll, since).await?;
            let name = op["name"].as_str().unwrap_or_default().to_string();
            let url = format!("{}/v2/{name}", self.base);
            op = self
                .api
                .call(|http| http.get(&url))
                .await
                .and_then(|r| r.json())
                .map_err(|e| self.error(e))?;
        }
        if let Some(message) = op["error"]["message"].as_str() {
            return Err(self.failed(message));
        }
        let mut resource = op["response"].take();
        if let Some(fields) = resource.as_object_mut() {
            fields.remove("@type");
        }
        Ok(resource)
    }

    /// Waits until the resource has settled (`reconciling` false) and succeeded
    /// (`terminalCondition` `CONDITION_SUCCEEDED`); returns it as it is then.
    pub async fn wait_ready(&self, mut resource: Value) -> Result<Value, RunError> {
        let (mut poll, since) = (self.poll, Instant::now());
        loop {
            let settled = resource["reconciling"] != Value::Bool(true);
            let condition = &resource["terminalCondition"];
            match condition["state"].as_str() {
                Some("CONDITION_SUCCEEDED") if settled => return Ok(resource),
                Some("CONDITION_FAILED") if settled => {
                    return Err(self.failed(condition_message(condition)));
                }
                _ => {}
            }
            self.pause(&mut poll, since).await?;
            resource = self
                .get()
                .await?
                .ok_or_else(|| self.failed("it vanished"))?;
        }
    }

    /// Waits until the resource is not changing any more (`reconciling` false), whatever its
    /// outcome: after a 409, the change under way (perhaps dagship's own create, whose answer
    /// was lost) must end before the resource is read and written again. `None`: it is gone.
    pub async fn settle(&self) -> Result<Option<Value>, RunError> {
        let (mut poll, since) = (self.poll, Instant::now());
        loop {
            match self.get().await? {
                Some(r) if r["reconciling"] == Value::Bool(true) => {}
                settled => return Ok(settled),
            }
            self.pause(&mut poll, since).await?;
        }
    }

    /// Sleeps before the next look, never past the deadline.
    async fn pause(&self, poll: &mut Duration, since: Instant) -> Result<(), RunError> {
        let mut wait = *poll;
        if let Some(deadline) = self.deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(RunError::NotReady {
                    noun: self.target.resource.noun(),
                    name: self.target.name.clone(),
                    waited: since.elapsed(),
                });
            }
            wait = wait.min(left);
        }
        tokio::time::sleep(wait).await;
        *poll = (*poll * 3 / 2).min(Duration::from_secs(8));
        Ok(())
    }
}

/// What a failed condition says: its message, else its reason.
pub fn condition_message(condition: &Value) -> String {
    condition["message"]
        .as_str()
        .filter(|m| !m.is_empty())
        .or_else(|| condition["reason"].as_str())
        .or_else(|| condition["revisionReason"].as_str())
        .unwrap_or("no reason given")
        .to_string()
}

/// The message of a revision's failed condition, if one failed.
pub fn revision_failure(revision: &Value) -> Option<String> {
    revision["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["state"] == "CONDITION_FAILED")
        .map(condition_message)
}

/// The last segment of a resource name (`projects/p/.../revisions/svc-0001` → `svc-0001`).
pub fn short_name(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}
