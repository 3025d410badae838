//! `dagship releases --env ENV [--format text|json]`: an environment's releases, newest first.

use std::fmt::Write;
use std::path::Path;

use crate::cli::args::{ListFormat, Output, ReleasesArgs};
use crate::cloud::Connections;
use crate::error::{Error, ExitCode};
use crate::error_chain::ErrorChain;
use crate::plan;
use crate::release::history::History;
use crate::release::record::{Command, Release, short_sha};

pub(crate) fn run(file: &Path, args: &ReleasesArgs, output: &Output) -> Result<ExitCode, Error> {
    let pipeline = super::load(file, output)?;
    let environment = plan::environment(&pipeline, &args.env)?;
    let all = super::block_on(async {
        let connections = Connections::default();
        let history = History::open(environment, pipeline.dir(), &connections)?;
        Ok(history.all().await?)
    })?;
    let mut releases = Vec::new();
    for item in all {
        match item {
            Ok(release) => releases.push(release),
            Err(e) => anstream::eprintln!("warning: {}", ErrorChain(&e)),
        }
    }
    match args.format {
        ListFormat::Json => {
            let json = serde_json::json!({
                "format_version": 1,
                "environment": environment.name,
                "releases": releases,
            });
            let text = serde_json::to_string_pretty(&json).expect("releases serialize");
            anstream::println!("{text}");
        }
        ListFormat::Text => anstream::print!("{}", table(&environment.name, &releases)),
    }
    Ok(ExitCode::Success)
}

fn table(environment: &str, releases: &[Release]) -> String {
    if releases.is_empty() {
        return format!("environment `{environment}` has no releases yet\n");
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<26} {:<20} {:<8} {:<12} {:<11} {:<9} FROM",
        "RELEASE", "TIME", "SHA", "ACTOR", "OUTCOME", "COMMAND"
    );
    for r in releases {
        let time = r
            .started_at
            .get(..19)
            .unwrap_or(&r.started_at)
            .replace('T', " ");
        let sha = r.git.sha.as_deref().map_or("-", short_sha);
        let command = match r.command {
            Command::Run => "run",
            Command::Promote => "promote",
            Command::Rollback => "rollback",
        };
        let from = r.source.as_ref().map_or("-".to_string(), |s| {
            format!("{}/{}", s.environment, s.release)
        });
        let _ = writeln!(
            out,
            "{:<26} {:<20} {:<8} {:<12} {:<11} {:<9} {from}",
            r.id,
            time,
            sha,
            r.actor,
            r.outcome.to_string(),
            command
        );
    }
    out
}
