//! `airflow_dags`: turns a dbt manifest (and `selectors.yml`) into static Airflow DAG files,
//! one DAG per selector. The generator itself is [`crate::dags`], shared with `dagship dags`.

use std::path::Path;

use indexmap::IndexMap;

use super::{ArtifactError, Done, Inputs, Redeployed, StepKind, dags_release};
use crate::action::{Action, FileList, Generate};
use crate::artifact::{Artifact, Checkout};
use crate::dags::naming::dag_file_name;
use crate::dags::options as limits;
use crate::dags::{self, DagOptions, TestsMode};
use crate::dbt::selectors_file::SelectorsFile;
use crate::diagnostic::Diagnostic;
use crate::exec::{Failure, Job, StepContext, StepError, StepFuture};
use crate::expr::Resolved;
use crate::gcp::cloud_run::RunResource;
use crate::gcp::run_values;
use crate::pipeline::{KindSchema, Outputs, Pipeline, Step};
use crate::shape::{Field, Record, Rule, Shape};
use crate::yaml::{self, Node, Value};

mod executor_inputs;
mod notify_inputs;
mod options;

use options::options;

pub(super) struct AirflowDags;

/// `before` and `after` entries: a shell command or any operator, with an id.
const EXTRA_TASK: Record = Record {
    fields: &[
        Field::required("id", Shape::Str, "Task id (letters, digits, `_`, `-`)."),
        Field::optional(
            "bash",
            Shape::Template,
            "A shell command (a `BashOperator`; Airflow renders it as a template).",
        ),
        Field::optional(
            "operator",
            Shape::Str,
            "An operator class by import path, e.g. `airflow.providers.airbyte.operators.airbyte.AirbyteTriggerSyncOperator`.",
        ),
        Field::optional(
            "arguments",
            Shape::Map(&Shape::Scalar),
            "Keyword arguments of `operator`.",
        ),
    ],
    exactly_one_of: &["bash", "operator"],
};

const EXTRA_TASKS: Shape = Shape::List(&Shape::Record(&EXTRA_TASK));

// Values a generated DAG holds, held to Airflow's limits where they are written (values with
// `${{ }}` when the step starts, by `DagOptions::check`).

const SCHEDULE: Shape = Shape::Valid(&Rule {
    shape: &Shape::Template,
    describe: "a cron expression such as `0 5 * * *`, an Airflow preset such as `@daily`, or `null`",
    null: true,
    check: |text| limits::check_schedule(text).map_err(|e| e.to_string()),
});

const START_DATE: Shape = Shape::Valid(&Rule {
    shape: &Shape::Str,
    describe: "a date `YYYY-MM-DD` from 0001-01-01 to 9999-12-31",
    null: false,
    check: |text| limits::check_start_date(text).map_err(|e| e.to_string()),
});

const TAGS: Shape = Shape::List(&Shape::Valid(&Rule {
    shape: &Shape::Template,
    describe: "a tag of at most 100 characters",
    null: false,
    check: |text| limits::check_tag(text).map_err(|e| e.to_string()),
}));

const RETRY_DELAY: Shape = Shape::Valid(&Rule {
    shape: &Shape::Duration,
    describe: "a duration such as `90s`, `5m` or `1h30m`, at most 999999999 days",
    null: false,
    check: |text| {
        let seconds = crate::shape::parse_duration(text).unwrap_or_default();
        limits::check_timedelta("retry_delay", seconds).map_err(|e| e.to_string())
    },
});

const POOL: Shape = Shape::Valid(&Rule {
    shape: &Shape::Template,
    describe: "an Airflow pool name of at most 256 characters",
    null: false,
    check: |text| limits::check_name("pool", "slot_pool.pool", text).map_err(|e| e.to_string()),
});

/// The Cloud Run job and its region (executor `cloud_run_job`), by Cloud Run's rules.
const JOB: Shape = Shape::Valid(&Rule {
    shape: &Shape::Template,
    describe: "a Cloud Run job name: lowercase letters, digits and hyphens, beginning with a letter",
    null: false,
    check: |text| run_values::check_name(RunResource::Job, text).map_err(|e| e.to_string()),
});

const JOB_REGION: Shape = Shape::Valid(&Rule {
    shape: &Shape::Template,
    describe: "a region such as `europe-west1`",
    null: false,
    check: |text| run_values::check_region(text).map_err(|e| e.to_string()),
});

