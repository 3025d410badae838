//! Evaluating a [`Spec`] the way dbt's `NodeSelector.select_nodes` does, including
//! indirect selection of tests.
//!
//! Every spec yields two sets: *direct* nodes and *indirect* ones (tests seen next to
//! the selection but held back by cautious/buildable mode). Groups combine both with
//! their set operation, then may re-admit held-back tests whose parents are now all
//! present. Only the direct set is the answer. Because exclusions subtract *direct*
//! sets, `--exclude model_b` also drops a relationship test between a selected
//! `model_a` and `model_b`: eager mode attached it to `model_b` as well.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use crate::dbt::manifest::{Manifest, Node, NodeIdx, ResourceType, Section};
use crate::dbt::select::SelectError;
use crate::dbt::select::graph::NodeSet;
use crate::dbt::select::methods;
use crate::dbt::select::spec::{Criteria, IndirectSelection, NamedSpec, Spec};

type Selected = HashMap<*const NamedSpec, (Arc<NamedSpec>, (NodeSet, NodeSet))>;

pub(crate) struct Evaluator<'m> {
    m: &'m Manifest,
    /// The `--indirect-selection` flag, for specs that do not set their own mode.
    flag: IndirectSelection,
    /// What each referenced selector gave, by the address of its shared spec (kept alive
    /// here, so that the address is not reused): each is evaluated once, and the work
    /// grows with the size of the selectors file, not with the paths through its
    /// references.
    selectors: RefCell<Selected>,
}

