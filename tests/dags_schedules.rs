//! dagship's schedule check held to Airflow's own (the venv's Airflow and croniter, through
//! `tests/dags_schedules.py`): every schedule dagship accepts, Airflow accepts and finds a
//! run for; every schedule dagship refuses as something cron cannot read, Airflow refuses
//! too. What dagship refuses on purpose although croniter reads it (a sixth field, ranges
//! that run backwards, croniter's own extensions, unlisted presets) is counted, never
//! accepted by accident.
//!
//! Schedules: a list written by hand (the edge of every rule) and 4,000 generated from a
//! fixed seed out of cron's pieces, right and wrong.

mod example_dbt;

use std::process::Command;

use dagship::dags::options::{FieldProblem, Schedule, ScheduleError};
use serde_json::Value;

const WRITTEN: &[&str] = &[
    "null",
    "@once",
    "@continuous",
    "@hourly",
    "@daily",
    "@weekly",
    "@monthly",
    "@quarterly",
    "@yearly",
    "@annually",
    "@midnight",
    "@DAILY",
    "@daily ",
    "0 5 * * *",
    "*/15 0-6 * * MON-FRI",
    "0 0 L * *",
    "0 0 1,L * *",
    "0 0 ? * 1#2",
    "0 0 * * sun#5",
    "0 0 * jan-jun/2 *",
    "5/15 * * * *",
    "0 0 29 2 *",
    "0 0 30 2 *",
    "0 0 31 4,6,9,11 *",
    "0 0 30 2 1",
    "0 0 * * 7",
    "0 0 * * 0-7",
    " 0 5 * * *\t",
    "0\u{a0}5 * * *",
    "0 5 * * *\u{3000}",
    "0 5 * * * 30",
    "0 5 * * * * 2030",
    "60 * * * *",
    "0 24 * * *",
    "0 0 0 * *",
    "0 0 32 * *",
    "0 0 * 13 *",
    "0 0 * * 8",
    "*/0 * * * *",
    "*/100 * * * *",
    "5-1 * * * *",
    "0 0 * * sat-sun",
    "1,,2 * * * *",
    ",1 * * * *",
    "? * * * *",
    "0 0 ?,1 * *",
    "0 0 * * 5L",
    "0 0 * * L5",
    "0 0 L-2 * *",
    "0 0 15W * *",
    "H * * * *",
    "R * * * *",
    "0 0 jan * *",
    "+5 * * * *",
    "-5 * * * *",
    "0 0 * * 1#6",
    "0 0 * * 0#0",
    "every day",
    "",
];

/// Refusals that say cron cannot read the text at all: Airflow must refuse it too.
fn unreadable(error: &ScheduleError) -> bool {
    match error {
        ScheduleError::NotAscii { .. } | ScheduleError::Never { .. } => true,
        ScheduleError::FieldCount { count, .. } => !(5..=7).contains(count),
        // croniter takes some ranges beyond a field's bounds (`0-0` as a day of month).
        ScheduleError::Field { problem, value, .. } => match problem {
            FieldProblem::OutOfRange { .. } => !value.contains('-'),
            _ => matches!(
                problem,
                FieldProblem::Empty | FieldProblem::NotAValue { .. } | FieldProblem::ZeroStep
            ),
        },
        ScheduleError::Preset { .. }
        | ScheduleError::NthWithDay { .. }
        | ScheduleError::Continuous { .. } => false,
    }
}

