//! `dbt`: runs one dbt command on a project (compile, build, run, test, seed, ...).

use indexmap::IndexMap;

use super::{Inputs, Outputs, StepKind};
use crate::diagnostic::Diagnostic;
use crate::expr::{Piece, Resolved};
use crate::pipeline::{Pipeline, Step};
use crate::plan::action::{Action, Exec};
use crate::shape::{Field, Record, Shape, TEMPLATE_OR_LIST, TEMPLATES};

pub struct Dbt;

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

impl StepKind for Dbt {
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
