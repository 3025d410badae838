//! What a step kind is: the pipeline file's view of it ([`KindSchema`]: inputs, outputs,
//! checks) plus what it does in one environment: the actions it plans, how it compares them
//! with what is live (for `plan`), and how it carries them out (for `run`).

use std::future::Future;
use std::path::Path;
use std::pin::Pin;

use indexmap::IndexMap;

use crate::action::Action;
use crate::artifact::{Artifact, Checkout};
use crate::cloud::Connections;
use crate::exec::{Job, StepFuture};
use crate::expr::{Resolved, Template};
use crate::pipeline::{Environment, KindSchema, Step};
use crate::resolve::Resolver;
use crate::yaml::{Node, Value};

pub(crate) type LiveFuture<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

pub(crate) trait StepKind: KindSchema {
    /// The actions this step takes in one environment, in order.
    fn plan(&self, inputs: &Inputs) -> Vec<Action>;
    /// For `plan`: fills in the `live` side of the actions `plan` returned (read-only looks
    /// at what is there now). Kinds whose actions have no live side keep the default.
    fn live<'a>(&'a self, _actions: &'a mut [Action], _at: &'a Live<'a>) -> LiveFuture<'a> {
        Box::pin(async {})
    }
    /// Carries out the actions `plan` returned (planned again when the step starts, with the
    /// outputs of the steps before it) and returns the step's outputs.
    fn execute(&self, job: Job) -> StepFuture;
    /// Outputs known before the step runs, from its inputs alone (dbt's manifest path): a
    /// plan previews with them what a later step will read (the files there now).
    fn expected_outputs(&self, _inputs: &Inputs) -> IndexMap<String, String> {
        IndexMap::new()
    }
    /// What a release records of this step once it succeeded, from the actions it carried
    /// out and its outputs: kinds that deploy nothing keep the default.
    fn artifact(&self, _done: &Done) -> Result<Option<Artifact>, ArtifactError> {
        Ok(None)
    }
    /// What this step does when a release is deployed again (`promote`, `rollback`), given
    /// what the release recorded of it. Kinds that build rather than deploy are not run.
    fn redeploy(&self, _inputs: &Inputs, _recorded: Option<&Checkout>) -> Redeployed {
        Redeployed::Skip(
            "not run: a promotion or rollback deploys what the release recorded, it builds nothing"
                .to_string(),
        )
    }
}

/// A step that succeeded, for [`StepKind::artifact`].
pub(crate) struct Done<'a> {
    pub(crate) actions: &'a [Action],
    pub(crate) outputs: &'a IndexMap<String, String>,
    /// The pipeline file's folder: relative paths resolve against it.
    pub(crate) dir: &'a Path,
}

/// A succeeded step whose artifact could not be read (its files changed or vanished).
#[derive(Debug, thiserror::Error)]
#[error("what step `{step}` deployed cannot be recorded: {reason}")]
pub(crate) struct ArtifactError {
    pub(crate) step: String,
    pub(crate) reason: String,
}

/// What a step does when a release is deployed again.
pub(crate) enum Redeployed {
    /// It does not run, and why.
    Skip(String),
    /// These actions deploy what the release recorded.
    Actions(Vec<Action>),
    /// It should deploy something the release did not record: the release cannot be
    /// deployed here (a step that did not run where it was cut).
    Missing(String),
}

/// A release being deployed again, as the steps see it.
pub(crate) struct Redeploy<'a> {
    pub(crate) release: &'a str,
    /// What the release recorded, fetched, by step id.
    pub(crate) recorded: &'a IndexMap<String, Checkout>,
    /// `rollback` (else `promote`).
    pub(crate) rollback: bool,
    /// `rollback --downgrade`: migrations go back to the release's revision.
    pub(crate) downgrade: bool,
}

/// What a live comparison may use.
pub(crate) struct Live<'a> {
    /// The pipeline file's folder: relative paths resolve against it.
    pub(crate) dir: &'a Path,
    pub(crate) connections: &'a Connections,
}

/// A step's inputs in one environment, expressions resolved.
pub(crate) struct Inputs<'a> {
    /// The pipeline's `name`.
    pub(crate) pipeline: &'a str,
    pub(crate) step: &'a Step,
    pub(crate) environment: &'a Environment,
    pub(crate) resolver: &'a Resolver<'a>,
    /// The pipeline file's folder: relative paths resolve against it.
    pub(crate) dir: &'a Path,
    /// For a plan, kinds may look at live state read-only (pending migrations); when a run
    /// starts a step, they must not spend time on it.
    pub(crate) inspect: bool,
    /// The run was told to remove files past the steps' `max_prune` (`--allow-prune`).
    pub(crate) allow_prune: bool,
    /// What the environment's current release recorded of this step, for a plan to compare
    /// with (image digests, manifests).
    pub(crate) current: Option<&'a Checkout>,
    /// The release being deployed again, if this is a promotion or a rollback.
    pub(crate) redeploy: Option<&'a Redeploy<'a>>,
    /// Outputs of other steps known before they run ([`StepKind::expected_outputs`]), by
    /// step id: a plan's previews only.
    pub(crate) expected: Option<&'a Expected>,
}

