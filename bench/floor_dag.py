# The least Airflow itself spends on the shape of dagship's DAG file, for bench/serialize.py
# (`--floor`): the same TaskGroups, tasks and edges, each task an EmptyOperator with nothing
# but its id and group, built by the plainest loop with garbage collection off (as dagship's
# file builds them). No file of this shape parses or serializes faster, whatever its tasks
# run, so `cosmos / floor` is the best ratio any generator of this shape can reach.
# (DagBag's safe mode looks for "airflow" and "dag".)
import datetime
import gc
import json
import os

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, TaskGroup

# [TaskGroup or "", task id, rows of its upstream tasks], upstream tasks first: the columns of
# dagship's TASKS that decide the shape (bench/serialize.py writes them).
with open(os.environ["BENCH_FLOOR_ROWS"]) as f:
    ROWS = json.load(f)

gc.disable()
try:
    with DAG(
        dag_id="floor",
        schedule=None,
        start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
        catchup=False,
    ) as dag:
        groups = {}
        tasks = []
        for group, task_id, upstream in ROWS:
            if group and group not in groups:
                groups[group] = TaskGroup(group_id=group)
            task = EmptyOperator(task_id=task_id, task_group=groups.get(group))
            for row in upstream:
                tasks[row].downstream_task_ids.add(task.task_id)
                task.upstream_task_ids.add(tasks[row].task_id)
            tasks.append(task)
finally:
    gc.enable()
