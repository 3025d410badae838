//! `airflow_dags`: turns a dbt manifest (and `selectors.yml`) into static Airflow DAG files,
//! one DAG per selector.

use std::path::Path;

use super::{Inputs, Outputs, StepKind};
use crate::diagnostic::Diagnostic;
use crate::expr::Resolved;
use crate::pipeline::{Pipeline, Step};
use crate::plan::action::{Action, FileList, Generate};
use crate::shape::{Field, Record, Shape};
use crate::yaml::{self, Node};

pub struct AirflowDags;

const INPUTS: Record = Record {
    fields: &[
        Field::required(
            "manifest",
            Shape::Template,
            "Path of dbt's `target/manifest.json`.",
        ),
        Field::optional(
            "selectors",
            Shape::Template,
            "Path of `selectors.yml`: one DAG per selector (default: one DAG `dbt_all`).",
        ),
        Field::required(
            "out",
            Shape::Template,
            "Folder the DAG files are written to.",
        ),
        Field::optional(
            "executor",
            Shape::Enum(&["bash", "cloud_run_job"]),
            "How tasks run dbt: `bash` (local Airflow) or `cloud_run_job` (default: `bash`).",
        ),
        Field::optional(
            "job",
            Shape::Template,
            "Cloud Run job that runs dbt (executor `cloud_run_job`).",
        ),
        Field::optional(
            "project_dir",
            Shape::Template,
            "dbt project folder as Airflow workers see it (executor `bash`).",
        ),
        Field::optional("target", Shape::Template, "dbt target the tasks use."),
        Field::optional(
            "schedules",
            Shape::Map(&Shape::Template),
            "Cron schedule per selector name; else a `schedule` key in the selector, else none.",
        ),
        Field::optional(
            "tests",
            Shape::Enum(&["after_each", "build", "none"]),
            "Where dbt tests run (default: `after_each`).",
        ),
    ],
    exactly_one_of: &[],
};

impl StepKind for AirflowDags {
    fn name(&self) -> &'static str {
        "airflow_dags"
    }
    fn about(&self) -> &'static str {
        "Generate static Airflow DAG files from a dbt manifest, one DAG per selector."
    }
    fn inputs(&self) -> &'static Record {
        &INPUTS
    }
    fn outputs(&self) -> Outputs {
        Outputs::Named(&["out", "dag_count"])
    }

    fn check(&self, step: &Step, _pipeline: &Pipeline, diags: &mut Vec<Diagnostic>) {
        let executor = step.with.get("executor").and_then(Node::as_str);
        if executor == Some("cloud_run_job") && step.with.get("job").is_none() {
            diags.push(
                Diagnostic::error(step.span, format!("step `{}` has no `job`", step.id))
                    .label("executor `cloud_run_job` runs dbt in a Cloud Run job")
                    .expected("`job:` naming the Cloud Run job that runs dbt"),
            );
        }
    }

    fn plan(&self, inputs: &Inputs) -> Vec<Action> {
        let manifest = inputs.text_or("manifest", "");
        let out = inputs.text_or("out", "");
        let selectors = inputs.text("selectors");
        let files = planned_files(inputs.dir, selectors.as_ref(), &out);
        let mut description = format!("generate Airflow DAGs from {manifest} into {out}");
        if let Some(s) = &selectors {
            description.push_str(&format!(" (one per selector in {s})"));
        }
        vec![Action::Generate(Generate {
            description,
            manifest,
            selectors,
            out,
            files,
        })]
    }
}

/// The DAG files are named after the selectors, so the plan can list them by reading only
/// `selectors.yml` (the manifest usually does not exist before dbt compiles it).
fn planned_files(dir: &Path, selectors: Option<&Resolved>, out: &Resolved) -> FileList {
    let names = match selectors {
        None => vec!["all".to_string()],
        Some(path) if path.parts.len() == 1 => match selector_names(&dir.join(path.to_string())) {
            Ok(names) => names,
            Err(note) => return FileList::unknown(note),
        },
        Some(path) => return FileList::unknown(format!("known once {path} is")),
    };
    let out = out.to_string();
    let out = out.trim_end_matches('/');
    FileList::known(
        names
            .iter()
            .map(|name| format!("{out}/{}", dag_file_name(name)))
            .collect(),
    )
}

fn selector_names(path: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let root = yaml::parse(&text).map_err(|d| format!("{}: {}", path.display(), d.message))?;
    let entries = root.get("selectors").and_then(Node::as_seq).unwrap_or(&[]);
    Ok(entries
        .iter()
        .filter_map(|s| s.get("name").and_then(Node::as_str).map(str::to_string))
        .collect())
}

/// `dbt_<selector>.py`, with anything but letters, digits, `_`, `-` and `.` replaced, so that
/// a selector name can never make a path.
pub fn dag_file_name(selector: &str) -> String {
    let safe: String = selector
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("dbt_{}.py", safe.replace("..", "__"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dag_file_names_cannot_escape_the_folder() {
        assert_eq!(dag_file_name("daily"), "dbt_daily.py");
        assert_eq!(dag_file_name("../etc/passwd"), "dbt____etc_passwd.py");
        assert_eq!(dag_file_name("a b/c"), "dbt_a_b_c.py");
    }
}
