//! The dependency graph dbt selects on, and dbt's graph operators over it.
//!
//! dbt links every entry's `depends_on.nodes`, then keeps only "graph members": enabled
//! nodes, sources, metrics, semantic models, unit tests, saved queries and functions,
//! and all exposures. Edges to non-members vanish with them (a plain subgraph, not a
//! transitive one). Sets of entries are bitsets over the manifest's sorted index, so
//! iterating one yields unique_ids in sorted order.

use std::collections::HashMap;

use crate::dbt::manifest::{IdKey, Node, NodeIdx, Section};

/// A set of manifest entries, as a bitset over [`NodeIdx`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NodeSet {
    words: Vec<u64>,
}

impl NodeSet {
    pub(crate) fn empty(universe: usize) -> NodeSet {
        NodeSet {
            words: vec![0; universe.div_ceil(64)],
        }
    }

    pub(crate) fn insert(&mut self, i: NodeIdx) {
        self.words[i as usize / 64] |= 1 << (i % 64);
    }

    pub(crate) fn contains(&self, i: NodeIdx) -> bool {
        self.words[i as usize / 64] & (1 << (i % 64)) != 0
    }

    pub(crate) fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.words.iter().all(|w| *w == 0)
    }

    pub(crate) fn union_with(&mut self, other: &NodeSet) {
        self.words
            .iter_mut()
            .zip(&other.words)
            .for_each(|(a, b)| *a |= b);
    }

    pub(crate) fn intersect_with(&mut self, other: &NodeSet) {
        self.words
            .iter_mut()
            .zip(&other.words)
            .for_each(|(a, b)| *a &= b);
    }

    pub(crate) fn subtract(&mut self, other: &NodeSet) {
        self.words
            .iter_mut()
            .zip(&other.words)
            .for_each(|(a, b)| *a &= !b);
    }

    /// Members in ascending index (= unique_id) order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = NodeIdx> + '_ {
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
    parents: Adjacency,
    children: Adjacency,
}

/// Neighbour lists of every entry, in one array (one allocation rather than one per
/// entry: a large manifest has hundreds of thousands).
#[derive(Debug)]
struct Adjacency {
    /// Entry `i`'s neighbours are `targets[starts[i]..starts[i + 1]]`.
    starts: Vec<u32>,
    targets: Vec<NodeIdx>,
}

impl Adjacency {
    fn of(&self, i: NodeIdx) -> &[NodeIdx] {
        let i = i as usize;
        &self.targets[self.starts[i] as usize..self.starts[i + 1] as usize]
    }

    fn len(&self) -> usize {
        self.starts.len() - 1
    }

    /// Lists given in consecutive pieces: each piece's list lengths, and its lists one
    /// after the other.
    fn from_pieces(pieces: Vec<(Vec<u32>, Vec<NodeIdx>)>) -> Adjacency {
        let n = pieces
            .iter()
            .map(|(lengths, _)| lengths.len())
            .sum::<usize>();
        let mut starts = Vec::with_capacity(n + 1);
        let mut targets = Vec::with_capacity(pieces.iter().map(|(_, t)| t.len()).sum());
        starts.push(0);
        for (lengths, piece_targets) in pieces {
            for length in lengths {
                starts.push(starts[starts.len() - 1] + length);
            }
            targets.extend_from_slice(&piece_targets);
        }
        Adjacency { starts, targets }
    }

    /// The same edges the other way round; each list stays in ascending order.
    fn reversed(&self) -> Adjacency {
        let n = self.len();
        let mut starts = vec![0u32; n + 1];
        for &t in &self.targets {
            starts[t as usize + 1] += 1;
        }
        for i in 0..n {
            starts[i + 1] += starts[i];
        }
        let mut next = starts.clone();
        let mut targets = vec![0; self.targets.len()];
        for from in 0..n as NodeIdx {
            for &to in self.of(from) {
                targets[next[to as usize] as usize] = from;
                next[to as usize] += 1;
            }
        }
        Adjacency { starts, targets }
    }
}

