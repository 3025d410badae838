//! From a selection to the tasks of one DAG and their dependencies.
//!
//! - A *unit* is a selected, enabled model (not ephemeral), seed or snapshot.
//! - Unit B depends on unit A when the manifest has a path A → … → B whose inner nodes are
//!   not units of this DAG (ephemeral models, or nodes the selector left out). That is how
//!   dbt orders a selection too (its subset graph keeps such paths).
//! - A test whose only parent is unit U runs in U's `test` task (or in its `build`); any
//!   other selected test runs in its own task after all the units it reads (through
//!   ephemeral models).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::dags::naming::Namer;
use crate::dags::node_select::{NodeArgs, PrefixIndex, node_args, selects_only, source_arg};
use crate::dags::options::{DagOptions, TestsMode};
use crate::dags::overrides::Overrides;
use crate::dags::unit_tasks::Units;
use crate::dags::units::UnitNames;
use crate::dbt::manifest::{Manifest, Node, NodeIdx, ResourceType};
use crate::dbt::select::Selection;

/// The dbt command a task runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Run,
    Seed,
    Snapshot,
    /// The tests of one unit: `test --indirect-selection cautious` on the unit, which picks
    /// the tests whose every parent is that unit.
    UnitTests,
    /// `build --indirect-selection cautious` on a unit: the unit and its own tests.
    Build,
    /// One test selected directly.
    Test,
    /// `source freshness` on the source tables units read.
    Freshness,
}

impl Command {
    /// All commands, in the order the DAG file lists their words.
    pub const ALL: [Command; 7] = [
        Command::Run,
        Command::Seed,
        Command::Snapshot,
        Command::UnitTests,
        Command::Build,
        Command::Test,
        Command::Freshness,
    ];

    pub fn words(self) -> &'static [&'static str] {
        match self {
            Command::Run => &["run"],
            Command::Seed => &["seed"],
            Command::Snapshot => &["snapshot"],
            Command::UnitTests => &["test", "--indirect-selection", "cautious"],
            Command::Build => &["build", "--indirect-selection", "cautious"],
            Command::Test => &["test"],
            Command::Freshness => &["source", "freshness"],
        }
    }

    pub fn index(self) -> usize {
        Command::ALL.iter().position(|c| *c == self).unwrap_or(0)
    }

    pub(crate) fn for_unit(t: ResourceType) -> Command {
        match t {
            ResourceType::Seed => Command::Seed,
            ResourceType::Snapshot => Command::Snapshot,
            _ => Command::Run,
        }
    }
}

/// One task of the DAG.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// The TaskGroup holding it (a unit's name, shared by the unit's tasks), or none
    /// (top level).
    pub group: Option<Arc<str>>,
    /// Its id inside the group (`run`, `test`) or at the top level.
    pub name: Cow<'static, str>,
    pub command: Command,
    pub select: String,
    pub exclude: Option<String>,
    /// Indices of earlier tasks this one waits for, ascending.
    pub upstream: Vec<u32>,
    /// Index into [`DagGraph::overrides`].
    pub overrides: Option<usize>,
}

impl Task {
    pub(crate) fn new(
        group: Option<Arc<str>>,
        name: Cow<'static, str>,
        command: Command,
        args: NodeArgs,
        mut upstream: Vec<u32>,
    ) -> Task {
        upstream.sort_unstable();
        upstream.dedup();
        Task {
            group,
            name,
            command,
            select: args.select,
            exclude: args.exclude,
            upstream,
            overrides: None,
        }
    }

    /// The Airflow task id (`group.name`).
    pub fn task_id(&self) -> String {
        match &self.group {
            Some(g) => format!("{g}.{}", self.name),
            None => self.name.to_string(),
        }
    }
}

/// What one DAG runs, ready to be written.
#[derive(Debug, Default)]
pub struct DagGraph {
    /// In dependency order: every task comes after its upstream tasks.
    pub tasks: Vec<Task>,
    pub overrides: Overrides,
    pub units: usize,
    pub tests: usize,
    /// Top-level ids taken by dbt tasks (for the step's own tasks to avoid).
    pub namer: Namer,
}

/// Why a DAG cannot be built.
pub type GraphError = String;

