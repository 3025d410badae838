"""What the benchmarks measure and feed, shared by bench/dags.py and bench/serialize.py: the
release binary, generated manifests, and the dbt project astronomer-cosmos needs beside one."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")


def dagship_binary():
    """Builds the release binary (a no-op when it is up to date) and gives its path."""
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    subprocess.run(["cargo", "build", "--release", "-q"], cwd=ROOT, check=True)
    return os.path.join(target, "release", "dagship")


def synthetic_manifest(work, models, unique_names=False):
    """bench/gen_manifest.py's manifest of `models` models, written once into `work`.
    `unique_names`: no two packages share a model name (cosmos cannot load that: duplicate
    TaskGroup id)."""
    path = os.path.join(work, f"manifest_{models}{'_unique' if unique_names else ''}.json")
    if not os.path.exists(path):
        cmd = [sys.executable, os.path.join(BENCH, "gen_manifest.py"), "--models", str(models), "--out", path]
        subprocess.run(cmd + (["--unique-names"] if unique_names else []), check=True)
    return path


def cosmos_env(work, manifest_path):
    """The environment bench/cosmos_dag.py reads: a dbt project (only its project and profile
    files: cosmos reads the models from the manifest) and the manifest."""
    project = os.path.join(work, "cosmos_project")
    os.makedirs(os.path.join(project, "models"), exist_ok=True)
    with open(os.path.join(project, "dbt_project.yml"), "w") as f:
        f.write('name: bench_project\nversion: "1.0"\nconfig-version: 2\nprofile: bench\n')
    with open(os.path.join(project, "profiles.yml"), "w") as f:
        f.write('bench:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: ":memory:"\n')
    return dict(os.environ, BENCH_COSMOS_PROJECT=project, BENCH_MANIFEST=manifest_path)
