//! Load, check and plan a generated 1,000-step pipeline (target: under 100 ms in all).
//!
//! `cargo bench --bench plan`; criterion prints the median of each stage and of the whole.

use std::collections::HashMap;
use std::fmt::Write;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use dagship::git::{Git, Revision};
use dagship::plan::{self, PlanRequest};
use dagship::selection::Selection;

const STEPS: usize = 1_000;
const LAYER: usize = 50;

/// Layers of 50 steps; each step needs up to three steps of earlier layers, mixes the local
/// kinds, and uses expressions, so that every check and resolution path is exercised.
fn generate() -> String {
    let mut seed: u64 = 0x5eed;
    let mut next = move |n: usize| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) as usize) % n
    };
    let mut text = String::from(
        "version: 1\nname: bench\nenvironments:\n  local:\n    vars: { target: local }\n  \
         prod:\n    project: p\n    region: europe-west1\n    vars: { target: prod }\nsteps:\n",
    );
    for i in 0..STEPS {
        let _ = writeln!(text, "  s{i}:");
        if i >= LAYER {
            let mut needs: Vec<String> = (0..1 + next(3))
                .map(|_| format!("s{}", next(i - i % LAYER)))
                .collect();
            needs.push(format!("s{}", i - LAYER)); // the step whose output case 3 reads
            let _ = writeln!(text, "    needs: [{}]", needs.join(", "));
        }
        let body = match i % 4 {
            0 => "    uses: dbt\n    with: { command: build, project_dir: dbt, target: \"${{ vars.target }}\", select: [\"tag:x\"] }".to_string(),
            1 => "    uses: command\n    timeout: 5m\n    with: { argv: [echo, \"${{ env.name }}\", \"${{ git.sha }}\"] }".to_string(),
            2 => "    uses: alembic\n    with: { config: m/alembic.ini, url: \"${{ secrets.DB_URL }}\" }".to_string(),
            _ if i >= LAYER => format!(
                "    uses: command\n    with: {{ argv: [echo, \"${{{{ steps.s{}.outputs.x }}}}\"] }}",
                i - LAYER
            ),
            _ => "    uses: command\n    with: { argv: [\"true\"] }".to_string(),
        };
        let _ = writeln!(text, "{body}");
    }
    text
}

fn plan_of(path: &Path) -> plan::Plan {
    let (pipeline, _) = dagship::pipeline::load(path, &dagship::steps::Kinds)
        .expect("the generated pipeline is valid");
    let git = Git::fixed(Revision::default());
    plan::build(&PlanRequest {
        pipeline: &pipeline,
        environment: "prod",
        selection: &Selection::All,
        git: &git,
        secrets: &HashMap::<String, String>::new(),
        live: false,
        releases: Default::default(),
    })
    .expect("plan")
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pipeline.yaml");
    std::fs::write(&path, generate()).unwrap();
    assert_eq!(plan_of(&path).summary.steps, STEPS);
    c.bench_function("load 1000 steps", |b| {
        b.iter(|| dagship::pipeline::load(&path, &dagship::steps::Kinds).unwrap())
    });
    c.bench_function("load + plan + render 1000 steps", |b| {
        b.iter(|| plan::text::render(&plan_of(&path)))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