/// Shared, per-manifest lookups (built once for all selectors).
pub struct ManifestIndex<'m> {
    pub manifest: &'m Manifest,
    pub names: UnitNames,
    prefixes: PrefixIndex,
    /// By node: the enabled tests (and unit tests) whose only parent it is.
    own_tests: Vec<Vec<NodeIdx>>,
}

impl<'m> ManifestIndex<'m> {
    pub fn build(manifest: &'m Manifest) -> ManifestIndex<'m> {
        // Independent, and each a sizeable pass over a large manifest.
        let (names, prefixes) = rayon::join(
            || UnitNames::build(manifest),
            || PrefixIndex::build(manifest),
        );
        // Needs the dependency graph, which the selections may be building meanwhile: this
        // waits for it outside rayon's threads, which building it needs.
        let own_tests = own_tests(manifest);
        ManifestIndex {
            manifest,
            names,
            prefixes,
            own_tests,
        }
    }

    /// The enabled tests (and unit tests) whose only parent is node `i`.
    pub(crate) fn own_tests(&self, i: NodeIdx) -> &[NodeIdx] {
        &self.own_tests[i as usize]
    }

    fn deps(&self, i: NodeIdx) -> &[NodeIdx] {
        deps(self.manifest, i)
    }

    pub(crate) fn node(&self, i: NodeIdx) -> &'m Node {
        self.manifest.at(i)
    }

    /// The selection arguments of a node, checked when they had to approximate.
    pub(crate) fn args(&self, i: NodeIdx) -> Result<NodeArgs, GraphError> {
        let node = self.node(i);
        let args = node_args(node, &self.prefixes);
        if args.select.contains('\0') {
            return Err(nul_in_name(&node.unique_id));
        }
        if args.approximate && !selects_only(self.manifest, node, &args) {
            return Err(format!(
                "cannot write a dbt selection that picks only {} (its fqn has a space, comma \
                 or newline, and the closest selection `{}` also picks other nodes)",
                node.unique_id, args.select
            ));
        }
        Ok(args)
    }
}

/// A NUL character cannot be in a command line (nor in Airflow's `bash_command`): the
/// task could never run.
fn nul_in_name(unique_id: &str) -> GraphError {
    format!(
        "{}: its name, package or fqn holds a NUL character, which no command line can \
         carry; dbt cannot have written it",
        unique_id.escape_default()
    )
}

/// By node: the enabled tests (and unit tests) whose only parent it is.
fn own_tests(manifest: &Manifest) -> Vec<Vec<NodeIdx>> {
    let mut own_tests = vec![Vec::new(); manifest.nodes().len()];
    for (i, node) in manifest.nodes().iter().enumerate() {
        if let [only] = deps(manifest, i as NodeIdx)
            && is_test(node)
            && node.enabled
        {
            own_tests[*only as usize].push(i as NodeIdx);
        }
    }
    own_tests
}

/// A node's parents: its `depends_on`, as dbt's graph has them (enabled nodes, each once).
fn deps(manifest: &Manifest, i: NodeIdx) -> &[NodeIdx] {
    manifest.graph().parents(i)
}

fn is_test(node: &Node) -> bool {
    matches!(
        node.resource_type,
        ResourceType::Test | ResourceType::UnitTest
    )
}

fn is_ephemeral(node: &Node) -> bool {
    node.resource_type == ResourceType::Model && node.materialized.as_deref() == Some("ephemeral")
}

