//! One file per command: each takes its arguments, does its work, and says what happened.

pub mod completions;
pub mod dags;
pub mod plan;
pub mod run;
pub mod schema;
pub mod validate;

use std::path::Path;

use crate::cli::Output;
use crate::diagnostic::Diagnostic;
use crate::error::Error;
use crate::pipeline::{self, Pipeline};

/// Loads the pipeline file and prints its warnings (unless `-q`).
pub fn load(path: &Path, output: &Output) -> Result<Pipeline, Error> {
    let (pipeline, warnings) = pipeline::load(path)?;
    print_warnings(&pipeline, &warnings, output);
    Ok(pipeline)
}

pub fn print_warnings(pipeline: &Pipeline, warnings: &[Diagnostic], output: &Output) {
    if output.quiet {
        return;
    }
    for w in warnings {
        anstream::eprintln!("{}\n", pipeline.file.render(w, output.color_stderr));
    }
}
