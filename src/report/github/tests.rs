//! The GitHub reporter on the fixture run: masks, groups, annotations, summary and outputs.

use super::super::{Reporter, fixture};
use super::*;

/// Stdout, the job summary and the output file after the fixture run.
fn render() -> (String, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let (summary, output) = (dir.path().join("summary.md"), dir.path().join("output"));
    std::fs::write(&summary, "earlier step's summary\n").unwrap();
    let buf = fixture::SharedBuf::default();
    let mut reporter =
        GithubReporter::new(buf.boxed(), Some(summary.clone()), Some(output.clone()));
    for event in fixture::events() {
        reporter.report(&event).unwrap();
    }
    let read = |p| std::fs::read_to_string(p).unwrap();
    (buf.text(), read(&summary), read(&output))
}

#[test]
fn masks_come_first_and_only_first() {
    let (out, ..) = render();
    let lines: Vec<&str> = out.lines().collect();
    let expected = [
        "::add-mask::s3cr3t-token",
        "::add-mask::multi%0Aline",
        "::add-mask::multi",
        "::add-mask::line",
    ];
    assert_eq!(lines[..4], expected);
    assert_eq!(out.matches("::add-mask::").count(), 4);
}

#[test]
fn each_step_is_one_contiguous_group_with_commands_stopped() {
    let (out, ..) = render();
    let lines: Vec<&str> = out.lines().collect();
    for (id, uses, inside) in [
        (
            "compile",
            "dbt",
            vec!["Running with dbt=1.8.0", "Found 10 models", "Done."],
        ),
        (
            "migrate",
            "alembic",
            vec![
                "INFO  [alembic] Context impl",
                "attempt 1 failed: could not connect: connection refused; retrying in 2.0s",
                "INFO  [alembic] done",
                "succeeded in 4.1s",
            ],
        ),
        (
            "dags",
            "airflow_dags",
            vec!["Reading dbt/target/manifest.json"],
        ),
    ] {
        let title = format!("::group::{id} ({uses})");
        assert_eq!(lines.iter().filter(|l| **l == title).count(), 1, "{id}");
        let start = lines.iter().position(|l| *l == title).unwrap();
        let len = lines[start..]
            .iter()
            .position(|l| *l == "::endgroup::")
            .unwrap();
        let group = &lines[start..=start + len];
        assert!(group[1].starts_with("::stop-commands::dagship-"));
        let token = group[1].trim_start_matches("::stop-commands::");
        assert_eq!(group[len - 1], format!("::{token}::"));
        for line in inside {
            assert!(
                group.contains(&line),
                "{line:?} not in {id}'s group {group:?}"
            );
            assert_eq!(lines.iter().filter(|l| **l == line).count(), 1, "{line:?}");
        }
    }
    assert!(
        !out.contains("::group::upload"),
        "a skipped step has no group"
    );
    assert!(out.contains("\nupload skipped: needs dags, which failed\n"));
}

#[test]
fn failure_is_an_escaped_error_annotation_after_its_group() {
    let (out, ..) = render();
    let error = "::error title=dags failed::manifest: 100%25 broken, see log%0Asecond line";
    let at = out.find(error).expect(&out);
    assert!(out[..at].ends_with("::endgroup::\n"));
    assert_eq!(out.matches("::error").count(), 1);
}

#[test]
fn cancelled_step_is_a_warning() {
    let buf = fixture::SharedBuf::default();
    let mut reporter = GithubReporter::new(buf.boxed(), None, None);
    let mut result = fixture::summary().results.remove(0);
    (result.outcome, result.reason) = (Outcome::Cancelled, Some("SIGINT, 50%".into()));
    reporter.report(&Event::StepFinished(result)).unwrap();
    assert!(
        buf.text()
            .ends_with("::warning title=compile cancelled::SIGINT, 50%25\n")
    );
}

#[test]
fn annotations_escape_data_and_properties() {
    let line = error_annotation("ci/pipe:1,a.yaml", 3, 7, "bad: x, y", "100%\r\nnext: a, b");
    assert_eq!(
        line,
        "::error file=ci/pipe%3A1%2Ca.yaml,line=3,col=7,title=bad%3A x%2C y::100%25%0D%0Anext: a, b"
    );
}

#[test]
fn job_summary_is_appended_with_table_and_mermaid() {
    let (_, summary, _) = render();
    assert!(summary.starts_with("earlier step's summary\n## ❌ dagship"));
    assert!(summary.contains("| Step | Kind | Outcome | Duration | Attempts |"));
    assert!(summary.contains("| `compile` | dbt | ✅ succeeded | 1.2s | 1 |"));
    let mermaid = summary
        .split("```mermaid\n")
        .nth(1)
        .expect("a mermaid block");
    let mermaid = mermaid.split("```").next().unwrap();
    assert!(mermaid.starts_with("flowchart LR\n"));
    assert!(mermaid.contains("  classDef failed "));
    assert!(mermaid.contains("  class s2 failed\n"));
}

/// The output file read as GitHub reads it.
fn parse_outputs(text: &str) -> HashMap<String, String> {
    let mut map = HashMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, value)) = line.split_once('=') {
            map.insert(name.to_string(), value.to_string());
        } else if let Some((name, delimiter)) = line.split_once("<<") {
            let value: Vec<&str> = lines.by_ref().take_while(|l| *l != delimiter).collect();
            map.insert(name.to_string(), value.join("\n"));
        }
    }
    map
}

#[test]
fn outputs_hold_run_outcome_and_step_outputs() {
    let (.., output) = render();
    let map = parse_outputs(&output);
    assert_eq!(map["run_id"], "01JRUN");
    assert_eq!(map["outcome"], "failed");
    assert_eq!(map["compile_manifest"], "dbt/target/manifest.json");
    assert_eq!(map["migrate_head"], "a1b2c3");
    assert_eq!(map["migrate_applied"], "0001_init\n0002_users");
    assert!(output.contains("migrate_applied<<ghadelimiter_"));
    assert_eq!(map.len(), 5);
}

#[test]
fn output_names_cannot_inject_lines() {
    assert_eq!(output_entry("a\nb=c", "v"), "a_b_c=v\n");
}
