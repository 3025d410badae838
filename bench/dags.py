#!/usr/bin/env python3
"""dagship's DAG generator against the alternatives, every side measured in the same run.

1. Generation: `dagship dags` (release build) against a minimal Python generator
   (bench/naive_generator.py: json.load, one task per model, write) on synthetic manifests
   (bench/gen_manifest.py) of 1k, 10k and 50k models: wall time and peak RSS.
2. Airflow's import time (DagBag, fresh process, no .pyc) of dagship's file against the
   naive static file (one operator per model, one `>>` per edge) with the same task count
   (`--tests none`), and against an astronomer-cosmos `DbtDag` (LoadMode.DBT_MANIFEST, tests
   after each model) on the same manifest, when cosmos is installed beside Airflow.
3. Selector evaluation: `dbt ls --selector NAME` (partial parsing warm) against
   `dagship dags --list` (load the manifest, evaluate, list) and against generating that
   selector's DAG, on a generated dbt project.

    cargo build --release
    python3 bench/dags.py [--sizes 1000,10000,50000] [--python .venv/bin/python]
                          [--cosmos-python PY] [--naive-import-max 10000] [--work DIR]

Targets (issue 4): generation >= 30x the naive generator at 50k, peak memory <= 1.5x the
manifest, DagBag import >= 10x faster than cosmos, selector evaluation >= 100x dbt ls.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from inputs import BENCH, ROOT, cosmos_env, dagship_binary, synthetic_manifest


def timed(cmd, env=None, cwd=None):
    """Wall seconds (measured here: GNU time rounds to 10 ms) and peak RSS (MB, from GNU time)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as out:
        start = time.perf_counter()
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out.name] + cmd, check=True,
                       stdout=subprocess.DEVNULL, env=env, cwd=cwd)
        seconds = time.perf_counter() - start
        kb = out.read().split()[-1]
    return seconds, int(kb) / 1024


def best_of(n, cmd, **kw):
    runs = [timed(cmd, **kw) for _ in range(n)]
    return statistics.median(r[0] for r in runs), max(r[1] for r in runs)


