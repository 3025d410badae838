//! Property: on any acyclic `needs` graph, stages respect every edge, and a step's stage is
//! exactly its depth. Checked through the whole path a user takes: YAML → load → plan.

use std::collections::HashMap;
use std::fmt::Write;

use dagship::git::{Git, Revision};
use dagship::plan::{self, PlanRequest};
use dagship::selection::Selection;
use proptest::prelude::*;

/// A random DAG: step `i` may need any steps before it in a hidden topological order; the file
/// lists steps in a shuffled order so that file order cannot hide a bug.
fn dag() -> impl Strategy<Value = (Vec<Vec<usize>>, Vec<usize>)> {
    (1usize..40).prop_flat_map(|n| {
        let needs = (0..n)
            .map(|i| proptest::sample::subsequence((0..i).collect::<Vec<_>>(), 0..=i.min(4)))
            .collect::<Vec<_>>();
        let order = Just((0..n).collect::<Vec<_>>()).prop_shuffle();
        (needs, order)
    })
}

fn pipeline_text(needs: &[Vec<usize>], order: &[usize]) -> String {
    let mut text = String::from("version: 1\nname: prop\nenvironments:\n  local: {}\nsteps:\n");
    for &i in order {
        let list: Vec<String> = needs[i].iter().map(|n| format!("s{n}")).collect();
        let _ = writeln!(
            text,
            "  s{i}:\n    uses: command\n    needs: [{}]\n    with: {{ argv: [\"true\"] }}",
            list.join(", ")
        );
    }
    text
}

fn depth(needs: &[Vec<usize>], i: usize, memo: &mut HashMap<usize, usize>) -> usize {
    if let Some(&d) = memo.get(&i) {
        return d;
    }
    let d = needs[i]
        .iter()
        .map(|&n| depth(needs, n, memo) + 1)
        .max()
        .unwrap_or(0);
    memo.insert(i, d);
    d
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn stages_respect_every_needs_edge((needs, order) in dag()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pipeline.yaml");
        std::fs::write(&path, pipeline_text(&needs, &order)).unwrap();
        let (pipeline, _) = dagship::pipeline::load(&path, &dagship::steps::Kinds).expect("an acyclic pipeline loads");
        let git = Git::fixed(Revision::default());
        let plan = plan::build(&PlanRequest {
            pipeline: &pipeline,
            environment: "local",
            selection: &Selection::All,
            git: &git,
            secrets: &HashMap::<String, String>::new(),
            live: false,
            releases: Default::default(),
        })
        .unwrap();
        let stage: HashMap<String, usize> =
            plan.steps.iter().map(|s| (s.id.clone(), s.stage)).collect();
        let mut memo = HashMap::new();
        for (i, step_needs) in needs.iter().enumerate() {
            let id = format!("s{i}");
            for n in step_needs {
                let need = format!("s{n}");
                prop_assert!(stage[&need] < stage[&id], "{} needs {}", id, need);
            }
            prop_assert_eq!(stage[&id], depth(&needs, i, &mut memo));
        }
        // `stages` partitions the steps, each list sorted.
        let listed: usize = plan.stages.iter().map(Vec::len).sum();
        prop_assert_eq!(listed, needs.len());
        for (s, ids) in plan.stages.iter().enumerate() {
            prop_assert!(ids.windows(2).all(|w| w[0] < w[1]));
            prop_assert!(ids.iter().all(|id| stage[id] == s));
        }
    }
}