impl<'m> Evaluator<'m> {
    pub(super) fn new(m: &'m Manifest, flag: IndirectSelection) -> Evaluator<'m> {
        Evaluator {
            m,
            flag,
            selectors: RefCell::default(),
        }
    }

    /// dbt's `select_nodes`: the direct set.
    pub(super) fn select(&self, spec: &Spec) -> Result<NodeSet, SelectError> {
        Ok(self.recurse(spec)?.0)
    }

    fn recurse(&self, spec: &Spec) -> Result<(NodeSet, NodeSet), SelectError> {
        let (parts, mode, op): (&[Spec], _, fn(&mut NodeSet, &NodeSet)) = match spec {
            Spec::Criteria(c) => return self.criteria(c),
            Spec::Selector(named) => return self.selector(named),
            Spec::Union(p, mode) => (p, mode, NodeSet::union_with),
            Spec::Intersection(p, mode) => (p, mode, NodeSet::intersect_with),
            Spec::Difference(p, mode) => (p, mode, NodeSet::subtract),
        };
        let bundles = parts
            .iter()
            .map(|p| self.recurse(p))
            .collect::<Result<Vec<_>, _>>()?;
        let directs: Vec<NodeSet> = bundles.iter().map(|(d, _)| d.clone()).collect();
        let widened: Vec<NodeSet> = bundles
            .into_iter()
            .map(|(mut d, i)| {
                d.union_with(&i);
                d
            })
            .collect();
        let direct = self.combine(directs, op);
        let indirect = self.combine(widened, op);
        let direct = self.incorporate(direct, &indirect, mode.unwrap_or(self.flag));
        Ok((direct, indirect))
    }

    /// A named selector's direct set (`--selector NAME`), sharing what its evaluation
    /// finds with every other selector that references it.
    pub(super) fn select_named(&self, named: &Arc<NamedSpec>) -> Result<NodeSet, SelectError> {
        Ok(self.selector(named)?.0)
    }

    /// A referenced selector, evaluated on first use.
    fn selector(&self, named: &Arc<NamedSpec>) -> Result<(NodeSet, NodeSet), SelectError> {
        let key = Arc::as_ptr(named);
        if let Some((_, done)) = self.selectors.borrow().get(&key) {
            return Ok(done.clone());
        }
        let done = self.recurse(&named.spec)?;
        let kept = (named.clone(), done.clone());
        self.selectors.borrow_mut().insert(key, kept);
        Ok(done)
    }

    /// Folds sets left to right; no sets at all give the empty set.
    fn combine(&self, sets: Vec<NodeSet>, op: fn(&mut NodeSet, &NodeSet)) -> NodeSet {
        let mut iter = sets.into_iter();
        let Some(mut acc) = iter.next() else {
            return self.m.graph().empty_set();
        };
        iter.for_each(|s| op(&mut acc, &s));
        acc
    }

    fn criteria(&self, c: &Criteria) -> Result<(NodeSet, NodeSet), SelectError> {
        let collected = methods::search(self.m, c)?;
        let graph = self.m.graph();
        let mut selected = collected.clone();
        if c.childrens_parents {
            selected.union_with(&graph.childrens_parents(&collected));
        }
        if c.parents {
            selected.union_with(&graph.parents_of(&collected, c.parents_depth));
        }
        if c.children {
            selected.union_with(&graph.children_of(&collected, c.children_depth));
        }
        match c.indirect_selection.unwrap_or(self.flag) {
            IndirectSelection::Empty => Ok((selected, graph.empty_set())),
            mode => Ok(self.expand(selected, mode)),
        }
    }

    /// dbt's `expand_selection`: tests and unit tests right below the selection.
    fn expand(&self, selected: NodeSet, mode: IndirectSelection) -> (NodeSet, NodeSet) {
        let graph = self.m.graph();
        let mut direct = selected.clone();
        let mut indirect = graph.empty_set();
        let selected_and_parents = (mode == IndirectSelection::Buildable).then(|| {
            let mut s = selected.clone();
            s.union_with(&graph.parents_of(&selected, None));
            // dbt adds every source of the manifest here.
            self.m.nodes().iter().enumerate().for_each(|(i, n)| {
                if n.section == Section::Source {
                    s.insert(i as NodeIdx);
                }
            });
            s
        });
        for idx in graph.successors(&selected).iter() {
            let node = self.m.at(idx);
            if !can_select_indirectly(node) {
                continue;
            }
            if mode == IndirectSelection::Eager || self.deps_within(node, &selected) {
                direct.insert(idx);
            } else if let Some(sp) = &selected_and_parents
                && self.deps_within(node, sp)
            {
                direct.insert(idx);
            } else {
                indirect.insert(idx);
            }
        }
        (direct, indirect)
    }

    /// dbt's `incorporate_indirect_nodes`: held-back tests join once all their parents
    /// are selected (cautious) or selected-or-upstream (buildable). Unit tests never do:
    /// dbt only looks them up among `manifest.nodes`.
    fn incorporate(&self, direct: NodeSet, indirect: &NodeSet, mode: IndirectSelection) -> NodeSet {
        if direct == *indirect {
            return direct;
        }
        let bar = match mode {
            IndirectSelection::Cautious => direct.clone(),
            IndirectSelection::Buildable => {
                let mut s = direct.clone();
                s.union_with(&self.m.graph().parents_of(&direct, None));
                s
            }
            IndirectSelection::Eager | IndirectSelection::Empty => return direct,
        };
        let mut selected = direct;
        for idx in indirect.iter() {
            let node = self.m.at(idx);
            if node.section == Section::Node && self.deps_within(node, &bar) {
                selected.insert(idx);
            }
        }
        selected
    }

    /// `set(node.depends_on_nodes) <= set`.
    fn deps_within(&self, node: &Node, set: &NodeSet) -> bool {
        node.depends_on.iter().all(|d| {
            self.m
                .index_of(&d.unique_id)
                .is_some_and(|i| set.contains(i))
        })
    }
}

/// Only tests and unit tests (from the nodes and unit_tests sections) are indirect.
fn can_select_indirectly(node: &Node) -> bool {
    matches!(node.section, Section::Node | Section::UnitTest)
        && matches!(
            node.resource_type,
            ResourceType::Test | ResourceType::UnitTest
        )
}
