//! The Airflow operator that runs the dbt commands of a DAG's tasks: a closed set, parsed
//! from `--executor` or an `airflow_dags` step's `executor:`, one file per operator.
//!
//! Adding an operator is a new file implementing [`DbtOperator`], a variant with one arm in
//! [`Operator::from_settings`] and [`Operator::dbt_operator`], and its name where users
//! give it (`--executor`'s values, the step's `executor:`; a test holds them equal to
//! [`Operator::NAMES`]), plus flags and step inputs for settings no operator had before.
//! Settings beyond `cloud_run_job`'s are listed in [`Operator::OWN_SETTINGS`] (the required
//! ones first): a source refuses another operator's setting, and `validate` reports a
//! missing or foreign one where it is written (`steps/airflow_dags/executor_inputs.rs`).
//! Nothing outside this module names an operator.

mod bash;
mod cloud_run_job;
mod dbt_cloud;
mod docker;
mod ecs_task;
mod kubernetes_pod;
mod values;

use std::borrow::Cow;
use std::fmt::Write;

pub use bash::Bash;
pub use cloud_run_job::CloudRunJob;
pub use dbt_cloud::DbtCloud;
pub use docker::Docker;
pub use ecs_task::EcsTask;
pub use kubernetes_pod::KubernetesPod;
pub use values::{parse_mount, parse_pair, parse_secret_env, parse_task_definition};

/// How the tasks run dbt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operator {
    Bash(Bash),
    CloudRunJob(CloudRunJob),
    KubernetesPod(KubernetesPod),
    Docker(Docker),
    DbtCloud(DbtCloud),
    EcsTask(EcsTask),
}

/// Where an operator's settings are read from: `dagship dags` flags or an `airflow_dags`
/// step's inputs.
pub trait OperatorSettings {
    /// The value of setting `name` (`project`, `job`, ...) of the operator `operator`.
    /// A source may give a missing one as empty (a step's checks reported it already);
    /// the operator's own check (`DagOptions::check`) refuses empty values.
    fn required(&self, operator: &'static str, name: &'static str)
    -> Result<String, OperatorError>;

    /// The value of setting `name`, `None` when not given. A yes/no setting is `true` or
    /// `false`.
    fn optional(&self, name: &'static str) -> Result<Option<String>, OperatorError>;

    /// The values of a setting given any number of times (a list); empty when not given.
    fn list(&self, name: &'static str) -> Result<Vec<String>, OperatorError>;
}

/// Why an operator could not be had from its settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OperatorError {
    #[error("executor `{name}` is not one of: {}", Operator::NAMES.join(", "))]
    Unknown { name: String },
    /// A setting the source has no value for, and the flag that gives it.
    #[error("`--executor {operator}` needs `{flag}`")]
    Missing {
        operator: &'static str,
        flag: String,
    },
    /// A setting of other operators, given with this one: a mistake (a typo of the
    /// executor, or settings left over from another).
    #[error("executor `{operator}` does not take `{setting}` (it takes: {})", takes.join(", "))]
    NotItsSetting {
        operator: &'static str,
        setting: &'static str,
        takes: &'static [&'static str],
    },
    /// A yes/no setting with another value.
    #[error("`{setting}` of executor `{operator}` is `{value}`, not `true` or `false`")]
    NotABool {
        operator: &'static str,
        setting: &'static str,
        value: String,
    },
    /// A setting whose value is known only once an upstream step ran.
    #[error(transparent)]
    NotKnownYet(#[from] crate::expr::Unrevealed),
}

impl Operator {
    /// Every operator, by the name `--executor` and the step's `executor:` give it.
    pub const NAMES: &'static [&'static str] = &[
        bash::NAME,
        cloud_run_job::NAME,
        kubernetes_pod::NAME,
        docker::NAME,
        dbt_cloud::NAME,
        ecs_task::NAME,
    ];

