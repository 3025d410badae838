//! `dbt`: runs one dbt command on a project (compile, build, run, test, seed, ...).

use indexmap::IndexMap;

use super::{Inputs, StepKind};
use crate::action::{Action, Exec};
use crate::diagnostic::Diagnostic;
use crate::exec::{Job, LineView, StepFuture};
use crate::expr::{Piece, Resolved};
use crate::pipeline::{KindSchema, Outputs, Pipeline, Step};
use crate::shape::{Field, Record, Shape, TEMPLATE_OR_LIST, TEMPLATES};

pub(super) struct Dbt;

const COMMANDS: &[&str] = &[
    "compile",
    "run",
    "build",
    "test",
    "seed",
    "snapshot",
    "deps",
    "docs generate",
    "parse",
];

/// dbt rejects node selection on these commands.
const WITHOUT_SELECTION: &[&str] = &["deps", "parse"];

const INPUTS: Record = Record {
    fields: &[
        Field::required("command", Shape::Enum(COMMANDS), "The dbt command to run."),
        Field::optional(
            "project_dir",
            Shape::Template,
            "The dbt project folder (default: `.`).",
        ),
        Field::optional(
            "profiles_dir",
            Shape::Template,
            "Folder holding `profiles.yml` (default: the project folder); set as `DBT_PROFILES_DIR`.",
        ),
        Field::optional(
            "target",
            Shape::Template,
            "The profile target, e.g. `${{ vars.dbt_target }}`.",
        ),
        Field::optional(
            "vars",
            Shape::Map(&Shape::Template),
            "dbt `--vars`, as a mapping.",
        ),
        Field::optional("select", TEMPLATE_OR_LIST, "dbt `--select` expressions."),
        Field::optional("exclude", TEMPLATE_OR_LIST, "dbt `--exclude` expressions."),
        Field::optional(
            "selector",
            Shape::Template,
            "A selector from `selectors.yml`.",
        ),
        Field::optional("full_refresh", Shape::Bool, "Pass `--full-refresh`."),
        Field::optional(
            "threads",
            Shape::Int { min: 1, max: 256 },
            "Pass `--threads N`.",
        ),
        Field::optional(
            "args",
            TEMPLATES,
            "Further arguments, appended as they are.",
        ),
    ],
    exactly_one_of: &[],
};

impl KindSchema for Dbt {
    fn name(&self) -> &'static str {
        "dbt"
    }
    fn about(&self) -> &'static str {
        "Run a dbt command (dbt-core) on a project, with structured progress."
    }
    fn inputs(&self) -> &'static Record {
        &INPUTS
    }
    fn outputs(&self) -> Outputs {
        Outputs::Named(&["manifest", "target_dir"])
    }

    fn check(&self, step: &Step, _pipeline: &Pipeline, diags: &mut Vec<Diagnostic>) {
        let command = step
            .with
            .get("command")
            .and_then(|n| n.as_str())
            .unwrap_or("");
        for key in ["select", "exclude", "selector"] {
            let Some(node) = step.with.get(key) else {
                continue;
            };
            if WITHOUT_SELECTION.contains(&command) {
                diags.push(
                    Diagnostic::error(node.span, format!("`dbt {command}` does not select nodes"))
                        .label(format!("`{key}` has no effect here"))
                        .expected(format!("no `{key}` with `command: {command}`")),
                );
            }
        }
        if let (Some(_), Some(selector)) = (step.with.get("select"), step.with.get("selector")) {
            diags.push(
                Diagnostic::error(selector.span, "`selector` and `select` exclude each other")
                    .label("dbt accepts one or the other")
                    .expected("either `selector` or `select`/`exclude`"),
            );
        }
    }
}

impl StepKind for Dbt {
    fn execute(&self, job: Job) -> StepFuture {
        Box::pin(async move {
            let mut progress = DbtProgress::default();
            let mut filter = move |line: &str| progress.view(line);
            job.ctx.exec_all(&job.actions, Some(&mut filter)).await?;
            let project_dir = job
                .actions
                .iter()
                .find_map(project_dir)
                .unwrap_or_else(|| ".".into());
            let target_dir = format!("{}/target", project_dir.trim_end_matches('/'));
            Ok(IndexMap::from([
                (
                    "manifest".to_string(),
                    format!("{target_dir}/manifest.json"),
                ),
                ("target_dir".to_string(), target_dir),
            ]))
        })
    }

    /// Where dbt writes its manifest (as `execute` reports it).
    fn expected_outputs(&self, inputs: &Inputs) -> IndexMap<String, String> {
        let Ok(project_dir) = inputs.text_or("project_dir", ".").reveal() else {
            return IndexMap::new();
        };
        let target_dir = format!("{}/target", project_dir.trim_end_matches('/'));
        IndexMap::from([
            (
                "manifest".to_string(),
                format!("{target_dir}/manifest.json"),
            ),
            ("target_dir".to_string(), target_dir),
        ])
    }

