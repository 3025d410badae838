//! The plan as GitHub-flavoured Markdown, for a pull request: what would change first (image
//! digests, DAG files, the DAGs in dbt's terms, migrations), the stages as a Mermaid graph,
//! then every step, folded. It starts with a hidden marker, so that a workflow finds its own
//! comment and updates it in place.

use std::fmt::Write;

use super::{Plan, PlannedStep};
use crate::action::{Action, DagChanges, Deploy, FileDiff, Live, Migrations};

/// The first line of every Markdown plan: `<!-- dagship-plan warehouse/prod -->`.
pub fn marker(plan: &Plan) -> String {
    format!(
        "<!-- dagship-plan {}/{} -->",
        plan.pipeline, plan.environment
    )
}

pub fn render(plan: &Plan) -> String {
    let mut out = marker(plan);
    out.push('\n');
    header(&mut out, plan);
    changes(&mut out, plan);
    let _ = write!(
        out,
        "\n<details><summary>Stages</summary>\n\n```mermaid\n{}```\n\n</details>\n",
        super::mermaid::render(plan)
    );
    steps(&mut out, plan);
    footer(&mut out, plan);
    out
}

fn header(out: &mut String, plan: &Plan) {
    let _ = writeln!(
        out,
        "### dagship plan: `{}` → `{}`\n",
        code(&plan.pipeline),
        code(&plan.environment)
    );
    let s = &plan.summary;
    let verdict = match plan.changes.has_changes {
        true => "**changes**",
        false => "**no changes**",
    };
    let mut facts = vec![
        verdict.to_string(),
        format!("{} to run, {} skipped", s.to_run, s.skipped),
    ];
    if let Some(sha) = &plan.git.sha {
        facts.push(format!("commit `{}`", &sha[..sha.len().min(12)]));
    }
    for (what, value) in [("project", &plan.project), ("region", &plan.region)] {
        if let Some(v) = value {
            facts.push(format!("{what} `{}`", code(v)));
        }
    }
    let _ = writeln!(out, "{}\n", facts.join(" · "));
    let r = &plan.release;
    if let Some(deploys) = &r.deploys {
        let _ = writeln!(
            out,
            "> Deploys release `{}`: nothing is rebuilt.",
            code(deploys)
        );
    }
    match (&r.current, &r.unknown) {
        (Some(current), _) => {
            let _ = writeln!(
                out,
                "> Compared with the current release `{}`.",
                code(current)
            );
        }
        (None, None) => {
            let _ = writeln!(out, "> No release yet in this environment.");
        }
        (None, Some(_)) => {}
    }
    if let Some(unknown) = &r.unknown {
        let _ = writeln!(out, "> Releases could not be read: {}", cell(unknown));
    }
    if let Some(holder) = &r.locked_by {
        let _ = writeln!(out, "> [!WARNING]\n> Locked by {}.", cell(holder));
    }
}

/// One row per thing that would change, then the DAGs and the migrations.
fn changes(out: &mut String, plan: &Plan) {
    let mut rows = Vec::new();
    let mut dags = Vec::new();
    let mut migrations = Vec::new();
    for step in plan.steps.iter().filter(|s| !s.skipped) {
        for action in &step.actions {
            match action {
                Action::Deploy(d) => rows.push((step, deploy_change(d))),
                Action::Sync(s) => rows.push((step, sync_change(s.live.as_ref(), &s.target))),
                Action::Generate(g) => {
                    if let Some(changes) = &g.dag_changes {
                        dags.push((step, changes));
                    }
                }
                Action::Migrations(m) => migrations.push((step, m)),
                Action::Exec(_) => {}
            }
        }
    }
    if !rows.is_empty() {
        out.push_str("\n| step | kind | change |\n|---|---|---|\n");
        for (step, change) in rows {
            let _ = writeln!(out, "| `{}` | {} | {} |", code(&step.id), step.uses, change);
        }
    }
    for (step, changes) in dags {
        dag_table(out, step, changes);
    }
    for (step, m) in migrations {
        migration_lines(out, step, m);
    }
}

fn deploy_change(d: &Deploy) -> String {
    let new = match &d.live {
        Some(Live::Compared(diff)) => diff.new_image.clone(),
        _ => None,
    }
    .unwrap_or_else(|| d.image.to_string());
    let image = match &d.released_image {
        Some(old) if *old != new => format!("image `{}` → `{}`", code(old), code(&new)),
        _ => format!("image `{}`", code(&new)),
    };
    let live = match &d.live {
        Some(Live::Compared(diff)) if !diff.exists => "; created".to_string(),
        Some(Live::Compared(diff)) if diff.changes.is_empty() => "; live: no change".to_string(),
        Some(Live::Compared(diff)) => {
            let fields: Vec<String> = diff
                .changes
                .iter()
                .map(|c| format!("`{}`", code(&c.field)))
                .collect();
            format!("; live: {} change", fields.join(", "))
        }
        Some(Live::Unknown { reason }) => format!("; live: unknown ({})", cell(reason)),
        None => String::new(),
    };
    format!(
        "{} `{}`: {image}{live}",
        d.resource.noun(),
        code(&d.name.to_string())
    )
}

