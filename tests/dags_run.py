"""Runs every DAG of some folders of generated DAG files for real, one `dag.test()` each (no
scheduler: Airflow's own minimal loop runs the ready tasks one by one, in this process), and
writes what happened as JSON (to a file: Airflow logs to standard output), for
tests/dags_run.rs to compare with the manifest.

    .venv/bin/python tests/dags_run.py OUT.json DAGS_DIR...

in Airflow 3 or 2.10 (.venv-airflow2/bin/python; `dbt` must be on PATH).

AIRFLOW_HOME must be a fresh folder: its SQLite metadata DB is created here. Each folder is
its own DAG bundle (each has its own dagship_settings.py); DAG ids must differ across folders.
With DAGSHIP_DBT_LOGS set, each DAG's dbt commands log into DAGSHIP_DBT_LOGS/<dag_id>.

Output: {"airflow": version,
         dag_id: {"state": the run's state,
                  "tasks": {task_id: {"state": ..., "start": seconds, "end": seconds,
                                      "upstream": [task ids]}}}}
"""
import json
import os
import sys
import time

# (dag id, task id) -> when the task began to execute, for Airflow 2.10, whose `dag.test()`
# leaves a task instance's start_date empty (it skips the step of the task runner that sets it).
STARTED = {}


def configure(folders):
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = (
        "sqlite:///" + os.path.join(os.environ["AIRFLOW_HOME"], "airflow.db")
    )
    bundles = [
        {
            "name": f"run{i}",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": folder, "refresh_interval": 0},
        }
        for i, folder in enumerate(folders)
    ]
    os.environ["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] = json.dumps(bundles)


def seconds(moment):
    return moment.timestamp() if moment is not None else None


def note_starts(dag):
    def started(context):
        STARTED[(dag.dag_id, context["task"].task_id)] = time.time()

    for task in dag.tasks:
        task.on_execute_callback = started


def run(dag):
    import airflow
    from airflow.utils.session import create_session
    from airflow.models.dagrun import DagRun

    if airflow.__version__.startswith("2."):
        note_starts(dag)

    logs = os.environ.get("DAGSHIP_DBT_LOGS")
    if logs:  # the bash tasks inherit this process's environment
        os.environ["DBT_LOG_PATH"] = os.path.join(logs, dag.dag_id)
    dag.test()
    with create_session() as session:
        (dag_run,) = session.query(DagRun).filter(DagRun.dag_id == dag.dag_id).all()
        tasks = {
            ti.task_id: {
                "state": str(ti.state.value if hasattr(ti.state, "value") else ti.state),
                "start": seconds(ti.start_date) or STARTED.get((dag.dag_id, ti.task_id)),
                "end": seconds(ti.end_date),
                "upstream": sorted(dag.get_task(ti.task_id).upstream_task_ids),
            }
            for ti in dag_run.get_task_instances(session=session)
        }
        state = dag_run.state
        return {"state": str(getattr(state, "value", state)), "tasks": tasks}


def main():
    out, folders = sys.argv[1], [os.path.abspath(f) for f in sys.argv[2:]]
    configure(folders)
    import airflow
    try:  # Airflow 3
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2
        from airflow.models.dagbag import DagBag
    from airflow.utils.db import resetdb

    resetdb()
    result = {"airflow": airflow.__version__}
    for folder in folders:
        bag = DagBag(dag_folder=folder)
        if bag.import_errors:
            raise SystemExit(f"import errors in {folder}: {bag.import_errors}")
        for dag_id, dag in sorted(bag.dags.items()):
            result[dag_id] = run(dag)
    with open(out, "w") as file:
        json.dump(result, file, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
