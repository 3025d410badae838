//! `dagship dags --manifest PATH [--selectors PATH] --out DIR [options]`: generate Airflow
//! DAG files from a dbt manifest, without a pipeline file (the `airflow_dags` step runs the
//! same code).

use clap::ValueEnum;
use indexmap::IndexMap;

use crate::cli::args::{DagsArgs, DagsTests, Output};
use crate::dags::{
    self, DagOptions, DagsError, ExtraKind, ExtraTask, Notify, Operator, OperatorError,
    OperatorSettings, Slack, TestsMode,
};
use crate::dbt::selectors_file::SelectorsFile;
use crate::error::{Error, ExitCode};

pub(crate) fn run(args: &DagsArgs, output: &Output) -> Result<ExitCode, Error> {
    let options = options(args)?;
    let loaded = dags::load_manifest(&args.manifest)?;
    let selectors = args
        .selectors
        .as_deref()
        .map(SelectorsFile::from_path)
        .transpose()
        .map_err(DagsError::from)?;
    if args.list {
        let mut out = String::new();
        for (dag_id, ids) in dags::selections(&loaded, selectors.as_ref())? {
            for id in ids {
                out.push_str(&format!("{dag_id} {id}\n"));
            }
        }
        anstream::print!("{out}");
        std::mem::forget(loaded); // see below
        return Ok(ExitCode::Success);
    }
    let out = args.out.as_deref().unwrap_or(std::path::Path::new("."));
    let files = dags::generate(&loaded, selectors.as_ref(), &options)?;
    let limit = (!args.allow_prune).then_some(crate::prune::PruneLimit {
        percent: args.max_prune,
    });
    let written = dags::write(out, &files, limit)?;
    if !output.quiet {
        for line in written.lines(&files, out) {
            anstream::println!("{line}");
        }
    }
    // The process ends here: freeing a large manifest node by node would take a tenth of
    // the whole run (0.5 s at 50k models), for memory the system reclaims at once.
    std::mem::forget(loaded);
    std::mem::forget(files);
    Ok(ExitCode::Success)
}

fn options(args: &DagsArgs) -> Result<DagOptions, DagsError> {
    let value = args.executor.to_possible_value();
    let name = value.as_ref().map_or("", |v| v.get_name());
    let operator = Operator::from_settings(name, &Flags(args))
        .map_err(|e| DagsError::Options(e.to_string()))?;
    let extra = |list: &[(String, String)]| -> Vec<ExtraTask> {
        list.iter()
            .map(|(id, command)| ExtraTask {
                id: id.clone(),
                kind: ExtraKind::Bash(command.clone()),
            })
            .collect()
    };
    let defaults = DagOptions::default();
    let mut schedules = IndexMap::new();
    for (name, cron) in &args.schedules {
        schedules.insert(name.clone(), cron.clone());
    }
    Ok(DagOptions {
        operator,
        project_dir: args.project_dir.clone(),
        profiles_dir: args.profiles_dir.clone(),
        target: args.target.clone(),
        tests: match args.tests {
            DagsTests::AfterEach => TestsMode::AfterEach,
            DagsTests::Build => TestsMode::Build,
            DagsTests::None => TestsMode::None,
        },
        schedules,
        source_freshness: args.source_freshness,
        start_date: args.start_date.clone(),
        tags: if args.tags.is_empty() {
            defaults.tags
        } else {
            args.tags.clone()
        },
        max_active_runs: args.max_active_runs,
        retries: args.retries,
        retry_delay: args.retry_delay,
        pool: args.pool.clone(),
        on_failure_callback: args.on_failure_callback.clone(),
        notify: Notify {
            slack: args.notify_slack.clone().map(|connection| Slack {
                connection,
                channel: args.notify_slack_channel.clone(),
            }),
            email: args.notify_email.clone(),
        },
        before: extra(&args.before),
        after: extra(&args.after),
    })
}

/// An operator's settings from the flags named after them.
struct Flags<'a>(&'a DagsArgs);

impl OperatorSettings for Flags<'_> {
    fn required(
        &self,
        operator: &'static str,
        name: &'static str,
    ) -> Result<String, OperatorError> {
        let value = match name {
            "project" => &self.0.project,
            "region" => &self.0.region,
            "job" => &self.0.job,
            // A setting without a flag yet: the flag is part of adding its operator.
            _ => &None,
        };
        let value = value.clone().or(self.optional(name)?);
        value.ok_or_else(|| OperatorError::Missing {
            operator,
            flag: format!("--{}", name.replace('_', "-")),
        })
    }

    fn optional(&self, name: &'static str) -> Result<Option<String>, OperatorError> {
        let f = &self.0.executor_settings;
        let bool = |b: Option<bool>| b.map(|b| b.to_string());
        Ok(match name {
            "image" => f.image.clone(),
            "namespace" => f.namespace.clone(),
            "service_account" => f.service_account.clone(),
            "config_file" => f.config_file.clone(),
            "network" => f.network.clone(),
            "job_id" => f.job_id.clone(),
            "account_id" => f.account_id.clone(),
            "conn_id" => f.conn_id.clone(),
            "wait_for_termination" => bool(f.wait_for_termination),
            "cluster" => f.cluster.clone(),
            "task_definition" => f.task_definition.clone(),
            "container_name" => f.container_name.clone(),
            "launch_type" => f.launch_type.clone(),
            "assign_public_ip" => bool(f.assign_public_ip),
            "awslogs_group" => f.awslogs_group.clone(),
            "awslogs_stream_prefix" => f.awslogs_stream_prefix.clone(),
            "aws_region" => f.aws_region.clone(),
            "deferrable" => bool(f.deferrable),
            _ => None,
        })
    }

    fn list(&self, name: &'static str) -> Result<Vec<String>, OperatorError> {
        let f = &self.0.executor_settings;
        Ok(match name {
            "requests" => f.requests.clone(),
            "limits" => f.limits.clone(),
            "secret_env" => f.secret_env.clone(),
            "mounts" => f.mounts.clone(),
            "subnets" => f.subnets.clone(),
            "security_groups" => f.security_groups.clone(),
            _ => Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::args::DagsOperator;
    use crate::shape::Shape;

    /// `--executor` and the step's `executor:` offer exactly the operators there are.
    #[test]
    fn every_operator_is_offered_by_the_flag_and_the_step() {
        let flag: Vec<String> = DagsOperator::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value())
            .map(|v| v.get_name().to_string())
            .collect();
        assert_eq!(flag, Operator::NAMES);
        use crate::pipeline::Catalog;
        let step = crate::steps::Kinds
            .kind("airflow_dags")
            .expect("a step kind");
        let field = step.inputs().fields.iter().find(|f| f.name == "executor");
        match field.map(|f| &f.shape) {
            Some(Shape::Enum(names)) => assert_eq!(names, &Operator::NAMES),
            other => panic!("the step's `executor` is {other:?}"),
        }
    }
}
