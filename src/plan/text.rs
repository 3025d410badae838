//! The plan for people, read like `terraform plan`: a legend, a block per step, a summary.
//!
//! Styles are ANSI codes; the caller strips them when colour is off (anstream).

use std::fmt::Write;

use anstyle::{AnsiColor, Style};

use super::{Plan, PlannedStep};
use crate::action::{Action, DeployDiff, FileDiff, FileList, Live, Migrations};

const BOLD: Style = Style::new().bold();
const DIM: Style = Style::new().dimmed();
const RUN: Style = AnsiColor::Cyan.on_default().bold();
const WRITE: Style = AnsiColor::Green.on_default().bold();
const DEPLOY: Style = AnsiColor::Yellow.on_default().bold();
const WARN: Style = AnsiColor::Yellow.on_default();
const REMOVE: Style = AnsiColor::Red.on_default().bold();

pub fn render(plan: &Plan) -> String {
    let mut out = String::new();
    header(&mut out, plan);
    for (stage, ids) in plan.stages.iter().enumerate() {
        let _ = writeln!(out, "\n{BOLD}Stage {stage}{BOLD:#}");
        for step in plan.steps.iter().filter(|s| ids.contains(&s.id)) {
            step_block(&mut out, step);
        }
    }
    footer(&mut out, plan);
    out
}

fn header(out: &mut String, plan: &Plan) {
    let _ = writeln!(
        out,
        "{BOLD}dagship plan{BOLD:#}: pipeline `{}`, environment `{}`",
        plan.pipeline, plan.environment
    );
    let mut facts = Vec::new();
    if let Some(p) = &plan.project {
        facts.push(format!("project {p}"));
    }
    if let Some(r) = &plan.region {
        facts.push(format!("region {r}"));
    }
    if let Some(sha) = &plan.git.sha {
        let short: String = sha.chars().take(12).collect();
        let reference = plan.git.reference.as_deref().unwrap_or("detached");
        facts.push(format!("commit {short} ({reference})"));
    }
    if !facts.is_empty() {
        let _ = writeln!(out, "  {}", facts.join(" · "));
    }
    if !plan.left_out.is_empty() {
        let _ = writeln!(
            out,
            "  {DIM}not selected: {}{DIM:#}",
            plan.left_out.join(", ")
        );
    }
    release_lines(out, &plan.release);
    let _ = writeln!(
        out,
        "\nLegend: {RUN}>{RUN:#} runs a command   {WRITE}+{WRITE:#} writes files   \
         {DEPLOY}~{DEPLOY:#} creates or updates a cloud resource   {DIM}={DIM:#} skipped here"
    );
}

fn release_lines(out: &mut String, release: &crate::plan::ReleaseInfo) {
    if let Some(deploys) = &release.deploys {
        let _ = writeln!(out, "  deploys release {deploys}: nothing is rebuilt");
    }
    match &release.current {
        Some(current) => {
            let _ = writeln!(
                out,
                "  {DIM}compared with the current release{DIM:#} {current}"
            );
        }
        None if release.unknown.is_none() => {
            let _ = writeln!(out, "  {DIM}no release yet in this environment{DIM:#}");
        }
        None => {}
    }
    if let Some(unknown) = &release.unknown {
        let _ = writeln!(out, "  {DIM}releases: unknown: {unknown}{DIM:#}");
    }
    if let Some(holder) = &release.locked_by {
        let _ = writeln!(
            out,
            "  {WARN}! locked by {holder}: a run now would wait or stop (exit 3){WARN:#}"
        );
    }
}

fn symbol(step: &PlannedStep) -> String {
    let (style, sign) = match step.actions.first() {
        _ if step.skipped => (DIM, "="),
        Some(Action::Exec(_) | Action::Migrations(_)) => (RUN, ">"),
        Some(Action::Deploy(_)) => (DEPLOY, "~"),
        Some(Action::Generate(_) | Action::Sync(_)) => (WRITE, "+"),
        None => (DIM, "="),
    };
    format!("{style}{sign}{style:#}")
}

