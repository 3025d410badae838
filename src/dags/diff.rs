//! How the generated DAGs would change between two manifests, task by task: what a plan or
//! a promotion shows a reviewer (`dbt_daily: +3 tasks, -1 task, 2 changed`).
//!
//! Each side is built by the generator's own selection and graph code ([`graph::build`]),
//! stopping short of rendering: a task here is exactly a row the DAG file would hold, read
//! from the graph rather than parsed back from Python. The tasks the pipeline declares
//! around the dbt tasks (`before`, `after`) are left out: they are the same on both sides,
//! and their wiring follows from the dbt tasks'.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use serde::Serialize;

use crate::dags::graph::{self, Command, DagGraph};
use crate::dags::{DagOptions, DagsError, dag_names, load_manifest, naming, origin};
use crate::dbt::manifest::Manifest;
use crate::dbt::selectors_file::SelectorsFile;

/// One dbt task as the DAG file runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DagTask {
    /// The dbt words (`run`, `test --indirect-selection cautious`, ...).
    pub command: Command,
    /// `--select`, naming the one node (or the source tables) it runs.
    pub select: String,
    pub exclude: Option<String>,
    /// Ids of the tasks it waits for, sorted.
    pub upstream: Vec<String>,
    /// Its settings from the node's `meta.dagship`, as canonical JSON.
    pub settings: Option<String>,
}

/// The dbt tasks of one generated DAG, by task id (`orders.run`, `orders.test`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DagTasks {
    pub dag_id: String,
    pub tasks: BTreeMap<String, DagTask>,
}

impl DagTasks {
    fn from_graph(dag_id: String, graph: DagGraph) -> DagTasks {
        let ids: Vec<String> = graph.tasks.iter().map(graph::Task::task_id).collect();
        let distinct = &graph.overrides.distinct;
        let tasks = graph
            .tasks
            .into_iter()
            .zip(&ids)
            .map(|(task, id)| {
                let mut upstream: Vec<String> = task
                    .upstream
                    .iter()
                    .map(|row| ids[*row as usize].clone())
                    .collect();
                upstream.sort_unstable();
                let settings = task.overrides.map(|i| distinct[i].clone());
                let task = DagTask {
                    command: task.command,
                    select: task.select,
                    exclude: task.exclude,
                    upstream,
                    settings,
                };
                (id.clone(), task)
            })
            .collect();
        DagTasks { dag_id, tasks }
    }
}

/// The DAGs [`generate`](crate::dags::generate) would write, as data: one per selector (in
/// file order), or `dbt_all` without selectors.
pub fn dag_tasks(
    manifest: &Manifest,
    selectors: Option<&SelectorsFile>,
    options: &DagOptions,
) -> Result<Vec<DagTasks>, DagsError> {
    options
        .check()
        .map_err(|e| DagsError::Options(e.to_string()))?;
    let names = dag_names(selectors)?;
    let (index, selections) = super::index_and_selections(manifest, selectors, &names);
    names
        .into_iter()
        .zip(selections)
        .map(|(name, selection)| {
            let selection = selection.map_err(|error| DagsError::Select {
                origin: origin(selectors),
                error,
            })?;
            let dag_id = naming::dag_id(name);
            let graph =
                graph::build(&index, &selection, options).map_err(|message| DagsError::Graph {
                    dag_id: dag_id.clone(),
                    message,
                })?;
            Ok(DagTasks::from_graph(dag_id, graph))
        })
        .collect()
}

/// Whether a DAG is new, gone, or kept with changed tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DagStatus {
    /// Only the new manifest has it: all its tasks are `added`.
    New,
    /// Only the old manifest had it: all its tasks are `removed`.
    Removed,
    /// Both have it, with different tasks.
    Changed,
}

/// How one DAG changes. Task ids in each list are sorted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DagChange {
    pub dag_id: String,
    pub status: DagStatus,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Tasks of the same id in both whose command (dbt words, `--select`, `--exclude`),
    /// settings (`meta.dagship`) or upstream tasks differ: a task that now waits for
    /// other tasks counts as changed, though it runs the same dbt command.
    pub changed: Vec<String>,
}

/// What changes from the DAGs of `old` to those of `new`, by dag_id. DAGs whose tasks are
/// all the same are left out: no change at all is an empty list.
pub fn diff(old: &[DagTasks], new: &[DagTasks]) -> Vec<DagChange> {
    let old: BTreeMap<&str, &DagTasks> = old.iter().map(|d| (d.dag_id.as_str(), d)).collect();
    let new: BTreeMap<&str, &DagTasks> = new.iter().map(|d| (d.dag_id.as_str(), d)).collect();
    let ids: BTreeSet<&str> = old.keys().chain(new.keys()).copied().collect();
    let all = |dag: &DagTasks| dag.tasks.keys().cloned().collect::<Vec<_>>();
    let mut changes = Vec::new();
    for dag_id in ids {
        let change = match (old.get(dag_id), new.get(dag_id)) {
            (None, Some(new)) => DagChange {
                added: all(new),
                ..DagChange::empty(dag_id, DagStatus::New)
            },
            (Some(old), None) => DagChange {
                removed: all(old),
                ..DagChange::empty(dag_id, DagStatus::Removed)
            },
            (Some(old), Some(new)) => match tasks_diff(dag_id, old, new) {
                Some(change) => change,
                None => continue,
            },
            (None, None) => unreachable!("every id comes from one side"),
        };
        changes.push(change);
    }
    changes
}

