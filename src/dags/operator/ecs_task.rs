//! `ecs_task`: the amazon provider's `EcsRunTaskOperator`, running a task of the ECS task
//! definition whose container holds the dbt project, `dbt` and the command's words as the
//! container's `command` override (no shell); its CloudWatch log shown in the task's log.

use super::values::{self, bool_lit, opt_lit};
use super::{CommandLine, DbtOperator, OperatorError, OperatorSettings, Setting};
use crate::dags::python::{str_list_without_airflow, str_lit_without_airflow};

pub(super) const NAME: &str = "ecs_task";

/// Its settings, the required ones first (`Operator::OWN_SETTINGS`).
pub(super) const SETTINGS: &[&str] = &[
    "cluster",
    "task_definition",
    "container_name",
    "launch_type",
    "subnets",
    "security_groups",
    "assign_public_ip",
    "awslogs_group",
    "awslogs_stream_prefix",
    "aws_region",
    "deferrable",
];

/// The ECS task that runs dbt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcsTask {
    pub cluster: String,
    /// Family or `family:revision` (or ARN) of the task definition.
    pub task_definition: String,
    /// The container of the task definition that runs dbt.
    pub container_name: String,
    /// `FARGATE` (default), `EC2` or `EXTERNAL`.
    pub launch_type: Option<String>,
    /// The `awsvpc` network configuration (Fargate needs one): subnets, security groups.
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: bool,
    /// CloudWatch log group and stream prefix of the container, to show its log.
    pub awslogs_group: Option<String>,
    pub awslogs_stream_prefix: Option<String>,
    /// AWS region; without it, the connection's.
    pub aws_region: Option<String>,
    pub deferrable: bool,
}

impl EcsTask {
    pub(super) fn from_settings(settings: &dyn OperatorSettings) -> Result<EcsTask, OperatorError> {
        Ok(EcsTask {
            cluster: settings.required(NAME, "cluster")?,
            task_definition: settings.required(NAME, "task_definition")?,
            container_name: settings.required(NAME, "container_name")?,
            launch_type: settings.optional("launch_type")?,
            subnets: settings.list("subnets")?,
            security_groups: settings.list("security_groups")?,
            assign_public_ip: values::flag(settings, NAME, "assign_public_ip", false)?,
            awslogs_group: settings.optional("awslogs_group")?,
            awslogs_stream_prefix: settings.optional("awslogs_stream_prefix")?,
            aws_region: settings.optional("aws_region")?,
            deferrable: values::flag(settings, NAME, "deferrable", false)?,
        })
    }

    /// `network_configuration` of `run_task`, or `None` without subnets.
    fn network_configuration(&self) -> String {
        if self.subnets.is_empty() {
            return "None".to_string();
        }
        let public = if self.assign_public_ip {
            "ENABLED"
        } else {
            "DISABLED"
        };
        format!(
            "{{\"awsvpcConfiguration\": {{\"subnets\": {}, \"securityGroups\": {}, \"assignPublicIp\": \"{public}\"}}}}",
            str_list_without_airflow(&self.subnets),
            str_list_without_airflow(&self.security_groups),
        )
    }
}

const LAUNCH_TYPES: &[&str] = &["FARGATE", "EC2", "EXTERNAL"];

impl DbtOperator for EcsTask {
    fn name(&self) -> &'static str {
        NAME
    }

    fn describe(&self) -> String {
        let EcsTask {
            cluster,
            task_definition,
            ..
        } = self;
        format!("{NAME} (task definition {task_definition} in cluster {cluster})")
    }

    fn check(&self) -> Result<(), String> {
        values::blank(
            NAME,
            &[
                ("cluster", &self.cluster),
                ("task_definition", &self.task_definition),
                ("container_name", &self.container_name),
            ],
        )?;
        values::parse_task_definition(&self.task_definition)?;
        if let Some(launch) = &self.launch_type
            && !LAUNCH_TYPES.contains(&launch.as_str())
        {
            return Err(format!(
                "executor `{NAME}` has launch_type `{launch}`, not one of {}",
                LAUNCH_TYPES.join(", ")
            ));
        }
        if self.subnets.is_empty() && !self.security_groups.is_empty() {
            return Err(format!(
                "executor `{NAME}` has security_groups but no subnets: the network configuration needs both"
            ));
        }
        Ok(())
    }

    fn imports(&self) -> &'static [&'static str] {
        &["from airflow.providers.amazon.aws.operators.ecs import EcsRunTaskOperator\n"]
    }

    fn base_class(&self) -> &'static str {
        "EcsRunTaskOperator"
    }

    fn write_commands(&self, out: &mut String) {
        values::write_word_commands(out);
    }

    fn settings(&self, dbt_options: &[String]) -> Vec<Setting> {
        let lit = |v: &str| str_lit_without_airflow(v);
        let setting = |name, about, value| Setting { name, about, value };
        vec![
            setting(
                "CLUSTER",
                "The ECS task that runs dbt: cluster, task definition, its container, launch type.",
                lit(&self.cluster),
            ),
            setting("TASK_DEFINITION", "", lit(&self.task_definition)),
            setting("CONTAINER_NAME", "", lit(&self.container_name)),
            setting(
                "LAUNCH_TYPE",
                "",
                lit(self.launch_type.as_deref().unwrap_or("FARGATE")),
            ),
            setting(
                "NETWORK_CONFIGURATION",
                "The task's awsvpc network (None: the task definition's mode needs none).",
                self.network_configuration(),
            ),
            setting(
                "AWSLOGS_GROUP",
                "The container's CloudWatch log, shown in the task's log (None: not fetched).",
                opt_lit(self.awslogs_group.as_deref()),
            ),
            setting(
                "AWSLOGS_STREAM_PREFIX",
                "",
                opt_lit(self.awslogs_stream_prefix.as_deref()),
            ),
            setting(
                "AWS_REGION",
                "AWS region (None: the connection's); wait in the triggerer when deferrable.",
                opt_lit(self.aws_region.as_deref()),
            ),
            setting("DEFERRABLE", "", bool_lit(self.deferrable).to_string()),
            setting(
                "DBT_OPTIONS",
                "Every dbt command (the container's command) ends with these.",
                str_list_without_airflow(dbt_options),
            ),
        ]
    }

    /// The command override reaches dbt without a shell.
    fn command_line(&self) -> CommandLine {
        CommandLine::Words {
            var: "words",
            dbt_first: true,
        }
    }

    fn task_arguments(&self) -> &'static str {
        "                cluster=CLUSTER,\n                \
         task_definition=TASK_DEFINITION,\n                \
         launch_type=LAUNCH_TYPE,\n                \
         overrides={\n                    \
         \"containerOverrides\": [{\"name\": CONTAINER_NAME, \"command\": words + DBT_OPTIONS}]\n                \
         },\n                \
         network_configuration=NETWORK_CONFIGURATION,\n                \
         container_name=CONTAINER_NAME,\n                \
         awslogs_group=AWSLOGS_GROUP,\n                \
         awslogs_stream_prefix=AWSLOGS_STREAM_PREFIX,\n                \
         region_name=AWS_REGION,\n                \
         deferrable=DEFERRABLE,\n"
    }
}
