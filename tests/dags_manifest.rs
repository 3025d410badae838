//! `dagship dags` reads manifests through a pruning pass (`src/dags/prune.rs`) that drops what
//! the reader would skip. The manifest it builds must be the reader's own, field for field,
//! whatever the chunk boundaries; and the header's hash is the file's sha256.

mod dbt_support;

use dagship::dags::{self, prune::Pruner};
use dagship::dbt::manifest::Manifest;
use sha2::{Digest, Sha256};

const PROJECTS: [&str; 4] = [
    "jaffle_shop",
    "mattermost_analytics",
    "tuva_integration_tests",
    "spellbook_daily",
];

fn pruned(bytes: &[u8], chunk: usize) -> Vec<u8> {
    let mut pruner = Pruner::default();
    let mut out = Vec::new();
    for piece in bytes.chunks(chunk) {
        pruner.feed(piece, &mut out);
    }
    out
}

#[test]
fn pruned_manifests_read_exactly_as_the_full_ones() {
    let dir = tempfile::tempdir().unwrap();
    for project in PROJECTS {
        let path = dbt_support::corpus_dir().join(format!("{project}.manifest.json.gz"));
        let bytes = dbt_support::gunzip(&path);
        let full = Manifest::from_slice(&bytes, &path).unwrap();
        let want = format!("{full:?}");

        // Odd chunk sizes put boundaries inside strings, escapes and keys.
        for chunk in [997, 65_536] {
            let small = pruned(&bytes, chunk);
            // (The corpus has its SQL and docs blanked already: less to drop than usual.)
            assert!(small.len() < bytes.len(), "{project}: nothing dropped");
            let read = Manifest::from_slice(&small, &path).unwrap();
            assert!(
                format!("{read:?}") == want,
                "{project}: pruned in chunks of {chunk} reads differently"
            );
        }

        let file = dir.path().join(format!("{project}.json"));
        std::fs::write(&file, &bytes).unwrap();
        let loaded = dags::load_manifest(&file).unwrap();
        assert!(
            format!("{:?}", loaded.manifest) == want,
            "{project}: load_manifest reads differently"
        );
        let sha: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(loaded.sha256, sha);
    }
}
