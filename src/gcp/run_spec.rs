//! The part of a Cloud Run service or job that a pipeline declares, how it is written into the
//! resource (Admin API v2 JSON), and how it differs from what is live.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use super::cloud_run::RunResource;

/// A container environment variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    /// A literal value; `secret` when it came from `${{ secrets.* }}` (never shown).
    Plain { value: String, secret: bool },
    /// A Secret Manager reference (`secret-name:version`), resolved by Cloud Run.
    SecretRef { secret: String, version: String },
}

impl EnvValue {
    /// How a plan shows it: never the value of a secret.
    fn shown(&self) -> String {
        match self {
            EnvValue::Plain { secret: true, .. } => "(secret value)".into(),
            EnvValue::Plain { value, .. } => format!("{value:?}"),
            EnvValue::SecretRef { secret, version } => format!("secret {secret}:{version}"),
        }
    }

    /// `name:version` (version `latest` when left out).
    pub fn secret_ref(text: &str) -> EnvValue {
        let (secret, version) = text.split_once(':').unwrap_or((text, "latest"));
        EnvValue::SecretRef {
            secret: secret.into(),
            version: version.into(),
        }
    }

    fn to_json(&self, name: &str) -> Value {
        match self {
            EnvValue::Plain { value, .. } => json!({ "name": name, "value": value }),
            EnvValue::SecretRef { secret, version } => json!({
                "name": name,
                "valueSource": { "secretKeyRef": { "secret": secret, "version": version } }
            }),
        }
    }

    fn from_json(v: &Value) -> EnvValue {
        let r = &v["valueSource"]["secretKeyRef"];
        match r["secret"].as_str() {
            Some(secret) => EnvValue::SecretRef {
                secret: secret.into(),
                version: r["version"].as_str().unwrap_or("latest").into(),
            },
            None => EnvValue::Plain {
                value: v["value"].as_str().unwrap_or_default().into(),
                secret: false,
            },
        }
    }

    fn same(&self, live: &EnvValue) -> bool {
        match (self, live) {
            (EnvValue::Plain { value: a, .. }, EnvValue::Plain { value: b, .. }) => a == b,
            _ => self == live,
        }
    }
}

/// What the pipeline declares. `None`: left as it is on the live resource.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    pub image: String,
    pub env: Vec<(String, EnvValue)>,
    pub labels: BTreeMap<String, String>,
    /// Pipeline key (`cpu`, `memory`, `service_account`, ...) → value, as written.
    pub settings: BTreeMap<String, String>,
}

/// Where each setting lives in the resource: a path from the revision template (service) or
/// the execution template (job), or from the resource itself.
fn setting_path(resource: RunResource, key: &str) -> Option<(Base, &'static [&'static str])> {
    use Base::*;
    let p: (Base, &'static [&'static str]) = match (resource, key) {
        (_, "cpu") => (Container, &["resources", "limits", "cpu"]),
        (_, "memory") => (Container, &["resources", "limits", "memory"]),
        (_, "service_account") => (Task, &["serviceAccount"]),
        (RunResource::Service, "concurrency") => (Task, &["maxInstanceRequestConcurrency"]),
        (RunResource::Service, "min_instances") => (Task, &["scaling", "minInstanceCount"]),
        (RunResource::Service, "max_instances") => (Task, &["scaling", "maxInstanceCount"]),
        (RunResource::Service, "ingress") => (Top, &["ingress"]),
        (RunResource::Job, "tasks") => (Execution, &["taskCount"]),
        (RunResource::Job, "parallelism") => (Execution, &["parallelism"]),
        (RunResource::Job, "task_timeout") => (Task, &["timeout"]),
        (RunResource::Job, "max_retries") => (Task, &["maxRetries"]),
        _ => return None,
    };
    Some(p)
}

#[derive(Clone, Copy)]
enum Base {
    Top,
    /// A job's `template` (an ExecutionTemplate); a service has none.
    Execution,
    /// A service's `template`, a job's `template.template`: what runs.
    Task,
    /// The first container of `Task`.
    Container,
}

fn base_path(resource: RunResource, base: Base) -> Vec<&'static str> {
    let task: &[&str] = match resource {
        RunResource::Service => &["template"],
        RunResource::Job => &["template", "template"],
    };
    match base {
        Base::Top => vec![],
        Base::Execution => vec!["template"],
        Base::Task => task.to_vec(),
        Base::Container => task.to_vec(), // then containers[0]
    }
}