/// Cron's pieces, mostly right and sometimes wrong, put together at random (a fixed seed:
/// the same schedules on every run).
fn generated(count: usize) -> Vec<String> {
    const BOUNDS: [(u32, u32); 5] = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)];
    const NAMES: [&[&str]; 5] = [
        &[],
        &[],
        &[],
        &["jan", "Jun", "DEC"],
        &["sun", "Mon", "FRI"],
    ];
    const ODD: [&str; 16] = [
        "?", "L", "l", "W", "15W", "H", "R", "1#3", "fri#2", "5L", "jan", "foo", "", "-3", "99",
        "0",
    ];
    let mut rng = fastrand::Rng::with_seed(13);
    let value = |rng: &mut fastrand::Rng, field: usize| -> String {
        let (min, max) = BOUNDS[field];
        match rng.u8(0..20) {
            0..=14 => rng.u32(min..=max).to_string(),
            15 | 16 if !NAMES[field].is_empty() => {
                NAMES[field][rng.usize(0..NAMES[field].len())].to_string()
            }
            17 => format!("0{}", rng.u32(0..10)),
            _ => ODD[rng.usize(0..ODD.len())].to_string(),
        }
    };
    let item = |rng: &mut fastrand::Rng, field: usize| -> String {
        let base = match rng.u8(0..10) {
            0..=1 => "*".to_string(),
            2..=3 => {
                let (a, b) = (value(rng, field), value(rng, field));
                format!("{a}-{b}")
            }
            _ => value(rng, field),
        };
        match rng.u8(0..6) {
            0 => format!("{base}/{}", rng.u32(0..40)),
            _ => base,
        }
    };
    (0..count)
        .map(|_| {
            let fields = match rng.u8(0..20) {
                0 => 4,
                1 => 6,
                _ => 5,
            };
            let mut text = String::new();
            for i in 0..fields {
                if i > 0 {
                    text.push_str(match rng.u8(0..60) {
                        0 => "\u{a0}",
                        1 => "\t",
                        2 => "  ",
                        _ => " ",
                    });
                }
                let field = i.min(4);
                let whole = rng.u8(0..4) == 0;
                let items: Vec<String> = if whole {
                    vec!["*".to_string()]
                } else {
                    (0..rng.usize(1..4))
                        .map(|_| item(&mut rng, field))
                        .collect()
                };
                text.push_str(&items.join(","));
            }
            text
        })
        .collect()
}

/// Airflow's view of each schedule.
fn airflow_view(texts: &[String]) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in.json"), dir.path().join("out.json"));
    std::fs::write(&input, serde_json::to_string(texts).unwrap()).unwrap();
    let run = Command::new(example_dbt::venv_bin("python"))
        .arg(example_dbt::repo_root().join("tests/dags_schedules.py"))
        .args([&input, &output])
        .env("AIRFLOW_HOME", dir.path().join("airflow-home"))
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "tests/dags_schedules.py failed:\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    serde_json::from_slice(&std::fs::read(&output).unwrap()).unwrap()
}

#[test]
fn schedules_dagship_accepts_are_schedules_airflow_runs() {
    let mut texts: Vec<String> = WRITTEN.iter().map(|s| s.to_string()).collect();
    texts.extend(generated(4000));
    let view = airflow_view(&texts);
    let mut failures = Vec::new();
    let (mut accepted, mut unreadable_count, mut stricter) = (0, 0, 0);
    for (text, airflow) in texts.iter().zip(&view) {
        let runs = airflow["accepted"] == true && airflow["fires"] == true;
        match Schedule::parse(text) {
            Ok(_) => {
                accepted += 1;
                if !runs {
                    failures.push(format!(
                        "{text:?}: accepted, Airflow says {}",
                        airflow["error"]
                    ));
                }
            }
            Err(error) if unreadable(&error) => {
                unreadable_count += 1;
                if runs {
                    failures.push(format!("{text:?}: Airflow runs it, dagship says `{error}`"));
                }
            }
            Err(_) => stricter += 1,
        }
    }
    eprintln!("COUNTS {accepted} {unreadable_count} {stricter}");
    eprintln!("COUNTS {accepted} {unreadable_count} {stricter}");
    eprintln!("COUNTS {accepted} {unreadable_count} {stricter}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The corpus reaches every side: accepted, unreadable, and refused on purpose.
    assert!(
        accepted > 300 && unreadable_count > 1000 && stricter > 100,
        "accepted {accepted}, unreadable {unreadable_count}, stricter {stricter}"
    );
}

#[test]
fn presets_are_airflows_own_list() {
    let texts: Vec<String> = dagship::dags::options::PRESETS
        .iter()
        .map(|p| p.to_string())
        .collect();
    let view = airflow_view(&texts);
    for (preset, airflow) in texts.iter().zip(&view) {
        assert_eq!(airflow["accepted"], true, "{preset}: {}", airflow["error"]);
        assert!(Schedule::parse(preset).is_ok(), "{preset}");
    }
}