    /// The settings each operator takes beyond `cloud_run_job`'s (`project`, `region`,
    /// `job`, which other operators ignore), by operator name; the required ones first,
    /// as many as the number says.
    pub const OWN_SETTINGS: &'static [(&'static str, usize, &'static [&'static str])] = &[
        (kubernetes_pod::NAME, 2, kubernetes_pod::SETTINGS),
        (docker::NAME, 1, docker::SETTINGS),
        (dbt_cloud::NAME, 1, dbt_cloud::SETTINGS),
        (ecs_task::NAME, 3, ecs_task::SETTINGS),
    ];

    /// The settings of `OWN_SETTINGS` that operator `name` does not take.
    pub fn foreign_settings(name: &str) -> impl Iterator<Item = &'static str> + '_ {
        let own = Self::own_settings(name);
        let all = Self::OWN_SETTINGS
            .iter()
            .flat_map(|(_, _, s)| s.iter().copied());
        let mut seen = Vec::new();
        all.filter(move |s| {
            let new = !seen.contains(s);
            seen.push(*s);
            new && !own.contains(s)
        })
    }

    /// The settings of `OWN_SETTINGS` that operator `name` takes, and how many of the
    /// first are required.
    pub fn own_settings(name: &str) -> &'static [&'static str] {
        Self::OWN_SETTINGS
            .iter()
            .find(|(n, _, _)| *n == name)
            .map_or(&[], |(_, _, s)| s)
    }

    /// The settings operator `name` requires (of `OWN_SETTINGS`).
    pub fn required_settings(name: &str) -> &'static [&'static str] {
        Self::OWN_SETTINGS
            .iter()
            .find(|(n, _, _)| *n == name)
            .map_or(&[], |(_, required, s)| &s[..*required])
    }

    /// The operator called `name`, with its settings.
    pub fn from_settings(
        name: &str,
        settings: &dyn OperatorSettings,
    ) -> Result<Operator, OperatorError> {
        if let Some(operator) = Self::NAMES.iter().find(|n| **n == name) {
            for setting in Self::foreign_settings(name) {
                let given = settings.optional(setting)?.is_some();
                if given || !settings.list(setting)?.is_empty() {
                    return Err(OperatorError::NotItsSetting {
                        operator,
                        setting,
                        takes: Self::own_settings(name),
                    });
                }
            }
        }
        match name {
            bash::NAME => Ok(Operator::Bash(Bash)),
            cloud_run_job::NAME => CloudRunJob::from_settings(settings).map(Operator::CloudRunJob),
            kubernetes_pod::NAME => {
                KubernetesPod::from_settings(settings).map(Operator::KubernetesPod)
            }
            docker::NAME => Docker::from_settings(settings).map(Operator::Docker),
            dbt_cloud::NAME => DbtCloud::from_settings(settings).map(Operator::DbtCloud),
            ecs_task::NAME => EcsTask::from_settings(settings).map(Operator::EcsTask),
            _ => Err(OperatorError::Unknown { name: name.into() }),
        }
    }

    /// The name `--executor` gives it.
    pub fn name(&self) -> &'static str {
        self.dbt_operator().name()
    }

    /// What every operator provides; the one place that tells them apart.
    pub(crate) fn dbt_operator(&self) -> &dyn DbtOperator {
        match self {
            Operator::Bash(bash) => bash,
            Operator::CloudRunJob(job) => job,
            Operator::KubernetesPod(pod) => pod,
            Operator::Docker(docker) => docker,
            Operator::DbtCloud(cloud) => cloud,
            Operator::EcsTask(task) => task,
        }
    }
}

impl Default for Operator {
    fn default() -> Self {
        Operator::Bash(Bash)
    }
}

/// One value of the settings module ([`crate::dags::SETTINGS_FILE`]) that the task lines
/// read by `name`.
pub(crate) struct Setting {
    pub name: &'static str,
    /// A comment above it, for whoever reads the module; empty for a value that goes with
    /// the one before it.
    pub about: &'static str,
    /// A Python literal, never holding the word "airflow" (see
    /// [`crate::dags::python::str_lit_without_airflow`]).
    pub value: String,
}

/// What the DAG file and the plan ask of an operator. Every operator runs the same dbt
/// commands with the same trailing options (`--project-dir`, `--profiles-dir`, `--target`:
/// [`crate::dags::DagOptions`]); they differ in how the command reaches dbt.
pub(crate) trait DbtOperator: Sync {
    /// The name `--executor` gives it, also written in each file's header.
    fn name(&self) -> &'static str;

    /// Its name and settings, for a plan: `cloud_run_job (job dbt-runner in p/r)`.
    fn describe(&self) -> String {
        self.name().to_string()
    }

    /// Checks what the source of the settings could not, such as blank names.
    fn check(&self) -> Result<(), String> {
        Ok(())
    }

    /// The import statements the file needs for [`DbtOperator::base_class`], each a
    /// whole block of lines; a block equal to another import of the file is written once.
    fn imports(&self) -> &'static [&'static str];

    /// The operator class that `DbtTask` derives from.
    fn base_class(&self) -> &'static str;

    /// `COMMANDS`, by `Command::index`.
    fn write_commands(&self, out: &mut String);

    /// What differs between environments, for the settings module: `DBT_OPTIONS` (ending
    /// every command, from `dbt_options`) and the operator's own values the task lines use.
    /// The names never depend on the values: the DAG files of two environments are the same.
    fn settings(&self, dbt_options: &[String]) -> Vec<Setting>;

    /// How the loop over `TASKS` puts a task's dbt command together for it.
    fn command_line(&self) -> CommandLine;

    /// A `--select` or `--exclude` value as a row of `TASKS` holds it: shell-quoted in a
    /// command that is split like a shell's, as it is in a list of words.
    fn selection_word<'a>(&self, word: &'a str) -> Cow<'a, str> {
        match self.command_line() {
            CommandLine::Shell { .. } => bash::shell_quote(word),
            CommandLine::Words { .. } => Cow::Borrowed(word),
        }
    }

    /// The operator's own keyword arguments of `DbtTask(...)`, a line each, indented as
    /// [`write_task_lines`] writes them; they may use the command's variable and the
    /// settings module's values.
    fn task_arguments(&self) -> &'static str;

    /// Module-level lines after the settings are read: values every task shares, built once
    /// rather than per task where building one costs more than a task's share of the parse.
    fn shared_lines(&self) -> &'static str {
        ""
    }
}