const INPUTS: Record = Record {
    // The executors' own settings follow these (`executor_inputs`).
    fields: &executor_inputs::with_executor_fields![
        Field::required(
            "manifest",
            Shape::Template,
            "Path of dbt's `target/manifest.json`.",
        ),
        Field::optional(
            "selectors",
            Shape::Template,
            "Path of `selectors.yml`: one DAG per selector (default: one DAG `dbt_all`).",
        ),
        Field::required(
            "out",
            Shape::Template,
            "Folder the DAG files are written to.",
        ),
        Field::optional(
            "executor",
            Shape::Enum(&[
                "bash",
                "cloud_run_job",
                "kubernetes_pod",
                "docker",
                "dbt_cloud",
                "ecs_task",
            ]),
            "How tasks run dbt (default: `bash`, on the worker); docs/executors.md.",
        ),
        Field::optional(
            "job",
            JOB,
            "Cloud Run job that runs dbt (executor `cloud_run_job`).",
        ),
        Field::optional(
            "project",
            Shape::Template,
            "Google Cloud project of the job (default: the environment's `project`).",
        ),
        Field::optional(
            "region",
            JOB_REGION,
            "Region of the job (default: the environment's `region`).",
        ),
        Field::optional(
            "project_dir",
            Shape::Template,
            "dbt project folder as Airflow workers (or the job's container) see it.",
        ),
        Field::optional(
            "profiles_dir",
            Shape::Template,
            "`--profiles-dir` of the dbt commands.",
        ),
        Field::optional("target", Shape::Template, "dbt target the tasks use."),
        Field::optional(
            "schedules",
            Shape::Map(&SCHEDULE),
            "Schedule per selector name (cron, an Airflow preset, or `null` for none); else a `schedule` key in the selector, else none.",
        ),
        Field::optional(
            "tests",
            Shape::Enum(&["after_each", "build", "none"]),
            "Where dbt tests run (default: `after_each`).",
        ),
        Field::optional(
            "source_freshness",
            Shape::Bool,
            "Add a `dbt source freshness` task per source, upstream of the units that read it.",
        ),
        Field::optional(
            "start_date",
            START_DATE,
            "The DAGs' start date, `YYYY-MM-DD` in UTC (default: `2024-01-01`).",
        ),
        Field::optional("tags", TAGS, "DAG tags (default: `[dbt, dagship]`)."),
        Field::optional(
            "max_active_runs",
            Shape::Int { min: 1, max: 1000 },
            "Runs of one DAG at a time (default: 1).",
        ),
        Field::optional(
            "retries",
            Shape::Int { min: 0, max: 100 },
            "Retries of a failed task (default: 1); a node's `meta.dagship.retries` wins.",
        ),
        Field::optional(
            "retry_delay",
            RETRY_DELAY,
            "Wait between retries (default: `5m`).",
        ),
        Field::optional(
            "pool",
            POOL,
            "Airflow pool of the dbt tasks; a node's `meta.dagship.pool` wins.",
        ),
        Field::optional(
            "on_failure_callback",
            Shape::Str,
            "Function called when a DAG run fails, as an import path: `alerts.slack:notify`.",
        ),
        Field::optional(
            "notify",
            notify_inputs::NOTIFY,
            "Notifiers called when a task fails: `{slack: CONNECTION_ID, slack_channel: \"#alerts\", email: [ADDRESS]}`.",
        ),
        Field::optional(
            "max_prune",
            Shape::Int { min: 0, max: 100 },
            "The share (percent) of the DAG files dagship wrote into `out` that one run may remove (default: 50); past it, or when it would remove all of them, the step stops before writing unless the run has `--allow-prune`.",
        ),
        Field::optional(
            "before",
            EXTRA_TASKS,
            "Tasks upstream of every dbt task: `{id, bash}` or `{id, operator, arguments}`.",
        ),
        Field::optional(
            "after",
            EXTRA_TASKS,
            "Tasks downstream of every dbt task: `{id, bash}` or `{id, operator, arguments}`.",
        ),
    ],
    exactly_one_of: &[],
};

