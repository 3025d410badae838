#!/usr/bin/env python3
"""What Airflow's DAG processor does with a DAG file, in both of its phases, for dagship's
file against astronomer-cosmos's `DbtDag` on the same manifest: import (DagBag, fresh process,
no .pyc) and serialization (`DagSerialization.to_dict` of each DAG, as the processor does
before storing it; then `from_dict`, what the scheduler and the UI do with the stored JSON).

    cargo build --release
    python3 bench/serialize.py --cosmos-python PY_WITH_ASTRONOMER_COSMOS
        [--python .venv/bin/python] [--baseline OLDER_DAGSHIP] [--manifests spellbook,10000]
        [--repeat 5] [--executors all] [--floor] [--json OUT] [--work DIR]

The two sides alternate, each run in a fresh interpreter; medians and ranges are printed with
the ratios. Without `--cosmos-python` only dagship's side runs. `--floor` adds Airflow's own
cost for the shape of dagship's file (bench/floor_dag.py: the same groups, tasks and edges as
EmptyOperators), the least any file of that shape can cost.

    PY bench/serialize.py --worker FILE OUT.json [--profile OUT.pstats]

is one measurement (used by the above): `--profile` writes cProfile's statistics of
`to_dict` alone.
"""
import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from inputs import BENCH, ROOT, cosmos_env, dagship_binary, synthetic_manifest


def airflow_serialization():
    sys.dont_write_bytecode = True
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ.setdefault("AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT", "3600")
    try:
        from airflow.serialization.serialized_objects import DagSerialization  # Airflow 3
    except ImportError:
        from airflow.serialization.serialized_objects import SerializedDAG as DagSerialization
    return DagSerialization


def clocks():
    return time.perf_counter(), time.process_time()


def dag_bag_class():
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow 3
    except ImportError:
        from airflow.models.dagbag import DagBag  # Airflow 2
    return DagBag


def worker(path, out, profile):
    """The DAG processor's side: import, then `to_dict` in the same process."""
    DagSerialization = airflow_serialization()
    DagBag = dag_bag_class()
    # As the DAG processor does before it parses a file (`parsing_pre_import_modules`, on by
    # default): the `airflow.*` modules the file imports are loaded first, untimed. (cosmos's
    # own modules are not `airflow.*`: Airflow loads them with the file, and so does this.)
    import importlib

    from airflow.utils.file import iter_airflow_imports

    for module in iter_airflow_imports(path):
        try:
            importlib.import_module(module)
        except ImportError:
            pass  # the Airflow 2 fallback of a `try: ... except ImportError:` import

    started = clocks()
    bag = DagBag(dag_folder=path)
    imported = clocks()
    if bag.import_errors or not bag.dags:
        raise SystemExit(f"{path}: import errors {bag.import_errors}")
    dags = list(bag.dags.values())
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    start = clocks()
    stored = [json.dumps(DagSerialization.to_dict(dag)) for dag in dags]
    serialized = clocks()
    if profile:
        profiler.disable()
        profiler.dump_stats(profile)
    with open(out + ".dags.json", "w") as f:
        json.dump(stored, f)
    result = {"tasks": sum(len(d.tasks) for d in dags),
              "groups": sum(len(d.task_group.get_task_group_dict()) - 1 for d in dags),
              "json_bytes": sum(len(t) for t in stored)}
    for phase, (a, b) in (("import", (started, imported)), ("to_dict", (start, serialized))):
        result[phase], result[phase + "_cpu"] = b[0] - a[0], b[1] - a[1]
    with open(out, "w") as f:
        json.dump(result, f)


def deserialize_worker(stored_path, out):
    """The scheduler's and the UI's side, in a process of their own: `from_dict` of the JSON."""
    DagSerialization = airflow_serialization()
    with open(stored_path) as f:
        stored = json.load(f)
    start = clocks()
    for text in stored:
        DagSerialization.from_dict(json.loads(text))
    done = clocks()
    with open(out, "w") as f:
        json.dump({"from_dict": done[0] - start[0], "from_dict_cpu": done[1] - start[1]}, f)


