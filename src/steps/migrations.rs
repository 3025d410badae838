//! What an alembic upgrade would apply, read without changing anything: `alembic history`
//! (offline) and `alembic current` (a read-only query), plus the offline SQL when asked.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::action::{Exec, Migrations};

/// A database that does not answer within this is reported as unknown, not waited for.
const LIMIT: Duration = Duration::from_secs(30);

pub(super) struct Look<'a> {
    /// The upgrade's own command line and environment (secrets revealed where set).
    pub upgrade: &'a Exec,
    pub dir: &'a Path,
    pub revision: String,
    pub sql_preview: bool,
    /// The revision the environment's current release recorded.
    pub released: Option<String>,
}

impl Look<'_> {
    pub(super) fn migrations(&self) -> Migrations {
        let mut m = Migrations {
            description: format!("migrations up to {}", self.revision),
            current: None,
            pending: Vec::new(),
            note: None,
            sql: Vec::new(),
            released_revision: self.released.clone(),
            since_release: Vec::new(),
        };
        if let Err(note) = self.fill(&mut m) {
            m.note = Some(format!("pending migrations unknown: {note}"));
        }
        m
    }

    fn fill(&self, m: &mut Migrations) -> Result<(), String> {
        let env = self.env()?;
        let history = self.alembic(&["history", "-r", &format!("base:{}", self.revision)], &env)?;
        let chain = chain(&history);
        let current = match self.sqlite_file(&env) {
            // Asking an absent SQLite file would create it: it is empty, so at base.
            Some(file) if !self.dir.join(&file).exists() => "base".to_string(),
            _ => current_revision(&self.alembic(&["current"], &env)?),
        };
        let after = chain
            .iter()
            .position(|(id, _)| *id == current)
            .map_or(0, |i| i + 1);
        m.pending = chain[after..]
            .iter()
            .map(|(id, msg)| format!("{id}: {msg}"))
            .collect();
        // What the release recorded may differ from the database (a manual upgrade).
        if let Some(released) = &self.released {
            let after = chain
                .iter()
                .position(|(id, _)| id == released)
                .map_or(0, |i| i + 1);
            m.since_release = chain[after..]
                .iter()
                .map(|(id, msg)| format!("{id}: {msg}"))
                .collect();
        }
        m.current = Some(current.clone());
        if self.sql_preview && !m.pending.is_empty() {
            let range = if current == "base" {
                self.revision.clone()
            } else {
                format!("{current}:{}", self.revision)
            };
            m.sql = self
                .alembic(&["upgrade", &range, "--sql"], &env)?
                .lines()
                .map(str::to_string)
                .collect();
        }
        Ok(())
    }

    fn env(&self) -> Result<Vec<(String, String)>, String> {
        self.upgrade
            .env
            .iter()
            .map(|(k, v)| Ok((k.clone(), v.reveal().map_err(|e| e.to_string())?)))
            .collect()
    }

    fn sqlite_file(&self, env: &[(String, String)]) -> Option<String> {
        let url = &env
            .iter()
            .find(|(k, _)| k == super::alembic::URL_VARIABLE)?
            .1;
        url.strip_prefix("sqlite:///").map(str::to_string)
    }

    /// `alembic -c CONFIG ARGS...`, its standard output.
    fn alembic(&self, args: &[&str], env: &[(String, String)]) -> Result<String, String> {
        let config = self.upgrade.argv.get(2).ok_or("no config")?;
        let config = config.reveal().map_err(|e| e.to_string())?;
        let mut child = Command::new("alembic")
            .args(["-c", &config])
            .args(args)
            .current_dir(self.dir)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => {
                    "alembic is not installed here (not on PATH)".to_string()
                }
                _ => format!("cannot start alembic ({e})"),
            })?;
        let started = Instant::now();
        while child.try_wait().map_err(|e| e.to_string())?.is_none() {
            if started.elapsed() > LIMIT {
                let _ = child.kill();
                return Err(format!(
                    "alembic did not answer within {}s",
                    LIMIT.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let last = err
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim();
            return Err(format!("`alembic {}` failed: {last}", args.join(" ")));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// `alembic history` lines (`0003 -> 0004 (head), insert sample data`), oldest first.
fn chain(history: &str) -> Vec<(String, String)> {
    let mut revisions: Vec<(String, String)> = history
        .lines()
        .filter_map(|line| {
            let (edge, message) = line.split_once(", ").unwrap_or((line, ""));
            let id = edge.split("->").nth(1)?.split_whitespace().next()?;
            Some((id.to_string(), message.trim().to_string()))
        })
        .collect();
    revisions.reverse();
    revisions
}

/// The revision `alembic current` printed (`0004 (head)` → `0004`); `base` when none.
pub(super) fn current_revision(stdout: &str) -> String {
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
    fn history_is_read_oldest_first() {
        let h =
            "0002 -> 0003 (head), add segment\n0001 -> 0002, orders\n<base> -> 0001, customers\n";
        let ids: Vec<String> = chain(h).into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, ["0001", "0002", "0003"]);
        assert_eq!(chain(h)[2].1, "add segment");
    }

    #[test]
    fn reads_the_current_revision() {
        assert_eq!(current_revision("0004 (head)\n"), "0004");
        assert_eq!(current_revision(""), "base");
        assert_eq!(
            current_revision("ae1027a6acf (head) (mergepoint)\n"),
            "ae1027a6acf"
        );
    }
}
