//! Waiting until Airflow has parsed the DAG files a sync wrote: a sync is not a deploy.
//! Composer copies its bucket to Airflow with a delay, and a file that fails to import is
//! silently missing from Airflow's UI.
//!
//! A written file is confirmed when Airflow's record of a DAG from it shows a parse that
//! began after `since` (when the files were all written, on Airflow's clock), and fails when
//! an import error for it was recorded after `since` whose traceback quotes our file as it
//! is (a parse of the content before can still be recorded later): then Airflow's own
//! traceback is the reason. An
//! unchanged DAG file is not waited for, unless Airflow holds an import error for it (a
//! re-run or a retry after a failed import must not pass): then it fails when the error is
//! recorded again after `since`, and is fine once the error is gone (a helper it imports was
//! fixed). Airflow is asked with a growing pause between polls; while it cannot be reached or
//! is busy, dagship waits on until the timeout.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use jiff::Timestamp;

use super::auth::Credentials;
use super::client::Airflow;
use super::error::AirflowError;
use super::records::ImportError;
use crate::report::human_duration;

/// What to wait for.
#[derive(Debug, Clone)]
pub struct Wait {
    /// DAG files the sync wrote (relative to the DAG folder, with `/`), and their content.
    pub written: BTreeMap<String, String>,
    /// DAG files the sync found unchanged, and their content.
    pub unchanged: BTreeMap<String, String>,
    /// When the files were all written, on our clock: earlier parses are of earlier content.
    pub since: Timestamp,
    pub timeout: Duration,
    /// The first pause between polls; each next one doubles, up to `max_pause`.
    pub pause: Duration,
    pub max_pause: Duration,
    /// How often a line tells what is still awaited.
    pub progress_every: Duration,
}

impl Wait {
    pub fn new(
        written: BTreeMap<String, String>,
        unchanged: BTreeMap<String, String>,
        since: Timestamp,
        timeout: Duration,
    ) -> Wait {
        Wait {
            written,
            unchanged,
            since,
            timeout,
            pause: Duration::from_secs(1),
            max_pause: Duration::from_secs(15),
            progress_every: Duration::from_secs(60),
        }
    }
}

/// A DAG file Airflow could not import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    pub file: String,
    /// Python's traceback, as Airflow recorded it.
    pub stack_trace: String,
}

impl Failed {
    fn of(file: &str, error: &ImportError) -> Failed {
        Failed {
            file: file.to_string(),
            stack_trace: error.stack_trace.clone(),
        }
    }

    /// The exception, Python's last line: `ModuleNotFoundError: No module named 'x'`.
    pub fn exception(&self) -> &str {
        self.stack_trace
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
    }

    /// The line of our file the traceback ends in (its last frame there).
    pub fn line(&self) -> Option<u32> {
        self.frame().map(|(line, _)| line)
    }

    /// The last frame in our file: its line number, and the source Python quoted for it.
    fn frame(&self) -> Option<(u32, Option<&str>)> {
        let tail = format!("/{}", self.file);
        let lines: Vec<&str> = self.stack_trace.lines().collect();
        lines.iter().enumerate().rev().find_map(|(i, l)| {
            let (path, after) = l.trim().strip_prefix("File \"")?.split_once("\", line ")?;
            if path != self.file && !path.ends_with(&tail) {
                return None;
            }
            let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
            let quoted = lines
                .get(i + 1)
                .filter(|next| next.starts_with("    ") && !next.trim().starts_with("File \""))
                .map(|next| next.trim());
            Some((digits.parse().ok()?, quoted))
        })
    }

