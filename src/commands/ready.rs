//! What `run` checks before anything starts: the environment's protection, secrets, each
//! cloud's credentials, outputs that nothing selected would produce, and programs that are
//! not installed. Every problem found is reported at once (exit 2): one try tells them all.

use std::collections::{BTreeMap, BTreeSet};

use crate::action::Action;
use crate::cloud::Provider;
use crate::error::{Error, MissingSecret, NotRunning, Unready};
use crate::exec::process::findable;
use crate::pipeline::Pipeline;
use crate::plan::{Plan, PlannedStep};

/// Everything that would make the run fail for reasons known before it starts.
pub(super) fn check(pipeline: &Pipeline, plan: &Plan, yes: bool) -> Result<(), Error> {
    let environment = &pipeline.environments[plan.environment.as_str()];
    let mut problems = Vec::new();
    if environment.protected && !yes && !in_ci() {
        problems.push(Unready::Protected {
            environment: environment.name.clone(),
        });
    }
    let running: Vec<&PlannedStep> = plan.steps.iter().filter(|s| !s.skipped).collect();
    let missing: Vec<MissingSecret> = running
        .iter()
        .flat_map(|s| {
            s.missing_secrets.iter().map(|name| MissingSecret {
                step: s.id.clone(),
                name: name.clone(),
            })
        })
        .collect();
    if !missing.is_empty() {
        problems.push(Unready::MissingSecrets { missing });
    }
    problems.extend(unproduced_outputs(plan, &running));
    problems.extend(missing_programs(pipeline, &running));
    problems.extend(missing_credentials(&running));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::NotReady { problems })
    }
}

fn in_ci() -> bool {
    ["CI", "GITHUB_ACTIONS"]
        .iter()
        .any(|v| std::env::var(v).is_ok_and(|x| x == "true" || x == "1"))
}

/// Steps that read an output of a step that will not run in this run (left out by `--only`,
/// or not in this environment): the value would never be there.
fn unproduced_outputs(plan: &Plan, running: &[&PlannedStep]) -> Vec<Unready> {
    let mut problems = Vec::new();
    for step in running {
        for (producer, output) in &step.reads {
            let why = match plan.steps.iter().find(|s| &s.id == producer) {
                None => NotRunning::NotSelected,
                Some(s) if s.skipped => NotRunning::NotInEnvironment,
                Some(_) => continue,
            };
            problems.push(Unready::UnproducedOutput {
                step: step.id.clone(),
                producer: producer.clone(),
                output: output.clone(),
                why,
            });
        }
    }
    problems
}

/// Programs the steps run that cannot be found (`dbt`, `alembic` outside the venv).
fn missing_programs(pipeline: &Pipeline, running: &[&PlannedStep]) -> Vec<Unready> {
    let path = std::env::var_os("PATH");
    let mut seen = BTreeSet::new();
    let mut problems = Vec::new();
    for step in running {
        for action in &step.actions {
            let Action::Exec(exec) = action else { continue };
            // A program named by a value not known yet is looked for when it starts.
            let Some(Ok(program)) = exec.argv.first().map(|a| a.reveal()) else {
                continue;
            };
            let cwd = match exec.cwd.as_ref().map(|c| c.reveal()) {
                Some(Ok(cwd)) => pipeline.dir().join(cwd),
                Some(Err(_)) => continue,
                None => pipeline.dir().to_path_buf(),
            };
            if !findable(&program, &cwd, path.as_deref()) && seen.insert(program.clone()) {
                problems.push(Unready::MissingProgram {
                    step: step.id.clone(),
                    program,
                });
            }
        }
    }
    problems
}

/// Steps that call a cloud need its credentials; finding them makes no network call, so a
/// run without any stops before it starts rather than halfway.
fn missing_credentials(running: &[&PlannedStep]) -> Vec<Unready> {
    let mut calling: BTreeMap<Provider, Vec<String>> = BTreeMap::new();
    for step in running {
        let providers: BTreeSet<Provider> =
            step.actions.iter().filter_map(|a| a.provider()).collect();
        for provider in providers {
            calling.entry(provider).or_default().push(step.id.clone());
        }
    }
    calling
        .into_iter()
        .filter_map(|(provider, steps)| {
            let source = provider.credentials_problem()?;
            Some(Unready::NoCredentials {
                provider,
                steps,
                source,
            })
        })
        .collect()
}
