"""What Airflow makes of schedule strings, for tests/dags_schedules.rs.

    .venv/bin/python tests/dags_schedules.py IN.json OUT.json

IN is a JSON list of strings. For each, OUT holds {"accepted": bool, "fires": bool,
"error": str}: whether Airflow's own code turns the string into a timetable and validates it
(`_create_timetable` and `Timetable.validate`, what a DAG file's import and the DAG bag do),
and whether croniter then finds a next and a previous run. `null` stands for Python's `None`.
"""
import datetime
import json
import os
import sys
import tempfile


def main():
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="dagship-airflow-"))
    from airflow.sdk.definitions.dag import _create_timetable
    from croniter import croniter

    with open(sys.argv[1]) as f:
        texts = json.load(f)
    start = datetime.datetime(2024, 1, 1)
    results = []
    for text in texts:
        result = {"accepted": False, "fires": False, "error": ""}
        try:
            timetable = _create_timetable(None if text == "null" else text, datetime.timezone.utc)
            timetable.validate()
            result["accepted"] = True
            expression = getattr(timetable, "expression", None)
            if isinstance(expression, str):
                cron = croniter(expression, start_time=start)
                cron.get_next(datetime.datetime)
                croniter(expression, start_time=start).get_prev(datetime.datetime)
            result["fires"] = True
        except Exception as e:  # every refusal is a result, not a crash
            result["error"] = f"{type(e).__name__}: {e}"
        results.append(result)
    with open(sys.argv[2], "w") as out:
        json.dump(results, out)


if __name__ == "__main__":
    main()
