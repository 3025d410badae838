//! A realistic run for the reporters' tests: four steps, two running at once with interleaved
//! output, a retry, a failure with a log tail, a step skipped because of it.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use indexmap::IndexMap;

use super::{Event, Outcome, RunInfo, RunSummary, StepInfo, StepResult, Stream};

/// An in-memory writer the test keeps a handle on after giving it to a reporter.
#[derive(Clone, Default)]
pub(super) struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl SharedBuf {
    pub(super) fn boxed(&self) -> Box<dyn Write + Send> {
        Box::new(self.clone())
    }

    pub(super) fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

pub(super) const FAIL_REASON: &str = "manifest: 100% broken, see log\nsecond line";
pub(super) const MASKS: [&str; 2] = ["s3cr3t-token", "multi\nline"];

fn step(id: &str, uses: &str, stage: usize, needs: &[&str]) -> StepInfo {
    StepInfo {
        id: id.into(),
        uses: uses.into(),
        stage,
        needs: needs.iter().map(|n| n.to_string()).collect(),
    }
}

pub(super) fn info() -> RunInfo {
    RunInfo {
        run_id: "01JRUN".into(),
        pipeline: "warehouse".into(),
        environment: "staging".into(),
        steps: vec![
            step("compile", "dbt", 0, &[]),
            step("migrate", "alembic", 0, &[]),
            step("dags", "airflow_dags", 1, &["compile"]),
            step("upload", "composer_dags", 2, &["dags", "migrate"]),
        ],
        log_dir: PathBuf::from(".dagship/logs/01JRUN"),
        mask_values: MASKS.iter().map(|m| m.to_string()).collect(),
    }
}

fn out(id: &str, stream: Stream, line: &str) -> Event {
    Event::StepOutput {
        id: id.into(),
        stream,
        line: line.into(),
    }
}

fn started(id: &str, attempt: u32) -> Event {
    Event::StepStarted {
        id: id.into(),
        attempt,
    }
}

fn result(id: &str, outcome: Outcome, reason: Option<&str>, attempts: u32, ms: u64) -> StepResult {
    let ran = attempts > 0;
    StepResult {
        id: id.into(),
        outcome,
        reason: reason.map(String::from),
        attempts,
        duration: Duration::from_millis(ms),
        started_at: ran.then(SystemTime::now),
        finished_at: ran.then(SystemTime::now),
        log_tail: Vec::new(),
        outputs: IndexMap::new(),
    }
}

fn results() -> Vec<StepResult> {
    let mut compile = result("compile", Outcome::Succeeded, None, 1, 1200);
    compile
        .outputs
        .insert("manifest".into(), "dbt/target/manifest.json".into());
    let mut migrate = result("migrate", Outcome::Succeeded, None, 2, 4100);
    migrate.outputs.insert("head".into(), "a1b2c3".into());
    migrate
        .outputs
        .insert("applied".into(), "0001_init\n0002_users".into());
    let mut dags = result("dags", Outcome::Failed, Some(FAIL_REASON), 1, 3400);
    dags.log_tail = vec![
        "Reading dbt/target/manifest.json".into(),
        "error: \x1b[31mnode model.x has no name\x1b[0m".into(),
    ];
    let upload = result(
        "upload",
        Outcome::Skipped,
        Some("needs dags, which failed"),
        0,
        0,
    );
    vec![compile, migrate, dags, upload]
}

pub(super) fn events() -> Vec<Event> {
    let [compile, migrate, dags, upload] = results().try_into().unwrap();
    let mut events = vec![
        Event::RunStarted(info()),
        started("compile", 1),
        started("migrate", 1),
        out("compile", Stream::Stdout, "Running with dbt=1.8.0"),
        out("migrate", Stream::Stderr, "INFO  [alembic] Context impl"),
        out("compile", Stream::Stdout, "Found 10 models"),
        Event::StepRetrying {
            id: "migrate".into(),
            attempt: 1,
            reason: "could not connect: connection refused".into(),
            delay: Duration::from_secs(2),
        },
    ];
    for done in 1..=10 {
        events.push(Event::StepProgress {
            id: "compile".into(),
            done,
            total: 10,
        });
    }
    events.extend([
        started("migrate", 2),
        out(
            "migrate",
            Stream::Stderr,
            "INFO  [alembic] Running upgrade\tto a1b2c3",
        ),
        out("compile", Stream::Stdout, "Done.\r"),
        Event::StepFinished(compile),
        started("dags", 1),
        out("dags", Stream::Stdout, "Reading dbt/target/manifest.json"),
        out("migrate", Stream::Stderr, "INFO  [alembic] done"),
        Event::StepFinished(migrate),
        out(
            "dags",
            Stream::Stderr,
            "error: \x1b[31mnode model.x has no name\x1b[0m",
        ),
        Event::StepFinished(dags),
        Event::StepFinished(upload),
    ]);
    let summary = RunSummary {
        run_id: "01JRUN".into(),
        outcome: Outcome::Failed,
        duration: Duration::from_millis(8800),
        results: results(),
        artifacts: Default::default(),
    };
    events.push(Event::RunFinished(summary));
    events
}

pub(super) fn summary() -> RunSummary {
    match events().pop() {
        Some(Event::RunFinished(summary)) => summary,
        _ => unreachable!("the fixture ends with RunFinished"),
    }
}
