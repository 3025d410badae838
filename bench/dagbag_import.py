"""Imports one DAG file with Airflow's DagBag in a fresh process and prints, as JSON, the time
with interpreter start and Airflow's own imports (`total`), the DagBag alone (`dagbag`), the
peak RSS in MB, the task count and any import error.

    PYTHON bench/dagbag_import.py FILE [OUT.json]

No `.pyc` is written (as on a read-only DAG folder): every run compiles the file.
Environment variables the file needs (astronomer-cosmos' manifest path) pass through.
"""
import json
import os
import resource
import sys
import time

START = time.perf_counter()
sys.dont_write_bytecode = True
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
# The naive and cosmos files take minutes at 50k tasks: measure them, do not time them out.
os.environ.setdefault("AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT", "3600")

try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:
    from airflow.models.dagbag import DagBag
import airflow.providers.standard.operators.bash  # noqa: F401  (loaded before timing, as in a DAG processor)


def main():
    path = sys.argv[1]
    started = time.perf_counter()
    try:
        bag = DagBag(dag_folder=path, include_examples=False)
    except TypeError:
        bag = DagBag(dag_folder=path)
    done = time.perf_counter()
    dag = next(iter(bag.dags.values()), None)
    result = {
        "total": round(done - START, 3),
        "dagbag": round(done - started, 3),
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "tasks": len(dag.tasks) if dag else 0,
        "errors": [str(e)[-300:] for e in bag.import_errors.values()],
    }
    text = json.dumps(result)
    if len(sys.argv) > 2:
        with open(sys.argv[2], "w") as f:
            f.write(text)
    else:
        print(text)


if __name__ == "__main__":
    main()
