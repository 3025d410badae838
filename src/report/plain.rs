//! Plain lines, for logs and pipes: no control characters, every line prefixed with its step id.
//!
//! Each line goes out in one `write_all`, so the lines of steps running at once may alternate but
//! never mix within a line, and a `grep '^\[compile\]'` gives one step's whole story.

use std::collections::HashMap;
use std::io::{self, Write};

use super::clean_line;
use super::summary::{log_path, outcome_label, result_line};
use super::{Event, Outcome, RunInfo, RunSummary, StepResult, human_duration};

pub struct PlainReporter {
    out: Box<dyn Write + Send>,
    info: Option<RunInfo>,
    /// Width of the widest `[id]`, so that what follows lines up.
    width: usize,
    /// The last tenth of progress reported per step, to print about every 10%.
    progress: HashMap<String, u64>,
}

impl PlainReporter {
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        PlainReporter {
            out,
            info: None,
            width: 0,
            progress: HashMap::new(),
        }
    }

    pub fn stdout() -> Self {
        Self::new(Box::new(io::stdout()))
    }

    /// `[id]  text`, one line per line of `text`, each written whole.
    fn step_line(&mut self, id: &str, text: &str) -> io::Result<()> {
        let prefix = format!("{:<w$}", format!("[{id}]"), w = self.width);
        for line in text.split('\n') {
            let line = format!("{prefix} {}\n", clean_line(line));
            self.out.write_all(line.as_bytes())?;
        }
        Ok(())
    }

    /// `==> text`: lines about the whole run.
    fn run_line(&mut self, text: &str) -> io::Result<()> {
        self.out
            .write_all(format!("==> {}\n", clean_line(text)).as_bytes())
    }

    fn started(&mut self, info: &RunInfo) -> io::Result<()> {
        self.width = info.steps.iter().map(|s| s.id.len() + 2).max().unwrap_or(0);
        self.info = Some(info.clone());
        self.run_line(&info.headline())?;
        self.run_line(&format!("logs: {}", info.log_dir.display()))
    }

    fn step_started(&mut self, id: &str, attempt: u32) -> io::Result<()> {
        self.progress.remove(id);
        let uses = self
            .info
            .as_ref()
            .and_then(|i| i.steps.iter().find(|s| s.id == id))
            .map(|s| s.uses.clone())
            .unwrap_or_default();
        match attempt {
            1 => self.step_line(id, &format!("started ({uses})")),
            n => self.step_line(id, &format!("started ({uses}), attempt {n}")),
        }
    }

    fn progressed(&mut self, id: &str, done: u64, total: u64) -> io::Result<()> {
        let Some(tenth) = done.saturating_mul(10).checked_div(total) else {
            return Ok(());
        };
        let last = self.progress.insert(id.to_string(), tenth);
        if last.is_some_and(|last| last >= tenth) {
            return Ok(());
        }
        let percent = done * 100 / total;
        self.step_line(id, &format!("progress {done}/{total} ({percent}%)"))
    }

    fn finished(&mut self, r: &StepResult) -> io::Result<()> {
        self.step_line(&r.id, &finished_text(r))
    }

    /// The outcome and counts, then each failed step's reason, last lines and log.
    fn summary(&mut self, summary: &RunSummary) -> io::Result<()> {
        self.run_line(&result_line(summary))?;
        let log_dir = self.info.as_ref().map(|i| i.log_dir.clone());
        for r in summary
            .results
            .iter()
            .filter(|r| r.outcome == Outcome::Failed)
        {
            self.finished(r)?;
            for line in &r.log_tail {
                self.step_line(&r.id, &format!("| {line}"))?;
            }
            let log = log_path(log_dir.as_deref().unwrap_or("".as_ref()), &r.id);
            self.step_line(&r.id, &format!("full log: {}", log.display()))?;
        }
        Ok(())
    }
}

/// `succeeded in 1.2s`, `failed after 3.4s: reason`, `skipped: reason`.
pub(super) fn finished_text(r: &StepResult) -> String {
    let duration = human_duration(r.duration);
    let mut text = match r.outcome {
        Outcome::Succeeded => format!("succeeded in {duration}"),
        Outcome::Failed => format!("failed after {duration}"),
        Outcome::Skipped | Outcome::Cancelled => outcome_label(r.outcome).to_string(),
    };
    if let Some(reason) = &r.reason {
        text.push_str(": ");
        text.push_str(reason);
    }
    text
}

