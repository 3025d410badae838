//! `pipeline.yaml` → [`Pipeline`]: parse, check shapes, build the model, check meaning.
//!
//! Every stage is tolerant of what earlier stages reported, so one run shows every mistake.

use std::path::Path;
use std::time::Duration;

use indexmap::IndexMap;

use super::aws_values;
use super::fields::TOP;
use super::{Catalog, DagsTarget, Environment, KindSchema, Named, Pipeline, StateStore, Step};
use crate::diagnostic::{Diagnostic, did_you_mean, one_of};
use crate::error::Error;
use crate::expr::{self, Template};
use crate::shape::parse_duration;
use crate::source::{SourceFile, Unreadable};
use crate::yaml::{self, Node, Value};

/// Loads and checks a pipeline file, its steps against the step kinds of `kinds`. Warnings
/// come back with the pipeline; errors fail it.
pub fn load(path: &Path, kinds: &dyn Catalog) -> Result<(Pipeline, Vec<Diagnostic>), Error> {
    let file = SourceFile::read(path).map_err(|e| match e {
        Unreadable::Io(source) => Error::Read {
            path: path.to_path_buf(),
            source,
        },
        Unreadable::NotUtf8 { lossy, diagnostic } => invalid(lossy, vec![*diagnostic]),
    })?;
    let root = match yaml::parse(&file.text) {
        Ok(root) => root,
        Err(d) => return Err(invalid(file, vec![*d])),
    };
    let mut diags = Vec::new();
    if !matches!(root.value, Value::Map(_)) {
        diags.push(not_a_pipeline(&root));
        return Err(invalid(file, diags));
    }
    TOP.check(&root, "", &mut diags);
    check_version(&root, &mut diags);
    check_airflow_urls(&root, &mut diags);
    let pipeline = Pipeline {
        name: root.get("name").and_then(Node::as_str).unwrap_or("").into(),
        environments: environments(&root),
        steps: steps(&root, kinds, &mut diags),
        file,
    };
    super::check::check(&pipeline, &mut diags);
    if diags.iter().any(Diagnostic::is_error) {
        let Pipeline { file, .. } = pipeline;
        return Err(invalid(file, diags));
    }
    Ok((pipeline, diags))
}

fn invalid(file: SourceFile, mut diagnostics: Vec<Diagnostic>) -> Error {
    diagnostics.sort_by_key(|d| (d.span.start, d.span.len));
    diagnostics.dedup();
    Error::Invalid {
        file: Box::new(file),
        diagnostics,
    }
}

fn not_a_pipeline(root: &Node) -> Diagnostic {
    let found = match root.value {
        Value::Null => "an empty file".to_string(),
        _ => root.type_name().to_string(),
    };
    Diagnostic::error(root.span, "this is not a pipeline file")
        .label(format!("found {found}"))
        .expected("a mapping with `version: 1`, `name`, `environments` and `steps`")
}

fn check_version(root: &Node, diags: &mut Vec<Diagnostic>) {
    if let Some(
        node @ Node {
            value: Value::Int(v),
            ..
        },
    ) = root.get("version")
        && *v != 1
    {
        diags.retain(|d| d.span != node.span);
        diags.push(
            Diagnostic::error(
                node.span,
                format!("unsupported pipeline format version {v}"),
            )
            .label("this dagship reads version 1")
            .expected("`version: 1`"),
        );
    }
}

/// `airflow_url` names the Airflow of a local folder (a Composer environment's own is looked
/// up, a bare bucket's is unknown), by an `http(s)://` URL.
fn check_airflow_urls(root: &Node, diags: &mut Vec<Diagnostic>) {
    let entries = root
        .get("environments")
        .and_then(Node::as_map)
        .unwrap_or(&[]);
    for (key, env) in entries {
        let Some(target) = env.get("dags_target").filter(|t| t.as_map().is_some()) else {
            continue;
        };
        let Some((url_key, url)) = target
            .as_map()
            .unwrap_or(&[])
            .iter()
            .find(|(k, _)| k.name == "airflow_url")
        else {
            continue;
        };
        let path = format!("environments.{}.dags_target.airflow_url", key.name);
        if target.get("dir").is_none() {
            diags.push(
                Diagnostic::error(url_key.span, format!("`{path}` needs `dir`"))
                    .label("the Airflow of a local folder")
                    .expected("`airflow_url` beside `dir`; a Composer environment's Airflow is looked up through the Composer API"),
            );
        }
        if let Some(text) = url.as_str()
            && !(text.starts_with("http://") || text.starts_with("https://"))
        {
            diags.push(
                Diagnostic::error(url.span, format!("wrong value for `{path}`"))
                    .label("not an http(s) URL")
                    .expected("the Airflow's base URL, such as `http://localhost:8080`"),
            );
        }
    }
}

fn environments(root: &Node) -> IndexMap<String, Environment> {
    let entries = root
        .get("environments")
        .and_then(Node::as_map)
        .unwrap_or(&[]);
    entries
        .iter()
        .map(|(key, node)| (key.name.clone(), environment(&key.name, key.span, node)))
        .collect()
}

fn environment(name: &str, span: crate::diagnostic::Span, node: &Node) -> Environment {
    let text = |field: &str| node.get(field).and_then(Node::as_str).map(str::to_string);
    let vars = node
        .get("vars")
        .and_then(Node::as_map)
        .unwrap_or(&[])
        .iter()
        .map(|(k, v)| (k.name.clone(), Template::of(v)))
        .collect();
    Environment {
        name: name.to_string(),
        span,
        project: text("project"),
        region: text("region"),
        vars,
        dags_target: node.get("dags_target").and_then(dags_target),
        airflow_url: node
            .get("dags_target")
            .and_then(|t| t.get("airflow_url"))
            .and_then(Node::as_str)
            .map(|url| url.trim_end_matches('/').to_string()),
        state: node.get("state").and_then(state_store),
        promote_from: node.get("promote_from").and_then(named),
        protected: matches!(
            node.get("protected"),
            Some(Node {
                value: Value::Bool(true),
                ..
            })
        ),
        impersonate_service_account: text("impersonate_service_account"),
        assume_role: text("assume_role"),
    }
}