fn lookup<'v>(root: &'v Value, resource: RunResource, base: Base, path: &[&str]) -> &'v Value {
    let mut v = root;
    for key in base_path(resource, base) {
        v = &v[key];
    }
    if matches!(base, Base::Container) {
        v = &v["containers"][0];
    }
    for key in path {
        v = &v[*key];
    }
    v
}

fn slot<'v>(
    root: &'v mut Value,
    resource: RunResource,
    base: Base,
    path: &[&str],
) -> &'v mut Value {
    let mut v = root;
    for key in base_path(resource, base) {
        v = object(v).entry(key).or_insert_with(|| json!({}));
    }
    if matches!(base, Base::Container) {
        let list = object(v).entry("containers").or_insert_with(|| json!([{}]));
        if list.as_array().is_none_or(Vec::is_empty) {
            *list = json!([{}]);
        }
        v = &mut list[0];
    }
    for key in path {
        v = object(v).entry(*key).or_insert(Value::Null);
    }
    v
}

fn object(v: &mut Value) -> &mut serde_json::Map<String, Value> {
    if !v.is_object() {
        *v = json!({});
    }
    v.as_object_mut().expect("made an object")
}

/// The API's value for a setting as written in the pipeline.
fn api_value(key: &str, text: &str) -> Value {
    match key {
        "ingress" => json!(match text {
            "internal" => "INGRESS_TRAFFIC_INTERNAL_ONLY",
            "internal-and-cloud-load-balancing" => "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
            _ => "INGRESS_TRAFFIC_ALL",
        }),
        "task_timeout" => json!(format!(
            "{}s",
            crate::shape::parse_duration(text).unwrap_or_default()
        )),
        "concurrency" | "min_instances" | "max_instances" | "tasks" | "parallelism"
        | "max_retries" => text.parse::<u64>().map_or(json!(text), |n| json!(n)),
        _ => json!(text),
    }
}

/// A live value as text, comparable with `api_value(..).to_string()`'s content.
fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

impl Spec {
    /// The resource to send: `live` (when it exists) with the declared fields set.
    pub fn apply(&self, resource: RunResource, live: Option<&Value>) -> Value {
        let mut r = live.cloned().unwrap_or_else(|| json!({}));
        *slot(&mut r, resource, Base::Container, &["image"]) = json!(self.image);
        let env: Vec<Value> = self.env.iter().map(|(k, v)| v.to_json(k)).collect();
        *slot(&mut r, resource, Base::Container, &["env"]) = Value::Array(env);
        for (key, text) in &self.settings {
            if let Some((base, path)) = setting_path(resource, key) {
                *slot(&mut r, resource, base, path) = api_value(key, text);
            }
        }
        let labels = object(object(&mut r).entry("labels").or_insert_with(|| json!({})));
        for (k, v) in &self.labels {
            labels.insert(k.clone(), json!(v));
        }
        if resource == RunResource::Service {
            // A revision name set by an earlier no-traffic deploy cannot be used twice.
            if let Some(t) = r["template"].as_object_mut() {
                t.remove("revision");
            }
        }
        r
    }

    /// What would change on `live`, field by field; empty when nothing would.
    pub fn diff(&self, resource: RunResource, live: &Value, image_now: &str) -> Vec<Change> {
        let mut changes = Vec::new();
        if image_now != self.image {
            changes.push(Change::new(
                "image",
                Some(image_now.into()),
                Some(self.image.clone()),
            ));
        }
        env_changes(&self.env, live_env(resource, live), &mut changes);
        for (key, text) in &self.settings {
            let Some((base, path)) = setting_path(resource, key) else {
                continue;
            };
            let before = text_of(lookup(live, resource, base, path));
            let after = text_of(&api_value(key, text));
            if before != after {
                changes.push(Change::new(key, before, after));
            }
        }
        for (k, v) in &self.labels {
            let before = live["labels"][k].as_str().map(str::to_string);
            if before.as_deref() != Some(v) {
                changes.push(Change::new(&format!("label.{k}"), before, Some(v.clone())));
            }
        }
        changes
    }
}

