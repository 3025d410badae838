//! Checks of meaning, once the shapes are right: names that must exist, cycles, and what
//! each `${{ }}` expression refers to (a secret's name included).

use std::cell::OnceCell;
use std::collections::BTreeSet;

use super::fields::ENV_FIELDS;
use super::values::check_secret_name;
use super::{Named, Outputs, Pipeline, Step};
use crate::diagnostic::{Diagnostic, did_you_mean, environments_phrase, one_of};
use crate::expr::{self, Expr, NAMESPACES, Template};
use crate::graph::Graph;
use crate::yaml::{Node, Value};

pub(super) fn check(pipeline: &Pipeline, diags: &mut Vec<Diagnostic>) {
    let graph = Graph::of(pipeline);
    for step in pipeline.steps.values() {
        check_needs(pipeline, step, diags);
        check_step_environments(pipeline, step, diags);
        if let Some(kind) = step.kind {
            kind.check(step, pipeline, diags);
        }
    }
    check_cycles(pipeline, &graph, diags);
    check_promote_from(pipeline, diags);
    check_environment_vars(pipeline, diags);
    for (i, step) in pipeline.steps.values().enumerate() {
        let checker = ExprChecker {
            pipeline,
            step,
            upstream: OnceCell::new(),
            graph: &graph,
            index: i,
        };
        for_each_template(&step.with, &mut |t| checker.check(t, diags));
        for template in step.env.values() {
            checker.check(template, diags);
        }
    }
}

fn unknown_name(named: &Named, what: &str, known: &[&str]) -> Diagnostic {
    let mut d = Diagnostic::error(named.span, format!("unknown {what} `{}`", named.name))
        .label(format!("no {what} has this name"))
        .expected(format!("one of {}", one_of(known)));
    if let Some(help) = did_you_mean(&named.name, known.iter().copied()) {
        d = d.help(help);
    }
    d
}

fn step_ids(pipeline: &Pipeline) -> Vec<&str> {
    pipeline.steps.keys().map(String::as_str).collect()
}

fn check_needs(pipeline: &Pipeline, step: &Step, diags: &mut Vec<Diagnostic>) {
    for need in &step.needs {
        if need.name == step.id {
            diags.push(
                Diagnostic::error(need.span, format!("step `{}` needs itself", step.id))
                    .label("a step cannot wait for itself")
                    .expected("the ids of other steps"),
            );
        } else if !pipeline.steps.contains_key(&need.name) {
            let others: Vec<&str> = step_ids(pipeline)
                .into_iter()
                .filter(|id| *id != step.id)
                .collect();
            diags.push(unknown_name(need, "step", &others));
        }
    }
}

fn check_step_environments(pipeline: &Pipeline, step: &Step, diags: &mut Vec<Diagnostic>) {
    for env in step.environments.iter().flatten() {
        if !pipeline.environments.contains_key(&env.name) {
            diags.push(unknown_name(
                env,
                "environment",
                &pipeline.environment_names(),
            ));
        }
    }
}

fn check_cycles(pipeline: &Pipeline, graph: &Graph, diags: &mut Vec<Diagnostic>) {
    for cycle in graph.cycles() {
        if cycle.len() == 2 {
            continue; // a step needing itself is reported by check_needs
        }
        let path: Vec<&str> = cycle.iter().map(|&i| graph.ids[i].as_str()).collect();
        let first = &pipeline.steps[cycle[0]];
        let span = first
            .needs
            .iter()
            .find(|n| n.name == path[1])
            .map_or(first.span, |n| n.span);
        diags.push(
            Diagnostic::error(span, format!("cycle in `needs`: {}", path.join(" → ")))
                .label(format!(
                    "`{}` needs `{}`, which leads back here",
                    path[0], path[1]
                ))
                .expected("needs that form no cycle (each step in the cycle needs the next)"),
        );
    }
}

