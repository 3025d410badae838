//! The plan: every selected step, in stage order, with the actions it would take in one
//! environment. Building it has no side effects: it reads files, never writes or runs them.

pub mod json;
mod live;
pub mod markdown;
pub mod mermaid;
pub mod text;

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use crate::action::{Action, FileList};
use crate::artifact::Checkout;
use crate::error::Error;
use crate::git::{Git, Revision};
use crate::graph::Graph;
use crate::pipeline::{Environment, Pipeline, Step};
use crate::resolve::{Resolver, SecretSource};
use crate::selection::Selection;
use crate::steps::{self, Expected, Inputs, Redeploy, Redeployed};
use indexmap::IndexMap;

pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Serialize)]
pub struct Plan {
    pub format_version: u32,
    pub pipeline: String,
    pub environment: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub git: Revision,
    pub stages: Vec<Vec<String>>,
    pub steps: Vec<PlannedStep>,
    /// Steps of the pipeline that `--only`/`--from` left out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub left_out: Vec<String>,
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "ReleaseInfo::is_empty")]
    pub release: ReleaseInfo,
    pub changes: Changes,
    pub summary: Summary,
}

#[derive(Debug, Serialize)]
pub struct PlannedStep {
    pub id: String,
    pub uses: String,
    pub stage: usize,
    pub needs: Vec<String>,
    /// Needs that `--only` left out: assumed to have succeeded already.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub needs_left_out: Vec<String>,
    pub skipped: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
    pub retries: u32,
    /// Names of the secrets this step uses (never their values).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing_secrets: Vec<String>,
    /// Outputs of other steps its inputs read: (step, output).
    #[serde(skip)]
    pub reads: Vec<(String, String)>,
    /// Why the release being deployed again cannot be deployed by this step.
    #[serde(skip)]
    missing: Option<String>,
    pub actions: Vec<Action>,
}

#[derive(Debug, Serialize)]
pub struct Changes {
    /// Whether any step would change something: every step that runs a program does; a
    /// deploy or sync does unless the live comparison found nothing to change.
    pub has_changes: bool,
    /// Whether deploys and syncs were compared with what is live: `compared`, `not read`
    /// (a run), or `unknown: ...` and why.
    pub live_comparison: String,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub steps: usize,
    pub stages: usize,
    pub to_run: usize,
    pub skipped: usize,
    pub actions: usize,
}

pub struct PlanRequest<'a> {
    pub pipeline: &'a Pipeline,
    pub environment: &'a str,
    pub selection: &'a Selection,
    pub git: &'a Git,
    pub secrets: &'a dyn SecretSource,
    /// Compare deploys and syncs with what is live (read-only API calls): `plan` does, a run
    /// does not (each step reads what it needs when it starts).
    pub live: bool,
    /// The environment's releases: the current one to compare with, the one deployed again.
    pub releases: Releases<'a>,
}

/// What the plan knows of the environment's releases.
#[derive(Default)]
pub struct Releases<'a> {
    /// The current release's artifacts, fetched (manifests only), by step id.
    pub(crate) current: Option<&'a IndexMap<String, Checkout>>,
    /// A release deployed again (`promote`, `rollback`).
    pub(crate) redeploy: Option<&'a Redeploy<'a>>,
    /// What the plan says of them (ids, lock holder).
    pub info: ReleaseInfo,
}

/// The releases a plan compares with or deploys, and who holds the environment's lock.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReleaseInfo {
    /// The environment's current release (newest that succeeded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    /// The release this deploys again, `ENV/ID` (`promote`, `rollback`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deploys: Option<String>,
    /// Who holds the environment's lock now (`plan` takes none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked_by: Option<String>,
    /// Why the releases could not be read, when they could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown: Option<String>,
}

impl ReleaseInfo {
    fn is_empty(&self) -> bool {
        self.current.is_none()
            && self.deploys.is_none()
            && self.locked_by.is_none()
            && self.unknown.is_none()
    }
}

pub fn environment<'a>(pipeline: &'a Pipeline, name: &str) -> Result<&'a Environment, Error> {
    pipeline.environments.get(name).ok_or_else(|| {
        let names = pipeline.environment_names();
        Error::UnknownEnvironment {
            name: name.to_string(),
            suggestion: crate::diagnostic::closest(name, names.iter().copied()).map(str::to_string),
            known: names.iter().map(|n| n.to_string()).collect(),
        }
    })
}

