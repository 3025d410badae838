//! Names of units (models, seeds, snapshots), fixed per manifest so that a node keeps its
//! task ids in every DAG it appears in, whatever else the selector picks.
//!
//! A unit is named by the node's `name`; a versioned model adds its version (`orders_v2`,
//! the last part of its fqn, as dbt names the version's file); where nodes of two packages
//! share a name, each becomes `<package>__<name>`. Names are then made safe for Airflow
//! (see [`naming`](crate::dags::naming)); a clash that creates gets `_2`, `_3`, … in
//! unique_id order.

use std::borrow::Cow;
use std::collections::HashMap;

use foldhash::fast::FixedState;

use crate::dags::naming::Namer;
use crate::dags::node_select::is_unit_type;
use crate::dbt::manifest::{Manifest, Node, NodeIdx};

pub struct UnitNames {
    /// By manifest index; `None` for nodes that cannot be units.
    names: Vec<Option<String>>,
}

impl UnitNames {
    pub fn build(manifest: &Manifest) -> UnitNames {
        let candidates: Vec<(usize, &Node)> = manifest
            .nodes()
            .iter()
            .enumerate()
            .filter(|(_, n)| n.enabled && is_unit_type(n.resource_type))
            .collect();
        // By base name: one of its packages, and whether there are others.
        let mut packages: HashMap<Cow<str>, (&str, bool), FixedState> = HashMap::default();
        for (_, node) in &candidates {
            let entry = packages
                .entry(base_name(node))
                .or_insert((&node.package_name, false));
            entry.1 |= entry.0 != &*node.package_name;
        }
        let mut namer = Namer::default();
        let mut names = vec![None; manifest.nodes().len()];
        // Candidates come in unique_id order, which fixes who gets a suffix on a clash.
        for (i, node) in candidates {
            let base = base_name(node);
            let name = if packages[&base].1 {
                namer.allocate(&format!("{}__{base}", node.package_name))
            } else {
                namer.allocate(&base)
            };
            names[i] = Some(name);
        }
        UnitNames { names }
    }

    /// The unit name of node `i` (a model, seed or snapshot).
    pub fn get(&self, i: NodeIdx) -> &str {
        self.names[i as usize].as_deref().unwrap_or("_")
    }
}

/// `name`, or `name_vN` for a versioned model.
fn base_name(node: &Node) -> Cow<'_, str> {
    match (&node.version, node.fqn.last()) {
        (Some(_), Some(last)) => Cow::Owned(format!("{}_{last}", node.name)),
        _ => Cow::Borrowed(&node.name),
    }
}
