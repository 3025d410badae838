//! The `--select` (and `--exclude`) arguments that make a dbt command pick exactly one node.
//!
//! A bare name is ambiguous in dbt: `--select orders` is the `fqn` method, which also
//! matches a package or folder called `orders`, every node of that name in any package,
//! and (dbt ≥ 1.10) an fqn without its package. We intersect three methods instead:
//!
//! `resource_type:model,package:shop,fqn:shop.marts.orders`
//!
//! - `package:` drops other packages (versioned models match `name_vN` across packages);
//! - `resource_type:` drops a test or seed whose fqn happens to extend the model's;
//! - `fqn:` with the node's whole fqn, which still matches nodes *below* it (a folder
//!   `marts/orders/` beside `marts/orders.sql`): when the manifest has such a node, we add
//!   `--exclude fqn:shop.marts.orders.*`, which matches only longer fqns.
//!
//! Versioned models need nothing special: their fqn ends in `vN`, so the whole fqn names
//! one version. Characters that mean something to dbt's selector syntax or to `fnmatch`
//! (`* ? [ +`) are written as one-character classes (`[*]`), which match themselves only.
//! A space, comma or newline cannot be written at all (dbt splits on them), so it becomes
//! `?`; such rare selections are checked against the manifest with dbt's own semantics
//! (our selector engine) and refused if they would pick anything else.

use std::collections::HashSet;

use std::hash::BuildHasher;

use foldhash::fast::FixedState;

use crate::dbt::manifest::{Manifest, Node, ResourceType};
use crate::dbt::select::{EvalOptions, IndirectSelection, flat_fqn, select_expression_with};

/// `--select`, and `--exclude` when needed, for one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NodeArgs {
    pub select: String,
    pub exclude: Option<String>,
    /// The selection uses `?` for a character dbt cannot express: check it before use.
    pub approximate: bool,
}

/// Which fqn prefixes exist in the manifest, per package and resource type; built once.
pub(super) struct PrefixIndex {
    /// Hashes of (package, resource type, proper prefix of a flattened fqn). A hash
    /// collision only adds an unneeded (harmless) `--exclude`.
    prefixes: HashSet<u64, FixedState>,
}

impl PrefixIndex {
    pub(super) fn build(manifest: &Manifest) -> PrefixIndex {
        use rayon::prelude::*;
        // Reading every node's fqn is mostly waiting for memory: on every core.
        let prefixes = manifest
            .nodes()
            .par_iter()
            .filter(|n| n.enabled)
            .fold(HashSet::default, |mut prefixes, node| {
                add_prefixes(node, &mut prefixes);
                prefixes
            })
            .reduce(HashSet::default, |mut a, mut b| {
                if a.len() < b.len() {
                    std::mem::swap(&mut a, &mut b);
                }
                a.extend(b);
                a
            });
        PrefixIndex { prefixes }
    }

    /// Whether some node of `node`'s package and type has an fqn strictly below `node`'s.
    fn has_below(&self, node: &Node) -> bool {
        let mut hash = PrefixHash::new(node);
        flat_fqn(&node.fqn).for_each(|p| hash.push(p));
        self.prefixes.contains(&hash.0)
    }
}

/// Adds the hashes of every proper prefix of `node`'s fqn.
fn add_prefixes(node: &Node, prefixes: &mut HashSet<u64, FixedState>) {
    // dbt ≥ 1.10 also matches the fqn without its first part (the package).
    for fqn in [&node.fqn[..], node.fqn.get(1..).unwrap_or_default()] {
        let mut hash = PrefixHash::new(node);
        let mut parts = flat_fqn(fqn).peekable();
        // Every proper prefix: all parts but the last.
        while let Some(part) = parts.next()
            && parts.peek().is_some()
        {
            hash.push(part);
            prefixes.insert(hash.0);
        }
    }
}

/// A hash over package, type and fqn parts, extended part by part: every prefix of every
/// fqn is hashed without building its string.
struct PrefixHash(u64);

impl PrefixHash {
    fn new(node: &Node) -> PrefixHash {
        let mut h = PrefixHash(0);
        h.push(&node.package_name);
        h.push(node.resource_type.as_str());
        h
    }

