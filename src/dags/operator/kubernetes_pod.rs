//! `kubernetes_pod`: the cncf-kubernetes provider's `KubernetesPodOperator`, running dbt in a
//! pod of the image that holds the dbt project: `dbt` as the container's command, the dbt
//! command's words as its arguments (no shell).

use super::values::{self, bool_lit, opt_lit, parse_pair, parse_secret_env, str_dict, tuple_list};
use super::{CommandLine, DbtOperator, OperatorError, OperatorSettings, Setting};
use crate::dags::python::{str_list_without_airflow, str_lit_without_airflow};

pub(super) const NAME: &str = "kubernetes_pod";

/// Its settings, the required ones first (`Operator::OWN_SETTINGS`).
pub(super) const SETTINGS: &[&str] = &[
    "image",
    "namespace",
    "service_account",
    "requests",
    "limits",
    "secret_env",
    "config_file",
    "deferrable",
];

/// The pod that runs dbt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubernetesPod {
    pub image: String,
    pub namespace: String,
    /// Kubernetes service account of the pod (the namespace's default without it).
    pub service_account: Option<String>,
    /// Resource requests and limits, `NAME=VALUE` each (`cpu=500m`, `memory=1Gi`).
    pub requests: Vec<String>,
    pub limits: Vec<String>,
    /// Environment variables from Kubernetes secrets: `VARIABLE=SECRET:KEY` each.
    pub secret_env: Vec<String>,
    /// The kube config file Airflow's workers read; without it, the pod is started in the
    /// cluster Airflow runs in (`in_cluster`).
    pub config_file: Option<String>,
    /// Waits for the pod in Airflow's triggerer rather than in a worker slot.
    pub deferrable: bool,
}

impl KubernetesPod {
    pub(super) fn from_settings(
        settings: &dyn OperatorSettings,
    ) -> Result<KubernetesPod, OperatorError> {
        Ok(KubernetesPod {
            image: settings.required(NAME, "image")?,
            namespace: settings.required(NAME, "namespace")?,
            service_account: settings.optional("service_account")?,
            requests: settings.list("requests")?,
            limits: settings.list("limits")?,
            secret_env: settings.list("secret_env")?,
            config_file: settings.optional("config_file")?,
            deferrable: values::flag(settings, NAME, "deferrable", false)?,
        })
    }

    fn pairs(entries: &[String]) -> Vec<(String, String)> {
        entries.iter().filter_map(|e| parse_pair(e).ok()).collect()
    }
}

impl DbtOperator for KubernetesPod {
    fn name(&self) -> &'static str {
        NAME
    }

    fn describe(&self) -> String {
        format!(
            "{NAME} (image {} in namespace {})",
            self.image, self.namespace
        )
    }

    fn check(&self) -> Result<(), String> {
        values::blank(
            NAME,
            &[("image", &self.image), ("namespace", &self.namespace)],
        )?;
        for entry in self.requests.iter().chain(&self.limits) {
            parse_pair(entry)?;
        }
        for entry in &self.secret_env {
            parse_secret_env(entry)?;
        }
        Ok(())
    }

    fn imports(&self) -> &'static [&'static str] {
        &[
            "from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator\n\
             from airflow.providers.cncf.kubernetes.secret import Secret\n\
             from kubernetes.client import models as k8s\n",
        ]
    }

    fn base_class(&self) -> &'static str {
        "KubernetesPodOperator"
    }

    fn write_commands(&self, out: &mut String) {
        values::write_word_commands(out);
    }

    fn settings(&self, dbt_options: &[String]) -> Vec<Setting> {
        let secrets: Vec<Vec<String>> = self
            .secret_env
            .iter()
            .filter_map(|e| parse_secret_env(e).ok())
            .map(|(var, secret, key)| vec![var, secret, key])
            .collect();
        let setting = |name, about, value| Setting { name, about, value };
        vec![
            setting(
                "IMAGE",
                "The pod that runs dbt: its image (holding the dbt project), namespace and service account.",
                str_lit_without_airflow(&self.image),
            ),
            setting("NAMESPACE", "", str_lit_without_airflow(&self.namespace)),
            setting(
                "SERVICE_ACCOUNT",
                "",
                opt_lit(self.service_account.as_deref()),
            ),
            setting(
                "REQUESTS",
                "The container's resource requests and limits (empty: none).",
                str_dict(&Self::pairs(&self.requests)),
            ),
            setting("LIMITS", "", str_dict(&Self::pairs(&self.limits))),
            setting(
                "SECRET_ENV",
                "Environment variables from Kubernetes secrets: (variable, secret, key).",
                tuple_list(&secrets),
            ),
            setting(
                "CONFIG_FILE",
                "The kube config file; None: the cluster the workers run in.",
                opt_lit(self.config_file.as_deref()),
            ),
            setting(
                "DEFERRABLE",
                "Wait for the pod in the triggerer, not in a worker slot.",
                bool_lit(self.deferrable).to_string(),
            ),
            setting(
                "DBT_OPTIONS",
                "Every dbt command (the container's arguments) ends with these.",
                str_list_without_airflow(dbt_options),
            ),
        ]
    }

    /// Container arguments reach dbt without a shell.
    fn command_line(&self) -> CommandLine {
        CommandLine::Words {
            var: "arguments",
            dbt_first: false,
        }
    }

    fn shared_lines(&self) -> &'static str {
        // Each kubernetes model object builds a client `Configuration` of its own, which
        // resets the logging module's caches: per task, that tripled the file's import time.
        "\n# The pod's resources and secrets, the same for every task: built once.\n\
         RESOURCES = k8s.V1ResourceRequirements(requests=REQUESTS or None, limits=LIMITS or None)\n\
         SECRETS = [Secret(\"env\", *entry) for entry in SECRET_ENV]\n"
    }

    fn task_arguments(&self) -> &'static str {
        "                image=IMAGE,\n                \
         namespace=NAMESPACE,\n                \
         service_account_name=SERVICE_ACCOUNT,\n                \
         cmds=[\"dbt\"],\n                \
         arguments=arguments + DBT_OPTIONS,\n                \
         container_resources=RESOURCES,\n                \
         secrets=list(SECRETS),\n                \
         config_file=CONFIG_FILE,\n                \
         in_cluster=CONFIG_FILE is None,\n                \
         deferrable=DEFERRABLE,\n                \
         get_logs=True,\n"
    }
}
