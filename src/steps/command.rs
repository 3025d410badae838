//! `command`: runs any program, with its arguments as a list (no shell unless asked).

use super::{Inputs, StepKind};
use crate::action::{Action, Exec};
use crate::diagnostic::Diagnostic;
use crate::exec::{Failure, Job, StepFuture, outputs};
use crate::expr::Resolved;
use crate::pipeline::{KindSchema, Outputs, Pipeline, Step};
use crate::shape::{Field, Record, Shape, TEMPLATE_OR_LIST};
use crate::yaml::Value;

pub(super) struct Command;

const INPUTS: Record = Record {
    fields: &[
        Field::required(
            "argv",
            TEMPLATE_OR_LIST,
            "The program and its arguments, as a list; one string when `shell: true`.",
        ),
        Field::optional(
            "cwd",
            Shape::Template,
            "Working folder (default: the pipeline file's folder).",
        ),
        Field::optional(
            "shell",
            Shape::Bool,
            "Run `argv` (one string) with `sh -c`.",
        ),
    ],
    exactly_one_of: &[],
};

impl KindSchema for Command {
    fn name(&self) -> &'static str {
        "command"
    }
    fn about(&self) -> &'static str {
        "Run a program; it may set outputs by writing `name=value` lines to `$DAGSHIP_OUTPUT`."
    }
    fn inputs(&self) -> &'static Record {
        &INPUTS
    }
    fn outputs(&self) -> Outputs {
        Outputs::Any
    }

    fn check(&self, step: &Step, _pipeline: &Pipeline, diags: &mut Vec<Diagnostic>) {
        let Some(argv) = step.with.get("argv") else {
            return;
        };
        let shell = matches!(
            step.with.get("shell").map(|n| &n.value),
            Some(Value::Bool(true))
        );
        let mistake = match (&argv.value, shell) {
            (Value::Seq(items), _) if items.is_empty() => {
                Some(("an empty list", "at least the program to run"))
            }
            (Value::Seq(_), true) => Some((
                "a list",
                "one string to run with `sh -c`, when `shell: true`",
            )),
            (Value::Str(_), false) => Some((
                "a string",
                "a list such as `[dbt, --version]`, or `shell: true` to run the string with `sh -c`",
            )),
            _ => None,
        };
        if let Some((found, expected)) = mistake {
            diags.push(
                Diagnostic::error(
                    argv.span,
                    format!("wrong value for `steps.{}.with.argv`", step.id),
                )
                .label(format!("found {found}"))
                .expected(expected),
            );
        }
    }
}

/// The file a `command` step writes its outputs to could not be prepared.
#[derive(Debug, thiserror::Error)]
#[error("cannot create {}", path.display())]
struct OutputsFile {
    path: std::path::PathBuf,
    source: std::io::Error,
}

impl StepKind for Command {
    fn execute(&self, job: Job) -> StepFuture {
        Box::pin(async move {
            let file = job.ctx.outputs_file().clone();
            std::fs::write(&file, "").map_err(|source| {
                Failure::of(OutputsFile {
                    path: file.clone(),
                    source,
                })
            })?;
            let env = [("DAGSHIP_OUTPUT".to_string(), file.display().to_string())];
            for action in &job.actions {
                if let Action::Exec(exec) = action {
                    job.ctx.exec(exec, &env, None, false).await?;
                }
            }
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            // The step may have written secrets there: only the masked outputs are kept.
            let _ = std::fs::remove_file(&file);
            let outputs = outputs::parse(&text).map_err(Failure::of)?;
            for (name, value) in &outputs {
                job.ctx
                    .log_line(&job.ctx.mask(&format!("output {name}={value}")));
            }
            Ok(outputs)
        })
    }

    fn plan(&self, inputs: &Inputs) -> Vec<Action> {
        let argv = if inputs.flag("shell") {
            let mut argv = vec![Resolved::text("sh"), Resolved::text("-c")];
            argv.extend(inputs.text("argv"));
            argv
        } else {
            inputs.list("argv")
        };
        let mut exec = Exec::new(argv);
        exec.cwd = inputs.text("cwd");
        vec![Action::Exec(exec)]
    }
}