    fn push(&mut self, part: &str) {
        // Seeded with the hash so far; a `str` hashes with a terminator, which keeps
        // `a.bc` and `ab.c` apart.
        self.0 = FixedState::with_seed(self.0).hash_one(part);
    }
}

/// The arguments selecting exactly `node` (a model, seed, snapshot, test or unit test).
pub(super) fn node_args(node: &Node, index: &PrefixIndex) -> NodeArgs {
    let mut approximate = false;
    let mut select = String::with_capacity(96);
    select.push_str("resource_type:");
    select.push_str(node.resource_type.as_str());
    select.push_str(",package:");
    if &*node.package_name == "this" {
        // `package:this` means the root project, whatever its name.
        select.push_str("[t]his");
    } else {
        push_escaped(&mut select, &node.package_name, &mut approximate);
    }
    select.push_str(",fqn:");
    let fqn_start = select.len();
    for (i, part) in flat_fqn(&node.fqn).enumerate() {
        if i > 0 {
            select.push('.');
        }
        push_escaped(&mut select, part, &mut approximate);
    }
    let exclude = index
        .has_below(node)
        .then(|| format!("fqn:{}.*", &select[fqn_start..]));
    NodeArgs {
        select,
        exclude,
        approximate,
    }
}

/// `source:package.source.table` for source freshness. A dot inside a name cannot be
/// written (the method splits on dots) and becomes `?`; freshness over one more table
/// than needed is harmless, so this is not checked.
pub(super) fn source_arg(node: &Node) -> String {
    let mut ignored = false;
    let part = |s: &str, flag: &mut bool| escape(&s.replace('.', "?"), flag);
    format!(
        "source:{}.{}.{}",
        part(&node.package_name, &mut ignored),
        part(
            node.source_name.as_deref().unwrap_or_default(),
            &mut ignored
        ),
        part(&node.name, &mut ignored)
    )
}

/// One fqn part as a selector part that matches only itself.
fn escape(part: &str, approximate: &mut bool) -> String {
    let mut out = String::with_capacity(part.len());
    push_escaped(&mut out, part, approximate);
    out
}

/// [`escape`], appended to `out`.
fn push_escaped(out: &mut String, part: &str, approximate: &mut bool) {
    if !part.bytes().any(|b| b"*?[+ ,\n".contains(&b)) {
        out.push_str(part);
        return;
    }
    for c in part.chars() {
        match c {
            // fnmatch wildcards, and `+` (dbt's graph operator at either end).
            '*' | '?' | '[' | '+' => {
                out.push('[');
                out.push(c);
                out.push(']');
            }
            // dbt splits selectors on spaces and commas; its spec regex stops at newlines.
            ' ' | ',' | '\n' => {
                *approximate = true;
                out.push('?');
            }
            _ => out.push(c),
        }
    }
}

/// Whether `args` select exactly `node` when dbt runs it (its own resource type), by
/// dbt's rules as our engine implements them.
pub(super) fn selects_only(manifest: &Manifest, node: &Node, args: &NodeArgs) -> bool {
    let options = EvalOptions {
        resource_types: vec![node.resource_type],
        indirect_selection: IndirectSelection::Empty,
    };
    let exclude: Vec<&str> = args.exclude.iter().map(String::as_str).collect();
    match select_expression_with(manifest, &[&args.select], &exclude, &options) {
        Ok(selection) => selection.len() == 1 && selection.contains(&node.unique_id),
        Err(_) => false,
    }
}

/// Resource types that are units of work in a DAG.
pub(super) fn is_unit_type(t: ResourceType) -> bool {
    matches!(
        t,
        ResourceType::Model | ResourceType::Seed | ResourceType::Snapshot
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_characters_become_classes_that_match_themselves() {
        let mut approx = false;
        assert_eq!(escape("a*b?c[d]e+", &mut approx), "a[*]b[?]c[[]d]e[+]");
        assert!(!approx);
        assert_eq!(escape("my folder", &mut approx), "my?folder");
        assert!(approx);
    }
}
