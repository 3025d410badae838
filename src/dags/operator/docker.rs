//! `docker`: the docker provider's `DockerOperator`, running dbt in a container of the image
//! that holds the dbt project, the command as a list of words (no shell).

use super::values::{self, opt_lit, parse_mount};
use super::{CommandLine, DbtOperator, OperatorError, OperatorSettings, Setting};
use crate::dags::python::{str_list_without_airflow, str_lit_without_airflow};

pub(super) const NAME: &str = "docker";

/// Its settings, the required ones first (`Operator::OWN_SETTINGS`).
pub(super) const SETTINGS: &[&str] = &["image", "network", "mounts"];

/// The container that runs dbt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Docker {
    pub image: String,
    /// Docker network of the container (`network_mode`): Docker's default without it.
    pub network: Option<String>,
    /// Bind mounts, `SOURCE:TARGET` or `SOURCE:TARGET:ro` each.
    pub mounts: Vec<String>,
}

impl Docker {
    pub(super) fn from_settings(settings: &dyn OperatorSettings) -> Result<Docker, OperatorError> {
        Ok(Docker {
            image: settings.required(NAME, "image")?,
            network: settings.optional("network")?,
            mounts: settings.list("mounts")?,
        })
    }
}

impl DbtOperator for Docker {
    fn name(&self) -> &'static str {
        NAME
    }

    fn describe(&self) -> String {
        format!("{NAME} (image {})", self.image)
    }

    fn check(&self) -> Result<(), String> {
        values::blank(NAME, &[("image", &self.image)])?;
        for entry in &self.mounts {
            parse_mount(entry)?;
        }
        Ok(())
    }

    fn imports(&self) -> &'static [&'static str] {
        &[
            "from airflow.providers.docker.operators.docker import DockerOperator\n\
           from docker.types import Mount\n",
        ]
    }

    fn base_class(&self) -> &'static str {
        "DockerOperator"
    }

    fn write_commands(&self, out: &mut String) {
        values::write_word_commands(out);
    }

    fn settings(&self, dbt_options: &[String]) -> Vec<Setting> {
        let mounts: Vec<String> = self
            .mounts
            .iter()
            .filter_map(|m| parse_mount(m).ok())
            .map(|(source, target, read_only)| {
                let (s, t) = (
                    str_lit_without_airflow(&source),
                    str_lit_without_airflow(&target),
                );
                format!("({s}, {t}, {})", values::bool_lit(read_only))
            })
            .collect();
        vec![
            Setting {
                name: "IMAGE",
                about: "The container that runs dbt: its image (holding the dbt project) and network.",
                value: str_lit_without_airflow(&self.image),
            },
            Setting {
                name: "NETWORK",
                about: "",
                value: opt_lit(self.network.as_deref()),
            },
            Setting {
                name: "MOUNTS",
                about: "Bind mounts: (source on the host, target in the container, read-only).",
                value: format!("[{}]", mounts.join(", ")),
            },
            Setting {
                name: "DBT_OPTIONS",
                about: "Every dbt command ends with these.",
                value: str_list_without_airflow(dbt_options),
            },
        ]
    }

    /// The command reaches dbt as a list of words, without a shell.
    fn command_line(&self) -> CommandLine {
        CommandLine::Words {
            var: "words",
            dbt_first: true,
        }
    }

    fn task_arguments(&self) -> &'static str {
        "                image=IMAGE,\n                \
         command=words + DBT_OPTIONS,\n                \
         network_mode=NETWORK,\n                \
         mounts=[\n                    \
         Mount(source=source, target=target, type=\"bind\", read_only=read_only)\n                    \
         for source, target, read_only in MOUNTS\n                ],\n"
    }
}
