//! For a terminal: a live line per running step, a permanent line per finished one, a summary.
//!
//! Permanent lines are written to `out` while the live lines are lifted
//! ([`MultiProgress::suspend`]), so they scroll up above the running steps.

use std::collections::HashMap;
use std::io::{self, Write};
use std::time::Duration;

use anstyle::{AnsiColor, Style};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use super::summary::{log_path, outcome_label, result_line};
use super::{Event, Outcome, RunInfo, RunSummary, StepResult, clean_line, human_duration};

const BOLD: Style = Style::new().bold();
const DIM: Style = Style::new().dimmed();
const GREEN: Style = AnsiColor::Green.on_default();
const RED: Style = AnsiColor::Red.on_default();
const YELLOW: Style = AnsiColor::Yellow.on_default();

pub struct TtyReporter {
    out: Box<dyn Write + Send>,
    multi: MultiProgress,
    color: bool,
    info: Option<RunInfo>,
    /// Width of the longest step id, so that durations line up.
    width: usize,
    running: HashMap<String, Running>,
}

/// A running step's live line and what it shows.
struct Running {
    bar: ProgressBar,
    progress: Option<(u64, u64)>,
    last_line: String,
}

impl TtyReporter {
    /// Permanent lines go to `out`, live lines to `target` (hidden or a fake terminal in tests).
    pub fn new(out: Box<dyn Write + Send>, target: ProgressDrawTarget, color: bool) -> Self {
        TtyReporter {
            out,
            multi: MultiProgress::with_draw_target(target),
            color,
            info: None,
            width: 0,
            running: HashMap::new(),
        }
    }

    pub fn stdout(color: bool) -> Self {
        Self::new(Box::new(io::stdout()), ProgressDrawTarget::stdout(), color)
    }

    /// `text` in `style`, or as is without colour: nothing else in this file emits a code.
    fn paint(&self, style: Style, text: &str) -> String {
        match self.color {
            true => format!("{style}{text}{style:#}"),
            false => text.to_string(),
        }
    }

    /// Lines above the live ones, which are cleared first and redrawn after.
    fn print(&mut self, text: &str) -> io::Result<()> {
        let out = &mut self.out;
        self.multi.suspend(|| {
            out.write_all(format!("{text}\n").as_bytes())?;
            out.flush()
        })
    }

    fn padded(&self, id: &str) -> String {
        format!("{id:<w$}", w = self.width)
    }

    fn started(&mut self, info: &RunInfo) -> io::Result<()> {
        self.width = info.steps.iter().map(|s| s.id.len()).max().unwrap_or(0);
        self.info = Some(info.clone());
        let header = format!(
            "dagship run {} · {} → {} · {} steps",
            info.run_id,
            info.pipeline,
            info.environment,
            info.steps.len()
        );
        self.print(&self.paint(BOLD, &header))
    }

    fn step_started(&mut self, id: &str, attempt: u32) {
        if let Some(running) = self.running.get_mut(id) {
            running.progress = None;
            running.last_line = format!("attempt {attempt}");
            self.refresh(id);
            return;
        }
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(self.spinner_style());
        bar.set_prefix(self.paint(BOLD, &self.padded(id)));
        bar.enable_steady_tick(Duration::from_millis(100));
        let running = Running {
            bar,
            progress: None,
            last_line: String::new(),
        };
        self.running.insert(id.to_string(), running);
    }

