//! `alembic`: upgrades a database to a migration revision.

use indexmap::IndexMap;

use super::{Inputs, Outputs, StepKind};
use crate::expr::Resolved;
use crate::plan::action::{Action, Exec};
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