/// The changed tasks of a DAG both sides have; none when all are the same.
fn tasks_diff(dag_id: &str, old: &DagTasks, new: &DagTasks) -> Option<DagChange> {
    let mut change = DagChange::empty(dag_id, DagStatus::Changed);
    for (id, task) in &new.tasks {
        match old.tasks.get(id) {
            None => change.added.push(id.clone()),
            Some(before) if before != task => change.changed.push(id.clone()),
            Some(_) => {}
        }
    }
    let gone = old.tasks.keys().filter(|id| !new.tasks.contains_key(*id));
    change.removed.extend(gone.cloned());
    let same = change.added.is_empty() && change.removed.is_empty() && change.changed.is_empty();
    (!same).then_some(change)
}

impl DagChange {
    fn empty(dag_id: &str, status: DagStatus) -> DagChange {
        DagChange {
            dag_id: dag_id.to_string(),
            status,
            added: Vec::new(),
            removed: Vec::new(),
            changed: Vec::new(),
        }
    }
}

/// `dbt_daily: +3 tasks, -1 task, 2 changed` (counts of zero left out),
/// `dbt_new: new DAG, 12 tasks`, `dbt_old: removed (9 tasks)`.
impl fmt::Display for DagChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tasks = |n: usize| format!("{n} task{}", if n == 1 { "" } else { "s" });
        let id = &self.dag_id;
        match self.status {
            DagStatus::New => write!(f, "{id}: new DAG, {}", tasks(self.added.len())),
            DagStatus::Removed => write!(f, "{id}: removed ({})", tasks(self.removed.len())),
            DagStatus::Changed => {
                let mut parts = Vec::with_capacity(3);
                if !self.added.is_empty() {
                    parts.push(format!("+{}", tasks(self.added.len())));
                }
                if !self.removed.is_empty() {
                    parts.push(format!("-{}", tasks(self.removed.len())));
                }
                if !self.changed.is_empty() {
                    parts.push(format!("{} changed", self.changed.len()));
                }
                write!(f, "{id}: {}", parts.join(", "))
            }
        }
    }
}

/// [`diff`] of the DAGs two manifest files make with the same selectors file (or none:
/// one `dbt_all` DAG) and options: the old manifest from the environment's release, the
/// new one just built. The two sides are read and built at once.
///
/// Both sides use the one selectors file, so a selector added or removed since the
/// release does not show as a DAG added or removed; [`dag_tasks`] with each side's own
/// selectors, then [`diff`], does show it.
pub fn diff_manifests(
    old: &Path,
    new: &Path,
    selectors: Option<&Path>,
    options: &DagOptions,
) -> Result<Vec<DagChange>, DagsError> {
    let selectors = selectors.map(SelectorsFile::from_path).transpose()?;
    let side = |path: &Path| dag_tasks(&load_manifest(path)?, selectors.as_ref(), options);
    let (old, new) = std::thread::scope(|scope| {
        let old = scope.spawn(|| side(old));
        let new = side(new);
        (old.join().expect("building DAGs does not panic"), new)
    });
    Ok(diff(&old?, &new?))
}

/// One side of a comparison: a manifest file and the selectors file it goes with.
#[derive(Debug, Clone, Copy)]
pub struct Side<'a> {
    pub manifest: &'a Path,
    pub selectors: Option<&'a Path>,
}

/// [`diff`] of two manifests, each with its own selectors file (a selector added since the
/// release is a new DAG), built at once.
pub fn diff_sides(old: Side, new: Side, options: &DagOptions) -> Result<Vec<DagChange>, DagsError> {
    let build = |side: Side| {
        let selectors = side.selectors.map(SelectorsFile::from_path).transpose()?;
        dag_tasks(&load_manifest(side.manifest)?, selectors.as_ref(), options)
    };
    let (old, new) = std::thread::scope(|scope| {
        let old = scope.spawn(|| build(old));
        let new = build(new);
        (old.join().expect("building DAGs does not panic"), new)
    });
    Ok(diff(&old?, &new?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(status: DagStatus, added: usize, removed: usize, changed: usize) -> DagChange {
        let ids = |prefix: &str, n: usize| (0..n).map(|i| format!("{prefix}{i}.run")).collect();
        DagChange {
            added: ids("a", added),
            removed: ids("r", removed),
            changed: ids("c", changed),
            ..DagChange::empty("dbt_daily", status)
        }
    }

    #[test]
    fn a_change_reads_as_counts_with_their_plurals() {
        let text = |c: DagChange| c.to_string();
        assert_eq!(
            text(change(DagStatus::Changed, 3, 1, 2)),
            "dbt_daily: +3 tasks, -1 task, 2 changed"
        );
        assert_eq!(
            text(change(DagStatus::Changed, 1, 0, 0)),
            "dbt_daily: +1 task"
        );
        assert_eq!(
            text(change(DagStatus::Changed, 0, 2, 1)),
            "dbt_daily: -2 tasks, 1 changed"
        );
        assert_eq!(
            text(change(DagStatus::New, 12, 0, 0)),
            "dbt_daily: new DAG, 12 tasks"
        );
        assert_eq!(
            text(change(DagStatus::Removed, 0, 1, 0)),
            "dbt_daily: removed (1 task)"
        );
        assert_eq!(
            text(change(DagStatus::Removed, 0, 9, 0)),
            "dbt_daily: removed (9 tasks)"
        );
    }
}