    fn plan(&self, inputs: &Inputs) -> Vec<Action> {
        let project_dir = inputs.text_or("project_dir", ".");
        let mut argv = vec![Resolved::text("dbt")];
        let command = inputs.text_or("command", "build").to_string();
        argv.extend(command.split(' ').map(Resolved::text));
        push_flag(&mut argv, "--project-dir", Some(project_dir.clone()));
        push_flag(&mut argv, "--target", inputs.text("target"));
        let vars = inputs.map("vars");
        if !vars.is_empty() {
            push_flag(&mut argv, "--vars", Some(json_object(&vars)));
        }
        push_list(&mut argv, "--select", inputs.list("select"));
        push_list(&mut argv, "--exclude", inputs.list("exclude"));
        push_flag(&mut argv, "--selector", inputs.text("selector"));
        if inputs.flag("full_refresh") {
            argv.push(Resolved::text("--full-refresh"));
        }
        push_flag(&mut argv, "--threads", inputs.text("threads"));
        // Structured log lines are how the runner follows progress (nodes done / total).
        argv.extend(["--log-format", "json"].map(Resolved::text));
        argv.extend(inputs.list("args"));
        let mut exec = Exec::new(argv);
        let profiles_dir = inputs.text("profiles_dir").unwrap_or(project_dir);
        exec.env = IndexMap::from([("DBT_PROFILES_DIR".to_string(), profiles_dir)]);
        vec![Action::Exec(exec)]
    }
}

fn push_flag(argv: &mut Vec<Resolved>, flag: &str, value: Option<Resolved>) {
    if let Some(value) = value {
        argv.push(Resolved::text(flag));
        argv.push(value);
    }
}

/// dbt takes `--select a b` as separate words, and splits a single string on spaces itself.
fn push_list(argv: &mut Vec<Resolved>, flag: &str, values: Vec<Resolved>) {
    if !values.is_empty() {
        argv.push(Resolved::text(flag));
        argv.extend(values);
    }
}

/// `--vars` as JSON (which dbt reads as YAML). Literal text is escaped here; a secret's value
/// is inserted as it is when the step runs, so it must not contain `"` or `\`.
fn json_object(vars: &IndexMap<String, Resolved>) -> Resolved {
    let mut out = Resolved::text("{");
    for (i, (key, value)) in vars.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        out.push_text(&format!(
            "{sep}{}: \"",
            serde_json::Value::from(key.as_str())
        ));
        for piece in &value.parts {
            match piece {
                Piece::Text(t) => {
                    let quoted = serde_json::Value::from(t.as_str()).to_string();
                    out.push_text(&quoted[1..quoted.len() - 1]);
                }
                other => out.parts.push(other.clone()),
            }
        }
        out.push_text("\"");
    }
    out.push_text("}");
    out
}

/// The `--project-dir` a dbt command line was given.
fn project_dir(action: &Action) -> Option<String> {
    let Action::Exec(exec) = action else {
        return None;
    };
    let at = exec
        .argv
        .iter()
        .position(|a| a.to_string() == "--project-dir")?;
    exec.argv.get(at + 1).and_then(|r| r.reveal().ok())
}

/// Reads dbt's `--log-format json` lines: shows their message, counts finished nodes.
#[derive(Default)]
struct DbtProgress {
    done: u64,
}

impl DbtProgress {
    fn view(&mut self, line: &str) -> LineView {
        let Ok(event) = serde_json::from_str::<serde_json::Value>(line) else {
            // Not a log line (a stack trace, a print from a macro): show it as it is.
            return LineView {
                display: Some(line.to_string()),
                progress: None,
            };
        };
        let name = event["info"]["name"].as_str().unwrap_or("");
        let msg = event["info"]["msg"].as_str().unwrap_or("");
        let msg = anstream::adapter::strip_str(msg).to_string();
        // Test results call their total `num_models`; the other results call it `total`.
        let total = event["data"]["total"]
            .as_u64()
            .or(event["data"]["num_models"].as_u64());
        // `Log*Result` marks a node finished (seed, model, test, snapshot, freshness).
        let progress = match total {
            Some(total) if name.starts_with("Log") && name.ends_with("Result") => {
                self.done += 1;
                Some((self.done.min(total), total))
            }
            _ => None,
        };
        LineView {
            display: (!msg.trim().is_empty()).then_some(msg),
            progress,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dbt_json_lines_become_messages_and_progress() {
        let mut p = DbtProgress::default();
        let start = r#"{"info":{"name":"LogStartLine","msg":"1 of 3 START seed"},"data":{"index":1,"total":3}}"#;
        let result = r#"{"info":{"name":"LogSeedResult","msg":"\u001b[32mOK\u001b[0m seed"},"data":{"index":2,"total":3}}"#;
        let blank = r#"{"info":{"name":"Formatting","msg":""},"data":{}}"#;
        assert_eq!(
            p.view(start),
            LineView {
                display: Some("1 of 3 START seed".into()),
                progress: None
            }
        );
        assert_eq!(
            p.view(result),
            LineView {
                display: Some("OK seed".into()),
                progress: Some((1, 3))
            }
        );
        assert_eq!(p.view(blank).display, None);
        assert_eq!(
            p.view("Traceback (most recent call last):")
                .display
                .as_deref(),
            Some("Traceback (most recent call last):")
        );
    }
}
