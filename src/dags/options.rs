//! What a generated DAG looks like beyond the manifest: how tasks run dbt, where tests go,
//! schedules and Airflow settings. Filled by `dagship dags` flags or an `airflow_dags` step.

use indexmap::IndexMap;

use crate::dags::operator::Operator;
use crate::dags::python;

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
    /// Cron (or Airflow preset) per selector name; before a selector's own `schedule` key.
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
            before: Vec::new(),
            after: Vec::new(),
        }
    }
}

impl DagOptions {
    /// Checks what the manifest cannot tell: dates, import paths, ids, cron strings.
    pub fn check(&self) -> Result<(), String> {
        check_date(&self.start_date)?;
        if let Some(path) = &self.on_failure_callback
            && python::import_path(path).is_none()
        {
            return Err(format!(
                "on_failure_callback `{path}` is not an import path such as `alerts.slack:notify`"
            ));
        }
        for (name, cron) in &self.schedules {
            check_schedule(cron).map_err(|e| format!("schedule of `{name}`: {e}"))?;
        }
        let mut seen = std::collections::HashSet::new();
        for task in self.before.iter().chain(&self.after) {
            if task.id.is_empty()
                || !task
                    .id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                || task.id.len() > crate::dags::naming::MAX_ID_LEN
            {
                return Err(format!(
                    "task id `{}` must be letters, digits, `_` or `-` (at most {} characters)",
                    task.id,
                    crate::dags::naming::MAX_ID_LEN
                ));
            }
            if !seen.insert(task.id.as_str()) {
                return Err(format!("task id `{}` is declared twice", task.id));
            }
            if let ExtraKind::Operator { path, arguments } = &task.kind {
                if python::import_path(path).is_none() {
                    return Err(format!(
                        "task `{}`: operator `{path}` is not an import path such as \
                         `airflow.providers.airbyte.operators.airbyte.AirbyteTriggerSyncOperator`",
                        task.id
                    ));
                }
                if let Some(bad) = arguments.keys().find(|k| !python::is_identifier(k)) {
                    return Err(format!(
                        "task `{}`: argument `{bad}` is not a Python identifier",
                        task.id
                    ));
                }
                if arguments.contains_key("task_id") {
                    return Err(format!(
                        "task `{}`: `task_id` is the task's `id`, not an argument",
                        task.id
                    ));
                }
            }
        }
        self.operator.dbt_operator().check()
    }
}

fn check_date(date: &str) -> Result<(), String> {
    let parsed: Result<jiff::civil::Date, _> = date.parse();
    match parsed {
        Ok(d) if d.to_string() == date => Ok(()),
        _ => Err(format!(
            "start date `{date}` is not a date such as 2024-01-01"
        )),
    }
}

/// Airflow presets, or five cron fields of the characters cron uses.
pub fn check_schedule(cron: &str) -> Result<(), String> {
    const PRESETS: [&str; 8] = [
        "@once",
        "@continuous",
        "@hourly",
        "@daily",
        "@weekly",
        "@monthly",
        "@quarterly",
        "@yearly",
    ];
    if PRESETS.contains(&cron) {
        return Ok(());
    }
    let fields: Vec<&str> = cron.split_whitespace().collect();
    let ok_chars = |f: &&str| {
        f.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '*' | '/' | ',' | '-' | '?' | '#'))
    };
    if (5..=6).contains(&fields.len()) && fields.iter().all(ok_chars) {
        Ok(())
    } else {
        Err(format!(
            "`{cron}` is not a cron expression (five fields such as `0 5 * * *`) or a preset \
             such as `@daily`"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_are_cron_or_presets() {
        assert!(check_schedule("0 5 * * *").is_ok());
        assert!(check_schedule("*/15 0-6 * * MON-FRI").is_ok());
        assert!(check_schedule("@daily").is_ok());
        assert!(check_schedule("daily").is_err());
        assert!(check_schedule("0 5 * * * \"; import os").is_err());
    }

    #[test]
    fn options_are_checked() {
        let mut o = DagOptions::default();
        assert!(o.check().is_ok());
        o.start_date = "2024-13-01".into();
        assert!(o.check().is_err());
        o.start_date = "2024-01-01".into();
        o.on_failure_callback = Some("os.system('x')".into());
        assert!(o.check().is_err());
        o.on_failure_callback = Some("alerts.notify".into());
        o.before.push(ExtraTask {
            id: "a/b".into(),
            kind: ExtraKind::Bash("true".into()),
        });
        assert!(o.check().unwrap_err().contains("task id `a/b`"));
        o.before.clear();
        o.operator = Operator::CloudRunJob(crate::dags::CloudRunJob {
            project: "p".into(),
            region: "r".into(),
            job: String::new(),
        });
        assert_eq!(
            o.check().unwrap_err(),
            "executor `cloud_run_job` needs a job"
        );
    }
}