/// How the loop over `TASKS` builds a task's dbt command, into a variable the operator's
/// arguments use.
pub(crate) enum CommandLine {
    /// One string, split like a shell's (by bash, or by dbt Cloud for a job's step):
    /// `COMMANDS` holds strings and the selections are shell-quoted.
    Shell { var: &'static str },
    /// A list of words that reaches dbt without a shell; `dbt` first unless the container
    /// runs dbt already (its entrypoint, or the pod's `cmds`).
    Words { var: &'static str, dbt_first: bool },
}

/// The lines in the loop over `TASKS` that create `task`, a `DbtTask`, from `group`,
/// `task_id`, `command`, `select`, `exclude` and `settings`: the command, then the
/// operator's own arguments between those that every operator's tasks have.
pub(crate) fn write_task_lines(operator: &dyn DbtOperator, out: &mut String) {
    let (var, start, select, exclude) = match operator.command_line() {
        CommandLine::Shell { var } => (
            var,
            "",
            "\" --select \" + select",
            "\" --exclude \" + exclude",
        ),
        CommandLine::Words { var, dbt_first } => (
            var,
            if dbt_first { "[\"dbt\"] + " } else { "" },
            "[\"--select\", select]",
            "[\"--exclude\", exclude]",
        ),
    };
    let _ = write!(
        out,
        "            {var} = {start}COMMANDS[command] + {select}\n            \
         if exclude is not None:\n                \
         {var} += {exclude}\n            \
         task = DbtTask(\n                \
         task_id=task_id,\n                \
         task_group=groups.get(group),\n"
    );
    out.push_str(operator.task_arguments());
    out.push_str(
        "                **(OVERRIDES[settings] if settings is not None else {}),\n            )\n",
    );
}

/// Airflow's `BashOperator`, used by the `bash` operator and by `bash:` tasks of the step.
pub(crate) const BASH_OPERATOR_IMPORT: &str = "try:  # Airflow 3: apache-airflow-providers-standard\n    \
     from airflow.providers.standard.operators.bash import BashOperator\n\
     except ImportError:  # Airflow 2\n    from airflow.operators.bash import BashOperator\n";

#[cfg(test)]
mod tests {
    use super::*;

    struct Given<'a>(&'a [(&'a str, &'a str)]);

    impl OperatorSettings for Given<'_> {
        fn required(
            &self,
            operator: &'static str,
            name: &'static str,
        ) -> Result<String, OperatorError> {
            let found = self.0.iter().find(|(n, _)| *n == name);
            found
                .map(|(_, v)| v.to_string())
                .ok_or_else(|| OperatorError::Missing {
                    operator,
                    flag: name.to_string(),
                })
        }

        fn optional(&self, name: &'static str) -> Result<Option<String>, OperatorError> {
            let found = self.0.iter().find(|(n, _)| *n == name);
            Ok(found.map(|(_, v)| v.to_string()))
        }

        /// Every value given under `name`, in order.
        fn list(&self, name: &'static str) -> Result<Vec<String>, OperatorError> {
            let found = self.0.iter().filter(|(n, _)| *n == name);
            Ok(found.map(|(_, v)| v.to_string()).collect())
        }
    }

    /// The required settings of every operator.
    const REQUIRED: &[(&str, &str)] = &[
        ("project", "p"),
        ("region", "r"),
        ("job", "j"),
        ("image", "i"),
        ("namespace", "n"),
        ("job_id", "1"),
        ("cluster", "c"),
        ("task_definition", "t"),
        ("container_name", "dbt"),
    ];

    #[test]
    fn every_name_is_an_operator_of_that_name() {
        for name in Operator::NAMES {
            let given: Vec<_> = REQUIRED
                .iter()
                .filter(|(s, _)| !Operator::foreign_settings(name).any(|f| f == *s))
                .copied()
                .collect();
            let operator = Operator::from_settings(name, &Given(&given)).unwrap();
            assert_eq!(operator.dbt_operator().name(), *name);
            assert!(operator.dbt_operator().check().is_ok(), "{name}");
        }
        assert_eq!(
            Operator::from_settings("ecs", &Given(REQUIRED))
                .unwrap_err()
                .to_string(),
            "executor `ecs` is not one of: bash, cloud_run_job, kubernetes_pod, docker, \
             dbt_cloud, ecs_task"
        );
    }

