//! GitHub Actions: masks first, one collapsible group per step, annotations for failures, a job
//! summary and step outputs.
//!
//! Steps run in parallel but a group must be contiguous in the log, so a step's lines are kept
//! until it finishes and printed as one group then; a short ungrouped line on start keeps the log
//! alive meanwhile.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::plain::finished_text;
use super::summary::{self, log_path, outcome_label};
use super::{Event, Outcome, RunInfo, RunSummary, StepResult, human_duration};

pub struct GithubReporter {
    out: Box<dyn Write + Send>,
    summary_path: Option<PathBuf>,
    output_path: Option<PathBuf>,
    info: Option<RunInfo>,
    /// Each running step's lines, printed as its group when it finishes.
    groups: HashMap<String, Vec<String>>,
    /// The last quarter of progress printed per step.
    progress: HashMap<String, u64>,
}

impl GithubReporter {
    /// `summary_path` and `output_path` are `$GITHUB_STEP_SUMMARY` and `$GITHUB_OUTPUT`; either
    /// is skipped when `None`.
    pub fn new(
        out: Box<dyn Write + Send>,
        summary_path: Option<PathBuf>,
        output_path: Option<PathBuf>,
    ) -> Self {
        GithubReporter {
            out,
            summary_path,
            output_path,
            info: None,
            groups: HashMap::new(),
            progress: HashMap::new(),
        }
    }

