//! `dagship schema`

use crate::error::{Error, ExitCode};

pub(crate) fn run() -> Result<ExitCode, Error> {
    print!("{}", crate::schema::pipeline_schema_text());
    Ok(ExitCode::Success)
}