def dagbag(python, path, env=None):
    with tempfile.NamedTemporaryFile("r", suffix=".json") as out:
        subprocess.run([python, os.path.join(BENCH, "dagbag_import.py"), path, out.name], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        result = json.load(out)
    if result["errors"]:
        raise SystemExit(f"{path}: import errors {result['errors']}")
    return result


def generation(dagship, work, sizes, repeat):
    print("\n## Generation: dagship dags (release) vs a minimal Python generator")
    print(f"{'models':>7} {'manifest':>9} {'dagship':>9} {'peak':>8} {'peak/size':>9} "
          f"{'python':>8} {'peak':>8} {'speed-up':>8}")
    rows = []
    for models in sizes:
        m = synthetic_manifest(work, models)
        size_mb = os.path.getsize(m) / 1e6
        out = os.path.join(work, f"dags_{models}")
        ours, ours_mb = best_of(repeat, [dagship, "dags", "--manifest", m, "--out", out, "-q"])
        naive_file = os.path.join(work, f"naive_{models}.py")
        theirs, theirs_mb = best_of(1 if models > 10000 else repeat,
                                    [sys.executable, os.path.join(BENCH, "naive_generator.py"), m, naive_file])
        rows.append((models, ours, theirs))
        print(f"{models:>7} {size_mb:>7.0f}MB {ours:>8.2f}s {ours_mb:>6.0f}MB {ours_mb / size_mb:>8.2f}x "
              f"{theirs:>7.2f}s {theirs_mb:>6.0f}MB {theirs / ours:>7.1f}x")
    return rows


def imports(dagship, python, cosmos_python, work, sizes, naive_max, cosmos_max):
    print("\n## Airflow DagBag import of one file (fresh process, no .pyc): seconds in DagBag / total, peak RSS")
    for models in sizes:
        m = synthetic_manifest(work, models)
        for tests in ("after_each", "none"):
            out = os.path.join(work, f"dags_{models}_{tests}")
            subprocess.run([dagship, "dags", "--manifest", m, "--out", out, "--tests", tests, "-q"], check=True)
            r = dagbag(python, os.path.join(out, "dbt_all.py"))
            print(f"{models:>7} models  dagship tests={tests:<10} {r['tasks']:>6} tasks "
                  f"{r['dagbag']:>7.2f}s / {r['total']:>6.2f}s {r['rss_mb']:>5}MB")
            if tests == "none" and models <= naive_max:
                naive_file = os.path.join(work, f"naive_{models}.py")
                if not os.path.exists(naive_file):
                    subprocess.run([sys.executable, os.path.join(BENCH, "naive_generator.py"), m, naive_file], check=True)
                n = dagbag(python, naive_file)
                print(f"{models:>7} models  naive static file     {n['tasks']:>6} tasks "
                      f"{n['dagbag']:>7.2f}s / {n['total']:>6.2f}s {n['rss_mb']:>5}MB   "
                      f"-> dagship {n['dagbag'] / r['dagbag']:.1f}x faster")
        if cosmos_python and models <= cosmos_max:
            cosmos_vs_dagship(dagship, cosmos_python, work, models)


def cosmos_vs_dagship(dagship, python, work, models):
    # cosmos cannot load two packages' models of the same name (duplicate TaskGroup id):
    # both sides read a manifest without such names.
    m = synthetic_manifest(work, models, unique_names=True)
    c = dagbag(python, os.path.join(BENCH, "cosmos_dag.py"), env=cosmos_env(work, m))
    out = os.path.join(work, f"dags_{models}_unique")
    subprocess.run([dagship, "dags", "--manifest", m, "--out", out, "-q"], check=True)
    r = dagbag(python, os.path.join(out, "dbt_all.py"))
    print(f"{models:>7} models  cosmos DbtDag         {c['tasks']:>6} tasks "
          f"{c['dagbag']:>7.2f}s / {c['total']:>6.2f}s {c['rss_mb']:>5}MB")
    print(f"{models:>7} models  dagship (same)        {r['tasks']:>6} tasks "
          f"{r['dagbag']:>7.2f}s / {r['total']:>6.2f}s {r['rss_mb']:>5}MB   "
          f"-> dagship {c['dagbag'] / r['dagbag']:.1f}x faster (DagBag), {c['total'] / r['total']:.1f}x (total)")


def dbt_project(work, models):
    """A dbt project of `models` models in three layers, with tests and three selectors."""
    root = os.path.join(work, f"dbt_project_{models}")
    if os.path.exists(os.path.join(root, "selectors.yml")):
        return root
    third = models // 3
    schema = ["version: 2", "models:"]
    for i in range(models):
        layer = "staging" if i < third else "intermediate" if i < 2 * third else "marts"
        folder = os.path.join(root, "models", layer if layer != "marts" else f"marts/domain_{i % 8}")
        os.makedirs(folder, exist_ok=True)
        refs = [] if layer == "staging" else [i - third, (i * 7) % third + (third if layer == "marts" else 0)]
        body = "select 1 as id" if not refs else " union all ".join(
            f"select id from {{{{ ref('m_{r}') }}}}" for r in refs)
        tags = f"['{layer}', '{'hourly' if i % 3 == 0 else 'daily'}']"
        with open(os.path.join(folder, f"m_{i}.sql"), "w") as f:
            f.write(f"{{{{ config(materialized='view', tags={tags}) }}}}\n{body}\n")
        schema.append(f"  - name: m_{i}\n    columns:\n      - name: id\n        data_tests: [not_null]")
    with open(os.path.join(root, "models", "schema.yml"), "w") as f:
        f.write("\n".join(schema) + "\n")
    with open(os.path.join(root, "dbt_project.yml"), "w") as f:
        f.write("name: bench\nversion: '1.0'\nconfig-version: 2\nprofile: bench\n"
                "flags:\n  send_anonymous_usage_stats: false\n")
    with open(os.path.join(root, "profiles.yml"), "w") as f:
        f.write("bench:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: ':memory:'\n")
    with open(os.path.join(root, "selectors.yml"), "w") as f:
        f.write("selectors:\n"
                "  - name: hourly\n    definition: 'tag:hourly+'\n"
                "  - name: domain\n    definition: {method: path, value: models/marts/domain_1, parents: true}\n"
                "  - name: daily_marts\n    definition:\n      intersection:\n"
                "        - {method: tag, value: daily}\n        - {method: tag, value: marts}\n")
    return root


def selectors(dagship, python, work, models, repeat):
    print(f"\n## Selector evaluation on a {models}-model dbt project: dbt ls --selector vs dagship dags")
    root = dbt_project(work, models)
    dbt = os.path.join(os.path.dirname(python), "dbt")
    base = ["--project-dir", root, "--profiles-dir", root]
    subprocess.run([dbt, "parse"] + base, check=True, stdout=subprocess.DEVNULL)  # warm partial parsing
    manifest_path = os.path.join(root, "target", "manifest.json")
    ratios = []
    for name in ("hourly", "domain", "daily_marts"):
        one = os.path.join(work, f"selector_{name}.yml")
        with open(os.path.join(root, "selectors.yml")) as f:
            text = f.read()
        start = text.index(f"  - name: {name}\n")
        end = text.find("  - name:", start + 1)
        with open(one, "w") as f:
            f.write("selectors:\n" + text[start:end if end > 0 else None])
        theirs, _ = best_of(repeat, [dbt, "ls", "--selector", name, "--output", "json",
                                     "--output-keys", "unique_id"] + base)
        listed, _ = best_of(repeat, [dagship, "dags", "--manifest", manifest_path, "--selectors", one, "--list"])
        dag, _ = best_of(repeat, [dagship, "dags", "--manifest", manifest_path, "--selectors", one,
                                  "--out", os.path.join(work, f"sel_{name}"), "-q"])
        ratios.append(theirs / listed)
        print(f"  {name:<12} dbt ls {theirs:>6.2f}s   dagship dags --list {listed * 1000:>6.1f}ms "
              f"({theirs / listed:>4.0f}x)   dagship dags (writing the DAG) {dag * 1000:>6.1f}ms "
              f"({theirs / dag:>4.0f}x)")
    return ratios


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000,50000")
    ap.add_argument("--python", default=os.path.join(ROOT, ".venv", "bin", "python"),
                    help="a Python with Airflow (and dbt) installed")
    ap.add_argument("--cosmos-python", help="a Python with Airflow and astronomer-cosmos")
    ap.add_argument("--cosmos-max", type=int, default=10000)
    ap.add_argument("--naive-import-max", type=int, default=10000,
                    help="largest size whose naive static file is imported (50k takes minutes)")
    ap.add_argument("--selector-models", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "dagship-bench"))
    ap.add_argument("--skip", default="", help="comma-separated: generation,imports,selectors")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    skip = set(filter(None, args.skip.split(",")))
    dagship = dagship_binary()
    started = time.time()
    if "generation" not in skip:
        generation(dagship, args.work, sizes, args.repeat)
    if "imports" not in skip:
        imports(dagship, args.python, args.cosmos_python, args.work, sizes, args.naive_import_max, args.cosmos_max)
    if "selectors" not in skip:
        selectors(dagship, args.python, args.work, args.selector_models, args.repeat)
    print(f"\n(benchmark took {time.time() - started:.0f}s; work files in {args.work})")


if __name__ == "__main__":
    main()
