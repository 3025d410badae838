//! One JSON object per event and line (JSON Lines), for programs that follow a run.

use std::io::{self, Write};

use super::Event;

pub struct JsonReporter {
    out: Box<dyn Write + Send>,
}

impl JsonReporter {
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        JsonReporter { out }
    }

    pub fn stdout() -> Self {
        Self::new(Box::new(io::stdout()))
    }
}

impl super::Reporter for JsonReporter {
    fn report(&mut self, event: &Event) -> io::Result<()> {
        let mut line = serde_json::to_string(event).map_err(io::Error::other)?;
        line.push('\n');
        // One write per line, flushed, so a reader never sees half an object.
        self.out.write_all(line.as_bytes())?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Reporter, fixture};
    use super::*;

    #[test]
    fn one_tagged_object_per_line_per_event() {
        let buf = fixture::SharedBuf::default();
        let mut reporter = JsonReporter::new(buf.boxed());
        let events = fixture::events();
        for event in &events {
            reporter.report(event).unwrap();
        }
        let text = buf.text();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), events.len());
        let tags: Vec<&str> = lines.iter().map(|v| v["event"].as_str().unwrap()).collect();
        assert_eq!(tags[0], "run_started");
        assert_eq!(tags[1], "step_started");
        assert_eq!(tags[3], "step_output");
        assert_eq!(tags[6], "step_retrying");
        assert_eq!(tags[7], "step_progress");
        assert_eq!(tags.last(), Some(&"run_finished"));
        assert_eq!(tags.iter().filter(|t| **t == "step_finished").count(), 4);
    }

    #[test]
    fn never_prints_mask_values() {
        let buf = fixture::SharedBuf::default();
        let mut reporter = JsonReporter::new(buf.boxed());
        reporter.report(&fixture::events()[0]).unwrap();
        let text = buf.text();
        let started: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(started["pipeline"], "warehouse");
        assert!(started.get("mask_values").is_none());
        assert!(!text.contains(fixture::MASKS[0]));
    }

    #[test]
    fn finished_steps_carry_outcome_duration_and_outputs() {
        let buf = fixture::SharedBuf::default();
        let mut reporter = JsonReporter::new(buf.boxed());
        let events = fixture::events();
        let failed = events.iter().rev().nth(2).unwrap();
        reporter.report(failed).unwrap();
        let v: serde_json::Value = serde_json::from_str(buf.text().trim_end()).unwrap();
        assert_eq!(v["event"], "step_finished");
        assert_eq!(v["id"], "dags");
        assert_eq!(v["outcome"], "failed");
        assert_eq!(v["duration"], 3.4);
        assert_eq!(v["log_tail"].as_array().unwrap().len(), 2);
    }
}
