//! `alembic`: upgrades a database to a migration revision.

use indexmap::IndexMap;

use super::{Inputs, Outputs, StepKind};
use crate::expr::Resolved;
use crate::plan::action::{Action, Exec};
use crate::runner::executor::{Failure, Job, StepFuture};
use crate::shape::{Field, Record, Shape};

pub struct Alembic;

/// The database URL reaches alembic's `env.py` through this variable, never on a command line
/// (where `ps` would show it) nor in any output.
pub const URL_VARIABLE: &str = "DAGSHIP_DATABASE_URL";

const INPUTS: Record = Record {
    fields: &[
        Field::required("config", Shape::Template, "Path of `alembic.ini`."),
        Field::optional(
            "revision",
            Shape::Template,
            "Target revision (default: `head`).",
        ),
        Field::optional(
            "url",
            Shape::Template,
            "Database URL, usually `${{ secrets.NAME }}`; given to env.py as `DAGSHIP_DATABASE_URL`.",
        ),
        Field::optional(
            "sql_preview",
            Shape::Bool,
            "Also show the SQL of the pending migrations in the plan (offline `alembic upgrade --sql`).",
        ),
    ],
    exactly_one_of: &[],
};

impl StepKind for Alembic {
    fn name(&self) -> &'static str {
        "alembic"
    }
    fn about(&self) -> &'static str {
        "Upgrade a database with alembic migrations."
    }
    fn inputs(&self) -> &'static Record {
        &INPUTS
    }
    fn outputs(&self) -> Outputs {
        Outputs::Named(&["from_revision", "to_revision"])
    }

    fn can_run(&self, _environment: &crate::pipeline::Environment) -> bool {
        true
    }

    fn execute(&self, job: Job) -> StepFuture {
        Box::pin(async move {
            let Some(Action::Exec(upgrade)) = job.actions.first() else {
                return Err(Failure::Failed("an alembic step plans one upgrade".into()));
            };
            let current = current_of(upgrade);
            let from = job.exec.exec(&current, &[], None, true).await?;
            job.exec.exec(upgrade, &[], None, false).await?;
            let to = job.exec.exec(&current, &[], None, true).await?;
            Ok(IndexMap::from([
                ("from_revision".to_string(), revision(&from)),
                ("to_revision".to_string(), revision(&to)),
            ]))
        })
    }

    fn plan(&self, inputs: &Inputs) -> Vec<Action> {
        let argv = vec![
            Resolved::text("alembic"),
            Resolved::text("-c"),
            inputs.text_or("config", "alembic.ini"),
            Resolved::text("upgrade"),
            inputs.text_or("revision", "head"),
        ];
        let mut exec = Exec::new(argv);
        if let Some(url) = inputs.text("url") {
            exec.env = IndexMap::from([(URL_VARIABLE.to_string(), url)]);
        }
        vec![Action::Exec(exec)]
    }
}

/// `alembic -c CONFIG current`, from the upgrade's own command line and environment.
fn current_of(upgrade: &Exec) -> Exec {
    let mut argv = upgrade.argv[..upgrade.argv.len().min(3)].to_vec();
    argv.push(Resolved::text("current"));
    let mut exec = Exec::new(argv);
    exec.env = upgrade.env.clone();
    exec.cwd = upgrade.cwd.clone();
    exec
}

/// The revision `alembic current` printed (`0004 (head)` → `0004`); `base` when none.
fn revision(stdout: &str) -> String {
    stdout
        .lines()
        .rev()
        .filter_map(|l| l.split_whitespace().next())
        .find(|w| w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or("base")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_current_revision() {
        assert_eq!(revision("0004 (head)\n"), "0004");
        assert_eq!(revision(""), "base");
        assert_eq!(revision("ae1027a6acf (head) (mergepoint)\n"), "ae1027a6acf");
    }
}