impl super::Reporter for PlainReporter {
    fn report(&mut self, event: &Event) -> io::Result<()> {
        match event {
            Event::RunStarted(info) => self.started(info)?,
            Event::StepStarted { id, attempt } => self.step_started(id, *attempt)?,
            Event::StepOutput { id, line, .. } => self.step_line(id, &format!("| {line}"))?,
            Event::StepProgress { id, done, total } => self.progressed(id, *done, *total)?,
            Event::StepRetrying {
                id,
                attempt,
                reason,
                delay,
            } => self.step_line(
                id,
                &format!(
                    "attempt {attempt} failed: {reason}; retrying in {}",
                    human_duration(*delay)
                ),
            )?,
            Event::StepFinished(result) => self.finished(result)?,
            Event::RunFinished(summary) => self.summary(summary)?,
        }
        // Flushed per event: a CI log should show a step's start when it starts.
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Reporter, fixture};
    use super::*;

    fn render() -> String {
        let buf = fixture::SharedBuf::default();
        let mut reporter = PlainReporter::new(buf.boxed());
        for event in fixture::events() {
            reporter.report(&event).unwrap();
        }
        buf.text()
    }

    #[test]
    fn no_control_characters_but_newlines() {
        let text = render();
        let bad: Vec<u8> = text.bytes().filter(|&b| b < 0x20 && b != b'\n').collect();
        assert!(bad.is_empty(), "control bytes {bad:?} in\n{text}");
        assert!(!text.contains('\u{7f}'));
    }

    #[test]
    fn every_line_has_an_aligned_step_prefix_or_is_a_run_line() {
        let text = render();
        let ids = ["compile", "migrate", "dags", "upload"];
        for line in text.lines() {
            let step = ids
                .iter()
                .any(|id| line.starts_with(&format!("{:<9} ", format!("[{id}]"))));
            assert!(
                step || line.starts_with("==> "),
                "unprefixed line: {line:?}"
            );
        }
    }

    #[test]
    fn tells_the_whole_story() {
        let text = render();
        for expected in [
            "==> run 01JRUN: pipeline warehouse, environment staging, 4 steps",
            "[compile] started (dbt)",
            "[compile] | Running with dbt=1.8.0",
            "[migrate] | INFO  [alembic] Running upgrade to a1b2c3",
            "[compile] | Done.",
            "[migrate] attempt 1 failed: could not connect: connection refused; retrying in 2.0s",
            "[migrate] started (alembic), attempt 2",
            "[compile] succeeded in 1.2s",
            "[dags]    failed after 3.4s: manifest: 100% broken, see log",
            "[dags]    second line",
            "[upload]  skipped: needs dags, which failed",
            "==> failed in 8.8s: 2 succeeded, 1 failed, 1 skipped, 0 cancelled",
            "[dags]    | error: node model.x has no name",
            "[dags]    full log: .dagship/logs/01JRUN/dags.log",
        ] {
            assert!(
                text.lines().any(|l| l == expected),
                "{expected:?} not in\n{text}"
            );
        }
    }

    #[test]
    fn progress_about_every_tenth() {
        let text = render();
        let progress: Vec<&str> = text.lines().filter(|l| l.contains("progress")).collect();
        assert_eq!(progress.len(), 10, "{progress:?}");
        assert_eq!(progress[9], "[compile] progress 10/10 (100%)");

        let buf = fixture::SharedBuf::default();
        let mut reporter = PlainReporter::new(buf.boxed());
        for done in 0..=1000 {
            let (id, total) = ("dbt".to_string(), 1000);
            reporter
                .report(&Event::StepProgress { id, done, total })
                .unwrap();
        }
        assert_eq!(buf.text().lines().count(), 11);
    }

    #[test]
    fn cleans_lines_like_a_terminal_shows_them() {
        assert_eq!(clean_line("\x1b[1mbold\x1b[0m\tx"), "bold x");
        assert_eq!(clean_line("10%\r50%\r"), "50%");
        assert_eq!(clean_line("a\x07\x08b\u{9b}c"), "abc");
    }
}