fn step_block(out: &mut String, step: &PlannedStep) {
    let mut facts = vec![step.uses.clone()];
    if !step.needs.is_empty() {
        facts.push(format!("needs {}", step.needs.join(", ")));
    }
    if let Some(t) = step.timeout_seconds {
        facts.push(format!("timeout {}", duration(t)));
    }
    if step.retries > 0 {
        facts.push(format!("retries {}", step.retries));
    }
    let _ = writeln!(
        out,
        "  {} {BOLD}{}{BOLD:#}  ({})",
        symbol(step),
        step.id,
        facts.join(", ")
    );
    if let Some(reason) = &step.skip_reason {
        let _ = writeln!(out, "      {DIM}skipped: {reason}{DIM:#}");
    }
    if !step.needs_left_out.is_empty() {
        let _ = writeln!(
            out,
            "      {DIM}not selected, assumed done: {}{DIM:#}",
            step.needs_left_out.join(", ")
        );
    }
    for action in &step.actions {
        action_lines(out, action);
    }
}

fn action_lines(out: &mut String, action: &Action) {
    match action {
        Action::Exec(exec) => {
            let _ = writeln!(out, "      $ {}", exec.description);
            if let Some(cwd) = &exec.cwd {
                let _ = writeln!(out, "        {DIM}in{DIM:#} {cwd}");
            }
            for (k, v) in &exec.env {
                let _ = writeln!(out, "        {DIM}env{DIM:#} {k}={v}");
            }
        }
        Action::Deploy(deploy) => {
            let _ = writeln!(out, "      {}", deploy.description);
            match &deploy.released_image {
                Some(old) if *old != deploy.image.to_string() => {
                    let _ = writeln!(out, "        image: {old} → {}", deploy.image);
                }
                Some(_) => {
                    let _ = writeln!(
                        out,
                        "        image: {} (as the current release)",
                        deploy.image
                    );
                }
                None => {
                    let _ = writeln!(out, "        image: {}", deploy.image);
                }
            }
            for (k, v) in &deploy.settings {
                let _ = writeln!(out, "        {k}: {v}");
            }
            if let Some(live) = &deploy.live {
                deploy_live_lines(out, live);
            }
        }
        Action::Generate(generate) => {
            let _ = writeln!(out, "      {}", generate.description);
            file_lines(out, &generate.files, "");
            if let Some(stop) = &generate.prune_stop {
                let _ = writeln!(out, "        {WARN}! a run stops here: {stop}{WARN:#}");
            }
            if let Some(changes) = &generate.dag_changes {
                dag_change_lines(out, changes);
            }
        }
        Action::Sync(sync) => {
            let _ = writeln!(out, "      {}", sync.description);
            match &sync.live {
                Some(Live::Compared(diff)) => {
                    file_diff_lines(out, diff, sync.generated_by.as_deref())
                }
                other => {
                    file_lines(out, &sync.files, "  (uploaded if new or changed)");
                    if let Some(Live::Unknown { reason }) = other {
                        let _ = writeln!(out, "        {DIM}live files: unknown: {reason}{DIM:#}");
                    }
                }
            }
        }
        Action::Migrations(m) => migration_lines(out, m),
    }
}

fn dag_change_lines(out: &mut String, changes: &Live<crate::action::DagChanges>) {
    let changes = match changes {
        Live::Unknown { reason } => {
            let _ = writeln!(out, "        {DIM}DAG changes: unknown: {reason}{DIM:#}");
            return;
        }
        Live::Compared(changes) => changes,
    };
    if changes.dags.is_empty() {
        let _ = writeln!(
            out,
            "        {DIM}DAGs: no change from release {}{DIM:#}",
            changes.release
        );
        return;
    }
    let _ = writeln!(
        out,
        "        DAGs compared with release {} ({}):",
        changes.release, changes.manifest
    );
    for dag in &changes.dags {
        let _ = writeln!(out, "          {DEPLOY}~{DEPLOY:#} {dag}");
    }
}

fn deploy_live_lines(out: &mut String, live: &Live<DeployDiff>) {
    let diff = match live {
        Live::Unknown { reason } => {
            let _ = writeln!(out, "        {DIM}live: unknown: {reason}{DIM:#}");
            return;
        }
        Live::Compared(diff) => diff,
    };
    if !diff.exists {
        let image = diff.new_image.as_deref().unwrap_or_default();
        let _ = writeln!(
            out,
            "        {WRITE}+{WRITE:#} does not exist yet: created with {image}"
        );
    } else if diff.changes.is_empty() {
        let _ = writeln!(out, "        {DIM}live: no change{DIM:#}");
    } else {
        let _ = writeln!(
            out,
            "        live: {} to change",
            count(diff.changes.len(), "field")
        );
    }
    for c in &diff.changes {
        let line = match (&c.before, &c.after) {
            (None, Some(after)) => format!("{WRITE}+{WRITE:#} {}: {after}", c.field),
            (Some(_), None) => format!("{REMOVE}-{REMOVE:#} {}", c.field),
            (before, after) => format!(
                "{DEPLOY}~{DEPLOY:#} {}: {} → {}",
                c.field,
                before.as_deref().unwrap_or("(unset)"),
                after.as_deref().unwrap_or("(unset)")
            ),
        };
        let _ = writeln!(out, "          {line}");
    }
    if let Some(note) = &diff.note {
        let _ = writeln!(out, "        {DIM}{note}{DIM:#}");
    }
}

