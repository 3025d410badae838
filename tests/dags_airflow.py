"""Loads folders of generated DAG files with Airflow's DagBag and writes what Airflow saw as
JSON (to a file: Airflow logs to standard output), for tests/dags_airflow/ to compare with
the manifest.

    .venv/bin/python tests/dags_airflow.py OUT.json DAGS_DIR...

Output: {"airflow": version,
         DAGS_DIR: {"import_errors": {file: error},
                    "discovered": [the files Airflow's safe-mode discovery would parse],
                    "dags": {dag_id: {"file": name, "seconds": import time of the file,
                                      "schedule": ..., "tags": [...], ...,
                                      "tasks": {task_id: {"operator": class name,
                                                          "upstream": [task ids],
                                                          "group": TaskGroup id or null,
                                                          "argv": words of the dbt command,
                                                          "job": "project/region/job" or null,
                                                          "pool": ..., "retries": ...}}}}}}

Works with Airflow 2.10 and 3.x. It also checks what the JSON does not show: that every
dependency is recorded on both of its tasks (upstream and downstream sets agree). Each DAG is
serialized as Airflow's DAG processor does before storing it; a DAG that cannot be is an
import error there, and here.
"""
import json
import os
import shlex
import sys
import tempfile
import time


def dag_bag_class():
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow 3
    except ImportError:
        from airflow.models.dagbag import DagBag  # Airflow 2
    return DagBag


def serialize(dag):
    """What the DAG processor does with every DAG it imports (`_serialize_dags`)."""
    try:
        from airflow.serialization.serialized_objects import DagSerialization  # Airflow 3
    except ImportError:
        from airflow.serialization.serialized_objects import SerializedDAG as DagSerialization
    DagSerialization.to_dict(dag)


def load(path, DagBag):
    try:
        return DagBag(dag_folder=path, include_examples=False)  # Airflow 2
    except TypeError:
        return DagBag(dag_folder=path)  # Airflow 3: examples are a setting only


def argv_of(task):
    command = getattr(task, "bash_command", None)
    if command is not None:
        return shlex.split(command)
    overrides = getattr(task, "overrides", None)
    if overrides:
        return ["<job>"] + list(overrides["container_overrides"][0]["args"])
    return None


def job_of(task):
    """The Cloud Run job a task executes, as "project/region/job"."""
    if getattr(task, "job_name", None) is None:
        return None
    return f"{task.project_id}/{task.region}/{task.job_name}"


def discovered(folder):
    """What the DAG processor would parse in `folder`: `.py` files that Airflow's safe-mode
    heuristic takes for DAG files."""
    from airflow.utils.file import list_py_file_paths

    return sorted(os.path.basename(p) for p in list_py_file_paths(folder, safe_mode=True))


def schedule_of(dag):
    """The cron expression (Airflow 3 keeps it on the timetable, 2.10 on the DAG)."""
    expression = getattr(dag.timetable, "expression", None)
    if isinstance(expression, str):
        return expression
    interval = getattr(dag, "schedule_interval", None)
    return interval if isinstance(interval, str) else None


def inspect(folder, DagBag):
    result = {"import_errors": {}, "dags": {}, "discovered": discovered(folder)}
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".py"):
            continue
        start = time.perf_counter()
        bag = load(os.path.join(folder, name), DagBag)
        seconds = time.perf_counter() - start
        for file, error in bag.import_errors.items():
            result["import_errors"][os.path.basename(file)] = error
        for dag_id, dag in bag.dags.items():
            try:
                serialize(dag)
            except Exception as e:  # an import error in Airflow's DAG processor
                result["import_errors"][name] = f"{type(e).__name__}: {e}"
                continue
            tasks = {}
            for task in dag.tasks:
                for up in task.upstream_task_ids:
                    if task.task_id not in dag.get_task(up).downstream_task_ids:
                        raise SystemExit(f"{dag_id}: {up} -> {task.task_id} missing downstream")
                for down in task.downstream_task_ids:
                    if task.task_id not in dag.get_task(down).upstream_task_ids:
                        raise SystemExit(f"{dag_id}: {task.task_id} -> {down} missing upstream")
                group = task.task_group
                tasks[task.task_id] = {
                    "operator": type(task).__name__,
                    "upstream": sorted(task.upstream_task_ids),
                    "group": group.group_id if group is not None and group.group_id else None,
                    "argv": argv_of(task),
                    "job": job_of(task),
                    "pool": task.pool,
                    "retries": task.retries,
                }
            result["dags"][dag_id] = {
                "file": name,
                "seconds": round(seconds, 3),
                "schedule": schedule_of(dag),
                "timetable": type(dag.timetable).__name__,
                "tags": sorted(dag.tags or []),
                "catchup": dag.catchup,
                "max_active_runs": dag.max_active_runs,
                "tasks": tasks,
            }
    return result


def main():
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    if "AIRFLOW_HOME" not in os.environ:
        os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="dagship-airflow-")
    import airflow

    DagBag = dag_bag_class()
    result = {"airflow": airflow.__version__}
    for folder in sys.argv[2:]:
        result[folder] = inspect(os.path.abspath(folder), DagBag)
    with open(sys.argv[1], "w") as out:
        json.dump(result, out, indent=None, sort_keys=True)


if __name__ == "__main__":
    main()
