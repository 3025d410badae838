//! dbt node selection, evaluated natively with `dbt ls` semantics.
//!
//! ```ignore
//! // (`ignore`: the crate's name changes when this module moves into dagship.)
//! use std::path::Path;
//! use crate::dbt::manifest::Manifest;
//! use crate::dbt::select::select_expression;
//!
//! let manifest = Manifest::from_path(Path::new("target/manifest.json"))?;
//! let selection = select_expression(&manifest, &["tag:nightly+"], &["tag:deprecated"])?;
//! for id in selection.unique_ids() {
//!     println!("{id}");
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub(crate) mod definition;
mod eval;
pub(crate) mod graph;
mod methods;
pub(crate) mod path;
pub(crate) mod pyvalue;
pub mod spec;

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::dbt::manifest::{Manifest, Node, ResourceType};
use eval::Evaluator;
use graph::NodeSet;
pub(crate) use methods::flat_fqn;
pub use spec::{Criteria, IndirectSelection, Method, NamedSpec, Spec};

/// Why a selection could not be parsed or evaluated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SelectError {
    #[error("unknown selector method `{method}` in `{spec}`; dbt's methods are: {known}", known = known_methods())]
    UnknownMethod { method: String, spec: String },
    #[error(
        "selector method `{method}` (in `{spec}`) is not supported here: it needs dbt's run \
         state (--state / run results), which a manifest alone does not have"
    )]
    UnsupportedMethod { method: String, spec: String },
    #[error("invalid selector `{spec}`: {reason}")]
    InvalidSpec { spec: String, reason: String },
    #[error("invalid value `{value}` for selector method `{method}`: {reason}")]
    InvalidValue {
        method: String,
        value: String,
        reason: String,
    },
    #[error("selector `{name}` is not defined{hint}")]
    UnknownSelector { name: String, hint: String },
    #[error("selector `{selector}` is invalid: {reason}")]
    InvalidDefinition { selector: String, reason: String },
    #[error("selector `{selector}`: {error}")]
    InSelector {
        selector: String,
        error: Box<SelectError>,
    },
}

fn known_methods() -> String {
    spec::Method::all_names().collect::<Vec<_>>().join(", ")
}

/// Settings that `dbt ls` takes from its command line.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalOptions {
    /// `--resource-type`; by default everything `dbt ls` lists.
    pub resource_types: Vec<ResourceType>,
    /// `--indirect-selection`, for specs that do not set their own.
    pub indirect_selection: IndirectSelection,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            resource_types: ResourceType::LS_DEFAULTS.to_vec(),
            indirect_selection: IndirectSelection::Eager,
        }
    }
}

/// The entries a selection picked, in unique_id order.
#[derive(Debug, Clone)]
pub struct Selection<'m> {
    manifest: &'m Manifest,
    set: NodeSet,
}

impl<'m> Selection<'m> {
    pub fn len(&self) -> usize {
        self.set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// Selected unique_ids, sorted.
    pub fn unique_ids(&self) -> impl Iterator<Item = &'m str> + '_ {
        self.nodes().map(|n| &*n.unique_id)
    }

    /// Selected entries, sorted by unique_id.
    pub fn nodes(&self) -> impl Iterator<Item = &'m Node> + '_ {
        let m = self.manifest;
        self.set.iter().map(move |i| m.at(i))
    }

    /// Selected entries as indices into [`Manifest::nodes`], ascending.
    pub(crate) fn indices(&self) -> impl Iterator<Item = crate::dbt::manifest::NodeIdx> + '_ {
        self.set.iter()
    }

    pub fn contains(&self, unique_id: &str) -> bool {
        self.manifest
            .index_of(unique_id)
            .is_some_and(|i| self.set.contains(i))
    }

    /// Owned, sorted unique_ids.
    pub fn to_set(&self) -> BTreeSet<String> {
        self.unique_ids().map(str::to_string).collect()
    }
}

/// Evaluates a parsed spec against the manifest.
pub fn evaluate_spec<'m>(
    manifest: &'m Manifest,
    spec: &Spec,
    options: &EvalOptions,
) -> Result<Selection<'m>, SelectError> {
    let evaluator = Evaluator::new(manifest, options.indirect_selection);
    let set = evaluator.select(spec)?;
    Ok(selection_of(manifest, set, options))
}

/// Evaluates named selectors together: a selector that several of them reference is
/// evaluated once for all.
pub fn evaluate_named<'m>(
    manifest: &'m Manifest,
    selectors: &[&Arc<NamedSpec>],
    options: &EvalOptions,
) -> Vec<Result<Selection<'m>, SelectError>> {
    let evaluator = Evaluator::new(manifest, options.indirect_selection);
    selectors
        .iter()
        .map(|named| {
            let set = evaluator.select_named(named)?;
            Ok(selection_of(manifest, set, options))
        })
        .collect()
}

/// The entries of `set` of the resource types asked for.
fn selection_of<'m>(
    manifest: &'m Manifest,
    mut set: NodeSet,
    options: &EvalOptions,
) -> Selection<'m> {
    let mut keep = manifest.graph().empty_set();
    for i in set.iter() {
        if options
            .resource_types
            .contains(&manifest.at(i).resource_type)
        {
            keep.insert(i);
        }
    }
    set.intersect_with(&keep);
    Selection { manifest, set }
}

/// `dbt ls --select … --exclude …`: each argument may hold several specs separated by
/// single spaces (a union); commas inside one spec intersect. An empty `select` means
/// dbt's default (every model, test, seed, snapshot, source, exposure, metric, …).
pub fn select_expression<'m>(
    manifest: &'m Manifest,
    select: &[&str],
    exclude: &[&str],
) -> Result<Selection<'m>, SelectError> {
    select_expression_with(manifest, select, exclude, &EvalOptions::default())
}

/// [`select_expression`] with explicit resource types / indirect-selection mode.
pub fn select_expression_with<'m>(
    manifest: &'m Manifest,
    select: &[&str],
    exclude: &[&str],
    options: &EvalOptions,
) -> Result<Selection<'m>, SelectError> {
    let select = (!select.is_empty()).then_some(select);
    let exclude = (!exclude.is_empty()).then_some(exclude);
    let spec = spec::parse_difference(select, exclude)?;
    evaluate_spec(manifest, &spec, options)
}