fn sync_change(live: Option<&Live<FileDiff>>, target: &str) -> String {
    match live {
        Some(Live::Compared(diff)) => format!(
            "files in {}: {} added, {} changed, {} deleted, {} unchanged{}",
            cell(target),
            diff.added.len(),
            diff.changed.len(),
            diff.deleted.len(),
            diff.unchanged,
            match diff.pending.len() {
                0 => String::new(),
                n => format!(", {n} known after the steps before"),
            }
        ),
        Some(Live::Unknown { reason }) => {
            format!("files in {}: unknown ({})", cell(target), cell(reason))
        }
        None => format!("files in {}", cell(target)),
    }
}

fn dag_table(out: &mut String, step: &PlannedStep, changes: &Live<DagChanges>) {
    let changes = match changes {
        Live::Unknown { reason } => {
            let _ = writeln!(
                out,
                "\n**DAGs of `{}`**: unknown ({})",
                code(&step.id),
                cell(reason)
            );
            return;
        }
        Live::Compared(c) => c,
    };
    let _ = writeln!(
        out,
        "\n**DAGs of `{}`**, compared with release `{}`{}",
        code(&step.id),
        code(&changes.release),
        if changes.dags.is_empty() {
            ": no change"
        } else {
            ":"
        }
    );
    if changes.dags.is_empty() {
        return;
    }
    out.push_str("\n| DAG | tasks added | removed | changed |\n|---|---:|---:|---:|\n");
    for dag in &changes.dags {
        let _ = writeln!(
            out,
            "| `{}` {} | {} | {} | {} |",
            code(&dag.dag_id),
            match dag.status {
                crate::dags::DagStatus::New => "(new)",
                crate::dags::DagStatus::Removed => "(removed)",
                crate::dags::DagStatus::Changed => "",
            },
            dag.added.len(),
            dag.removed.len(),
            dag.changed.len()
        );
    }
}

fn migration_lines(out: &mut String, step: &PlannedStep, m: &Migrations) {
    let current = m.current.as_deref().unwrap_or("unknown");
    let _ = write!(
        out,
        "\n**Migrations of `{}`** (database at `{}`",
        code(&step.id),
        code(current)
    );
    if let Some(released) = &m.released_revision {
        let _ = write!(out, ", current release at `{}`", code(released));
    }
    out.push_str("): ");
    match (&m.note, m.pending.is_empty()) {
        (Some(note), _) => {
            let _ = writeln!(out, "{}", cell(note));
        }
        (None, true) => out.push_str("none pending\n"),
        (None, false) => {
            out.push('\n');
            for p in &m.pending {
                let _ = writeln!(out, "- `{}`", code(p));
            }
        }
    }
}

fn steps(out: &mut String, plan: &Plan) {
    out.push_str("\n<details><summary>Every step</summary>\n\n");
    for step in &plan.steps {
        let _ = write!(
            out,
            "- **`{}`** ({}, stage {})",
            code(&step.id),
            step.uses,
            step.stage
        );
        match &step.skip_reason {
            Some(reason) => {
                let _ = writeln!(out, ": skipped, {}", cell(reason));
            }
            None => {
                out.push('\n');
                for action in &step.actions {
                    let _ = writeln!(out, "  - {}", cell(action.description()));
                }
            }
        }
    }
    out.push_str("\n</details>\n");
}

fn footer(out: &mut String, plan: &Plan) {
    if !plan.warnings.is_empty() {
        out.push_str("\n**Warnings**\n\n");
        for w in &plan.warnings {
            let _ = writeln!(out, "- {}", cell(w));
        }
    }
    let live = &plan.changes.live_comparison;
    if live != "compared" {
        let _ = writeln!(
            out,
            "\n_What is live could not all be compared: {}._",
            cell(live)
        );
    }
}

/// Text inside a code span: a backtick would end it.
fn code(text: &str) -> String {
    text.replace('`', "'")
}

/// Text inside a table cell or a line: a `|` would start a cell, a newline end the row, and
/// `<` could open HTML.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
        .replace(['\n', '\r'], " ")
        .replace('<', "&lt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_and_code_spans_cannot_break_out() {
        assert_eq!(cell("a|b\nc <script>"), "a\\|b c &lt;script>");
        assert_eq!(code("x`y"), "x'y");
    }
}