    #[test]
    fn required_settings_are_the_first_of_each_operators_own() {
        for (name, _, own) in Operator::OWN_SETTINGS {
            for setting in Operator::required_settings(name) {
                let given: Vec<_> = REQUIRED
                    .iter()
                    .filter(|(s, _)| s != setting && own.contains(s))
                    .copied()
                    .collect();
                assert_eq!(
                    Operator::from_settings(name, &Given(&given)).unwrap_err(),
                    OperatorError::Missing {
                        operator: name,
                        flag: setting.to_string()
                    }
                );
            }
        }
    }

    #[test]
    fn another_operators_setting_or_a_bad_yes_no_is_refused() {
        let given = Given(&[("image", "i"), ("namespace", "n")]);
        assert_eq!(
            Operator::from_settings("docker", &given)
                .unwrap_err()
                .to_string(),
            "executor `docker` does not take `namespace` (it takes: image, network, mounts)"
        );
        // Settings of `cloud_run_job` stay allowed beside any executor, as before.
        let given = Given(&[("image", "i"), ("project", "p")]);
        assert!(Operator::from_settings("docker", &given).is_ok());
        let given = Given(&[("image", "i"), ("namespace", "n"), ("deferrable", "yes")]);
        assert_eq!(
            Operator::from_settings("kubernetes_pod", &given)
                .unwrap_err()
                .to_string(),
            "`deferrable` of executor `kubernetes_pod` is `yes`, not `true` or `false`"
        );
        assert_eq!(
            Operator::foreign_settings("bash").count(),
            Operator::OWN_SETTINGS
                .iter()
                .flat_map(|(_, _, s)| s.iter())
                .collect::<std::collections::BTreeSet<_>>()
                .len()
        );
    }

    #[test]
    fn checks_refuse_malformed_entries_and_ids() {
        let check = |name, given: &[(&str, &str)]| {
            let operator = Operator::from_settings(name, &Given(given)).unwrap();
            operator.dbt_operator().check()
        };
        let pod = [("image", "i"), ("namespace", "n"), ("requests", "cpu")];
        assert!(
            check("kubernetes_pod", &pod)
                .unwrap_err()
                .contains("NAME=VALUE")
        );
        let pod = [("image", "i"), ("namespace", "n"), ("secret_env", "A=s")];
        assert!(
            check("kubernetes_pod", &pod)
                .unwrap_err()
                .contains("VARIABLE=SECRET:KEY")
        );
        let pod = [("image", " "), ("namespace", "n")];
        assert_eq!(
            check("kubernetes_pod", &pod).unwrap_err(),
            "executor `kubernetes_pod` needs a non-blank `image`"
        );
        assert!(check("docker", &[("image", "i"), ("mounts", "x")]).is_err());
        assert!(
            check("dbt_cloud", &[("job_id", "abc")])
                .unwrap_err()
                .contains("a number")
        );
        assert!(check("dbt_cloud", &[("job_id", "1"), ("account_id", "0")]).is_err());
        let ecs = [
            ("cluster", "c"),
            ("task_definition", "t"),
            ("container_name", "d"),
        ];
        let mut bad = ecs.to_vec();
        bad.push(("launch_type", "LAMBDA"));
        assert!(
            check("ecs_task", &bad)
                .unwrap_err()
                .contains("FARGATE, EC2, EXTERNAL")
        );
        let mut bad = ecs.to_vec();
        bad.push(("security_groups", "sg-1"));
        assert!(check("ecs_task", &bad).unwrap_err().contains("no subnets"));
    }

    #[test]
    fn settings_are_read_from_the_source_and_checked() {
        let missing = Given(&[("project", "p"), ("region", "r")]);
        assert_eq!(
            Operator::from_settings("cloud_run_job", &missing).unwrap_err(),
            OperatorError::Missing {
                operator: "cloud_run_job",
                flag: "job".into()
            }
        );
        let blank = Given(&[("project", "p"), ("region", "r"), ("job", " ")]);
        let operator = Operator::from_settings("cloud_run_job", &blank).unwrap();
        assert_eq!(
            operator.dbt_operator().check().unwrap_err(),
            "executor `cloud_run_job` needs a job"
        );
        let given = Given(&[("project", "p"), ("region", "r"), ("job", "dbt")]);
        let operator = Operator::from_settings("cloud_run_job", &given).unwrap();
        assert!(operator.dbt_operator().check().is_ok());
        assert_eq!(
            operator.dbt_operator().describe(),
            "cloud_run_job (job dbt in p/r)"
        );
        assert_eq!(Operator::default().dbt_operator().describe(), "bash");
    }
}