impl KindSchema for AirflowDags {
    fn name(&self) -> &'static str {
        "airflow_dags"
    }
    fn about(&self) -> &'static str {
        "Generate static Airflow DAG files from a dbt manifest, one DAG per selector."
    }
    fn inputs(&self) -> &'static Record {
        &INPUTS
    }
    fn outputs(&self) -> Outputs {
        Outputs::Named(&["out", "dag_count"])
    }

    fn check(&self, step: &Step, pipeline: &Pipeline, diags: &mut Vec<Diagnostic>) {
        check_continuous(step, diags);
        let executor = step.with.get("executor").and_then(Node::as_str);
        executor_inputs::check(step, executor.unwrap_or("bash"), diags);
        if executor != Some("cloud_run_job") {
            return;
        }
        if step.with.get("job").is_none() {
            diags.push(
                Diagnostic::error(step.span, format!("step `{}` has no `job`", step.id))
                    .label("executor `cloud_run_job` runs dbt in a Cloud Run job")
                    .expected("`job:` naming the Cloud Run job that runs dbt"),
            );
        }
        for field in ["project", "region"] {
            if step.with.get(field).is_none() {
                pipeline.require_in_environments(
                    step,
                    &format!("a `{field}` (executor `cloud_run_job`)"),
                    |env| env.field(field).flatten().is_some(),
                    diags,
                );
            }
        }
    }
}

/// `@continuous` goes with one active run at a time (each value alone is checked by its
/// shape).
fn check_continuous(step: &Step, diags: &mut Vec<Diagnostic>) {
    let Some(Value::Int(runs)) = step.with.get("max_active_runs").map(|n| &n.value) else {
        return;
    };
    let schedules = step.with.get("schedules").and_then(Node::as_map);
    for (_, node) in schedules.unwrap_or(&[]) {
        let options = DagOptions {
            max_active_runs: u32::try_from(*runs).unwrap_or(u32::MAX),
            ..DagOptions::default()
        };
        if let Some(text) = node.as_str()
            && let Err(e @ limits::ScheduleError::Continuous { .. }) = options.check_schedule(text)
        {
            diags.push(
                Diagnostic::error(node.span, e.to_string())
                    .label("with `max_active_runs` above 1")
                    .expected("`max_active_runs: 1` with `@continuous`, or another schedule"),
            );
        }
    }
}

impl StepKind for AirflowDags {
    fn plan(&self, inputs: &Inputs) -> Vec<Action> {
        let manifest = inputs.text_or("manifest", "");
        let out = inputs.text_or("out", "");
        let selectors = inputs.text("selectors");
        let files = planned_files(inputs.dir, selectors.as_ref(), &out);
        let prune_limit = inputs.prune_limit();
        let prune_stop = match (inputs.inspect, prune_limit) {
            (true, Some(limit)) => prune_stop(inputs.dir, &out, &files, limit),
            _ => None,
        };
        let mut description = format!("generate Airflow DAGs from {manifest} into {out}");
        if let Some(s) = &selectors {
            description.push_str(&format!(" (one per selector in {s})"));
        }
        let options = options(inputs).map(Box::new);
        if let Ok(o) = &options {
            description.push_str(&format!("; {}", summary(o)));
        }
        let mut generate = Generate {
            description,
            manifest,
            selectors,
            out,
            files,
            options,
            prune_limit,
            prune_stop,
            release: None,
            dag_changes: None,
        };
        if inputs.inspect {
            generate.dag_changes = dags_release::changes(inputs, &generate);
        }
        vec![Action::Generate(generate)]
    }

    fn artifact(&self, done: &Done) -> Result<Option<Artifact>, ArtifactError> {
        dags_release::artifact(done)
    }

    fn redeploy(&self, inputs: &Inputs, recorded: Option<&Checkout>) -> Redeployed {
        let Some(Action::Generate(planned)) = self.plan(inputs).into_iter().next() else {
            return Redeployed::Missing("nothing planned".into());
        };
        dags_release::redeploy(planned, recorded)
    }

    fn execute(&self, job: Job) -> StepFuture {
        Box::pin(async move {
            let dir = job.ctx.dir().clone();
            let mut outputs = IndexMap::new();
            let mut count = 0;
            for action in &job.actions {
                let Action::Generate(g) = action else {
                    continue;
                };
                let manifest = dir.join(g.manifest.reveal()?);
                let selectors = g.selectors.as_ref().map(Resolved::reveal).transpose()?;
                let out = g.out.reveal()?;
                let options = g.options.clone().map_err(Failure::of)?;
                let (ctx, limit) = (job.ctx.clone(), g.prune_limit);
                let selectors = selectors.map(|s| dir.join(s));
                // Files are named in the log as the pipeline names the folder.
                let shown = std::path::PathBuf::from(&out);
                let out = dir.join(out);
                let release = g.release.clone();
                // Reading a large manifest and writing files is blocking work.
                let written = tokio::task::spawn_blocking(move || match release {
                    Some(r) => dags_release::write_release(
                        &r.dir,
                        &r.release,
                        (&out, &shown),
                        &options,
                        limit,
                        &ctx,
                    ),
                    None => generate(&manifest, selectors, (&out, &shown), &options, limit, &ctx),
                })
                .await
                .map_err(|source| StepError::Crashed { source })??;
                count += written;
                outputs.insert("out".to_string(), g.out.reveal()?);
            }
            outputs.insert("dag_count".to_string(), count.to_string());
            Ok(outputs)
        })
    }
}

