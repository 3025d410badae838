//! The run's summary as Markdown (GitHub job summary): a heading, a results table, the failed
//! steps' last lines, and a Mermaid flowchart of the steps coloured by outcome.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::path::{Path, PathBuf};

use super::{Outcome, RunInfo, RunSummary, StepResult, clean_line, human_duration};

const OUTCOMES: [Outcome; 4] = [
    Outcome::Succeeded,
    Outcome::Failed,
    Outcome::Skipped,
    Outcome::Cancelled,
];

/// The outcome as it is serialised (`succeeded`, ...), for text and `$GITHUB_OUTPUT`.
pub fn outcome_label(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Succeeded => "succeeded",
        Outcome::Failed => "failed",
        Outcome::Skipped => "skipped",
        Outcome::Cancelled => "cancelled",
    }
}

pub fn outcome_emoji(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Succeeded => "✅",
        Outcome::Failed => "❌",
        Outcome::Skipped => "⏭️",
        Outcome::Cancelled => "🚫",
    }
}

/// `failed in 8.8s: 2 succeeded, 1 failed, …`: how the run ended, the line every reporter closes with.
pub fn result_line(summary: &RunSummary) -> String {
    format!(
        "{} in {}: {}",
        outcome_label(summary.outcome),
        super::human_duration(summary.duration),
        counts_line(summary)
    )
}

/// `2 succeeded, 1 failed, 1 skipped, 0 cancelled`: every count, so scripts can grep for one.
pub fn counts_line(summary: &RunSummary) -> String {
    OUTCOMES
        .iter()
        .map(|&o| {
            let n = summary.results.iter().filter(|r| r.outcome == o).count();
            format!("{n} {}", outcome_label(o))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where the runner keeps a step's full output.
pub fn log_path(log_dir: &Path, id: &str) -> PathBuf {
    log_dir.join(format!("{id}.log"))
}

/// The whole job summary.
pub fn markdown(info: &RunInfo, summary: &RunSummary) -> String {
    let mut out = format!(
        "## {} dagship: `{}` → `{}` {}\n\nRun `{}` · {} · {}\n\n",
        outcome_emoji(summary.outcome),
        info.pipeline,
        info.environment,
        outcome_label(summary.outcome),
        summary.run_id,
        human_duration(summary.duration),
        counts_line(summary),
    );
    out.push_str(&results_table(info, summary));
    out.push_str(&failures(info, summary));
    let _ = write!(out, "\n```mermaid\n{}```\n", mermaid(info, summary));
    out
}

/// One row per step: step, kind, outcome (with the reason), duration, attempts.
pub fn results_table(info: &RunInfo, summary: &RunSummary) -> String {
    let kinds: HashMap<&str, &str> = info
        .steps
        .iter()
        .map(|s| (s.id.as_str(), s.uses.as_str()))
        .collect();
    let mut out =
        String::from("| Step | Kind | Outcome | Duration | Attempts |\n|---|---|---|---:|---:|\n");
    for r in &summary.results {
        let mut outcome = format!("{} {}", outcome_emoji(r.outcome), outcome_label(r.outcome));
        if let Some(reason) = &r.reason {
            let _ = write!(outcome, ": {}", cell(reason));
        }
        let duration = match r.started_at {
            Some(_) => human_duration(r.duration),
            None => "–".into(),
        };
        let kind = kinds.get(r.id.as_str()).copied().unwrap_or("?");
        let _ = writeln!(
            out,
            "| `{}` | {} | {outcome} | {duration} | {} |",
            r.id, kind, r.attempts
        );
    }
    out
}

/// A folded section per failed step with its last lines and where its full log is.
fn failures(info: &RunInfo, summary: &RunSummary) -> String {
    let mut out = String::new();
    for r in summary
        .results
        .iter()
        .filter(|r| r.outcome == Outcome::Failed)
    {
        let reason = r.reason.as_deref().map(cell).unwrap_or_default();
        let _ = write!(
            out,
            "\n<details><summary><code>{}</code> failed: {reason}</summary>\n\n",
            r.id
        );
        out.push_str(&fenced(&r.log_tail));
        let _ = writeln!(
            out,
            "Full log: `{}`\n</details>",
            log_path(&info.log_dir, &r.id).display()
        );
    }
    out
}

/// A `text` code block whose fence is longer than any backtick run inside it.
fn fenced(lines: &[String]) -> String {
    let body: Vec<String> = lines.iter().map(|l| clean_line(l)).collect();
    let longest = body
        .iter()
        .flat_map(|l| l.split(|c| c != '`'))
        .map(str::len)
        .max()
        .unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}text\n{}\n{fence}\n\n", body.join("\n"))
}

/// A table cell on one line, where `|` and HTML cannot break the table.
fn cell(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
        .replace(['\r', '\n'], " ")
}

/// The steps by stage, edges from `needs`, nodes coloured by outcome.
pub fn mermaid(info: &RunInfo, summary: &RunSummary) -> String {
    // Node ids are positional: step ids may hold `-`, which Mermaid can read as an edge.
    let node: HashMap<&str, String> = info
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), format!("s{i}")))
        .collect();
    let results: HashMap<&str, &StepResult> =
        summary.results.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut stages: BTreeMap<usize, Vec<_>> = BTreeMap::new();
    for step in &info.steps {
        stages.entry(step.stage).or_default().push(step);
    }
    let mut out = String::from("flowchart LR\n");
    for (stage, mut steps) in stages {
        steps.sort_by(|a, b| a.id.cmp(&b.id));
        let _ = writeln!(out, "  subgraph stage{stage}[\"Stage {stage}\"]");
        for step in steps {
            let detail = match results.get(step.id.as_str()) {
                Some(r) if r.started_at.is_some() => {
                    format!("{} · {}", step.uses, human_duration(r.duration))
                }
                _ => step.uses.clone(),
            };
            let (id, detail) = (label(&step.id), label(&detail));
            let _ = writeln!(
                out,
                "    {}[\"{id}<br/><small>{detail}</small>\"]",
                node[step.id.as_str()]
            );
        }
        out.push_str("  end\n");
    }
    edges(&mut out, info, &node);
    classes(&mut out, &node, &results);
    out
}

