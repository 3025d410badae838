"""Loads every DAG file the test suite generated and kept (tests/kept_dags/mod.rs) in this
Python's Airflow, each file in a DagBag of its own, and serializes each DAG as the DAG
processor does: any import error fails. The last phase of scripts/test.sh:

    .venv/bin/python tests/load_kept_dags.py KEPT_DIR            # Airflow 3
    .venv-airflow2/bin/python tests/load_kept_dags.py KEPT_DIR   # Airflow 2.10

KEPT_DIR holds one folder per test binary, one folder per kept set of files below it. A
test binary named in EXPECTED that kept nothing is an error too: the suite's wiring to this
check must not rot unnoticed. Airflow 2.10's venv has only the providers of the `bash` and
`cloud_run_job` executors (what Cloud Composer 2 runs them with); files of the other
executors are loaded in Airflow 3 only.
"""
import os
import re
import sys
import tempfile
import time

import dags_airflow  # beside this file: how tests/dags_airflow/ loads and serializes

# The test binaries that generate DAG files, each of which must have kept some.
EXPECTED = [
    "dags_cli",
    "dags_diff",
    "dags_executors",
    "dags_executors_cli",
    "dags_hostile_prop",
    "dags_limits",
    "dags_notify",
    "dags_prop",
    "dags_prune",
    "dags_run",
    "promote_example",
    "dbt_hostile",
    "warehouse",
]

# Executors whose operators Airflow 2.10's venv can import (requirements-airflow2.txt).
AIRFLOW_2_EXECUTORS = {"bash", "cloud_run_job"}

EXECUTOR = re.compile(r"^# .*; executor (\w+)\.$", re.MULTILINE)


def airflow():
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ.setdefault("AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT", "600")
    if "AIRFLOW_HOME" not in os.environ:
        os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="dagship-airflow-")
    import airflow as package

    return package.__version__


def dag_files(kept):
    """(test binary, path) of each kept DAG file, settings modules left out."""
    for binary in sorted(os.listdir(kept)):
        for folder in sorted(os.listdir(os.path.join(kept, binary))):
            at = os.path.join(kept, binary, folder)
            for name in sorted(os.listdir(at)):
                if name.endswith(".py") and name != "dagship_settings.py":
                    yield binary, os.path.join(at, name)


def load(path, DagBag):
    """The import error of `path`, or None when it gave DAGs that serialize."""
    bag = dags_airflow.load(path, DagBag)
    if bag.import_errors:
        return "\n".join(bag.import_errors.values())
    if not bag.dags:
        return "no DAG in the file"
    for dag in bag.dags.values():
        dags_airflow.serialize(dag)
    return None


def main():
    kept = sys.argv[1]
    version = airflow()
    DagBag = dags_airflow.dag_bag_class()
    started = time.monotonic()
    loaded, skipped, errors, per_binary = 0, 0, [], {}
    for binary, path in dag_files(kept):
        per_binary[binary] = per_binary.get(binary, 0) + 1
        with open(path, encoding="utf-8") as file:
            found = EXECUTOR.search(file.read(4096))
        if version.startswith("2.") and found and found.group(1) not in AIRFLOW_2_EXECUTORS:
            skipped += 1
            continue
        error = load(path, DagBag)
        loaded += 1
        if error:
            errors.append(f"{os.path.relpath(path, kept)}:\n{error}")
    missing = [b for b in EXPECTED if not per_binary.get(b)]
    print(
        f"Airflow {version}: {loaded} kept DAG files loaded, {skipped} of other executors "
        f"left to Airflow 3, from {len(per_binary)} test binaries, "
        f"in {time.monotonic() - started:.1f} s",
        file=sys.stderr,
    )
    for binary, count in sorted(per_binary.items()):
        print(f"  {binary}: {count}", file=sys.stderr)
    if missing:
        errors.append("no DAG file kept by: " + ", ".join(missing))
    if errors:
        raise SystemExit("\n\n".join(errors))


if __name__ == "__main__":
    main()
