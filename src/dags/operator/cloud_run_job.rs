//! `cloud_run_job`: the google provider's `CloudRunExecuteJobOperator`, deferrable,
//! executing a Cloud Run job with the dbt command as its container's arguments.

use std::fmt::Write;

use super::{CommandLine, DbtOperator, OperatorError, OperatorSettings, Setting};
use crate::dags::graph::Command;
use crate::dags::python::{str_list, str_list_without_airflow, str_lit_without_airflow};

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

    fn write_commands(&self, out: &mut String) {
        out.push_str(
            "# The job's container arguments per command, by TASKS' third column.\nCOMMANDS = [\n",
        );
        for c in Command::ALL {
            let words: Vec<String> = c.words().iter().map(|w| w.to_string()).collect();
            let _ = writeln!(out, "    {},", str_list(&words));
        }
        out.push_str("]\n");
    }

    fn settings(&self, dbt_options: &[String]) -> Vec<Setting> {
        let setting = |name, about, value: &str| Setting {
            name,
            about,
            value: str_lit_without_airflow(value),
        };
        vec![
            setting(
                "PROJECT",
                "The Cloud Run job that runs dbt: its Google Cloud project, region and name.",
                &self.project,
            ),
            setting("REGION", "", &self.region),
            setting("JOB", "", &self.job),
            Setting {
                name: "DBT_OPTIONS",
                about: "Every dbt command (the job's container arguments) ends with these.",
                value: str_list_without_airflow(dbt_options),
            },
        ]
    }

    /// Container arguments reach dbt without a shell.
    fn command_line(&self) -> CommandLine {
        CommandLine::Words {
            var: "arguments",
            dbt_first: false,
        }
    }

    fn task_arguments(&self) -> &'static str {
        "                project_id=PROJECT,\n                \
         region=REGION,\n                \
         job_name=JOB,\n                \
         overrides={\"container_overrides\": [{\"args\": arguments + DBT_OPTIONS}]},\n                \
         deferrable=True,\n"
    }
}