fn edges(out: &mut String, info: &RunInfo, node: &HashMap<&str, String>) {
    for step in &info.steps {
        for need in step.needs.iter().filter_map(|n| node.get(n.as_str())) {
            let _ = writeln!(out, "  {need} --> {}", node[step.id.as_str()]);
        }
    }
}

/// A `classDef` per outcome present, and the nodes that have it.
fn classes(out: &mut String, node: &HashMap<&str, String>, results: &HashMap<&str, &StepResult>) {
    for outcome in OUTCOMES {
        let mut nodes: Vec<&str> = results
            .values()
            .filter(|r| r.outcome == outcome)
            .filter_map(|r| node.get(r.id.as_str()).map(String::as_str))
            .collect();
        if nodes.is_empty() {
            continue;
        }
        nodes.sort_by_key(|n| n[1..].parse::<usize>().unwrap_or(0));
        let name = outcome_label(outcome);
        let _ = writeln!(out, "  classDef {name} {}", class_style(outcome));
        let _ = writeln!(out, "  class {} {name}", nodes.join(","));
    }
}

fn class_style(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Succeeded => "fill:#dafbe1,stroke:#1a7f37,color:#116329",
        Outcome::Failed => "fill:#ffebe9,stroke:#cf222e,color:#a40e26",
        Outcome::Skipped => "fill:#f6f8fa,stroke:#8c959f,stroke-dasharray:4 4,color:#57606a",
        Outcome::Cancelled => "fill:#fff8c5,stroke:#9a6700,color:#7d4e00",
    }
}

/// Mermaid labels are HTML-ish: quotes and angle brackets become entities.
fn label(text: &str) -> String {
    text.replace('&', "#amp;")
        .replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::*;

    #[test]
    fn counts_every_outcome() {
        let line = counts_line(&fixture::summary());
        assert_eq!(line, "2 succeeded, 1 failed, 1 skipped, 0 cancelled");
    }

    #[test]
    fn table_has_a_row_per_step_with_kind_emoji_duration_attempts() {
        let table = results_table(&fixture::info(), &fixture::summary());
        let rows: Vec<&str> = table.lines().collect();
        assert_eq!(rows[0], "| Step | Kind | Outcome | Duration | Attempts |");
        assert_eq!(rows.len(), 2 + 4);
        assert_eq!(rows[3], "| `migrate` | alembic | ✅ succeeded | 4.1s | 2 |");
        assert_eq!(
            rows[4],
            "| `dags` | airflow_dags | ❌ failed: manifest: 100% broken, see log second line | 3.4s | 1 |"
        );
        assert!(rows[5].starts_with("| `upload` | composer_dags | ⏭️ skipped: needs dags"));
        assert!(rows[5].ends_with("| – | 0 |"));
    }

    #[test]
    fn cells_cannot_break_the_table() {
        assert_eq!(cell("a|b\n<c>"), "a\\|b &lt;c&gt;");
    }

    #[test]
    fn failed_steps_show_their_tail_without_escape_codes_and_their_log() {
        let md = markdown(&fixture::info(), &fixture::summary());
        assert!(md.starts_with("## ❌ dagship: `warehouse` → `staging` failed\n"));
        assert!(md.contains("```text\nReading dbt/target/manifest.json\nerror: node model.x"));
        assert!(md.contains("Full log: `.dagship/logs/01JRUN/dags.log`"));
        assert!(!md.contains('\x1b'));
    }

    #[test]
    fn fence_outgrows_backticks_in_the_tail() {
        let block = fenced(&["a ```` b".to_string()]);
        assert!(block.starts_with("`````text\n"), "{block}");
    }

    #[test]
    fn mermaid_groups_by_stage_links_needs_and_colours_outcomes() {
        let chart = mermaid(&fixture::info(), &fixture::summary());
        let expected = "flowchart LR
  subgraph stage0[\"Stage 0\"]
    s0[\"compile<br/><small>dbt · 1.2s</small>\"]
    s1[\"migrate<br/><small>alembic · 4.1s</small>\"]
  end
  subgraph stage1[\"Stage 1\"]
    s2[\"dags<br/><small>airflow_dags · 3.4s</small>\"]
  end
  subgraph stage2[\"Stage 2\"]
    s3[\"upload<br/><small>composer_dags</small>\"]
  end
  s0 --> s2
  s2 --> s3
  s1 --> s3
  classDef succeeded fill:#dafbe1,stroke:#1a7f37,color:#116329
  class s0,s1 succeeded
  classDef failed fill:#ffebe9,stroke:#cf222e,color:#a40e26
  class s2 failed
  classDef skipped fill:#f6f8fa,stroke:#8c959f,stroke-dasharray:4 4,color:#57606a
  class s3 skipped
";
        assert_eq!(chart, expected);
    }

    #[test]
    fn mermaid_labels_escape_quotes_and_brackets() {
        assert_eq!(label("a\"<b>&"), "a#quot;#lt;b#gt;#amp;");
    }
}
