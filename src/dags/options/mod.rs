//! What a generated DAG looks like beyond the manifest: how tasks run dbt, where tests go,
//! schedules and Airflow settings. Filled by `dagship dags` flags or an `airflow_dags` step.

mod limits;
mod schedule;

use indexmap::IndexMap;

use crate::dags::naming::MAX_ID_LEN;
use crate::dags::notify::{Notify, NotifyError};
use crate::dags::operator::Operator;
use crate::dags::python;

pub use limits::{
    INTEGER_MAX, LimitError, NAME_MAX_LEN, TAG_MAX_LEN, TIMEDELTA_MAX_SECONDS, check_integer,
    check_name, check_start_date, check_tag, check_timedelta, check_timeout,
};
pub use schedule::{CronField, FieldProblem, NO_SCHEDULE, PRESETS, Schedule, ScheduleError};

/// Where dbt tests run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TestsMode {
    /// A TaskGroup per unit: `run`, then `test` (the unit's own tests).
    #[default]
    AfterEach,
    /// One `dbt build` task per unit (run and its tests together).
    Build,
    /// No tests.
    None,
}

impl TestsMode {
    pub fn parse(s: &str) -> Option<TestsMode> {
        match s {
            "after_each" => Some(TestsMode::AfterEach),
            "build" => Some(TestsMode::Build),
            "none" => Some(TestsMode::None),
            _ => None,
        }
    }
}

/// A task the step declares around the dbt tasks (e.g. triggering an ingestion sync).
#[derive(Debug, Clone, PartialEq)]
pub struct ExtraTask {
    pub id: String,
    pub kind: ExtraKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExtraKind {
    /// A `BashOperator` running this command (Airflow renders it as a template).
    Bash(String),
    /// Any operator by import path, with keyword arguments (strings, numbers, booleans).
    Operator {
        path: String,
        arguments: IndexMap<String, serde_json::Value>,
    },
}

/// Everything but the manifest and the selectors.
#[derive(Debug, Clone)]
pub struct DagOptions {
    pub operator: Operator,
    /// `--project-dir` of every dbt command, as the workers (or the job's container) see it.
    pub project_dir: Option<String>,
    /// `--profiles-dir` of every dbt command.
    pub profiles_dir: Option<String>,
    /// `--target` of every dbt command.
    pub target: Option<String>,
    pub tests: TestsMode,
    /// Cron, Airflow preset or `null` per selector name ([`Schedule`]); before a selector's
    /// own `schedule` key.
    pub schedules: IndexMap<String, String>,
    /// One `dbt source freshness` task per source, upstream of the units that read it.
    pub source_freshness: bool,
    /// `YYYY-MM-DD`, in UTC.
    pub start_date: String,
    pub tags: Vec<String>,
    pub max_active_runs: u32,
    pub retries: u32,
    /// Seconds.
    pub retry_delay: u64,
    /// Airflow pool of every dbt task (a node's `meta.dagship.pool` wins).
    pub pool: Option<String>,
    /// `module.function` (or `module:function`) called when a DAG run fails.
    pub on_failure_callback: Option<String>,
    /// Airflow's notifiers, called when a task fails.
    pub notify: Notify,
    pub before: Vec<ExtraTask>,
    pub after: Vec<ExtraTask>,
}

impl Default for DagOptions {
    fn default() -> Self {
        DagOptions {
            operator: Operator::default(),
            project_dir: None,
            profiles_dir: None,
            target: None,
            tests: TestsMode::AfterEach,
            schedules: IndexMap::new(),
            source_freshness: false,
            start_date: "2024-01-01".to_string(),
            tags: vec!["dbt".to_string(), "dagship".to_string()],
            max_active_runs: 1,
            retries: 1,
            retry_delay: 300,
            pool: None,
            on_failure_callback: None,
            notify: Notify::default(),
            before: Vec::new(),
            after: Vec::new(),
        }
    }
}

/// An option Airflow (or dagship) would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionError {
    #[error(transparent)]
    Limit(#[from] LimitError),
    #[error("schedule of `{selector}`: {error}")]
    Schedule {
        selector: String,
        error: ScheduleError,
    },
    #[error("max_active_runs 0 would never let a run start; give 1 or more")]
    NoActiveRuns,
    #[error("on_failure_callback `{path}` is not an import path such as `alerts.slack:notify`")]
    Callback { path: String },
    #[error("task id `{id}` must be letters, digits, `_` or `-` (at most {MAX_ID_LEN} characters)")]
    TaskId { id: String },
    #[error("task id `{id}` is declared twice")]
    TaskIdTwice { id: String },
    #[error(
        "task `{task}`: operator `{path}` is not an import path such as \
         `airflow.providers.airbyte.operators.airbyte.AirbyteTriggerSyncOperator`"
    )]
    OperatorPath { task: String, path: String },
    #[error("task `{task}`: argument `{argument}` is not a Python identifier")]
    Argument { task: String, argument: String },
    #[error("task `{task}`: `task_id` is the task's `id`, not an argument")]
    TaskIdArgument { task: String },
    #[error(transparent)]
    Notify(#[from] NotifyError),
    /// The dbt operator's own settings (a blank job name).
    #[error("{0}")]
    Operator(String),
}

