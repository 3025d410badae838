//! Airflow ids and file names made from dbt names: safe characters, bounded length, unique.
//!
//! Airflow accepts `[A-Za-z0-9_-]` in TaskGroup ids (up to 200 characters) and also `.` in
//! task and DAG ids (up to 250). We keep to the stricter set everywhere, so a name is valid
//! in any position and can never form a path (`/`, `..`) or a Python expression.

use std::collections::{HashMap, HashSet};

use foldhash::fast::FixedState;
use sha2::{Digest, Sha256};

/// Longest id we produce: a TaskGroup id (200 allowed) plus `.test` stays a valid task id.
pub(crate) const MAX_ID_LEN: usize = 200;

/// `[A-Za-z0-9_-]` kept, anything else `_`; empty names become `_`; over-long names keep
/// their start and end in a short hash of the whole (so two long names stay distinct).
pub(crate) fn sanitize(name: &str) -> String {
    let safe_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    if !name.is_empty() && name.len() <= MAX_ID_LEN && name.bytes().all(safe_byte) {
        return name.to_string();
    }
    let mut safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii() && safe_byte(c as u8) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.is_empty() {
        safe.push('_');
    }
    if safe.len() > MAX_ID_LEN {
        let digest = Sha256::digest(name.as_bytes());
        let hash: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        safe.truncate(MAX_ID_LEN - hash.len() - 1);
        safe.push('_');
        safe.push_str(&hash);
    }
    safe
}

/// The DAG id of a selector: `dbt_<name>`, sanitized.
pub(crate) fn dag_id(selector: &str) -> String {
    format!("dbt_{}", sanitize(selector))
}

/// `<dag_id>.py`: a plain file name, never a path (no separator, no `..`).
pub(crate) fn dag_file_name(selector: &str) -> String {
    format!("{}.py", dag_id(selector))
}

/// Hands out ids that are unique within one DAG's top level (TaskGroups and tasks share that
/// namespace in Airflow). A clash gets `_2`, `_3`, … in the order names are asked for; the
/// callers ask in a fixed order, so the result is deterministic.
#[derive(Debug, Default)]
pub struct Namer {
    used: HashSet<String, FixedState>,
    next_suffix: HashMap<String, usize, FixedState>,
}

impl Namer {
    /// Reserves an id exactly as given; false if it is taken.
    pub fn reserve(&mut self, id: &str) -> bool {
        self.used.insert(id.to_string())
    }

    /// A unique id made from `name`.
    pub fn allocate(&mut self, name: &str) -> String {
        let base = sanitize(name);
        if self.used.insert(base.clone()) {
            return base;
        }
        let counter = self.next_suffix.entry(base.clone()).or_insert(1);
        loop {
            *counter += 1;
            let suffix = format!("_{counter}");
            let mut candidate = base.clone();
            candidate.truncate(MAX_ID_LEN - suffix.len());
            candidate.push_str(&suffix);
            if self.used.insert(candidate.clone()) {
                return candidate;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dag_file_names_cannot_escape_the_folder() {
        assert_eq!(dag_file_name("daily"), "dbt_daily.py");
        assert_eq!(dag_file_name("../etc/passwd"), "dbt____etc_passwd.py");
        assert_eq!(dag_file_name("a b/c"), "dbt_a_b_c.py");
        assert_eq!(dag_file_name(""), "dbt__.py");
        assert_eq!(dag_file_name("é"), "dbt__.py");
    }

    #[test]
    fn long_names_are_cut_with_a_hash_of_the_whole() {
        let a = sanitize(&"x".repeat(300));
        let b = sanitize(&format!("{}y", "x".repeat(299)));
        assert_eq!(a.len(), MAX_ID_LEN);
        assert_ne!(a, b);
    }

    #[test]
    fn clashes_get_numbered_suffixes() {
        let mut namer = Namer::default();
        assert_eq!(namer.allocate("a.b"), "a_b");
        assert_eq!(namer.allocate("a_b"), "a_b_2");
        assert_eq!(namer.allocate("a b"), "a_b_3");
        assert!(namer.reserve("sync"));
        assert!(!namer.reserve("sync"));
        assert_eq!(namer.allocate("sync"), "sync_2");
    }
}