/// Builds the tasks of the DAG for `selection`.
pub fn build(
    index: &ManifestIndex<'_>,
    selection: &Selection<'_>,
    options: &DagOptions,
) -> Result<DagGraph, GraphError> {
    let m = index.manifest;
    let n = m.nodes().len();
    let mut selected = vec![false; n];
    for i in selection.indices() {
        selected[i as usize] = index.node(i).enabled;
    }
    let is_unit = |i: NodeIdx| {
        let node = index.node(i);
        selected[i as usize]
            && crate::dags::node_select::is_unit_type(node.resource_type)
            && !is_ephemeral(node)
    };
    let units: Vec<NodeIdx> = (0..n as NodeIdx).filter(|i| is_unit(*i)).collect();

    // Unit → unit edges, through any node that is not a unit here.
    let mut through_all = Nearest::new(n);
    let mut unit_parents: Vec<Vec<NodeIdx>> = vec![Vec::new(); n];
    for &u in &units {
        unit_parents[u as usize] = through_all.parents(index, u, &is_unit, &|_| true);
    }
    // Tests and sources look through ephemeral models only.
    let through_ephemeral = |i: NodeIdx| is_ephemeral(index.node(i));
    let mut tests_near = Nearest::new(n);

    let mut graph = DagGraph::default();
    // Unit names are fixed per manifest; other tasks take what is left.
    for &u in &units {
        graph.namer.reserve(index.names.get(u));
    }

    // Source freshness tasks first: they are roots.
    let mut freshness_of_unit: Vec<Vec<u32>> = vec![Vec::new(); n];
    if options.source_freshness {
        add_freshness(index, &units, &mut graph, &mut freshness_of_unit)?;
    }

    let order = topological(&units, &unit_parents)?;
    let made = Units {
        index,
        options,
        selected: &selected,
        parents: &unit_parents,
        freshness: &freshness_of_unit,
    };
    let last_task = made.last_tasks(&order, graph.tasks.len() as u32);
    for unit in made.tasks(&order, &last_task) {
        let unit = unit?;
        let overrides = unit.settings.map(|json| graph.overrides.add(json));
        graph.units += 1;
        graph.tests += unit.tests;
        for mut task in unit.tasks.into_iter().flatten() {
            task.overrides = overrides;
            graph.tasks.push(task);
        }
    }

    if options.tests != TestsMode::None {
        for t in (0..n as NodeIdx).filter(|t| selected[*t as usize] && is_test(index.node(*t))) {
            if let [only] = index.deps(t)
                && is_unit(*only)
            {
                continue; // runs with its unit
            }
            let parents = tests_near.parents(index, t, &is_unit, &through_ephemeral);
            let upstream = parents.iter().map(|p| last_task[*p as usize]).collect();
            let node = index.node(t);
            let args = index.args(t)?;
            let overrides = graph.overrides.of(node)?;
            let name = graph.namer.allocate(&node.name);
            push(&mut graph, name, Command::Test, args, upstream, overrides);
            graph.tests += 1;
        }
    }
    Ok(graph)
}

fn push(
    graph: &mut DagGraph,
    name: String,
    command: Command,
    args: NodeArgs,
    upstream: Vec<u32>,
    overrides: Option<usize>,
) -> u32 {
    let mut task = Task::new(None, Cow::Owned(name), command, args, upstream);
    task.overrides = overrides;
    graph.tasks.push(task);
    (graph.tasks.len() - 1) as u32
}

/// One `dbt source freshness` task per source (package and source name) that units read
/// directly or through ephemeral models; each selects exactly the tables read.
fn add_freshness(
    index: &ManifestIndex<'_>,
    units: &[NodeIdx],
    graph: &mut DagGraph,
    freshness_of_unit: &mut [Vec<u32>],
) -> Result<(), GraphError> {
    let mut tables_of: BTreeMap<(String, String), BTreeSet<NodeIdx>> = BTreeMap::new();
    let mut readers: BTreeMap<(String, String), BTreeSet<NodeIdx>> = BTreeMap::new();
    for &u in units {
        for s in sources_read(index, u) {
            let node = index.node(s);
            let key = (
                node.package_name.to_string(),
                node.source_name.as_deref().unwrap_or_default().to_string(),
            );
            tables_of.entry(key.clone()).or_default().insert(s);
            readers.entry(key).or_default().insert(u);
        }
    }
    let shared: BTreeSet<&str> = {
        let mut seen = BTreeMap::<&str, usize>::new();
        for (_, source) in tables_of.keys() {
            *seen.entry(source).or_default() += 1;
        }
        seen.into_iter()
            .filter(|(_, c)| *c > 1)
            .map(|(s, _)| s)
            .collect()
    };
    for (key, tables) in &tables_of {
        let (package, source) = key;
        let label = if shared.contains(source.as_str()) {
            format!("freshness__{package}__{source}")
        } else {
            format!("freshness__{source}")
        };
        let name = graph.namer.allocate(&label);
        let mut select: Vec<String> = Vec::with_capacity(tables.len());
        for &t in tables {
            let arg = source_arg(index.node(t));
            if arg.contains('\0') {
                return Err(nul_in_name(&index.node(t).unique_id));
            }
            select.push(arg);
        }
        let args = NodeArgs {
            select: select.join(" "),
            exclude: None,
            approximate: false,
        };
        let task = push(graph, name, Command::Freshness, args, Vec::new(), None);
        for u in &readers[key] {
            freshness_of_unit[*u as usize].push(task);
        }
    }
    Ok(())
}