impl DepGraph {
    /// `nodes` must be sorted by unique_id (the manifest's order).
    pub(crate) fn build(nodes: &[Node]) -> DepGraph {
        use rayon::prelude::*;
        let n = nodes.len();
        let mut members = NodeSet::empty(n);
        for (i, node) in nodes.iter().enumerate() {
            if is_graph_member(node) {
                members.insert(i as NodeIdx);
            }
        }
        // By key (see `IdKey`): looking up the id strings took twice as long.
        let by_id: HashMap<IdKey, NodeIdx, foldhash::fast::FixedState> = nodes
            .iter()
            .enumerate()
            .map(|(i, node)| (node.key, i as NodeIdx))
            .collect();
        // A piece of the nodes at a time, into flat lists: a vector per node was 142,000
        // allocations at 50k models.
        const PIECE: usize = 4096;
        let pieces = nodes.par_chunks(PIECE).enumerate().map(|(p, piece)| {
            let mut lengths = Vec::with_capacity(piece.len());
            let mut targets = Vec::new();
            for (j, node) in piece.iter().enumerate() {
                let start = targets.len();
                if members.contains((p * PIECE + j) as NodeIdx) {
                    for dep in &node.depends_on {
                        let parent = by_id.get(&dep.key).copied();
                        // networkx keeps one edge per pair however often it is listed.
                        if let Some(parent) = parent.filter(|p| members.contains(*p))
                            && !targets[start..].contains(&parent)
                        {
                            targets.push(parent);
                        }
                    }
                }
                lengths.push((targets.len() - start) as u32);
            }
            (lengths, targets)
        });
        let parents = Adjacency::from_pieces(pieces.collect());
        let children = parents.reversed();
        DepGraph {
            members,
            parents,
            children,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.parents.len()
    }

    pub(crate) fn members(&self) -> &NodeSet {
        &self.members
    }

    pub(crate) fn empty_set(&self) -> NodeSet {
        NodeSet::empty(self.len())
    }

    /// Direct children of any selected entry (dbt's `select_successors`).
    pub(crate) fn successors(&self, selected: &NodeSet) -> NodeSet {
        let mut out = self.empty_set();
        for i in selected.iter() {
            self.children.of(i).iter().for_each(|c| out.insert(*c));
        }
        out
    }

    /// Direct parents of an entry (graph members only; each once).
    pub(crate) fn parents(&self, i: NodeIdx) -> &[NodeIdx] {
        self.parents.of(i)
    }

    /// Ancestors up to `depth` generations (`None`: all). A selected entry counts only
    /// when it is itself an ancestor of another selected one, as in dbt.
    pub(crate) fn parents_of(&self, selected: &NodeSet, depth: Option<i64>) -> NodeSet {
        self.layered(selected, depth, &self.parents)
    }

    /// Descendants up to `depth` generations (`None`: all).
    pub(crate) fn children_of(&self, selected: &NodeSet, depth: Option<i64>) -> NodeSet {
        self.layered(selected, depth, &self.children)
    }

    /// `@` operator: descendants, plus everything upstream of them and of the selection.
    pub(crate) fn childrens_parents(&self, selected: &NodeSet) -> NodeSet {
        let mut base = self.children_of(selected, None);
        base.union_with(selected);
        let mut out = self.parents_of(&base, None);
        out.union_with(&base);
        out
    }

    /// dbt's layer-by-layer walk: each layer adds neighbours not yet collected.
    fn layered(&self, selected: &NodeSet, depth: Option<i64>, adj: &Adjacency) -> NodeSet {
        let mut found = self.empty_set();
        let mut frontier: Vec<NodeIdx> = selected.iter().collect();
        let mut layer = 0i64;
        while !frontier.is_empty() && depth.is_none_or(|d| layer < d) {
            let mut next = Vec::new();
            for &node in &frontier {
                for &nb in adj.of(node) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reversed_adjacency_has_every_edge_the_other_way_in_ascending_order() {
        let pieces = vec![
            (vec![0, 1, 2], vec![0, 1, 0]),
            (vec![], vec![]),
            (vec![0, 2], vec![2, 0]),
        ];
        let parents = Adjacency::from_pieces(pieces);
        assert_eq!(parents.of(2), &[1, 0]);
        let children = parents.reversed();
        let lists: Vec<&[NodeIdx]> = (0..5).map(|i| children.of(i)).collect();
        assert_eq!(lists, [&[1, 2, 4][..], &[2], &[4], &[], &[]]);
        assert_eq!(children.reversed().of(2), &[0, 1]);
    }
}
