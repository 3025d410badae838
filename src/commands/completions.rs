//! `dagship completions SHELL`

use clap::CommandFactory;

use crate::cli::args::Cli;
use crate::error::{Error, ExitCode};

pub(crate) fn run(shell: clap_complete::Shell) -> Result<ExitCode, Error> {
    clap_complete::generate(
        shell,
        &mut Cli::command(),
        "dagship",
        &mut std::io::stdout(),
    );
    Ok(ExitCode::Success)
}
