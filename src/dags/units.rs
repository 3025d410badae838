//! Names of units (models, seeds, snapshots), fixed per manifest so that a node keeps its
//! task ids in every DAG it appears in, whatever else the selector picks.
//!
//! A unit is named by the node's `name`; a versioned model adds its version (`orders_v2`,
//! the last part of its fqn, as dbt names the version's file); where nodes of two packages
//! share a name, each becomes `<package>__<name>`. Names are then made safe for Airflow
//! (see [`naming`](crate::dags::naming)); a clash that creates gets `_2`, `_3`, … in
//! unique_id order.

use std::collections::{HashMap, HashSet};

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
        let mut packages: HashMap<String, HashSet<&str>> = HashMap::new();
        for (_, node) in &candidates {
            packages
                .entry(base_name(node))
                .or_default()
                .insert(&node.package_name);
        }
        let mut namer = Namer::default();
        let mut names = vec![None; manifest.nodes().len()];
        // Candidates come in unique_id order, which fixes who gets a suffix on a clash.
        for (i, node) in candidates {
            let base = base_name(node);
            let full = if packages[&base].len() > 1 {
                format!("{}__{base}", node.package_name)
            } else {
                base
            };
            names[i] = Some(namer.allocate(&full));
        }
        UnitNames { names }
    }

    /// The unit name of node `i` (a model, seed or snapshot).
    pub fn get(&self, i: NodeIdx) -> &str {
        self.names[i as usize].as_deref().unwrap_or("_")
    }
}

/// `name`, or `name_vN` for a versioned model.
fn base_name(node: &Node) -> String {
    match (&node.version, node.fqn.last()) {
        (Some(_), Some(last)) => format!("{}_{last}", node.name),
        _ => node.name.clone(),
    }
}