impl DagOptions {
    /// Checks what the manifest cannot tell: dates, import paths, ids, schedules, and every
    /// value against Airflow's limits.
    pub fn check(&self) -> Result<(), OptionError> {
        check_start_date(&self.start_date)?;
        for tag in &self.tags {
            check_tag(tag)?;
        }
        for (selector, schedule) in &self.schedules {
            self.check_schedule(schedule)
                .map_err(|error| OptionError::Schedule {
                    selector: selector.clone(),
                    error,
                })?;
        }
        if self.max_active_runs == 0 {
            return Err(OptionError::NoActiveRuns);
        }
        let max_active_runs = u64::from(self.max_active_runs);
        check_integer("max_active_runs", "dag.max_active_runs", max_active_runs)?;
        let retries = u64::from(self.retries);
        check_integer("retries", "task_instance.max_tries", retries)?;
        check_timedelta("retry_delay", self.retry_delay)?;
        if let Some(pool) = &self.pool {
            check_name("pool", "slot_pool.pool", pool)?;
        }
        if let Some(path) = &self.on_failure_callback
            && python::import_path(path).is_none()
        {
            return Err(OptionError::Callback { path: path.clone() });
        }
        self.check_extra_tasks()?;
        self.notify.check()?;
        self.operator
            .dbt_operator()
            .check()
            .map_err(OptionError::Operator)
    }

    /// A schedule of these DAGs (given for a selector, or the selector's own): valid, and
    /// one that `max_active_runs` goes with.
    pub fn check_schedule(&self, text: &str) -> Result<(), ScheduleError> {
        let schedule = Schedule::parse(text)?;
        if schedule == Schedule::Preset("@continuous") && self.max_active_runs > 1 {
            return Err(ScheduleError::Continuous {
                max_active_runs: self.max_active_runs,
            });
        }
        Ok(())
    }

    fn check_extra_tasks(&self) -> Result<(), OptionError> {
        let mut seen = std::collections::HashSet::new();
        for task in self.before.iter().chain(&self.after) {
            let id = || task.id.clone();
            let plain = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
            if task.id.is_empty() || !task.id.chars().all(plain) || task.id.len() > MAX_ID_LEN {
                return Err(OptionError::TaskId { id: id() });
            }
            if !seen.insert(task.id.as_str()) {
                return Err(OptionError::TaskIdTwice { id: id() });
            }
            let ExtraKind::Operator { path, arguments } = &task.kind else {
                continue;
            };
            if python::import_path(path).is_none() {
                return Err(OptionError::OperatorPath {
                    task: id(),
                    path: path.clone(),
                });
            }
            if let Some(bad) = arguments.keys().find(|k| !python::is_identifier(k)) {
                return Err(OptionError::Argument {
                    task: id(),
                    argument: bad.clone(),
                });
            }
            if arguments.contains_key("task_id") {
                return Err(OptionError::TaskIdArgument { task: id() });
            }
        }
        Ok(())
    }
}

/// A schedule given for a selector or in its `schedule` key: a cron expression, one of
/// Airflow's presets, or `null`.
pub fn check_schedule(text: &str) -> Result<(), ScheduleError> {
    Schedule::parse(text).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked() {
        let mut o = DagOptions::default();
        assert!(o.check().is_ok());
        o.start_date = "2024-13-01".into();
        assert!(matches!(
            o.check(),
            Err(OptionError::Limit(LimitError::Date { .. }))
        ));
        o.start_date = "0000-01-01".into();
        assert!(matches!(
            o.check(),
            Err(OptionError::Limit(LimitError::Year { .. }))
        ));
        o.start_date = "2024-01-01".into();
        o.on_failure_callback = Some("os.system('x')".into());
        assert!(matches!(o.check(), Err(OptionError::Callback { .. })));
        o.on_failure_callback = Some("alerts.notify".into());
        o.before.push(ExtraTask {
            id: "a/b".into(),
            kind: ExtraKind::Bash("true".into()),
        });
        assert!(o.check().unwrap_err().to_string().contains("task id `a/b`"));
        o.before.clear();
        o.operator = Operator::CloudRunJob(crate::dags::CloudRunJob {
            project: "p".into(),
            region: "r".into(),
            job: String::new(),
        });
        assert_eq!(
            o.check().unwrap_err().to_string(),
            "executor `cloud_run_job` needs a job"
        );
    }

    #[test]
    fn values_are_held_to_airflows_limits() {
        let check = |change: &dyn Fn(&mut DagOptions)| {
            let mut o = DagOptions::default();
            change(&mut o);
            o.check()
        };
        assert!(check(&|o| o.retry_delay = TIMEDELTA_MAX_SECONDS).is_ok());
        assert!(check(&|o| o.retry_delay = TIMEDELTA_MAX_SECONDS + 1).is_err());
        assert!(check(&|o| o.tags = vec!["t".repeat(TAG_MAX_LEN)]).is_ok());
        assert!(check(&|o| o.tags = vec!["t".repeat(TAG_MAX_LEN + 1)]).is_err());
        assert!(check(&|o| o.retries = u32::MAX).is_err());
        assert!(check(&|o| o.max_active_runs = 0).is_err());
        assert!(check(&|o| o.pool = Some("p".repeat(257))).is_err());
        let schedule = |cron: &str| {
            check(&|o| {
                o.schedules.insert("daily".into(), cron.into());
            })
        };
        assert!(schedule("null").is_ok());
        assert!(schedule("@continuous").is_ok());
        let continuous = check(&|o| {
            o.max_active_runs = 2;
            o.schedules.insert("daily".into(), "@continuous".into());
        });
        assert!(matches!(
            continuous,
            Err(OptionError::Schedule {
                error: ScheduleError::Continuous { max_active_runs: 2 },
                ..
            })
        ));
        assert_eq!(
            schedule("0 5 * * *\u{a0}").unwrap_err().to_string(),
            "schedule of `daily`: `0 5 * * *\u{a0}` is not a cron expression: it holds a \
             no-break space (U+00A0), and cron fields are separated by ASCII spaces only"
        );
    }
}