fn check_promote_from(pipeline: &Pipeline, diags: &mut Vec<Diagnostic>) {
    let names = pipeline.environment_names();
    for env in pipeline.environments.values() {
        let Some(source) = &env.promote_from else {
            continue;
        };
        if !pipeline.environments.contains_key(&source.name) {
            diags.push(unknown_name(source, "environment", &names));
            continue;
        }
        let mut chain = vec![env.name.as_str()];
        let mut current = Some(source);
        while let Some(next) = current {
            let closes = chain.contains(&next.name.as_str());
            chain.push(&next.name);
            if closes {
                // Report each loop once: from the environment of the loop first in the file.
                let at = chain.iter().position(|e| *e == next.name).unwrap_or(0);
                let first_in_file = chain[at..]
                    .iter()
                    .min_by_key(|e| pipeline.environments.get_index_of(**e))
                    .copied();
                if chain[0] == next.name && first_in_file == Some(env.name.as_str()) {
                    diags.push(
                        Diagnostic::error(source.span, "`promote_from` forms a loop")
                            .label(chain.join(" ← "))
                            .expected("a chain of environments that ends (e.g. prod ← staging)"),
                    );
                }
                break;
            }
            current = pipeline
                .environments
                .get(&next.name)
                .and_then(|e| e.promote_from.as_ref());
        }
    }
}

/// Vars are per-environment values: they may use secrets, git and the environment's own
/// fields, but not other vars (no recursion) nor step outputs (vars exist before any step).
fn check_environment_vars(pipeline: &Pipeline, diags: &mut Vec<Diagnostic>) {
    for env in pipeline.environments.values() {
        for template in env.vars.values() {
            for e in template.exprs() {
                let parts: Vec<&str> = e.path.iter().map(String::as_str).collect();
                let problem = match parts.as_slice() {
                    ["secrets", name] => {
                        diags.extend(secret_name(e, name));
                        None
                    }
                    ["git", "sha" | "ref"] => None,
                    ["env", field] => match env.field(field) {
                        Some(Some(_)) => None,
                        Some(None) => Some(format!(
                            "`{field}` is not set in environment `{}`",
                            env.name
                        )),
                        None => Some(format!("`env` has no field `{field}`")),
                    },
                    _ => Some("vars can use `secrets`, `git` and `env` only".to_string()),
                };
                if let Some(label) = problem {
                    diags.push(
                        Diagnostic::error(e.span, format!("invalid expression `{}` in `vars`", e.text()))
                            .label(label)
                            .expected("`secrets.NAME`, `git.sha`, `git.ref` or `env.FIELD` of this environment"),
                    );
                }
            }
        }
    }
}

/// Calls `f` with every template string under a step's `with`.
fn for_each_template(node: &Node, f: &mut impl FnMut(&Template)) {
    match &node.value {
        Value::Str(text) if text.contains("${{") => {
            if let Ok(t) = expr::parse(text, node) {
                f(&t);
            }
        }
        Value::Seq(items) => items.iter().for_each(|n| for_each_template(n, f)),
        Value::Map(entries) => entries.iter().for_each(|(_, n)| for_each_template(n, f)),
        _ => {}
    }
}

struct ExprChecker<'a> {
    pipeline: &'a Pipeline,
    step: &'a Step,
    graph: &'a Graph,
    index: usize,
    /// Computed on first use: most steps read no other step's outputs.
    upstream: OnceCell<BTreeSet<usize>>,
}

