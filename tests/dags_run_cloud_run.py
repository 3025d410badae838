"""Loads folders of generated DAG files with Airflow's DagBag and passes each Cloud Run job
task's request through the google provider's own code: the operator's `execute` calls
`CloudRunHook.execute_job`, which builds the `RunJobRequest` protobuf from the task's
`overrides` (a field name the protobuf lacks is an error there, and here); the client that
would send it is replaced by one that keeps it. Writes what it saw as JSON, for
tests/dags_run.rs.

    .venv/bin/python tests/dags_run_cloud_run.py OUT.json DAGS_DIR...

Output: {"airflow": version,
         basename(DAGS_DIR): {dag_id: {task_id: {
             Cloud Run job tasks: "name": the request's job, "args": the container's arguments,
                                  "deferrable": ...,
             bash tasks: "argv": words of the command,
             both: "pool", "queue", "retries", "retry_delay" and "execution_timeout"
                   (seconds or null)}}}}
"""
import json
import os
import shlex
import sys
import tempfile
from unittest import mock


class Sent(Exception):
    """Stops the operator once the hook has handed its request to the client."""


def sent_request(task):
    """The `RunJobRequest` the provider builds for `task`, as a dict."""
    from google.cloud.run_v2.types import RunJobRequest
    from airflow.providers.google.cloud.hooks.cloud_run import CloudRunHook

    requests = []

    def run_job(request):
        requests.append(request)
        raise Sent()

    client = mock.Mock(run_job=run_job)
    with mock.patch.object(CloudRunHook, "get_conn", return_value=client):
        try:
            task.execute(context={})
        except Sent:
            pass
    (request,) = requests
    assert isinstance(request, RunJobRequest), type(request)
    return RunJobRequest.to_dict(request, preserving_proto_field_name=True)


def seconds(delta):
    return delta.total_seconds() if delta is not None else None


def inspect(task):
    seen = {
        "pool": task.pool,
        "queue": task.queue,
        "retries": task.retries,
        "retry_delay": seconds(task.retry_delay),
        "execution_timeout": seconds(task.execution_timeout),
    }
    from airflow.providers.google.cloud.operators.cloud_run import CloudRunExecuteJobOperator

    if isinstance(task, CloudRunExecuteJobOperator):
        request = sent_request(task)
        (container,) = request["overrides"]["container_overrides"]
        seen.update(name=request["name"], args=container["args"], deferrable=task.deferrable)
    else:
        seen["argv"] = shlex.split(task.bash_command)
    return seen


def main():
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    # The hook reads its connection when created; no credentials: nothing is sent.
    os.environ["AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT"] = "google-cloud-platform://"
    if "AIRFLOW_HOME" not in os.environ:
        os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="dagship-airflow-")
    import airflow
    from airflow.dag_processing.dagbag import DagBag

    result = {"airflow": airflow.__version__}
    for folder in sys.argv[2:]:
        bag = DagBag(dag_folder=os.path.abspath(folder))
        if bag.import_errors:
            raise SystemExit(f"import errors in {folder}: {bag.import_errors}")
        result[os.path.basename(folder)] = {
            dag_id: {task.task_id: inspect(task) for task in dag.tasks}
            for dag_id, dag in bag.dags.items()
        }
    with open(sys.argv[1], "w") as out:
        json.dump(result, out, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
