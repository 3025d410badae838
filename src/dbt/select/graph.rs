//! The dependency graph dbt selects on, and dbt's graph operators over it.
//!
//! dbt links every entry's `depends_on.nodes`, then keeps only "graph members": enabled
//! nodes, sources, metrics, semantic models, unit tests, saved queries and functions,
//! and all exposures. Edges to non-members vanish with them (a plain subgraph, not a
//! transitive one). Sets of entries are bitsets over the manifest's sorted index, so
//! iterating one yields unique_ids in sorted order.

use crate::dbt::manifest::{Node, NodeIdx, Section};

/// A set of manifest entries, as a bitset over [`NodeIdx`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NodeSet {
    words: Vec<u64>,
}

impl NodeSet {
    pub fn empty(universe: usize) -> NodeSet {
        NodeSet {
            words: vec![0; universe.div_ceil(64)],
        }
    }

    pub fn insert(&mut self, i: NodeIdx) {
        self.words[i as usize / 64] |= 1 << (i % 64);
    }

    pub fn contains(&self, i: NodeIdx) -> bool {
        self.words[i as usize / 64] & (1 << (i % 64)) != 0
    }

    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|w| *w == 0)
    }

    pub fn union_with(&mut self, other: &NodeSet) {
        self.words
            .iter_mut()
            .zip(&other.words)
            .for_each(|(a, b)| *a |= b);
    }

    pub fn intersect_with(&mut self, other: &NodeSet) {
        self.words
            .iter_mut()
            .zip(&other.words)
            .for_each(|(a, b)| *a &= b);
    }

    pub fn subtract(&mut self, other: &NodeSet) {
        self.words
            .iter_mut()
            .zip(&other.words)
            .for_each(|(a, b)| *a &= !b);
    }

    /// Members in ascending index (= unique_id) order.
    pub fn iter(&self) -> impl Iterator<Item = NodeIdx> + '_ {
        self.words.iter().enumerate().flat_map(|(wi, &w)| {
            let base = (wi * 64) as NodeIdx;
            BitIter(w).map(move |b| base + b)
        })
    }
}

struct BitIter(u64);

impl Iterator for BitIter {
    type Item = NodeIdx;

    fn next(&mut self) -> Option<NodeIdx> {
        if self.0 == 0 {
            return None;
        }
        let bit = self.0.trailing_zeros();
        self.0 &= self.0 - 1;
        Some(bit)
    }
}

/// Member-only adjacency lists, indexed like the manifest's entries.
#[derive(Debug)]
pub(crate) struct DepGraph {
    members: NodeSet,
    parents: Vec<Vec<NodeIdx>>,
    children: Vec<Vec<NodeIdx>>,
}

impl DepGraph {
    /// `nodes` must be sorted by unique_id (the manifest's order).
    pub fn build(nodes: &[Node]) -> DepGraph {
        let n = nodes.len();
        let mut members = NodeSet::empty(n);
        for (i, node) in nodes.iter().enumerate() {
            if is_graph_member(node) {
                members.insert(i as NodeIdx);
            }
        }
        // A hash lookup: a binary search over long, similar unique_ids was a tenth of
        // reading a large manifest.
        let by_id: std::collections::HashMap<&str, NodeIdx> = nodes
            .iter()
            .enumerate()
            .map(|(i, node)| (node.unique_id.as_str(), i as NodeIdx))
            .collect();
        let mut parents = vec![Vec::new(); n];
        let mut children = vec![Vec::new(); n];
        for (i, node) in nodes.iter().enumerate() {
            let child = i as NodeIdx;
            if !members.contains(child) {
                continue;
            }
            for dep in &node.depends_on {
                let found = by_id.get(dep.as_str()).copied();
                let Some(parent) = found.filter(|p| members.contains(*p)) else {
                    continue;
                };
                // networkx keeps one edge per pair however often it is listed.
                if !parents[i].contains(&parent) {
                    parents[i].push(parent);
                    children[parent as usize].push(child);
                }
            }
        }
        DepGraph {
            members,
            parents,
            children,
        }
    }

    pub fn len(&self) -> usize {
        self.parents.len()
    }

    pub fn members(&self) -> &NodeSet {
        &self.members
    }

    pub fn empty_set(&self) -> NodeSet {
        NodeSet::empty(self.len())
    }

    /// Direct children of any selected entry (dbt's `select_successors`).
    pub fn successors(&self, selected: &NodeSet) -> NodeSet {
        let mut out = self.empty_set();
        for i in selected.iter() {
            self.children[i as usize]
                .iter()
                .for_each(|c| out.insert(*c));
        }
        out
    }

    /// Direct parents of an entry (graph members only; each once).
    pub fn parents(&self, i: NodeIdx) -> &[NodeIdx] {
        &self.parents[i as usize]
    }

    /// Ancestors up to `depth` generations (`None`: all). A selected entry counts only
    /// when it is itself an ancestor of another selected one, as in dbt.
    pub fn parents_of(&self, selected: &NodeSet, depth: Option<i64>) -> NodeSet {
        self.layered(selected, depth, &self.parents)
    }

    /// Descendants up to `depth` generations (`None`: all).
    pub fn children_of(&self, selected: &NodeSet, depth: Option<i64>) -> NodeSet {
        self.layered(selected, depth, &self.children)
    }

    /// `@` operator: descendants, plus everything upstream of them and of the selection.
    pub fn childrens_parents(&self, selected: &NodeSet) -> NodeSet {
        let mut base = self.children_of(selected, None);
        base.union_with(selected);
        let mut out = self.parents_of(&base, None);
        out.union_with(&base);
        out
    }

    /// dbt's layer-by-layer walk: each layer adds neighbours not yet collected.
    fn layered(&self, selected: &NodeSet, depth: Option<i64>, adj: &[Vec<NodeIdx>]) -> NodeSet {
        let mut found = self.empty_set();
        let mut frontier: Vec<NodeIdx> = selected.iter().collect();
        let mut layer = 0i64;
        while !frontier.is_empty() && depth.is_none_or(|d| layer < d) {
            let mut next = Vec::new();
            for &node in &frontier {
                for &nb in &adj[node as usize] {
                    if !found.contains(nb) {
                        found.insert(nb);
                        next.push(nb);
                    }
                }
            }
            frontier = next;
            layer += 1;
        }
        found
    }
}

/// dbt's `NodeSelector._is_graph_member`: exposures always, everything else when enabled.
fn is_graph_member(node: &Node) -> bool {
    node.section == Section::Exposure || node.enabled
}
