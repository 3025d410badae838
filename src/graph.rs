//! The `needs` graph: stages, cycles, and what is upstream or downstream of a step.
//!
//! Everything here is iterative: a generated pipeline may be a chain of thousands of steps, and
//! recursion that deep would overflow the stack.

use std::collections::{BTreeSet, HashMap};

use crate::pipeline::Pipeline;

/// Steps by index, in file order; `needs[i]` are the indices step `i` waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graph {
    pub ids: Vec<String>,
    pub needs: Vec<Vec<usize>>,
    index: HashMap<String, usize>,
}

impl Graph {
    pub fn new(ids: Vec<String>, needs: Vec<Vec<usize>>) -> Graph {
        let index = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i))
            .collect();
        Graph { ids, needs, index }
    }

    /// The graph of a pipeline; `needs` naming unknown steps are left out (reported elsewhere).
    pub fn of(pipeline: &Pipeline) -> Graph {
        let index: HashMap<&str, usize> = pipeline
            .steps
            .keys()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i))
            .collect();
        let needs = pipeline
            .steps
            .values()
            .map(|step| {
                let mut n: Vec<usize> = step
                    .needs
                    .iter()
                    .filter_map(|need| index.get(need.name.as_str()).copied())
                    .collect();
                n.sort_unstable();
                n.dedup();
                n
            })
            .collect();
        Graph::new(pipeline.steps.keys().cloned().collect(), needs)
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn index(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// For each step, the steps that need it.
    pub fn dependents(&self) -> Vec<Vec<usize>> {
        let mut out = vec![Vec::new(); self.len()];
        for (i, needs) in self.needs.iter().enumerate() {
            for &n in needs {
                out[n].push(i);
            }
        }
        out
    }

    /// Stage of each step: its depth in the graph (0 without needs, else one more than the
    /// deepest step it needs). `None` if the graph has a cycle.
    pub fn stages(&self) -> Option<Vec<usize>> {
        let order = self.topological_order(&vec![true; self.len()]);
        if order.len() != self.len() {
            return None;
        }
        let mut stage = vec![0; self.len()];
        for &i in &order {
            stage[i] = self.needs[i]
                .iter()
                .map(|&n| stage[n] + 1)
                .max()
                .unwrap_or(0);
        }
        Some(stage)
    }

    /// Kahn's algorithm over the steps marked `alive`; needs on dead steps count as met.
    /// Steps on (or behind) a cycle never become ready and are missing from the result.
    fn topological_order(&self, alive: &[bool]) -> Vec<usize> {
        let dependents = self.dependents();
        let mut waiting: Vec<usize> = self
            .needs
            .iter()
            .map(|needs| needs.iter().filter(|&&n| alive[n]).count())
            .collect();
        let mut ready: Vec<usize> = (0..self.len())
            .filter(|&i| alive[i] && waiting[i] == 0)
            .collect();
        let mut order = Vec::with_capacity(self.len());
        while let Some(i) = ready.pop() {
            order.push(i);
            for &d in &dependents[i] {
                if alive[d] {
                    waiting[d] -= 1;
                    if waiting[d] == 0 {
                        ready.push(d);
                    }
                }
            }
        }
        order
    }

    /// Every distinct cycle, each as the path `a, b, c, a` where each step needs the next.
    pub fn cycles(&self) -> Vec<Vec<usize>> {
        let mut alive = vec![true; self.len()];
        let mut cycles = Vec::new();
        loop {
            let mut stuck = alive.clone();
            for i in self.topological_order(&alive) {
                stuck[i] = false;
            }
            // Every stuck step still needs a stuck step, so walking needs must come back round.
            let Some(start) = stuck.iter().position(|&s| s) else {
                return cycles;
            };
            let cycle = walk_to_cycle(start, |i| {
                *self.needs[i]
                    .iter()
                    .find(|&&n| stuck[n])
                    .expect("stuck step needs a stuck step")
            });
            for &i in &cycle {
                alive[i] = false;
            }
            cycles.push(cycle);
        }
    }

    /// All steps `i` transitively needs.
    pub fn upstream(&self, i: usize) -> BTreeSet<usize> {
        reach(i, |n| &self.needs[n])
    }

    /// All steps that transitively need `i`.
    pub fn downstream(&self, i: usize) -> BTreeSet<usize> {
        let dependents = self.dependents();
        reach(i, |n| &dependents[n])
    }

    /// The graph restricted to `keep` (edges to dropped steps disappear), with the mapping
    /// from new indices to old.
    pub fn subgraph(&self, keep: &BTreeSet<usize>) -> (Graph, Vec<usize>) {
        let old: Vec<usize> = keep.iter().copied().collect();
        let new_index: HashMap<usize, usize> =
            old.iter().enumerate().map(|(n, &o)| (o, n)).collect();
        let graph = Graph::new(
            old.iter().map(|&o| self.ids[o].clone()).collect(),
            old.iter()
                .map(|&o| {
                    self.needs[o]
                        .iter()
                        .filter_map(|n| new_index.get(n).copied())
                        .collect()
                })
                .collect(),
        );
        (graph, old)
    }
}

fn walk_to_cycle(start: usize, next: impl Fn(usize) -> usize) -> Vec<usize> {
    let mut path = vec![start];
    let mut seen_at = HashMap::from([(start, 0)]);
    loop {
        let n = next(*path.last().expect("path is never empty"));
        if let Some(&at) = seen_at.get(&n) {
            let mut cycle = path[at..].to_vec();
            cycle.push(n);
            return cycle;
        }
        seen_at.insert(n, path.len());
        path.push(n);
    }
}

fn reach<'a>(from: usize, edges: impl Fn(usize) -> &'a Vec<usize>) -> BTreeSet<usize> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![from];
    while let Some(i) = todo.pop() {
        for &n in edges(i) {
            if seen.insert(n) {
                todo.push(n);
            }
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[&[usize]]) -> Graph {
        Graph::new(
            (0..edges.len()).map(|i| format!("s{i}")).collect(),
            edges.iter().map(|e| e.to_vec()).collect(),
        )
    }

    #[test]
    fn stage_is_depth() {
        let g = graph(&[&[], &[0], &[0, 1], &[]]);
        assert_eq!(g.stages(), Some(vec![0, 1, 2, 0]));
    }

    #[test]
    fn finds_each_cycle_once() {
        // 0 → 1 → 2 → 0, and 3 → 3, and 4 needs the first cycle without being on it.
        let g = graph(&[&[1], &[2], &[0], &[3], &[0]]);
        assert_eq!(g.stages(), None);
        assert_eq!(g.cycles(), vec![vec![0, 1, 2, 0], vec![3, 3]]);
    }

    #[test]
    fn upstream_and_downstream_are_transitive() {
        let g = graph(&[&[], &[0], &[1], &[]]);
        assert_eq!(g.upstream(2), BTreeSet::from([0, 1]));
        assert_eq!(g.downstream(0), BTreeSet::from([1, 2]));
    }

    #[test]
    fn long_chains_do_not_overflow() {
        let n = 100_000;
        let g = Graph::new(
            (0..n).map(|i| i.to_string()).collect(),
            (0..n)
                .map(|i| if i == 0 { vec![] } else { vec![i - 1] })
                .collect(),
        );
        assert_eq!(g.stages().unwrap()[n - 1], n - 1);
        assert!(g.cycles().is_empty());
        assert_eq!(g.upstream(n - 1).len(), n - 1);
    }
}
