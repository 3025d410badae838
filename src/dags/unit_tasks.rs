//! The tasks of each unit (its `run` and `test`, or one `build`), made on every core.
//!
//! Where each unit's tasks will stand in the DAG is worked out first, in dependency order
//! (a unit has one task, or two when its tests run after it), so every unit knows the row
//! of its upstream tasks before any task exists. Each unit's tasks are then independent
//! of the others'; only the per-node settings are numbered afterwards, in order.

use std::sync::Arc;

use rayon::prelude::*;

use crate::dags::graph::{Command, GraphError, ManifestIndex, Task};
use crate::dags::node_select::NodeArgs;
use crate::dags::options::{DagOptions, TestsMode};
use crate::dags::overrides::settings;
use crate::dbt::manifest::NodeIdx;

/// What a unit's tasks are made from.
pub(crate) struct Units<'a, 'm> {
    pub index: &'a ManifestIndex<'m>,
    pub options: &'a DagOptions,
    /// By node: whether the selection picked it.
    pub selected: &'a [bool],
    /// By node: the units upstream of a unit.
    pub parents: &'a [Vec<NodeIdx>],
    /// By node: the source freshness tasks a unit waits for.
    pub freshness: &'a [Vec<u32>],
}

/// One unit's tasks, and its settings (`meta.dagship`) as canonical JSON.
pub(crate) struct UnitTasks {
    /// Its `run` and `test`, or its one task.
    pub tasks: [Option<Task>; 2],
    pub settings: Option<String>,
    /// The unit's own tests that run (in its `test` or `build` task).
    pub tests: usize,
}

impl Units<'_, '_> {
    /// By node: the row of each unit's last task (its `test`, else its `run`), when the
    /// units of `order` take rows `first..` in that order.
    pub(crate) fn last_tasks(&self, order: &[NodeIdx], first: u32) -> Vec<u32> {
        let mut last_task = vec![u32::MAX; self.selected.len()];
        let mut next = first;
        for &u in order {
            next += if self.separate_tests(u) { 2 } else { 1 };
            last_task[u as usize] = next - 1;
        }
        last_task
    }

    /// The tasks of `order`'s units, in that order (rows as [`Units::last_tasks`] says).
    pub(crate) fn tasks(
        &self,
        order: &[NodeIdx],
        last_task: &[u32],
    ) -> Vec<Result<UnitTasks, GraphError>> {
        order.par_iter().map(|&u| self.unit(u, last_task)).collect()
    }

    /// Whether the unit's tests run in a task of their own after it.
    fn separate_tests(&self, u: NodeIdx) -> bool {
        self.options.tests == TestsMode::AfterEach && self.chosen_tests(u).next().is_some()
    }

    /// The unit's own tests that the selection picked.
    fn chosen_tests(&self, u: NodeIdx) -> impl Iterator<Item = NodeIdx> + '_ {
        let own = self.index.own_tests(u).iter().copied();
        own.filter(|t| self.selected[*t as usize])
    }

    /// Unit `u`'s tasks.
    fn unit(&self, u: NodeIdx, last_task: &[u32]) -> Result<UnitTasks, GraphError> {
        let index = self.index;
        let args = index.args(u)?;
        let settings = settings(index.node(u))?;
        let mut upstream: Vec<u32> = self.parents[u as usize]
            .iter()
            .map(|p| last_task[*p as usize])
            .collect();
        upstream.extend(&self.freshness[u as usize]);
        let name = index.names.get(u);
        let chosen = self.chosen_tests(u).count();
        let run_command = Command::for_unit(index.node(u).resource_type);
        let tasks = match self.options.tests {
            TestsMode::AfterEach => {
                let group: Arc<str> = Arc::from(name);
                let test = if chosen > 0 {
                    let test_args = NodeArgs {
                        exclude: self.test_exclude(u, &args)?,
                        ..args.clone()
                    };
                    let run = last_task[u as usize] - 1;
                    let group = Some(group.clone());
                    let test = Task::new(
                        group,
                        "test".into(),
                        Command::UnitTests,
                        test_args,
                        vec![run],
                    );
                    Some(test)
                } else {
                    None
                };
                let run = Task::new(Some(group), "run".into(), run_command, args, upstream);
                [Some(run), test]
            }
            TestsMode::Build => {
                let build_args = NodeArgs {
                    exclude: self.test_exclude(u, &args)?,
                    ..args
                };
                let name = name.to_string().into();
                [
                    Some(Task::new(None, name, Command::Build, build_args, upstream)),
                    None,
                ]
            }
            TestsMode::None => {
                let name = name.to_string().into();
                [
                    Some(Task::new(None, name, run_command, args, upstream)),
                    None,
                ]
            }
        };
        let tests = if self.options.tests == TestsMode::None {
            0
        } else {
            chosen
        };
        Ok(UnitTasks {
            tasks,
            settings,
            tests,
        })
    }

    /// Tests of the unit that the selector left out must not run with the others.
    fn test_exclude(&self, u: NodeIdx, args: &NodeArgs) -> Result<Option<String>, GraphError> {
        let mut parts: Vec<String> = args.exclude.iter().cloned().collect();
        let own = self.index.own_tests(u).iter().copied();
        for t in own.filter(|t| !self.selected[*t as usize]) {
            parts.push(self.index.args(t)?.select);
        }
        Ok((!parts.is_empty()).then(|| parts.join(" ")))
    }
}
