//! The settings module: what differs between environments, kept out of the DAG files.
//!
//! A release promotes the DAG files recorded in one environment to the next byte for byte.
//! The values that differ between environments (dbt's `--target`, `--project-dir` and
//! `--profiles-dir`; the operator's own, such as the Cloud Run job's project, region and
//! name) live in one small Python module beside them, [`SETTINGS_FILE`], which every DAG
//! file of the folder reads when Airflow parses it; each environment has its own. The DAG
//! files name the values, never hold them: two environments that differ only there get the
//! same DAG files.
//!
//! Airflow's safe-mode discovery parses any `.py` file that mentions both "airflow" and
//! "dag" (Airflow 3: or "asset") as a DAG file. The module's text never holds "airflow", so
//! Airflow lists neither a DAG nor an import error for it, and a sync, which tells DAG files
//! apart the same way, uploads it before the DAG files that read it.

use std::fmt::Write;

use super::options::DagOptions;
use super::python::str_lit;
use super::render::{HASH_PENDING, seal};

/// The settings module's name, in the folder of the DAG files.
pub const SETTINGS_FILE: &str = "dagship_settings.py";

/// A generated file that is not a DAG: its name in the folder, and its contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    pub file_name: String,
    pub contents: String,
}

/// The settings module of the environment `options` describe. It depends on nothing else
/// (no manifest): a release writes it for each environment it promotes DAG files into.
pub fn settings_file(options: &DagOptions) -> GeneratedFile {
    let operator = options.operator.dbt_operator();
    let mut out = String::with_capacity(1024);
    // No "airflow" in any line, values included (`str_lit_without_airflow`).
    let _ = writeln!(
        out,
        "{}{}; the lines below hash to xxh128:{HASH_PENDING}.\n\
         # Do not edit: dagship writes it beside the DAG files of this folder, which read it.\n\
         #\n\
         # The values that differ between environments. A release promotes the same DAG files\n\
         # from one environment to the next; each environment has its own copy of this module.\n\
         #\n\
         # executor: {}",
        super::HEADER_MARK,
        env!("CARGO_PKG_VERSION"),
        operator.name(),
    );
    for setting in all_settings(options) {
        if !setting.about.is_empty() {
            let _ = write!(out, "\n# {}\n", setting.about);
        }
        let _ = writeln!(out, "{} = {}", setting.name, setting.value);
    }
    seal(&mut out);
    debug_assert!(!out.to_ascii_lowercase().contains("airflow"));
    GeneratedFile {
        file_name: SETTINGS_FILE.to_string(),
        contents: out,
    }
}

/// The operator's settings, then the notifiers'.
fn all_settings(options: &DagOptions) -> Vec<super::operator::Setting> {
    let mut settings = options
        .operator
        .dbt_operator()
        .settings(&dbt_options(options));
    settings.extend(options.notify.settings());
    settings
}

/// The options every dbt command ends with.
fn dbt_options(options: &DagOptions) -> Vec<String> {
    let mut words = Vec::new();
    for (flag, value) in [
        ("--project-dir", &options.project_dir),
        ("--profiles-dir", &options.profiles_dir),
        ("--target", &options.target),
    ] {
        if let Some(v) = value {
            words.push(flag.to_string());
            words.push(v.clone());
        }
    }
    words
}

