//! `alembic`: upgrades a database to a migration revision.

use indexmap::IndexMap;

use super::migrations::{Look, current_revision};
use super::{ArtifactError, Done, Inputs, Redeployed, StepKind};
use crate::action::{Action, Exec};
use crate::artifact::{Artifact, Checkout, Migration};
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
        let revision = inputs.text_or("revision", "head");
        migrate(inputs, "upgrade", revision)
    }

    fn artifact(&self, done: &Done) -> Result<Option<Artifact>, ArtifactError> {
        Ok(done.outputs.get("to_revision").map(|revision| {
            Artifact::Migration(Migration {
                revision: revision.clone(),
            })
        }))
    }

    /// A promotion upgrades to the release's revision. A rollback leaves the database where
    /// it is unless told to downgrade: undoing a migration can lose data.
    fn redeploy(&self, inputs: &Inputs, recorded: Option<&Checkout>) -> Redeployed {
        let Some(Artifact::Migration(m)) = recorded.map(|c| &c.artifact) else {
            return Redeployed::Missing(
                "the release has no migration revision: the step did not run where it was cut"
                    .into(),
            );
        };
        let revision = Resolved::text(&m.revision);
        match inputs.redeploy {
            Some(r) if r.rollback && !r.downgrade => Redeployed::Skip(format!(
                "migrations are not downgraded: the database stays at its revision (the release recorded {}; pass `--downgrade` to go back to it)",
                m.revision
            )),
            Some(r) if r.rollback => Redeployed::Actions(migrate(inputs, "downgrade", revision)),
            _ => Redeployed::Actions(migrate(inputs, "upgrade", revision)),
        }
    }
}

/// `alembic -c CONFIG upgrade|downgrade REVISION`, and for a plan what an upgrade would apply.
fn migrate(inputs: &Inputs, direction: &str, revision: Resolved) -> Vec<Action> {
    let argv = vec![
        Resolved::text("alembic"),
        Resolved::text("-c"),
        inputs.text_or("config", "alembic.ini"),
        Resolved::text(direction),
        revision.clone(),
    ];
    let mut exec = Exec::new(argv);
    if let Some(url) = inputs.text("url") {
        exec.env = IndexMap::from([(URL_VARIABLE.to_string(), url)]);
    }
    if !inputs.inspect || direction != "upgrade" {
        return vec![Action::Exec(exec)];
    }
    let released = match inputs.current.map(|c| &c.artifact) {
        Some(Artifact::Migration(m)) => Some(m.revision.clone()),
        _ => None,
    };
    let look = Look {
        upgrade: &exec,
        dir: inputs.dir,
        revision: revision.to_string(),
        sql_preview: inputs.flag("sql_preview"),
        released,
    };
    let migrations = Action::Migrations(look.migrations());
    vec![Action::Exec(exec), migrations]
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
