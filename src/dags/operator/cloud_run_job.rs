//! `cloud_run_job`: the google provider's `CloudRunExecuteJobOperator`, deferrable,
//! executing a Cloud Run job with the dbt command as its container's arguments.

use std::borrow::Cow;
use std::fmt::Write;

use super::{DbtOperator, OperatorError, OperatorSettings};
use crate::dags::graph::Command;
use crate::dags::python::{str_list, str_lit};

pub(super) const NAME: &str = "cloud_run_job";

/// The job that runs dbt (its image holds the dbt project).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudRunJob {
    /// Google Cloud project of the job.
    pub project: String,
    pub region: String,
    /// The job's name.
    pub job: String,
}

impl CloudRunJob {
    pub(super) fn from_settings(
        settings: &dyn OperatorSettings,
    ) -> Result<CloudRunJob, OperatorError> {
        Ok(CloudRunJob {
            project: settings.required(NAME, "project")?,
            region: settings.required(NAME, "region")?,
            job: settings.required(NAME, "job")?,
        })
    }
}

impl DbtOperator for CloudRunJob {
    fn name(&self) -> &'static str {
        NAME
    }

    fn describe(&self) -> String {
        let CloudRunJob {
            project,
            region,
            job,
        } = self;
        format!("{NAME} (job {job} in {project}/{region})")
    }

    fn check(&self) -> Result<(), String> {
        for (what, value) in [
            ("project", &self.project),
            ("region", &self.region),
            ("job", &self.job),
        ] {
            if value.trim().is_empty() {
                return Err(format!("executor `{NAME}` needs a {what}"));
            }
        }
        Ok(())
    }

    fn imports(&self) -> &'static [&'static str] {
        &[
            "from airflow.providers.google.cloud.operators.cloud_run import CloudRunExecuteJobOperator\n",
        ]
    }

    fn base_class(&self) -> &'static str {
        "CloudRunExecuteJobOperator"
    }

    fn write_commands(&self, out: &mut String, options: &[String]) {
        let _ = writeln!(
            out,
            "PROJECT = {}\nREGION = {}\nJOB = {}",
            str_lit(&self.project),
            str_lit(&self.region),
            str_lit(&self.job)
        );
        out.push_str(
            "# The job's container arguments per command, by TASKS' third column.\nCOMMANDS = [\n",
        );
        for c in Command::ALL {
            let words: Vec<String> = c.words().iter().map(|w| w.to_string()).collect();
            let _ = writeln!(out, "    {},", str_list(&words));
        }
        out.push_str("]\n# Every command ends with these.\n");
        let _ = writeln!(out, "DBT_OPTIONS = {}", str_list(options));
    }

    /// Container arguments reach dbt without a shell.
    fn selection_word<'a>(&self, word: &'a str) -> Cow<'a, str> {
        Cow::Borrowed(word)
    }

    fn task_lines(&self) -> &'static str {
        "            arguments = COMMANDS[command] + [\"--select\", select]\n            \
         if exclude is not None:\n                \
         arguments += [\"--exclude\", exclude]\n            \
         task = DbtTask(\n                \
         task_id=task_id,\n                \
         task_group=groups.get(group),\n                \
         project_id=PROJECT,\n                \
         region=REGION,\n                \
         job_name=JOB,\n                \
         overrides={\"container_overrides\": [{\"args\": arguments + DBT_OPTIONS}]},\n                \
         deferrable=True,\n                \
         **(OVERRIDES[settings] if settings is not None else {}),\n            )\n"
    }
}