impl ExprChecker<'_> {
    fn is_upstream(&self, id: &str) -> bool {
        let upstream = self
            .upstream
            .get_or_init(|| self.graph.upstream(self.index));
        self.graph.index(id).is_some_and(|i| upstream.contains(&i))
    }

    fn check(&self, template: &Template, diags: &mut Vec<Diagnostic>) {
        for e in template.exprs() {
            if let Some(d) = self.check_expr(e) {
                diags.push(d);
            }
        }
    }

    fn check_expr(&self, e: &Expr) -> Option<Diagnostic> {
        let parts: Vec<&str> = e.path.iter().map(String::as_str).collect();
        match parts.as_slice() {
            ["env", field] => self.check_env_field(e, field),
            ["vars", name] => self.check_var(e, name),
            ["secrets", name] => secret_name(e, name),
            ["git", "sha" | "ref"] => None,
            ["git", other] => Some(unknown_field(e, other, "git", &["sha", "ref"])),
            ["steps", id, "outputs", output] => self.check_output(e, id, output),
            [ns, ..] if !NAMESPACES.contains(ns) => {
                let mut d = Diagnostic::error(e.span, format!("unknown namespace `{ns}`"))
                    .label("in this expression")
                    .expected(format!("one of {}", one_of(NAMESPACES)));
                if let Some(help) = did_you_mean(ns, NAMESPACES.iter().copied()) {
                    d = d.help(help);
                }
                Some(d)
            }
            _ => Some(
                Diagnostic::error(e.span, format!("malformed expression `{}`", e.text()))
                    .label("wrong number of parts")
                    .expected(
                        "`env.FIELD`, `vars.NAME`, `secrets.NAME`, `git.sha`, `git.ref` or \
                         `steps.ID.outputs.NAME`",
                    ),
            ),
        }
    }

    /// The environments this step runs in, where each expression must make sense.
    fn environments(&self) -> impl Iterator<Item = &super::Environment> {
        self.pipeline
            .environments
            .values()
            .filter(|env| self.step.runs_in(&env.name))
    }

    fn check_env_field(&self, e: &Expr, field: &str) -> Option<Diagnostic> {
        if !ENV_FIELDS.contains(&field) {
            return Some(unknown_field(e, field, "env", ENV_FIELDS));
        }
        let unset: Vec<&str> = self
            .environments()
            .filter(|env| env.field(field) == Some(None))
            .map(|env| env.name.as_str())
            .collect();
        (!unset.is_empty()).then(|| self.unset_in(e, &format!("`{field}`"), &unset))
    }

    fn check_var(&self, e: &Expr, name: &str) -> Option<Diagnostic> {
        let unset: Vec<&str> = self
            .environments()
            .filter(|env| !env.vars.contains_key(name))
            .map(|env| env.name.as_str())
            .collect();
        (!unset.is_empty()).then(|| self.unset_in(e, &format!("`vars.{name}`"), &unset))
    }

    fn unset_in(&self, e: &Expr, what: &str, environments: &[&str]) -> Diagnostic {
        Diagnostic::error(
            e.span,
            format!("`{}` is not set in {}", e.text(), environments_phrase(environments)),
        )
        .label(format!("step `{}` runs there", self.step.id))
        .expected(format!(
            "{what} in every environment the step runs in, or `environments:` on the step to leave the others out"
        ))
    }

    fn check_output(&self, e: &Expr, id: &str, output: &str) -> Option<Diagnostic> {
        let Some(source) = self.pipeline.steps.get(id) else {
            let ids = step_ids(self.pipeline);
            let mut d = Diagnostic::error(e.span, format!("unknown step `{id}` in expression"))
                .label(format!("`{}`", e.text()))
                .expected(format!("one of {}", one_of(&ids)));
            if let Some(help) = did_you_mean(id, ids.iter().copied()) {
                d = d.help(help);
            }
            return Some(d);
        };
        if !self.is_upstream(id) {
            return Some(
                Diagnostic::error(
                    e.span,
                    format!("step `{id}` is not upstream of `{}`", self.step.id),
                )
                .label("its outputs are not known when this step starts")
                .expected(format!(
                    "a step that `{}` needs, directly or not",
                    self.step.id
                ))
                .help(format!("add `{id}` to `needs` of step `{}`", self.step.id)),
            );
        }
        match source.kind.map(|k| k.outputs()) {
            Some(Outputs::Named(names)) if !names.contains(&output) => Some(unknown_field(
                e,
                output,
                &format!("steps.{id}.outputs"),
                names,
            )),
            _ => None,
        }
    }
}

fn unknown_field(e: &Expr, field: &str, namespace: &str, known: &[&str]) -> Diagnostic {
    let mut d = Diagnostic::error(e.span, format!("unknown field `{field}` in `{namespace}`"))
        .label(format!("`{}`", e.text()))
        .expected(format!("one of {}", one_of(known)));
    if let Some(help) = did_you_mean(field, known.iter().copied()) {
        d = d.help(help);
    }
    d
}

/// A secret is read from the environment variable of its name, which a GitHub Actions
/// workflow sets from the repository secret of the same name: a name GitHub cannot hold is
/// a secret that can never be set.
fn secret_name(e: &Expr, name: &str) -> Option<Diagnostic> {
    let problem = check_secret_name(name).err()?;
    Some(
        Diagnostic::error(e.span, problem.to_string())
            .label(format!("`{}`", e.text()))
            .expected("a secret name of letters, digits and `_`, such as `WAREHOUSE_DB_URL`"),
    )
}