    /// Whether the traceback is of `content`: the line it quotes from our file is that line
    /// of `content` (when it quotes none, it may be).
    pub fn is_of(&self, content: &str) -> bool {
        match self.frame() {
            Some((line, Some(quoted))) => {
                content
                    .lines()
                    .nth((line as usize).saturating_sub(1))
                    .map(str::trim)
                    == Some(quoted)
            }
            _ => true,
        }
    }
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line() {
            Some(line) => write!(f, "{}, line {line}: {}", self.file, self.exception()),
            None => write!(f, "{}: {}", self.file, self.exception()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfirmError {
    #[error(
        "Airflow could not import {}: {}",
        files_phrase(failed.len()),
        failed.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    ImportFailed { failed: Vec<Failed> },
    #[error("{}", timed_out(unseen, *total, *waited, stale, problem.as_deref()))]
    TimedOut {
        /// Written files Airflow had not parsed.
        unseen: Vec<String>,
        /// How many files were written.
        total: usize,
        waited: Duration,
        /// Unchanged files whose import error Airflow still held.
        stale: Vec<Failed>,
        /// Why the last poll could not look, if it could not.
        problem: Option<String>,
    },
    #[error("Airflow did not answer in {}: {last}", human_duration(*waited))]
    Unanswered {
        waited: Duration,
        last: AirflowError,
    },
    #[error(transparent)]
    Airflow(#[from] AirflowError),
}

fn timed_out(
    unseen: &[String],
    total: usize,
    waited: Duration,
    stale: &[Failed],
    problem: Option<&str>,
) -> String {
    let mut parts = Vec::new();
    if !unseen.is_empty() {
        parts.push(format!(
            "Airflow had not parsed {} of {total} DAG files after {}: {} (Airflow lists a file once it defines a DAG)",
            unseen.len(),
            human_duration(waited),
            unseen.join(", ")
        ));
    }
    if !stale.is_empty() {
        let errors: Vec<String> = stale.iter().map(ToString::to_string).collect();
        parts.push(format!(
            "Airflow still holds an import error for {} after {}: {}",
            if stale.len() == 1 {
                "an unchanged DAG file".to_string()
            } else {
                format!("{} unchanged DAG files", stale.len())
            },
            human_duration(waited),
            errors.join("; ")
        ));
    }
    let mut text = parts.join("; ");
    if let Some(p) = problem {
        text.push_str(&format!(" (last answer: {p})"));
    }
    text
}

/// What is known so far.
struct Watch<'a> {
    wait: &'a Wait,
    /// Every file of ours, written or not, that Airflow's records are matched against.
    ours: BTreeSet<String>,
    /// Written files not parsed yet.
    pending: BTreeSet<String>,
    /// Unchanged files whose import error Airflow holds from before `since`.
    stale: BTreeMap<String, Failed>,
}

impl<'a> Watch<'a> {
    /// Nothing seen yet: every written file pending.
    fn new(wait: &'a Wait) -> Watch<'a> {
        Watch {
            wait,
            ours: wait
                .written
                .keys()
                .chain(wait.unchanged.keys())
                .cloned()
                .collect(),
            pending: wait.written.keys().cloned().collect(),
            stale: BTreeMap::new(),
        }
    }
}

/// Waits until the Airflow at `url` has parsed every file of `wait`, one of them failed to
/// import, or the time is up. `say` hears what is awaited, each file confirmed, the
/// tracebacks of failed ones, and a progress line now and then.
pub async fn confirm(
    url: &str,
    credentials: &Credentials,
    wait: &Wait,
    say: impl Fn(String),
) -> Result<(), ConfirmError> {
    let started = Instant::now();
    let deadline = started + wait.timeout;
    let mut watch = Watch::new(wait);
    let mut airflow: Option<Airflow> = None;
    let mut pause = wait.pause;
    let mut problem: Option<AirflowError> = None;
    let mut progress_at = started + wait.progress_every;
    let mut answered = false;
    loop {
        let looked = match watch.poll(url, credentials, &mut airflow, &say).await {
            Ok(()) => {
                problem = None;
                answered = true;
                true
            }
            Err(ConfirmError::Airflow(e)) if e.is_transient() => {
                if problem.is_none() {
                    say(format!("{e}; waiting on"));
                }
                problem = Some(e);
                false
            }
            Err(e) => return Err(e),
        };
        if looked && watch.pending.is_empty() && watch.stale.is_empty() {
            return Ok(());
        }
        let now = Instant::now();
        if now >= deadline {
            if let Some(last) = problem.take().filter(|_| !answered) {
                return Err(ConfirmError::Unanswered {
                    waited: wait.timeout,
                    last,
                });
            }
            return Err(ConfirmError::TimedOut {
                unseen: watch.pending.into_iter().collect(),
                total: wait.written.len(),
                waited: wait.timeout,
                stale: watch.stale.into_values().collect(),
                problem: problem.map(|p| p.to_string()),
            });
        }
        if now >= progress_at {
            say(format!(
                "still waiting for Airflow ({} so far): {}",
                human_duration(started.elapsed()),
                watch.awaited()
            ));
            progress_at = now + wait.progress_every;
        }
        tokio::time::sleep(pause.min(deadline - now)).await;
        pause = (pause * 2).min(wait.max_pause);
    }
}

impl Watch<'_> {
    /// One look: connects first if need be, fails on a fresh import error of ours, and takes
    /// the files Airflow parsed since off `pending`.
    async fn poll(
        &mut self,
        url: &str,
        credentials: &Credentials,
        airflow: &mut Option<Airflow>,
        say: &impl Fn(String),
    ) -> Result<(), ConfirmError> {
        let airflow = match airflow {
            Some(a) => a,
            None => {
                let connected = Airflow::connect(url, credentials).await?;
                let what = match self.wait.unchanged.len() {
                    n if !self.pending.is_empty() || n == 0 => {
                        format!("to parse {}", files_phrase(self.pending.len()))
                    }
                    1 => "to hold no import error for the unchanged DAG file".to_string(),
                    n => format!("to hold no import error for the {n} unchanged DAG files"),
                };
                say(format!(
                    "waiting for Airflow {} at {} {what} (up to {})",
                    connected.version(),
                    connected.url(),
                    human_duration(self.wait.timeout)
                ));
                airflow.insert(connected)
            }
        };
        let since = airflow.their_time(self.wait.since);
        self.import_errors(&airflow.import_errors().await?, since, say)?;
        let mut dags: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for dag in airflow.parsed_dags().await? {
            if dag.parse_started().is_some_and(|t| t >= since)
                && let Some(name) = dag.file.which(&self.ours)
                && self.pending.contains(name)
            {
                dags.entry(name.to_string()).or_default().push(dag.dag_id);
            }
        }
        for (name, ids) in dags {
            let word = if ids.len() == 1 { "DAG" } else { "DAGs" };
            say(format!("Airflow parsed {name}: {word} {}", ids.join(", ")));
            self.pending.remove(&name);
        }
        Ok(())
    }

    /// Fails on import errors of ours recorded since `since` (of written files still
    /// pending, or of unchanged ones); keeps those of unchanged files from before as `stale`.
    fn import_errors(
        &mut self,
        errors: &[ImportError],
        since: Timestamp,
        say: &impl Fn(String),
    ) -> Result<(), ConfirmError> {
        let mut fresh: BTreeMap<&str, Failed> = BTreeMap::new();
        let mut stale = BTreeMap::new();
        for e in errors {
            let Some(name) = e.file.which(&self.ours) else {
                continue;
            };
            let content = self.wait.unchanged.get(name);
            let unchanged = content.is_some();
            let content = content.or_else(|| self.wait.written.get(name));
            let failed = Failed::of(name, e);
            let current = content.is_some_and(|c| failed.is_of(c));
            if e.timestamp >= since && current && (unchanged || self.pending.contains(name)) {
                fresh.insert(name, failed);
            } else if unchanged {
                if !self.stale.contains_key(name) {
                    say(format!(
                        "Airflow holds an import error for unchanged {name} (from {}): waiting for it to parse the file again",
                        e.timestamp
                    ));
                }
                stale.insert(name.to_string(), failed);
            }
        }
        self.stale = stale;
        if fresh.is_empty() {
            return Ok(());
        }
        for f in fresh.values() {
            say(format!("Airflow could not import {}:", f.file));
            for line in f.stack_trace.lines() {
                say(format!("  {line}"));
            }
        }
        Err(ConfirmError::ImportFailed {
            failed: fresh.into_values().collect(),
        })
    }

    /// What is still awaited, for a progress line.
    fn awaited(&self) -> String {
        let mut names: Vec<&str> = self.pending.iter().map(String::as_str).collect();
        names.extend(self.stale.keys().map(String::as_str));
        names.join(", ")
    }
}

fn files_phrase(n: usize) -> String {
    if n == 1 {
        "a DAG file".into()
    } else {
        format!("{n} DAG files")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::airflow::FilePath;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    const TRACE: &str = "Traceback (most recent call last):\n  File \"<frozen importlib._bootstrap>\", line 241, in _call_with_frames_removed\n  File \"/opt/airflow/dags/sub/broken.py\", line 2, in <module>\n    import nope\nModuleNotFoundError: No module named 'nope'\n";
    const SOURCE: &str = "from airflow import DAG\nimport nope\n";

    #[test]
    fn a_traceback_is_of_the_content_whose_line_it_quotes() {
        let f = Failed {
            file: "sub/broken.py".into(),
            stack_trace: TRACE.into(),
        };
        assert!(f.is_of(SOURCE));
        assert!(
            !f.is_of("from airflow import DAG\nimport fixed_now\n"),
            "a parse of what was there before"
        );
        let unquoted = Failed {
            file: "a.py".into(),
            stack_trace: "  File \"/d/a.py\", line 2, in <module>\nImportError: x\n".into(),
        };
        assert!(unquoted.is_of("anything"), "nothing to tell by");
    }

    #[test]
    fn a_failure_names_the_line_and_the_exception() {
        let f = Failed {
            file: "sub/broken.py".into(),
            stack_trace: TRACE.into(),
        };
        assert_eq!(
            f.to_string(),
            "sub/broken.py, line 2: ModuleNotFoundError: No module named 'nope'"
        );
        let syntax = Failed {
            file: "a.py".into(),
            stack_trace:
                "  File \"a.py\", line 3\n    def (:\n        ^\nSyntaxError: invalid syntax\n"
                    .into(),
        };
        assert_eq!(
            syntax.to_string(),
            "a.py, line 3: SyntaxError: invalid syntax"
        );
    }

    #[test]
    fn fresh_errors_fail_and_old_ones_of_unchanged_files_are_waited_out() {
        let files = |names: &[&str]| -> BTreeMap<String, String> {
            names
                .iter()
                .map(|n| (n.to_string(), SOURCE.into()))
                .collect()
        };
        let wait = Wait::new(
            files(&["b.py", "sub/broken.py", "a.py"]),
            files(&["old.py", "fixed.py"]),
            at("2026-01-01T10:00:00Z"),
            Duration::from_secs(60),
        );
        let mut watch = Watch {
            pending: ["b.py", "sub/broken.py"].map(String::from).into(),
            ..Watch::new(&wait)
        };
        let error = |file: &str, time: &str| ImportError {
            file: FilePath::Relative(file.into()),
            timestamp: at(time),
            stack_trace: TRACE.into(),
        };
        let said = std::cell::RefCell::new(Vec::new());
        let say = |line: String| said.borrow_mut().push(line);
        let old = [
            error("b.py", "2026-01-01T09:59:00Z"),
            error("a.py", "2026-01-01T10:00:05Z"),
            error("theirs.py", "2026-01-01T10:00:05Z"),
            error("old.py", "2026-01-01T09:00:00Z"),
        ];
        watch.import_errors(&old, wait.since, &say).unwrap();
        assert_eq!(
            watch.stale.keys().collect::<Vec<_>>(),
            ["old.py"],
            "b.py's error is older than the upload; a.py is confirmed already; theirs is not ours"
        );
        assert_eq!(said.borrow().len(), 1, "{said:?}");
        let before = ImportError {
            stack_trace: TRACE
                .replace("sub/broken.py", "b.py")
                .replace("import nope", "import before"),
            ..error("b.py", "2026-01-01T10:00:06Z")
        };
        let fresh = [
            error("sub/broken.py", "2026-01-01T10:00:05Z"),
            error("old.py", "2026-01-01T10:00:06Z"),
            before,
        ];
        let Err(ConfirmError::ImportFailed { failed }) =
            watch.import_errors(&fresh, wait.since, &say)
        else {
            panic!("fresh errors fail");
        };
        assert_eq!(
            failed.iter().map(|f| f.file.as_str()).collect::<Vec<_>>(),
            ["old.py", "sub/broken.py"],
            "b.py's fresh error quotes a line it no longer has"
        );
        watch.import_errors(&[], wait.since, &say).unwrap();
        assert!(watch.stale.is_empty(), "an error gone is a file fixed");
    }

    #[tokio::test]
    async fn an_airflow_that_never_answers_is_waited_for_then_named() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let mut wait = Wait::new(
            BTreeMap::from([("a.py".to_string(), SOURCE.to_string())]),
            BTreeMap::new(),
            Timestamp::now(),
            Duration::from_millis(700),
        );
        wait.pause = Duration::from_millis(50);
        let said = std::sync::Mutex::new(Vec::new());
        let started = Instant::now();
        let e = confirm(&url, &Credentials::Anonymous, &wait, |l| {
            said.lock().unwrap().push(l)
        })
        .await
        .unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(700));
        let text = e.to_string();
        assert!(
            text.starts_with(&format!(
                "Airflow did not answer in 0.7s: cannot reach Airflow at {url}"
            )),
            "{text}"
        );
        assert_eq!(
            said.lock().unwrap().len(),
            1,
            "told once, not once a poll: {said:?}"
        );
    }

    #[test]
    fn a_timeout_names_what_was_not_seen() {
        let e = ConfirmError::TimedOut {
            unseen: vec!["a.py".into()],
            total: 2,
            waited: Duration::from_secs(600),
            stale: vec![Failed {
                file: "old.py".into(),
                stack_trace: TRACE.replace("sub/broken.py", "old.py"),
            }],
            problem: Some("HTTP 503".into()),
        };
        assert_eq!(
            e.to_string(),
            "Airflow had not parsed 1 of 2 DAG files after 10m00s: a.py (Airflow lists a file once it defines a DAG); \
             Airflow still holds an import error for an unchanged DAG file after 10m00s: old.py, line 2: ModuleNotFoundError: No module named 'nope' \
             (last answer: HTTP 503)"
        );
    }
}