fn dags_target(node: &Node) -> Option<DagsTarget> {
    let text = |field: &str| node.get(field).and_then(Node::as_str).map(str::to_string);
    if let Some(path) = text("dir") {
        return Some(DagsTarget::Dir { path });
    }
    if let Some(bucket) = text("bucket") {
        let prefix = text("prefix").unwrap_or_else(|| "dags/".to_string());
        return Some(DagsTarget::Bucket { bucket, prefix });
    }
    if let Some(url) = text("s3") {
        let (bucket, prefix) = aws_values::split_s3(&url);
        let prefix = prefix.trim_matches('/');
        let prefix = if prefix.is_empty() { "dags" } else { prefix };
        return Some(DagsTarget::S3 {
            bucket: bucket.to_string(),
            prefix: format!("{prefix}/"),
        });
    }
    if let Some(environment) = text("mwaa_environment") {
        return Some(DagsTarget::Mwaa { environment });
    }
    text("composer_environment").map(|environment| DagsTarget::Composer { environment })
}

fn state_store(node: &Node) -> Option<StateStore> {
    let text = |field: &str| node.get(field).and_then(Node::as_str).map(str::to_string);
    text("dir")
        .map(StateStore::Dir)
        .or_else(|| text("bucket").map(StateStore::Bucket))
        .or_else(|| text("s3").map(StateStore::S3))
}

fn named(node: &Node) -> Option<Named> {
    Some(Named {
        name: node.as_str()?.to_string(),
        span: node.span,
    })
}

fn names(node: Option<&Node>) -> Option<Vec<Named>> {
    Some(node?.as_seq()?.iter().filter_map(named).collect())
}

fn steps(root: &Node, kinds: &dyn Catalog, diags: &mut Vec<Diagnostic>) -> IndexMap<String, Step> {
    let entries = root.get("steps").and_then(Node::as_map).unwrap_or(&[]);
    let mut steps = IndexMap::new();
    for (key, node) in entries {
        if key.name.is_empty() {
            diags.push(
                Diagnostic::error(key.span, "a step id must be a name")
                    .label("not a name")
                    .expected("a name such as `compile` or `upload_dags`"),
            );
            continue;
        }
        if !expr::is_identifier(&key.name) {
            diags.push(
                Diagnostic::error(key.span, format!("invalid step id `{}`", key.name))
                    .label("step ids name log files and graph nodes")
                    .expected("letters, digits, `_` and `-`, starting with a letter or `_`"),
            );
        }
        if node.as_map().is_none() || steps.contains_key(&key.name) {
            continue; // shape or duplicate already reported
        }
        let step = step(&key.name, key.span, node, kinds, diags);
        steps.insert(key.name.clone(), step);
    }
    steps
}

fn step(
    id: &str,
    span: crate::diagnostic::Span,
    node: &Node,
    kinds: &dyn Catalog,
    diags: &mut Vec<Diagnostic>,
) -> Step {
    let kind = node
        .get("uses")
        .and_then(|uses| step_kind(uses, kinds, diags));
    let with = node
        .get("with")
        .cloned()
        .unwrap_or_else(|| Node::new(span, Value::Map(Vec::new())));
    if let Some(kind) = kind {
        let path = format!("steps.{id}.with");
        let with_key = node
            .as_map()
            .unwrap_or(&[])
            .iter()
            .find(|(k, _)| k.name == "with");
        let owner = with_key.map_or(span, |(k, _)| k.span);
        match with.value {
            Value::Map(_) => kind.inputs().check_within(&with, &path, owner, diags),
            _ => diags.push(
                Diagnostic::error(with.span, format!("wrong value for `{path}`"))
                    .label(format!("found {}", with.type_name()))
                    .expected(format!(
                        "a mapping of the inputs of a `{}` step",
                        kind.name()
                    )),
            ),
        }
    }
    let env = node
        .get("env")
        .and_then(Node::as_map)
        .unwrap_or(&[])
        .iter()
        .map(|(k, v)| (k.name.clone(), Template::of(v)))
        .collect();
    Step {
        id: id.to_string(),
        span,
        kind,
        with,
        needs: names(node.get("needs")).unwrap_or_default(),
        environments: names(node.get("environments")),
        timeout: node.get("timeout").and_then(duration),
        retries: match node.get("retries") {
            Some(Node {
                value: Value::Int(n),
                ..
            }) => u32::try_from(*n).unwrap_or(0),
            _ => 0,
        },
        env,
    }
}

fn step_kind(
    uses: &Node,
    kinds: &dyn Catalog,
    diags: &mut Vec<Diagnostic>,
) -> Option<&'static dyn KindSchema> {
    let name = uses.as_str()?;
    let kind = kinds.kind(name);
    if kind.is_none() {
        let names = kinds.names();
        let mut d = Diagnostic::error(uses.span, format!("unknown step kind `{name}`"))
            .label("not a step kind")
            .expected(format!("one of {}", one_of(&names)));
        if let Some(help) = did_you_mean(name, names.iter().copied()) {
            d = d.help(help);
        }
        diags.push(d);
    }
    kind
}

fn duration(node: &Node) -> Option<Duration> {
    let seconds = match &node.value {
        Value::Int(n) => u64::try_from(*n).ok()?,
        Value::Str(s) => parse_duration(s)?,
        _ => return None,
    };
    Some(Duration::from_secs(seconds))
}