    /// To stdout, with the files GitHub names in the environment.
    pub fn from_env() -> Self {
        let path = |var| {
            std::env::var_os(var)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Self::new(
            Box::new(io::stdout()),
            path("GITHUB_STEP_SUMMARY"),
            path("GITHUB_OUTPUT"),
        )
    }

    fn line(&mut self, text: &str) -> io::Result<()> {
        self.out.write_all(format!("{text}\n").as_bytes())
    }

    fn started(&mut self, info: &RunInfo) -> io::Result<()> {
        // Before anything else: GitHub masks only what it has been told about.
        for value in &info.mask_values {
            for mask in mask_lines(value) {
                self.line(&format!("::add-mask::{}", escape_data(mask)))?;
            }
        }
        self.info = Some(info.clone());
        self.line(&format!("dagship {}", info.headline()))
    }

    fn uses(&self, id: &str) -> String {
        let step = self
            .info
            .as_ref()
            .and_then(|i| i.steps.iter().find(|s| s.id == id));
        step.map(|s| s.uses.clone()).unwrap_or_default()
    }

    fn step_started(&mut self, id: &str, attempt: u32) -> io::Result<()> {
        self.progress.remove(id);
        let text = match attempt {
            1 => "started".to_string(),
            n => format!("started, attempt {n}"),
        };
        self.buffer(id, text.clone());
        self.line(&format!("{id} {text}"))
    }

    fn buffer(&mut self, id: &str, line: String) {
        self.groups.entry(id.to_string()).or_default().push(line);
    }

    /// Progress is printed ungrouped, by quarters: enough to see a long dbt run move.
    fn progressed(&mut self, id: &str, done: u64, total: u64) -> io::Result<()> {
        let Some(quarter) = done.saturating_mul(4).checked_div(total) else {
            return Ok(());
        };
        let last = self.progress.insert(id.to_string(), quarter);
        if quarter == 0 || last.is_some_and(|last| last >= quarter) {
            return Ok(());
        }
        self.line(&format!("{id} {done}/{total}"))
    }

    fn finished(&mut self, r: &StepResult) -> io::Result<()> {
        let lines = self.groups.remove(&r.id);
        if lines.is_some() || r.started_at.is_some() {
            let mut lines = lines.unwrap_or_default();
            lines.push(finished_text(r));
            self.group(&r.id, &lines)?;
        } else {
            self.line(&format!("{} {}", r.id, finished_text(r)).replace('\n', " "))?;
        }
        let reason = r.reason.as_deref().unwrap_or(outcome_label(r.outcome));
        match r.outcome {
            Outcome::Failed => self.line(&annotation("error", &format!("{} failed", r.id), reason)),
            Outcome::Cancelled => self.line(&annotation(
                "warning",
                &format!("{} cancelled", r.id),
                reason,
            )),
            Outcome::Succeeded | Outcome::Skipped => Ok(()),
        }
    }

    /// The step's lines in one group; commands are off inside it, so that a step printing
    /// `::error::` or `::add-mask::` cannot pass for dagship. The token is made after the step
    /// ran, so it cannot know it.
    fn group(&mut self, id: &str, lines: &[String]) -> io::Result<()> {
        let title = format!("{id} ({})", self.uses(id));
        let token = format!("dagship-{:032x}", fastrand::u128(..));
        let mut text = format!(
            "::group::{}\n::stop-commands::{token}\n",
            escape_data(&title)
        );
        for line in lines {
            text.push_str(line);
            text.push('\n');
        }
        text.push_str(&format!("::{token}::\n::endgroup::\n"));
        self.out.write_all(text.as_bytes())
    }

    fn run_finished(&mut self, summary: &RunSummary) -> io::Result<()> {
        // Steps the runner never finished (it should not happen) still show what they printed.
        let mut leftover: Vec<_> = self.groups.drain().collect();
        leftover.sort();
        for (id, lines) in leftover {
            self.group(&id, &lines)?;
        }
        self.summary_lines(summary)?;
        let info = self.info.clone().unwrap_or_else(|| empty_info(summary));
        if let Some(path) = &self.summary_path {
            append(path, &summary::markdown(&info, summary))?;
        }
        if let Some(path) = &self.output_path {
            append(path, &outputs(summary))?;
        }
        Ok(())
    }

    fn summary_lines(&mut self, summary: &RunSummary) -> io::Result<()> {
        self.line(&format!("dagship {}", summary::result_line(summary)))?;
        let log_dir = self
            .info
            .as_ref()
            .map(|i| i.log_dir.clone())
            .unwrap_or_default();
        for r in summary
            .results
            .iter()
            .filter(|r| r.outcome == Outcome::Failed)
        {
            let log = log_path(&log_dir, &r.id);
            self.line(&format!("{} failed; full log: {}", r.id, log.display()))?;
        }
        Ok(())
    }
}

impl super::Reporter for GithubReporter {
    fn report(&mut self, event: &Event) -> io::Result<()> {
        match event {
            Event::RunStarted(info) => self.started(info)?,
            Event::StepStarted { id, attempt } => self.step_started(id, *attempt)?,
            Event::StepOutput { id, line, .. } => self.buffer(id, last_drawn(line)),
            Event::StepProgress { id, done, total } => self.progressed(id, *done, *total)?,
            Event::StepRetrying {
                id,
                attempt,
                reason,
                delay,
            } => self.buffer(
                id,
                format!(
                    "attempt {attempt} failed: {reason}; retrying in {}",
                    human_duration(*delay)
                ),
            ),
            Event::StepFinished(result) => self.finished(result)?,
            Event::RunFinished(summary) => self.run_finished(summary)?,
        }
        self.out.flush()
    }
}

/// What a terminal would show of a line redrawn with `\r`; colours stay, GitHub shows them.
fn last_drawn(line: &str) -> String {
    let line = line.trim_end_matches('\r');
    line.rsplit('\r').next().unwrap_or_default().to_string()
}

/// A multi-line secret is masked whole and line by line, as GitHub matches log lines one by one.
fn mask_lines(value: &str) -> Vec<&str> {
    let mut masks = vec![value];
    if value.contains('\n') {
        masks.extend(value.lines().map(str::trim).filter(|l| !l.is_empty()));
    }
    masks.retain(|m| !m.is_empty());
    masks
}

fn empty_info(summary: &RunSummary) -> RunInfo {
    RunInfo {
        run_id: summary.run_id.clone(),
        pipeline: String::new(),
        environment: String::new(),
        steps: Vec::new(),
        log_dir: PathBuf::new(),
        mask_values: Vec::new(),
    }
}

fn append(path: &Path, text: &str) -> io::Result<()> {
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(text.as_bytes())
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// Appends `pairs` to the step outputs (`$GITHUB_OUTPUT`) when there is such a file: what a
/// command knows after its reporter finished (the release recorded, whether a plan changes
/// anything), for the workflow's later steps.
pub fn set_outputs(pairs: &[(&str, &str)]) -> io::Result<()> {
    let Some(path) = std::env::var_os("GITHUB_OUTPUT").filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    let text: String = pairs.iter().map(|(n, v)| output_entry(n, v)).collect();
    append(Path::new(&path), &text)
}

/// `run_id`, `outcome` and every step output as `<step>_<name>`, in `$GITHUB_OUTPUT` syntax.
pub fn outputs(summary: &RunSummary) -> String {
    let mut text = output_entry("run_id", &summary.run_id);
    text.push_str(&output_entry("outcome", outcome_label(summary.outcome)));
    for r in &summary.results {
        for (name, value) in &r.outputs {
            text.push_str(&output_entry(&format!("{}_{name}", r.id), value));
        }
    }
    text
}

/// `name=value`, or `name<<DELIMITER` … when the value spans lines; the delimiter is random so
/// that a value cannot end the entry early and set other outputs.
fn output_entry(name: &str, value: &str) -> String {
    // Names come from the pipeline file; keep them from carrying a newline or `=`.
    let name: String = name
        .chars()
        .map(|c| match c {
            c if c.is_ascii_alphanumeric() || "-_.".contains(c) => c,
            _ => '_',
        })
        .collect();
    if !value.contains(['\n', '\r']) {
        return format!("{name}={value}\n");
    }
    let delimiter = loop {
        let d = format!("ghadelimiter_{:032x}", fastrand::u128(..));
        if !value.contains(&d) {
            break d;
        }
    };
    format!("{name}<<{delimiter}\n{value}\n{delimiter}\n")
}

/// A workflow command's message: `%`, `\r` and `\n` escaped.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value: as data, and `:` and `,` too.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

fn annotation(kind: &str, title: &str, message: &str) -> String {
    format!(
        "::{kind} title={}::{}",
        escape_property(title),
        escape_data(message)
    )
}

/// `::error file=…,line=…,col=…,title=…::message`, for errors in the pipeline file.
pub fn error_annotation(file: &str, line: usize, col: usize, title: &str, message: &str) -> String {
    format!(
        "::error file={},line={line},col={col},title={}::{}",
        escape_property(file),
        escape_property(title),
        escape_data(message)
    )
}

#[cfg(test)]
mod tests;