fn live_env(resource: RunResource, live: &Value) -> Vec<(String, EnvValue)> {
    lookup(live, resource, Base::Container, &["env"])
        .as_array()
        .map(|list| {
            list.iter()
                .map(|v| {
                    (
                        v["name"].as_str().unwrap_or_default().to_string(),
                        EnvValue::from_json(v),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn env_changes(want: &[(String, EnvValue)], live: Vec<(String, EnvValue)>, out: &mut Vec<Change>) {
    let live: BTreeMap<String, EnvValue> = live.into_iter().collect();
    for (name, value) in want {
        let field = format!("env.{name}");
        match live.get(name) {
            None => out.push(Change::new(&field, None, Some(value.shown()))),
            Some(now) if !value.same(now) => {
                // A live literal may be an old secret: show it only when the new one is plain.
                let before = match (value, now) {
                    (EnvValue::Plain { secret: true, .. }, _) => "(secret value)".into(),
                    _ => now.shown(),
                };
                out.push(Change::new(&field, Some(before), Some(value.shown())));
            }
            Some(_) => {}
        }
    }
    for name in live.keys().filter(|n| !want.iter().any(|(w, _)| w == *n)) {
        out.push(Change::new(
            &format!("env.{name}"),
            Some("(removed)".into()),
            None,
        ));
    }
}

/// One field that would change: `before` `None` is an addition, `after` `None` a removal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub field: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

impl Change {
    fn new(field: &str, before: Option<String>, after: Option<String>) -> Change {
        Change {
            field: field.into(),
            before,
            after,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        Spec {
            image: "r/app@sha256:2".into(),
            env: vec![
                (
                    "MODE".into(),
                    EnvValue::Plain {
                        value: "prod".into(),
                        secret: false,
                    },
                ),
                (
                    "TOKEN".into(),
                    EnvValue::Plain {
                        value: "hunter2".into(),
                        secret: true,
                    },
                ),
                ("DB".into(), EnvValue::secret_ref("db-url")),
            ],
            labels: BTreeMap::from([("team".into(), "data".into())]),
            settings: BTreeMap::from([
                ("memory".into(), "2Gi".into()),
                ("concurrency".into(), "10".into()),
                ("ingress".into(), "internal".into()),
            ]),
        }
    }

    #[test]
    fn applying_keeps_unmanaged_fields_and_drops_an_old_revision_name() {
        let live = json!({
            "template": { "revision": "svc-old", "vpcAccess": { "connector": "c" },
                          "containers": [{ "image": "r/app@sha256:1", "ports": [{"containerPort": 8080}] }] },
            "labels": { "owner": "x" }
        });
        let r = spec().apply(RunResource::Service, Some(&live));
        assert_eq!(r["template"]["vpcAccess"]["connector"], "c");
        assert_eq!(
            r["template"]["containers"][0]["ports"][0]["containerPort"],
            8080
        );
        assert_eq!(
            r["template"]["containers"][0]["resources"]["limits"]["memory"],
            "2Gi"
        );
        assert_eq!(r["template"]["maxInstanceRequestConcurrency"], 10);
        assert_eq!(r["ingress"], "INGRESS_TRAFFIC_INTERNAL_ONLY");
        assert_eq!(r["labels"], json!({ "owner": "x", "team": "data" }));
        assert!(r["template"].get("revision").is_none());
        let env = &r["template"]["containers"][0]["env"];
        assert_eq!(
            env[2]["valueSource"]["secretKeyRef"],
            json!({"secret": "db-url", "version": "latest"})
        );
        let job = spec().apply(RunResource::Job, None);
        assert_eq!(
            job["template"]["template"]["containers"][0]["image"],
            "r/app@sha256:2"
        );
    }

    #[test]
    fn diff_is_empty_when_live_matches_and_never_shows_secret_values() {
        let s = spec();
        let live = s.apply(RunResource::Service, None);
        assert!(s.diff(RunResource::Service, &live, &s.image).is_empty());

        let mut other = live.clone();
        let c = &mut other["template"]["containers"][0];
        c["env"] = json!([
            { "name": "MODE", "value": "dev" },
            { "name": "TOKEN", "value": "old-secret" },
            { "name": "GONE", "value": "x" }
        ]);
        c["resources"]["limits"]["memory"] = json!("512Mi");
        let changes = s.diff(RunResource::Service, &other, "r/app@sha256:1");
        let shown = serde_json::to_string(&changes).unwrap();
        assert!(
            !shown.contains("hunter2") && !shown.contains("old-secret"),
            "{shown}"
        );
        let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "image",
                "env.MODE",
                "env.TOKEN",
                "env.DB",
                "env.GONE",
                "memory"
            ]
        );
        assert_eq!(changes[1].before.as_deref(), Some("\"dev\""));
        assert_eq!(changes[4].after, None);
    }
}
