//! The command line: parse the arguments ([`args`]), run the command, and turn what
//! happened into output and the exit code.

pub mod args;

use clap::Parser;

use crate::commands;
use crate::error::{Error, ExitCode};
use args::{Cli, Command, Output};

pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let output = Output::new(&cli);
    let code = match run(&cli, &output) {
        Ok(code) => code,
        Err(err) => {
            report(&err, &output);
            err.exit_code()
        }
    };
    std::process::ExitCode::from(code as u8)
}

fn run(cli: &Cli, output: &Output) -> Result<ExitCode, Error> {
    if let Some(dir) = &cli.directory {
        std::env::set_current_dir(dir).map_err(|source| Error::ChangeDir {
            path: dir.clone(),
            source,
        })?;
    }
    match &cli.command {
        Command::Validate(args) => commands::validate::run(&cli.file, args, output),
        Command::Plan(args) => commands::plan::run(&cli.file, args, output),
        Command::Run(args) => commands::run::run(&cli.file, args, output),
        Command::Promote(args) => commands::promote::run(&cli.file, args, output),
        Command::Rollback(args) => commands::rollback::run(&cli.file, args, output),
        Command::Releases(args) => commands::releases::run(&cli.file, args, output),
        Command::Unlock(args) => commands::unlock::run(&cli.file, args, output),
        Command::Dags(args) => commands::dags::run(args, output),
        Command::Schema => commands::schema::run(),
        Command::Completions { shell } => commands::completions::run(*shell),
    }
}

fn report(err: &Error, output: &Output) {
    let github = std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true");
    match err {
        Error::Invalid { file, diagnostics } => {
            for d in diagnostics {
                anstream::eprintln!("{}\n", file.render(d, output.color_stderr));
                if github && d.is_error() {
                    // GitHub shows these on the pipeline file's line in the pull request.
                    let message = match &d.expected {
                        Some(expected) => format!("{}\nexpected {expected}", d.message),
                        None => d.message.clone(),
                    };
                    println!(
                        "{}",
                        crate::report::github::error_annotation(
                            &file.display_path(),
                            d.span.line,
                            d.span.column,
                            "invalid pipeline file",
                            &message
                        )
                    );
                }
            }
            anstream::eprintln!("error: {err}; nothing was executed");
        }
        _ => {
            let message = crate::error_chain::ErrorChain(err).to_string();
            anstream::eprintln!("error: {message}");
            if github {
                println!(
                    "::error title=dagship::{}",
                    crate::report::github::escape_data(&message)
                );
            }
        }
    }
}
