//! `alembic`: upgrades a database to a migration revision.

use indexmap::IndexMap;

use super::migrations::{Look, current_revision};
use super::{Inputs, StepKind};
use crate::action::{Action, Exec};
use crate::exec::{Failure, Job, StepFuture};
use crate::expr::Resolved;
use crate::pipeline::{KindSchema, Outputs};
use crate::shape::{Field, Record, Shape};

pub(super) struct Alembic;

/// The database URL reaches alembic's `env.py` through this variable, never on a command line
/// (where `ps` would show it) nor in any output.
pub(super) const URL_VARIABLE: &str = "DAGSHIP_DATABASE_URL";

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

impl KindSchema for Alembic {
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
}

impl StepKind for Alembic {
    fn execute(&self, job: Job) -> StepFuture {
        Box::pin(async move {
            let Some(Action::Exec(upgrade)) = job.actions.first() else {
                return Err(Failure::of(super::Unplanned(
                    "an alembic step plans one upgrade",
                )));
            };
            let current = current_of(upgrade);
            let from = job.ctx.exec(&current, &[], None, true).await?;
            job.ctx.exec(upgrade, &[], None, false).await?;
            let to = job.ctx.exec(&current, &[], None, true).await?;
            Ok(IndexMap::from([
                ("from_revision".to_string(), current_revision(&from)),
                ("to_revision".to_string(), current_revision(&to)),
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
        if !inputs.inspect {
            return vec![Action::Exec(exec)];
        }
        let look = Look {
            upgrade: &exec,
            dir: inputs.dir,
            revision: inputs.text_or("revision", "head").to_string(),
            sql_preview: inputs.flag("sql_preview"),
        };
        let migrations = Action::Migrations(look.migrations());
        vec![Action::Exec(exec), migrations]
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