/// Generates and writes the DAGs; returns how many there are.
fn generate(
    manifest: &Path,
    selectors: Option<std::path::PathBuf>,
    (out, shown): (&Path, &Path),
    options: &DagOptions,
    limit: Option<crate::prune::PruneLimit>,
    exec: &StepContext,
) -> Result<usize, Failure> {
    let fail = Failure::of;
    exec.log_line(&format!("$ dagship dags --manifest {}", manifest.display()));
    let loaded = dags::load_manifest(manifest).map_err(fail)?;
    let selectors = selectors
        .as_deref()
        .map(SelectorsFile::from_path)
        .transpose()
        .map_err(|e| fail(dags::DagsError::from(e)))?;
    let files = dags::generate(&loaded, selectors.as_ref(), options).map_err(fail)?;
    let written = dags::write(out, &files, limit).map_err(fail)?;
    for line in written.lines(&files, shown) {
        exec.say(&line);
    }
    Ok(files.dags.len())
}

/// One line for the plan: the choices that shape the DAGs.
fn summary(o: &DagOptions) -> String {
    let executor = format!("executor {}", o.operator.dbt_operator().describe());
    let tests = match o.tests {
        TestsMode::AfterEach => "tests after each unit",
        TestsMode::Build => "tests in dbt build",
        TestsMode::None => "no tests",
    };
    format!("{executor}, {tests}")
}

/// Why a run would stop before writing, when the DAG files it plans would remove more of
/// those dagship wrote into `out` than `limit` allows.
fn prune_stop(
    dir: &Path,
    out: &Resolved,
    files: &FileList,
    limit: crate::prune::PruneLimit,
) -> Option<String> {
    if !files.known || out.parts.len() != 1 {
        return None;
    }
    let folder = dir.join(out.to_string());
    let keep: Vec<&str> = files
        .names
        .iter()
        .filter_map(|n| n.rsplit('/').next())
        .filter(|n| *n != dags::SETTINGS_FILE)
        .collect();
    let stale = dags::stale_files(&folder, &keep).ok()?;
    let managed = dags::managed_count(&folder).ok()?;
    let shown = out.to_string();
    let stop = limit
        .check(&shown, stale.len(), managed, keep.len())
        .err()?;
    Some(stop.to_string())
}

/// The DAG files are named after the selectors, so the plan can list them by reading only
/// `selectors.yml` (the manifest usually does not exist before dbt compiles it).
fn planned_files(dir: &Path, selectors: Option<&Resolved>, out: &Resolved) -> FileList {
    let names = match selectors {
        None => vec!["all".to_string()],
        Some(path) if path.parts.len() == 1 => match selector_names(&dir.join(path.to_string())) {
            Ok(names) => names,
            Err(note) => return FileList::unknown(note),
        },
        Some(path) => return FileList::unknown(format!("known once {path} is")),
    };
    let out = out.to_string();
    let out = out.trim_end_matches('/');
    // The settings module first, as it is written.
    let settings = std::iter::once(dags::SETTINGS_FILE.to_string());
    let dag_files = names.iter().map(|name| dag_file_name(name));
    FileList::known(
        settings
            .chain(dag_files)
            .map(|file| format!("{out}/{file}"))
            .collect(),
    )
}

fn selector_names(path: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let root = yaml::parse(&text).map_err(|d| format!("{}: {}", path.display(), d.message))?;
    let entries = root.get("selectors").and_then(Node::as_seq).unwrap_or(&[]);
    Ok(entries
        .iter()
        .filter_map(|s| s.get("name").and_then(Node::as_str).map(str::to_string))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planned_file_names_come_from_the_dag_ids() {
        assert_eq!(dag_file_name("daily"), "dbt_daily.py");
        assert_eq!(dag_file_name("../etc/passwd"), "dbt____etc_passwd.py");
    }
}