pub fn build(req: &PlanRequest) -> Result<Plan, Error> {
    let pipeline = req.pipeline;
    let env = environment(pipeline, req.environment)?;
    let graph = Graph::of(pipeline);
    let selected = req.selection.apply(&graph)?;
    let (sub, old) = graph.subgraph(&selected);
    let stage_of = sub
        .stages()
        .expect("cycles are rejected when the pipeline loads");
    let mut order: Vec<usize> = (0..sub.len()).collect();
    order.sort_by(|&a, &b| (stage_of[a], &sub.ids[a]).cmp(&(stage_of[b], &sub.ids[b])));

    let no_outputs = HashMap::new();
    let expected = expected_outputs(req, env, &order.iter().map(|&n| old[n]).collect::<Vec<_>>());
    let mut warnings = Vec::new();
    let mut missing = Vec::new();
    let mut steps: Vec<PlannedStep> = order
        .iter()
        .map(|&n| {
            let step = &pipeline.steps[old[n]];
            let resolver = Resolver::new(env, req.git, req.secrets, &no_outputs);
            let at = Place {
                stage: stage_of[n],
                selected: &selected,
                graph: &graph,
                expected: &expected,
            };
            let mut planned = plan_step(req, step, env, &resolver, &at);
            if let Some(why) = planned.missing.take() {
                missing.push(why);
            }
            for secret in &planned.missing_secrets {
                warnings.push(format!(
                    "secret `{secret}` is not set: step `{}` would fail to start in `run`",
                    step.id
                ));
            }
            for value in resolver.unknown_values() {
                warnings.push(format!(
                    "`{value}` is unknown (no git repository, no GITHUB_SHA/GITHUB_REF): step `{}` uses it",
                    step.id
                ));
            }
            planned
        })
        .collect();
    if let (Some(redeploy), false) = (req.releases.redeploy, missing.is_empty()) {
        return Err(Error::CannotRedeploy {
            release: redeploy.release.to_string(),
            environment: env.name.clone(),
            problems: missing,
        });
    }
    fill_synced_files(&mut steps, &graph);
    let live_comparison = if req.live {
        live::compare(&mut steps, pipeline)
    } else {
        "not read".to_string()
    };

    for step in steps.iter().filter(|s| !s.skipped) {
        for stop in step.actions.iter().filter_map(Action::prune_stop) {
            warnings.push(format!("step `{}` would stop: {stop}", step.id));
        }
    }
    let stage_count = stage_of.iter().max().map_or(0, |s| s + 1);
    let mut stages = vec![Vec::new(); stage_count];
    for step in &steps {
        stages[step.stage].push(step.id.clone());
    }
    let summary = summarize(&steps, stage_count);
    Ok(Plan {
        format_version: FORMAT_VERSION,
        pipeline: pipeline.name.clone(),
        environment: env.name.clone(),
        project: env.project.clone(),
        region: env.region.clone(),
        git: req.git.revision().clone(),
        left_out: (0..graph.len())
            .filter(|i| !selected.contains(i))
            .map(|i| graph.ids[i].clone())
            .collect(),
        warnings,
        release: req.releases.info.clone(),
        changes: Changes {
            has_changes: steps
                .iter()
                .filter(|s| !s.skipped)
                .flat_map(|s| &s.actions)
                .any(|a| !a.is_no_op()),
            live_comparison,
        },
        stages,
        steps,
        summary,
    })
}

/// Where a step sits in the plan, and what the plan knows of the others.
struct Place<'a> {
    stage: usize,
    selected: &'a BTreeSet<usize>,
    graph: &'a Graph,
    expected: &'a Expected,
}

/// What each step's outputs are expected to be before anything runs, for previews.
fn expected_outputs(req: &PlanRequest, env: &Environment, steps: &[usize]) -> Expected {
    let no_outputs = HashMap::new();
    steps
        .iter()
        .map(|&i| &req.pipeline.steps[i])
        .filter(|step| step.runs_in(&env.name))
        .map(|step| {
            let resolver = Resolver::new(env, req.git, req.secrets, &no_outputs);
            let inputs = Inputs {
                pipeline: &req.pipeline.name,
                step,
                environment: env,
                resolver: &resolver,
                dir: req.pipeline.dir(),
                inspect: false,
                allow_prune: false,
                current: None,
                redeploy: None,
                expected: None,
            };
            (step.id.clone(), steps::of(step).expected_outputs(&inputs))
        })
        .filter(|(_, outputs)| !outputs.is_empty())
        .collect()
}