fn file_diff_lines(out: &mut String, diff: &FileDiff, generated_by: Option<&str>) {
    for name in &diff.added {
        let _ = writeln!(out, "        {WRITE}+{WRITE:#} {name}");
    }
    for name in &diff.changed {
        let _ = writeln!(out, "        {DEPLOY}~{DEPLOY:#} {name}");
    }
    let after = generated_by.unwrap_or("the step before");
    for name in &diff.pending {
        let _ = writeln!(
            out,
            "        {DEPLOY}~{DEPLOY:#} {name}{DIM}  (there already; uploaded if {after} changes it){DIM:#}"
        );
    }
    for name in &diff.deleted {
        let _ = writeln!(out, "        {REMOVE}-{REMOVE:#} {name}");
    }
    let mut counts = vec![
        format!("{} to add", diff.added.len()),
        format!("{} to change", diff.changed.len()),
    ];
    if !diff.pending.is_empty() {
        counts.push(format!("{} known after {after}", diff.pending.len()));
    }
    counts.push(format!("{} to delete", diff.deleted.len()));
    counts.push(format!("{} unchanged", diff.unchanged));
    let _ = writeln!(out, "        {DIM}files: {}{DIM:#}", counts.join(", "));
    if let Some(stop) = &diff.prune_stop {
        let _ = writeln!(out, "        {WARN}! a run stops here: {stop}{WARN:#}");
    }
}

fn migration_lines(out: &mut String, m: &Migrations) {
    if let Some(current) = &m.current {
        let _ = writeln!(out, "        {DIM}current revision:{DIM:#} {current}");
    }
    for revision in &m.pending {
        let _ = writeln!(out, "        {WRITE}+{WRITE:#} {revision}");
    }
    if m.current.is_some() && m.pending.is_empty() && m.note.is_none() {
        let _ = writeln!(out, "        {DIM}no pending migrations{DIM:#}");
    }
    if let Some(note) = &m.note {
        let _ = writeln!(out, "        {DIM}{note}{DIM:#}");
    }
    if let Some(released) = &m.released_revision {
        let since = match m.since_release.len() {
            0 => "none pending".to_string(),
            _ => m.since_release.join(", "),
        };
        let _ = writeln!(
            out,
            "        {DIM}since the current release ({released}):{DIM:#} {since}"
        );
    }
    if !m.sql.is_empty() {
        let _ = writeln!(out, "        {DIM}SQL of the upgrade:{DIM:#}");
        for line in &m.sql {
            let _ = writeln!(out, "          {line}");
        }
    }
}

fn file_lines(out: &mut String, files: &FileList, suffix: &str) {
    for name in &files.names {
        let _ = writeln!(out, "        {WRITE}+{WRITE:#} {name}{DIM}{suffix}{DIM:#}");
    }
    if let Some(note) = &files.note {
        let _ = writeln!(out, "        {DIM}files: {note}{DIM:#}");
    }
}

fn footer(out: &mut String, plan: &Plan) {
    if !plan.warnings.is_empty() {
        let _ = writeln!(out, "\n{WARN}Warnings:{WARN:#}");
        for w in &plan.warnings {
            let _ = writeln!(out, "  {WARN}!{WARN:#} {w}");
        }
    }
    let s = &plan.summary;
    let live = match plan.changes.live_comparison.as_str() {
        "compared" => "Live state was compared".to_string(),
        other => format!("Live state: {other}"),
    };
    let _ = writeln!(
        out,
        "\n{BOLD}Plan:{BOLD:#} {} in {}: {} to run, {} skipped, {}. \
         {live}. Nothing was changed: this is a dry run.",
        count(s.steps, "step"),
        count(s.stages, "stage"),
        s.to_run,
        s.skipped,
        count(s.actions, "action"),
    );
}

fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn duration(seconds: u64) -> String {
    match seconds {
        s if s % 3600 == 0 && s > 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 && s > 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}
