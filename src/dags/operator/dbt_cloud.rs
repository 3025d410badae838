//! `dbt_cloud`: the dbt-cloud provider's `DbtCloudRunJobOperator`. Each task triggers the
//! configured dbt Cloud job with `steps_override` set to that task's one dbt command, so a
//! failed task is retried from that point rather than re-running the whole job.

use super::bash::shell_quote;
use super::values::{self, bool_lit};
use super::{CommandLine, DbtOperator, OperatorError, OperatorSettings, Setting};
use crate::dags::graph::Command;
use crate::dags::python::{str_lit, str_lit_without_airflow};

pub(super) const NAME: &str = "dbt_cloud";

/// Its settings, the required ones first (`Operator::OWN_SETTINGS`).
pub(super) const SETTINGS: &[&str] = &[
    "job_id",
    "account_id",
    "conn_id",
    "wait_for_termination",
    "deferrable",
];

/// The dbt Cloud job whose runs execute the commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbtCloud {
    /// dbt Cloud's numeric job id.
    pub job_id: String,
    /// The numeric account id; without it, the connection's.
    pub account_id: Option<String>,
    /// Airflow connection to dbt Cloud (default `dbt_cloud_default`).
    pub conn_id: Option<String>,
    /// The task lasts as long as the run (default), or ends once the run started.
    pub wait_for_termination: bool,
    pub deferrable: bool,
}

impl DbtCloud {
    pub(super) fn from_settings(
        settings: &dyn OperatorSettings,
    ) -> Result<DbtCloud, OperatorError> {
        Ok(DbtCloud {
            job_id: settings.required(NAME, "job_id")?,
            account_id: settings.optional("account_id")?,
            conn_id: settings.optional("conn_id")?,
            wait_for_termination: values::flag(settings, NAME, "wait_for_termination", true)?,
            deferrable: values::flag(settings, NAME, "deferrable", false)?,
        })
    }
}

/// dbt Cloud's ids are positive numbers.
fn check_id(what: &str, value: &str) -> Result<(), String> {
    match value.parse::<u64>() {
        Ok(n) if n > 0 => Ok(()),
        _ => Err(format!(
            "executor `{NAME}` needs a {what} that is a dbt Cloud id (a number), not `{value}`"
        )),
    }
}

impl DbtOperator for DbtCloud {
    fn name(&self) -> &'static str {
        NAME
    }

    fn describe(&self) -> String {
        format!("{NAME} (job {})", self.job_id)
    }

    fn check(&self) -> Result<(), String> {
        check_id("job_id", &self.job_id)?;
        if let Some(account) = &self.account_id {
            check_id("account_id", account)?;
        }
        if let Some(conn) = &self.conn_id {
            values::blank(NAME, &[("conn_id", conn)])?;
        }
        Ok(())
    }

    fn imports(&self) -> &'static [&'static str] {
        &["from airflow.providers.dbt.cloud.operators.dbt import DbtCloudRunJobOperator\n"]
    }

    fn base_class(&self) -> &'static str {
        "DbtCloudRunJobOperator"
    }

    /// dbt Cloud reads a step as a command line: `dbt` and shell-quoted words.
    fn write_commands(&self, out: &mut String) {
        out.push_str("# The job's step per command, by TASKS' third column.\nCOMMANDS = [\n");
        for c in Command::ALL {
            out.push_str(&format!(
                "    {},\n",
                str_lit(&format!("dbt {}", c.words().join(" ")))
            ));
        }
        out.push_str("]\n");
    }

    fn settings(&self, dbt_options: &[String]) -> Vec<Setting> {
        let joined: String = dbt_options
            .iter()
            .map(|w| format!(" {}", shell_quote(w)))
            .collect();
        // A number (checked); were it not, still a literal, never code.
        let id = |v: Option<&str>| match v.map(|v| (v, v.parse::<u64>())) {
            None => "None".to_string(),
            Some((_, Ok(n))) => n.to_string(),
            Some((v, Err(_))) => str_lit_without_airflow(v),
        };
        let setting = |name, about, value| Setting { name, about, value };
        vec![
            setting(
                "JOB_ID",
                "The dbt Cloud job each task runs with its own step, its account and connection.",
                id(Some(&self.job_id)),
            ),
            setting("ACCOUNT_ID", "", id(self.account_id.as_deref())),
            setting(
                "CONN_ID",
                "",
                str_lit_without_airflow(self.conn_id.as_deref().unwrap_or("dbt_cloud_default")),
            ),
            setting(
                "WAIT_FOR_TERMINATION",
                "The task waits for its run to end (in the triggerer when deferrable).",
                bool_lit(self.wait_for_termination).to_string(),
            ),
            setting("DEFERRABLE", "", bool_lit(self.deferrable).to_string()),
            setting(
                "DBT_OPTIONS",
                "Every dbt command ends with these (shell-quoted).",
                str_lit_without_airflow(&joined),
            ),
        ]
    }

    fn command_line(&self) -> CommandLine {
        CommandLine::Shell { var: "step" }
    }

    fn task_arguments(&self) -> &'static str {
        "                dbt_cloud_conn_id=CONN_ID,\n                \
         account_id=ACCOUNT_ID,\n                \
         job_id=JOB_ID,\n                \
         steps_override=[step + DBT_OPTIONS],\n                \
         wait_for_termination=WAIT_FOR_TERMINATION,\n                \
         deferrable=DEFERRABLE,\n"
    }
}