fn plan_step(
    req: &PlanRequest,
    step: &Step,
    env: &Environment,
    resolver: &Resolver,
    at: &Place,
) -> PlannedStep {
    let (stage, selected, graph) = (at.stage, at.selected, at.graph);
    let mut skip_reason = (!step.runs_in(&env.name)).then(|| {
        let envs: Vec<&str> = step
            .environments
            .iter()
            .flatten()
            .map(|e| e.name.as_str())
            .collect();
        format!("runs only in {}", crate::diagnostic::one_of(&envs))
    });
    let mut missing = None;
    let actions = if skip_reason.is_some() {
        Vec::new()
    } else {
        let inputs = Inputs {
            pipeline: &req.pipeline.name,
            step,
            environment: env,
            resolver,
            dir: req.pipeline.dir(),
            inspect: true,
            allow_prune: false,
            current: req.releases.current.and_then(|c| c.get(&step.id)),
            redeploy: req.releases.redeploy,
            expected: Some(at.expected),
        };
        let kind = steps::of(step);
        match req.releases.redeploy {
            Some(r) => match kind.redeploy(&inputs, r.recorded.get(&step.id)) {
                Redeployed::Actions(_) => steps::actions_for(kind, &inputs),
                Redeployed::Skip(reason) => {
                    skip_reason = Some(reason);
                    Vec::new()
                }
                Redeployed::Missing(why) => {
                    missing = Some(format!("step `{}`: {why}", step.id));
                    Vec::new()
                }
            },
            None => steps::actions_for(kind, &inputs),
        }
    };
    let needs: Vec<String> = step.needs.iter().map(|n| n.name.clone()).collect();
    PlannedStep {
        id: step.id.clone(),
        uses: step.kind_name().to_string(),
        stage,
        needs_left_out: needs
            .iter()
            .filter(|n| graph.index(n).is_some_and(|i| !selected.contains(&i)))
            .cloned()
            .collect(),
        needs,
        skipped: skip_reason.is_some(),
        skip_reason,
        timeout_seconds: step.timeout.map(|t| t.as_secs()),
        retries: step.retries,
        secrets: resolver.used_secrets(),
        missing_secrets: resolver.missing_secrets(),
        // Deploying a release again, steps use what it recorded, not what the steps before
        // them would output (those build, and do not run).
        reads: match req.releases.redeploy {
            None => resolver.pending_outputs(),
            Some(_) => Vec::new(),
        },
        missing,
        actions,
    }
}

/// A sync of a folder that an upstream step generates syncs that step's files, not whatever
/// the folder holds today.
fn fill_synced_files(steps: &mut [PlannedStep], graph: &Graph) {
    let generated: HashMap<String, (String, FileList)> = steps
        .iter()
        .flat_map(|s| s.actions.iter().map(move |a| (s, a)))
        .filter_map(|(s, a)| match a {
            Action::Generate(g) => {
                Some((trim(&g.out.to_string()), (s.id.clone(), g.files.clone())))
            }
            _ => None,
        })
        .collect();
    for step in steps
        .iter_mut()
        .filter(|s| s.actions.iter().any(|a| matches!(a, Action::Sync(_))))
    {
        let upstream: BTreeSet<String> = graph
            .index(&step.id)
            .map(|i| {
                graph
                    .upstream(i)
                    .into_iter()
                    .map(|u| graph.ids[u].clone())
                    .collect()
            })
            .unwrap_or_default();
        for action in &mut step.actions {
            if let Action::Sync(sync) = action
                && let Some((producer, files)) = generated.get(&trim(&sync.source.to_string()))
                && upstream.contains(producer)
            {
                sync.files = files.clone();
                sync.generated_by = Some(producer.clone());
            }
        }
    }
}

fn trim(path: &str) -> String {
    path.trim_start_matches("./")
        .trim_end_matches('/')
        .to_string()
}

fn summarize(steps: &[PlannedStep], stages: usize) -> Summary {
    let skipped = steps.iter().filter(|s| s.skipped).count();
    Summary {
        steps: steps.len(),
        stages,
        to_run: steps.len() - skipped,
        skipped,
        actions: steps.iter().map(|s| s.actions.len()).sum(),
    }
}