    fn spinner_style(&self) -> ProgressStyle {
        // Without colour the template has no style either: console would emit codes for it.
        let template = match self.color {
            true => "{spinner:.cyan} {prefix} {elapsed_h:>6} {wide_msg}",
            false => "{spinner} {prefix} {elapsed_h:>6} {wide_msg}",
        };
        ProgressStyle::with_template(template)
            .expect("a valid template")
            .with_key(
                "elapsed_h",
                |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{}", human_duration(state.elapsed()));
                },
            )
    }

    /// The live line's message: `done/total`, then the step's last line of output.
    fn refresh(&self, id: &str) {
        let Some(running) = self.running.get(id) else {
            return;
        };
        let mut msg = match running.progress {
            Some((done, total)) => format!("{done}/{total} "),
            None => String::new(),
        };
        msg.push_str(&self.paint(DIM, &running.last_line));
        running.bar.set_message(msg);
    }

    fn output(&mut self, id: &str, line: &str) {
        if let Some(running) = self.running.get_mut(id) {
            running.last_line = clean_line(line);
            self.refresh(id);
        }
    }

    fn progressed(&mut self, id: &str, done: u64, total: u64) {
        if let Some(running) = self.running.get_mut(id) {
            running.progress = Some((done, total));
            self.refresh(id);
        }
    }

    fn retrying(
        &mut self,
        id: &str,
        attempt: u32,
        reason: &str,
        delay: Duration,
    ) -> io::Result<()> {
        let text = format!(
            "↻ {}  attempt {attempt} failed: {}; retrying in {}",
            self.padded(id),
            one_line(reason),
            human_duration(delay)
        );
        self.print(&self.paint(YELLOW, &text))
    }

    fn finished(&mut self, r: &StepResult) -> io::Result<()> {
        if let Some(running) = self.running.remove(&r.id) {
            running.bar.finish_and_clear();
            self.multi.remove(&running.bar);
        }
        let line = self.finished_line(r);
        self.print(&line)
    }

    /// `✓ id  1.2s`, `✗ id  3.4s  reason`, `- id  skipped: reason`.
    fn finished_line(&self, r: &StepResult) -> String {
        let id = self.padded(&r.id);
        let duration = human_duration(r.duration);
        let reason = r.reason.as_deref().map(one_line).unwrap_or_default();
        match r.outcome {
            Outcome::Succeeded => format!("{} {id}  {duration}", self.paint(GREEN, "✓")),
            Outcome::Failed => {
                let reason = self.paint(RED, &reason);
                format!("{} {id}  {duration}  {reason}", self.paint(RED, "✗"))
            }
            Outcome::Skipped | Outcome::Cancelled => {
                let mut text = format!("- {id}  {}", outcome_label(r.outcome));
                if !reason.is_empty() {
                    text = format!("{text}: {reason}");
                }
                self.paint(DIM, &text)
            }
        }
    }

    fn summary(&mut self, summary: &RunSummary) -> io::Result<()> {
        for (_, running) in self.running.drain() {
            running.bar.finish_and_clear();
        }
        self.multi.clear()?;
        let style = match summary.outcome {
            Outcome::Succeeded => GREEN.bold(),
            Outcome::Failed => RED.bold(),
            Outcome::Skipped | Outcome::Cancelled => YELLOW.bold(),
        };
        let head = format!(
            "
{}",
            capitalized(&result_line(summary))
        );
        self.print(&self.paint(style, &head))?;
        for r in summary
            .results
            .iter()
            .filter(|r| r.outcome == Outcome::Failed)
        {
            let text = self.failure(r);
            self.print(&text)?;
        }
        Ok(())
    }

    /// A failed step's line, its last lines of output, and where its full log is.
    fn failure(&self, r: &StepResult) -> String {
        let mut text = format!("\n{}", self.finished_line(r));
        for line in &r.log_tail {
            let line = format!("  │ {}", clean_line(line));
            text = format!("{text}\n{}", self.paint(DIM, &line));
        }
        let log_dir = self
            .info
            .as_ref()
            .map(|i| i.log_dir.clone())
            .unwrap_or_default();
        let log = log_path(&log_dir, &r.id);
        format!("{text}\n  full log: {}", log.display())
    }
}

impl super::Reporter for TtyReporter {
    fn report(&mut self, event: &Event) -> io::Result<()> {
        match event {
            Event::RunStarted(info) => self.started(info)?,
            Event::StepStarted { id, attempt } => self.step_started(id, *attempt),
            Event::StepOutput { id, line, .. } => self.output(id, line),
            Event::StepProgress { id, done, total } => self.progressed(id, *done, *total),
            Event::StepRetrying {
                id,
                attempt,
                reason,
                delay,
            } => self.retrying(id, *attempt, reason, *delay)?,
            Event::StepFinished(result) => self.finished(result)?,
            Event::RunFinished(summary) => self.summary(summary)?,
        }
        Ok(())
    }
}

