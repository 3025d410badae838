//! Which steps a plan or run covers: all of them, `--only a,b`, or `--from X` and downstream.

use std::collections::BTreeSet;

use crate::diagnostic::closest;
use crate::error::Error;
use crate::graph::Graph;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Selection {
    #[default]
    All,
    /// These steps alone; their needs outside the list are assumed done.
    Only(Vec<String>),
    /// This step and everything downstream of it.
    From(String),
}

impl Selection {
    /// The indices of the selected steps.
    pub fn apply(&self, graph: &Graph) -> Result<BTreeSet<usize>, Error> {
        match self {
            Selection::All => Ok((0..graph.len()).collect()),
            Selection::Only(ids) => ids.iter().map(|id| find(graph, id, "--only")).collect(),
            Selection::From(id) => {
                let start = find(graph, id, "--from")?;
                let mut selected = graph.downstream(start);
                selected.insert(start);
                Ok(selected)
            }
        }
    }
}

fn find(graph: &Graph, id: &str, flag: &'static str) -> Result<usize, Error> {
    graph.index(id).ok_or_else(|| Error::UnknownStep {
        name: id.to_string(),
        flag,
        known: graph.ids.clone(),
        suggestion: closest(id, graph.ids.iter().map(String::as_str)).map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph() -> Graph {
        // a → b → c, and d alone.
        Graph::new(
            ["a", "b", "c", "d"].map(String::from).to_vec(),
            vec![vec![], vec![0], vec![1], vec![]],
        )
    }

    #[test]
    fn from_selects_downstream() {
        let s = Selection::From("b".into()).apply(&graph()).unwrap();
        assert_eq!(s, BTreeSet::from([1, 2]));
    }

    #[test]
    fn only_selects_exactly() {
        let s = Selection::Only(vec!["c".into(), "a".into()])
            .apply(&graph())
            .unwrap();
        assert_eq!(s, BTreeSet::from([0, 2]));
    }

    #[test]
    fn unknown_ids_are_errors_with_suggestions() {
        let err = Selection::From("bb".into()).apply(&graph()).unwrap_err();
        assert!(
            err.to_string().contains("unknown step `bb` in `--from`"),
            "{err}"
        );
    }
}
