//! `dagship unlock --env ENV [--yes]`: removes an environment's lock after showing who holds
//! it, for a run that was killed and whose lock has not expired yet.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use crate::cli::args::{Output, UnlockArgs};
use crate::cloud::Connections;
use crate::error::{Error, ExitCode};
use crate::plan;
use crate::release::history::History;
use crate::release::lock::{self, LockError};

pub(crate) fn run(file: &Path, args: &UnlockArgs, output: &Output) -> Result<ExitCode, Error> {
    let pipeline = super::load(file, output)?;
    let environment = plan::environment(&pipeline, &args.env)?;
    super::block_on(async {
        let connections = Connections::default();
        let history = History::open(environment, pipeline.dir(), &connections)?;
        let store = history.store();
        let name = &environment.name;
        let Some((holder, version)) = lock::holder(store.as_ref(), name).await? else {
            anstream::println!("environment `{name}` is not locked");
            return Ok(ExitCode::Success);
        };
        anstream::println!("environment `{name}` is locked by {holder}");
        if !args.yes && !confirmed()? {
            anstream::println!("left locked");
            return Ok(ExitCode::InvalidInput);
        }
        let key = lock::key(name);
        store
            .delete(&key, &version)
            .await
            .map_err(|source| LockError::Store {
                environment: name.clone(),
                source,
            })?;
        anstream::println!("removed the lock of `{name}`");
        Ok(ExitCode::Success)
    })
}

/// Asks on the terminal; without one, `--yes` is needed.
fn confirmed() -> Result<bool, Error> {
    if !std::io::stdin().is_terminal() {
        anstream::eprintln!("not a terminal: pass `--yes` to remove the lock");
        return Ok(false);
    }
    print!("remove it? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|source| Error::Read {
            path: "standard input".into(),
            source,
        })?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}