def measure(python, path, env=None):
    with tempfile.NamedTemporaryFile("r", suffix=".json") as out:
        quiet = dict(check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run([python, os.path.abspath(__file__), "--worker", path, out.name], env=env, **quiet)
        result = json.load(out)
        subprocess.run([python, os.path.abspath(__file__), "--deserialize", out.name + ".dags.json", out.name],
                       **quiet)
        out.seek(0)
        result.update(json.load(out))
        os.remove(out.name + ".dags.json")
    result["import+to_dict"] = result["import"] + result["to_dict"]
    result["import+to_dict_cpu"] = result["import_cpu"] + result["to_dict_cpu"]
    return result


def manifest(work, name):
    """The corpus's spellbook (unzipped), or a synthetic manifest of N models whose names are
    unique across packages (cosmos cannot load two models of one name: duplicate TaskGroup)."""
    if name == "spellbook":
        path = os.path.join(work, "spellbook_daily.manifest.json")
        if not os.path.exists(path):
            with gzip.open(os.path.join(ROOT, "tests", "corpus", "spellbook_daily.manifest.json.gz")) as src, \
                    open(path, "wb") as dst:
                shutil.copyfileobj(src, dst)
        return path
    return synthetic_manifest(work, name, unique_names=True)


def shape_worker(path, out):
    """The shape of the DAG in `path`, for bench/floor_dag.py: one row per task, upstream tasks
    first, [its TaskGroup or "", its id within the group, rows of its upstream tasks]."""
    airflow_serialization()
    (dag,) = dag_bag_class()(dag_folder=path).dags.values()
    waiting = {task_id: len(task.upstream_task_ids) for task_id, task in dag.task_dict.items()}
    order = [task_id for task_id, count in waiting.items() if count == 0]
    for task_id in order:  # grows as tasks become ready: Kahn's topological order
        for child in sorted(dag.task_dict[task_id].downstream_task_ids):
            waiting[child] -= 1
            if waiting[child] == 0:
                order.append(child)
    row = {task_id: i for i, task_id in enumerate(order)}
    rows = []
    for task_id in order:
        task = dag.task_dict[task_id]
        group = task.task_group
        if group is not None and not group.is_root and not group.parent_group.is_root:
            raise SystemExit(f"{path}: nested TaskGroup {group.group_id}: not a shape floor_dag.py builds")
        group_id = "" if group is None or group.is_root else group.group_id
        rows.append([group_id, task.label, sorted(row[u] for u in task.upstream_task_ids)])
    with open(out, "w") as f:
        json.dump(rows, f)


def floor_side(python, path, env, work, label):
    """bench/floor_dag.py built to the shape of the DAG file `path` (loaded by `python`)."""
    rows = os.path.join(work, f"{label}_rows.json")
    subprocess.run([python, os.path.abspath(__file__), "--shape", path, rows], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return python, os.path.join(BENCH, "floor_dag.py"), dict(os.environ, BENCH_FLOOR_ROWS=rows), []


def cpu_ratios(sides, top, bottom):
    """Each column's median CPU time of side `top` over side `bottom`."""
    return ", ".join(f"{c} {summary(sides[top][3], c + '_cpu')[0] / summary(sides[bottom][3], c + '_cpu')[0]:.2f}x"
                     for c in COLUMNS)


def summary(runs, key):
    values = [r[key] for r in runs]
    return statistics.median(values), min(values), max(values)


COLUMNS = ("import", "to_dict", "import+to_dict", "from_dict")


# The executors' settings, as in tests/dags_executors_cli.rs: each one's file is measured beside
# the bash executor's (`--executors`), to hold them within 1.5x of it.
EXECUTORS = {
    "cloud_run_job": ["--project=acme", "--region=europe-west1", "--job=dbt-runner"],
    "kubernetes_pod": ["--image=acme/dbt:1", "--namespace=data", "--service-account=dbt",
                       "--request=cpu=500m", "--limit=memory=2Gi",
                       "--secret-env=DBT_PASSWORD=dbt:password"],
    "docker": ["--image=acme/dbt:1", "--network=warehouse", "--mount=/srv/dbt:/dbt:ro"],
    "dbt_cloud": ["--job-id=42", "--account-id=7", "--conn-id=dbt_cloud_acme"],
    "ecs_task": ["--cluster=data", "--task-definition=dbt:3", "--container-name=dbt",
                 "--subnet=subnet-0a", "--security-group=sg-0c", "--awslogs-group=/ecs/dbt"],
}


def compare(binaries, python, cosmos_python, work, name, repeat, executors=(), floor=False):
    """binaries: {label: dagship binary}; each writes its file (and the first one each of
    `executors`' files), then every side runs once per round, in turn, `repeat` rounds."""
    m = manifest(work, name)
    sides = {}
    runs = [(label, binary, []) for label, binary in binaries.items()]
    first = next(iter(binaries.values()))
    runs += [(executor, first, ["--executor", executor] + EXECUTORS[executor]) for executor in executors]
    for label, binary, flags in runs:
        out = os.path.join(work, f"serialize_{label}_{name}")
        subprocess.run([binary, "dags", "--manifest", m, "--out", out, "-q"] + flags, check=True)
        sides[label] = (python, os.path.join(out, "dbt_all.py"), None, [])
    if cosmos_python:
        sides["cosmos"] = (cosmos_python, os.path.join(BENCH, "cosmos_dag.py"), cosmos_env(work, m), [])
    if floor:
        sides["floor"] = floor_side(python, sides["dagship"][1], None, work, f"floor_{name}")
    if floor and cosmos_python:
        cosmos = sides["cosmos"]
        sides["cosmos floor"] = floor_side(cosmos[0], cosmos[1], cosmos[2], work, f"cosmos_floor_{name}")
    for _ in range(repeat):
        for py, path, env, runs in sides.values():
            runs.append(measure(py, path, env))
    print(f"\n## {name}: median (min-max) of {repeat} fresh processes, seconds; wall, then CPU")
    print(f"{'':>12} {'tasks':>6} {'groups':>6} {'JSON':>7} " + " ".join(f"{c:>19}" for c in COLUMNS))
    for label, (_, _, _, runs) in sides.items():
        for clock in ("", "_cpu"):
            cells = [f"{med:>6.2f} ({lo:5.2f}-{hi:5.2f})" for med, lo, hi in
                     (summary(runs, c + clock) for c in COLUMNS)]
            r = runs[0]
            head = (f"{label:>12} {r['tasks']:>6} {r['groups']:>6} {r['json_bytes'] / 1e6:>5.1f}MB" if not clock
                    else f"{'  (CPU)':>12} {'':>6} {'':>6} {'':>7}")
            print(head + " " + " ".join(cells))
    for executor in executors:
        print(f"{executor} / bash (CPU medians): " + cpu_ratios(sides, executor, "dagship"))
    if floor:
        print("dagship / floor (CPU medians): " + cpu_ratios(sides, "dagship", "floor"))
    if cosmos_python:
        for label in list(binaries) + (["floor", "cosmos floor"] if floor else []):
            for clock in ("", "_cpu"):
                ratios = [f"{c} {summary(sides['cosmos'][3], c + clock)[0] / summary(sides[label][3], c + clock)[0]:.1f}x"
                          for c in COLUMNS]
                print(f"cosmos / {label} ({'CPU' if clock else 'wall'} medians): " + ", ".join(ratios))
    return sides


def main():
    if len(sys.argv) > 1 and sys.argv[1] in ("--worker", "--deserialize", "--shape"):
        ap = argparse.ArgumentParser()
        ap.add_argument("--worker")
        ap.add_argument("--deserialize")
        ap.add_argument("--shape")
        ap.add_argument("out")
        ap.add_argument("--profile")
        args = ap.parse_args()
        if args.worker:
            worker(args.worker, args.out, args.profile)
        elif args.shape:
            shape_worker(args.shape, args.out)
        else:
            deserialize_worker(args.deserialize, args.out)
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", default=os.path.join(ROOT, ".venv", "bin", "python"),
                    help="a Python with Airflow installed")
    ap.add_argument("--cosmos-python", help="a Python with Airflow and astronomer-cosmos")
    ap.add_argument("--baseline", help="another dagship binary (an older build) measured in the same rounds")
    ap.add_argument("--manifests", default="spellbook,10000",
                    help="comma-separated: spellbook (the corpus's) or a synthetic model count")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--executors", default="",
                    help="comma-separated executors measured beside bash, or `all`: " + ", ".join(EXECUTORS))
    ap.add_argument("--floor", action="store_true",
                    help="also measure Airflow's own cost for the shape of dagship's file (bench/floor_dag.py)")
    ap.add_argument("--json", help="write every run's numbers here")
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "dagship-bench"))
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    binaries = {"dagship": dagship_binary()}
    if args.baseline:
        binaries["baseline"] = args.baseline
    started = time.time()
    print(f"load average at the start: {os.getloadavg()[0]:.2f}")
    everything = {}
    for name in args.manifests.split(","):
        executors = list(EXECUTORS) if args.executors == "all" else [e for e in args.executors.split(",") if e]
        sides = compare(binaries, args.python, args.cosmos_python, args.work, name, args.repeat, executors,
                        args.floor)
        everything[name] = {label: side[3] for label, side in sides.items()}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(everything, f, indent=1)
    print(f"\n(load average at the end {os.getloadavg()[0]:.2f}; took {time.time() - started:.0f}s; "
          f"work files in {args.work})")


if __name__ == "__main__":
    main()