/// Outputs known before their steps run, by step id.
pub(crate) type Expected = std::collections::HashMap<String, IndexMap<String, String>>;

impl Inputs<'_> {
    /// How much of what it manages the step may remove: `max_prune` (percent), unless the
    /// run allows any removal.
    pub(crate) fn prune_limit(&self) -> Option<crate::prune::PruneLimit> {
        if self.allow_prune {
            return None;
        }
        let percent = self
            .text("max_prune")
            .and_then(|p| p.to_string().parse().ok());
        Some(
            percent.map_or_else(Default::default, |percent| crate::prune::PruneLimit {
                percent,
            }),
        )
    }

    /// `value` with the outputs of steps that have not run replaced by what they are
    /// expected to be; `None` when one is not known in advance (or a secret is not set).
    pub(crate) fn preview(&self, value: &Resolved) -> Option<String> {
        let mut out = String::new();
        for part in &value.parts {
            match part {
                crate::expr::Piece::Text(t) => out.push_str(t),
                crate::expr::Piece::Secret { value: Some(v), .. } => out.push_str(v),
                crate::expr::Piece::Pending { step, output } => {
                    out.push_str(self.expected?.get(step)?.get(output)?)
                }
                _ => return None,
            }
        }
        Some(out)
    }

    pub(crate) fn node(&self, name: &str) -> Option<&Node> {
        self.step.with.get(name)
    }

    pub(crate) fn text(&self, name: &str) -> Option<Resolved> {
        self.node(name)
            .map(|n| self.resolver.resolve(&Template::of(n)))
    }

    pub(crate) fn text_or(&self, name: &str, default: &str) -> Resolved {
        self.text(name).unwrap_or_else(|| Resolved::text(default))
    }

    /// One value or a list of them.
    pub(crate) fn list(&self, name: &str) -> Vec<Resolved> {
        match self.node(name) {
            None => Vec::new(),
            Some(Node {
                value: Value::Seq(items),
                ..
            }) => items
                .iter()
                .map(|n| self.resolver.resolve(&Template::of(n)))
                .collect(),
            Some(node) => vec![self.resolver.resolve(&Template::of(node))],
        }
    }

    pub(crate) fn flag(&self, name: &str) -> bool {
        matches!(
            self.node(name),
            Some(Node {
                value: Value::Bool(true),
                ..
            })
        )
    }

    pub(crate) fn map(&self, name: &str) -> IndexMap<String, Resolved> {
        self.node(name)
            .and_then(Node::as_map)
            .unwrap_or(&[])
            .iter()
            .map(|(k, v)| (k.name.clone(), self.resolver.resolve(&Template::of(v))))
            .collect()
    }

    /// The step's own `env:`, resolved.
    pub(crate) fn step_env(&self) -> IndexMap<String, Resolved> {
        self.step
            .env
            .iter()
            .map(|(k, t)| (k.clone(), self.resolver.resolve(t)))
            .collect()
    }

    /// An input that falls back to a field of the environment (`project`, `region`).
    pub(crate) fn text_or_env(&self, name: &str) -> Resolved {
        self.text(name).unwrap_or_else(|| {
            Resolved::text(self.environment.field(name).flatten().unwrap_or_default())
        })
    }
}

/// A step's actions. Its own `env:` applies to every program it runs, over what the kind sets.
/// When a release is deployed again, the kind's `redeploy` decides them (a step it skips or
/// cannot deploy was settled by the plan and never starts).
pub(crate) fn actions_for(kind: &dyn StepKind, inputs: &Inputs) -> Vec<Action> {
    let mut actions = match inputs.redeploy {
        None => kind.plan(inputs),
        Some(r) => match kind.redeploy(inputs, r.recorded.get(&inputs.step.id)) {
            Redeployed::Actions(actions) => actions,
            Redeployed::Skip(_) | Redeployed::Missing(_) => Vec::new(),
        },
    };
    let step_env = inputs.step_env();
    for action in &mut actions {
        if let Action::Exec(exec) = action {
            exec.env.extend(step_env.clone());
        }
    }
    actions
}

/// A kind was handed actions it does not plan: a defect of dagship's, reported as a failure of
/// the step rather than a crash.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Unplanned(pub(crate) &'static str);
