#!/usr/bin/env python3
"""The baseline: a minimal DAG generator as teams write it (json.load the manifest, one
BashOperator per model, one `>>` per dependency, write the file).

    python3 bench/naive_generator.py MANIFEST.json OUT.py
"""
import json
import re
import sys

HEADER = """import datetime
try:
    from airflow.sdk import DAG
except ImportError:
    from airflow import DAG
try:
    from airflow.providers.standard.operators.bash import BashOperator
except ImportError:
    from airflow.operators.bash import BashOperator

with DAG("naive", schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False) as dag:
"""


def main():
    with open(sys.argv[1]) as f:
        manifest = json.load(f)
    models = {uid: n for uid, n in manifest["nodes"].items() if n["resource_type"] == "model"}
    var = {uid: f"t{i}" for i, uid in enumerate(sorted(models))}
    lines = [HEADER]
    for uid in sorted(models):
        task_id = re.sub(r"[^A-Za-z0-9_]", "_", uid)
        lines.append(f"    {var[uid]} = BashOperator(task_id={task_id!r}, "
                     f"bash_command={'dbt run --select ' + models[uid]['name']!r})\n")
    for uid in sorted(models):
        for parent in models[uid]["depends_on"]["nodes"]:
            if parent in var:
                lines.append(f"    {var[parent]} >> {var[uid]}\n")
    with open(sys.argv[2], "w") as f:
        f.writelines(lines)


if __name__ == "__main__":
    main()