/// Sources `u` reads, directly or through ephemeral models.
fn sources_read(index: &ManifestIndex<'_>, u: NodeIdx) -> BTreeSet<NodeIdx> {
    let mut found = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut stack = vec![u];
    while let Some(i) = stack.pop() {
        for &d in index.deps(i) {
            let node = index.node(d);
            if node.resource_type == ResourceType::Source {
                found.insert(d);
            } else if is_ephemeral(node) && seen.insert(d) {
                stack.push(d);
            }
        }
    }
    found
}

/// Nearest units above a node, looking through nodes that `through` admits; memoised.
struct Nearest {
    memo: Vec<Option<Vec<NodeIdx>>>,
}

impl Nearest {
    fn new(n: usize) -> Nearest {
        Nearest {
            memo: vec![None; n],
        }
    }

    /// The units among `i`'s parents, with each non-unit parent that `through` admits
    /// replaced by the units above it.
    fn parents(
        &mut self,
        index: &ManifestIndex<'_>,
        i: NodeIdx,
        is_unit: &dyn Fn(NodeIdx) -> bool,
        through: &dyn Fn(NodeIdx) -> bool,
    ) -> Vec<NodeIdx> {
        let mut out = Vec::new();
        for &d in index.deps(i) {
            if is_unit(d) {
                out.push(d);
            } else if through(d) {
                out.extend_from_slice(self.above(index, d, is_unit, through));
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The units above non-unit node `start`, computed without recursion (dbt projects can
    /// be thousands of nodes deep) and remembered for every node on the way.
    fn above(
        &mut self,
        index: &ManifestIndex<'_>,
        start: NodeIdx,
        is_unit: &dyn Fn(NodeIdx) -> bool,
        through: &dyn Fn(NodeIdx) -> bool,
    ) -> &[NodeIdx] {
        let mut stack = vec![(start, false)];
        let mut on_stack = BTreeSet::new();
        while let Some((i, expanded)) = stack.pop() {
            if self.memo[i as usize].is_some() {
                continue;
            }
            let pending: Vec<NodeIdx> = index
                .deps(i)
                .iter()
                .copied()
                .filter(|&d| !is_unit(d) && through(d) && self.memo[d as usize].is_none())
                .collect();
            if !expanded && !pending.is_empty() {
                on_stack.insert(i);
                stack.push((i, true));
                // A cycle (not possible in a valid manifest) is cut rather than looped on.
                stack.extend(
                    pending
                        .into_iter()
                        .filter(|d| !on_stack.contains(d))
                        .map(|d| (d, false)),
                );
                continue;
            }
            let mut set = BTreeSet::new();
            for &d in index.deps(i) {
                if is_unit(d) {
                    set.insert(d);
                } else if through(d)
                    && let Some(up) = &self.memo[d as usize]
                {
                    set.extend(up.iter().copied());
                }
            }
            on_stack.remove(&i);
            self.memo[i as usize] = Some(set.into_iter().collect());
        }
        self.memo[start as usize].as_deref().unwrap_or_default()
    }
}

/// Units in dependency order; among ready units, the smallest unique_id first, so the
/// order (and the file) is the same for the same manifest.
fn topological(units: &[NodeIdx], parents: &[Vec<NodeIdx>]) -> Result<Vec<NodeIdx>, GraphError> {
    let mut waiting = vec![0usize; parents.len()];
    let mut children: Vec<Vec<NodeIdx>> = vec![Vec::new(); parents.len()];
    for &u in units {
        waiting[u as usize] = parents[u as usize].len();
        for &p in &parents[u as usize] {
            children[p as usize].push(u);
        }
    }
    let mut ready: BTreeSet<NodeIdx> = units
        .iter()
        .copied()
        .filter(|u| waiting[*u as usize] == 0)
        .collect();
    let mut order = Vec::with_capacity(units.len());
    while let Some(u) = ready.pop_first() {
        order.push(u);
        for &c in &children[u as usize] {
            waiting[c as usize] -= 1;
            if waiting[c as usize] == 0 {
                ready.insert(c);
            }
        }
    }
    if order.len() != units.len() {
        return Err("the manifest's dependencies form a cycle; dbt would refuse it too".into());
    }
    Ok(order)
}