/// The DAG file's lines that read the settings module and give the task lines its values by
/// name.
///
/// The module is read by its path beside the DAG file: the folder need not be on `sys.path`
/// (Airflow puts the DAGs folder, or a DAG bundle's root, there; not their subfolders). It is
/// compiled and run at every parse rather than imported once under a module name: it is a
/// few assignments (tens of microseconds); a module kept in `sys.modules` would serve stale
/// values to a process that parses again after a deploy changed them, or one folder's values
/// to another (two bundles, or two versions of one, in one process); and Python's bytecode
/// cache, which `importlib` would use, tells a changed file by its size and mtime in whole
/// seconds: `"stage1"` rewritten as `"stage2"` within a second would go unseen.
pub(super) fn write_loader(out: &mut String, options: &DagOptions) {
    let _ = write!(
        out,
        "\n\ndef load_settings():\n    \
         \"\"\"The values that differ between environments (dbt's --target, ...), from the module\n    \
         beside this file: a release promotes the same DAG files, and each environment has its\n    \
         own settings module. Read by path and run at every parse, never cached (see dagship's\n    \
         src/dags/settings.rs).\"\"\"\n    \
         path = os.path.join(os.path.dirname(os.path.abspath(__file__)), {file})\n    \
         try:\n        \
         with open(path, \"rb\") as file:\n            \
         source = file.read()\n    \
         except FileNotFoundError:\n        \
         raise ImportError(path + \" is missing: dagship writes it beside the DAG files\") from None\n    \
         values = {{}}\n    \
         exec(compile(source, path, \"exec\"), values)\n    \
         return values\n\n\n\
         SETTINGS = load_settings()\n",
        file = str_lit(SETTINGS_FILE),
    );
    for setting in all_settings(options) {
        let _ = writeln!(out, "{0} = SETTINGS[\"{0}\"]", setting.name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dags::{CloudRunJob, Operator};

    fn cloud_run(project: &str, target: &str) -> DagOptions {
        DagOptions {
            operator: Operator::CloudRunJob(CloudRunJob {
                project: project.into(),
                region: "europe-west1".into(),
                job: "dbt-runner".into(),
            }),
            project_dir: Some("/home/airflow/gcs/dags/dbt".into()),
            target: Some(target.into()),
            ..DagOptions::default()
        }
    }

    #[test]
    fn the_module_holds_the_values_and_never_the_word_airflow() {
        let file = settings_file(&cloud_run("acme-prod", "prod"));
        assert_eq!(file.file_name, SETTINGS_FILE);
        let text = &file.contents;
        for line in [
            "PROJECT = \"acme-prod\"",
            "REGION = \"europe-west1\"",
            "JOB = \"dbt-runner\"",
            "DBT_OPTIONS = [\"--project-dir\", \"/home/airflo\\x77/gcs/dags/dbt\", \"--target\", \"prod\"]",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
        }
        assert!(!text.to_ascii_lowercase().contains("airflow"), "{text}");
        let (first, rest) = text.split_once('\n').unwrap();
        let hash = xxhash_rust::xxh3::xxh3_128(rest.as_bytes());
        assert!(first.starts_with(crate::dags::HEADER_MARK), "{first}");
        assert!(first.ends_with(&format!("xxh128:{hash:032x}.")), "{first}");
    }

    #[test]
    fn the_loader_names_the_values_without_holding_them() {
        let mut staging = String::new();
        write_loader(&mut staging, &cloud_run("acme-staging", "staging"));
        let mut prod = String::new();
        write_loader(&mut prod, &cloud_run("acme-prod", "prod"));
        assert_eq!(staging, prod);
        assert!(prod.ends_with(
            "SETTINGS = load_settings()\nPROJECT = SETTINGS[\"PROJECT\"]\n\
             REGION = SETTINGS[\"REGION\"]\nJOB = SETTINGS[\"JOB\"]\n\
             DBT_OPTIONS = SETTINGS[\"DBT_OPTIONS\"]\n"
        ));
        assert!(prod.contains("\"dagship_settings.py\""));
    }

    #[test]
    fn the_module_depends_on_the_values_only() {
        let staging = settings_file(&cloud_run("acme-staging", "staging"));
        assert_eq!(
            staging,
            settings_file(&cloud_run("acme-staging", "staging"))
        );
        assert_ne!(staging, settings_file(&cloud_run("acme-prod", "staging")));
        assert_ne!(staging, settings_file(&cloud_run("acme-staging", "prod")));
    }
}