impl Drop for TtyReporter {
    /// A run that ends early (an error, a panic) must not leave spinners on the screen.
    fn drop(&mut self) {
        let _ = self.multi.clear();
    }
}

/// A reason on one line, without what could move the cursor.
fn one_line(text: &str) -> String {
    text.split('\n')
        .map(clean_line)
        .collect::<Vec<_>>()
        .join(" ")
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use indicatif::TermLike;

    use super::super::{Reporter, fixture};
    use super::*;

    /// A terminal that keeps what indicatif draws on it.
    #[derive(Debug, Clone, Default)]
    struct Screen(Arc<Mutex<String>>);

    impl TermLike for Screen {
        fn width(&self) -> u16 {
            80
        }
        fn move_cursor_up(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> io::Result<()> {
            self.write_str(&format!("{s}\n"))
        }
        fn write_str(&self, s: &str) -> io::Result<()> {
            self.0.lock().unwrap().push_str(s);
            Ok(())
        }
        fn clear_line(&self) -> io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> io::Result<()> {
            Ok(())
        }
    }

    /// The permanent lines and what was drawn live.
    fn render(color: bool) -> (String, String) {
        let (buf, screen) = (fixture::SharedBuf::default(), Screen::default());
        let target = ProgressDrawTarget::term_like(Box::new(screen.clone()));
        let mut reporter = TtyReporter::new(buf.boxed(), target, color);
        for event in fixture::events() {
            reporter.report(&event).unwrap();
        }
        drop(reporter);
        let drawn = screen.0.lock().unwrap().clone();
        (buf.text(), drawn)
    }

    #[test]
    fn no_escape_codes_without_colour() {
        let (text, drawn) = render(false);
        assert!(!text.contains("\x1b["), "{text:?}");
        assert!(!drawn.contains("\x1b["), "{drawn:?}");
        assert!(
            drawn.contains("compile"),
            "the live lines were drawn: {drawn:?}"
        );
    }

    #[test]
    fn colour_when_asked() {
        let (text, _) = render(true);
        assert!(text.contains("\x1b["));
    }

    #[test]
    fn a_permanent_line_per_finished_step_and_retries() {
        let (text, _) = render(false);
        for expected in [
            "dagship run 01JRUN · warehouse → staging · 4 steps",
            "↻ migrate  attempt 1 failed: could not connect: connection refused; retrying in 2.0s",
            "✓ compile  1.2s",
            "✓ migrate  4.1s",
            "✗ dags     3.4s  manifest: 100% broken, see log second line",
            "- upload   skipped: needs dags, which failed",
        ] {
            assert!(
                text.lines().any(|l| l == expected),
                "{expected:?} not in\n{text}"
            );
        }
    }

    #[test]
    fn summary_counts_and_shows_failed_tails_and_logs() {
        let (text, _) = render(false);
        let summary = text.split("\nFailed in 8.8s: ").nth(1).expect(&text);
        assert!(summary.starts_with("2 succeeded, 1 failed, 1 skipped, 0 cancelled\n"));
        assert!(summary.contains("\n  │ Reading dbt/target/manifest.json\n"));
        assert!(summary.contains("\n  │ error: node model.x has no name\n"));
        assert!(summary.ends_with("\n  full log: .dagship/logs/01JRUN/dags.log\n"));
    }

    #[test]
    fn live_line_shows_progress_and_last_output() {
        let buf = fixture::SharedBuf::default();
        let mut reporter = TtyReporter::new(buf.boxed(), ProgressDrawTarget::hidden(), false);
        for event in fixture::events().iter().take(12) {
            reporter.report(event).unwrap();
        }
        let message = reporter.running["compile"].bar.message();
        assert_eq!(message, "5/10 Found 10 models");
        assert_eq!(reporter.running.len(), 2);
    }
}
