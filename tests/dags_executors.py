"""Loads folders of DAG files generated for each executor with Airflow's DagBag (and the
executor's provider installed) and writes, per task, what the operator would send: the
dbt command as argv and the executor's request, as JSON for tests/dags_executors.rs.

    python tests/dags_executors.py OUT.json EXECUTOR=DAGS_DIR...

Nothing reaches a network: the Kubernetes pod is built with `build_pod_request_obj()`, the
ECS `run_task` call goes to a stub client, dbt Cloud's operator is only inspected.
"""
import json
import os
import shlex
import sys
import tempfile


class EcsStub:
    """Records `run_task`'s keyword arguments in place of boto3's ECS client."""

    def __init__(self):
        self.calls = []

    def run_task(self, **kwargs):
        self.calls.append(kwargs)
        return {"failures": [], "tasks": [{"taskArn": "arn:aws:ecs:eu-west-1:1:task/dbt/0123"}]}


def bash(task):
    return {"argv": shlex.split(task.bash_command)}


def kubernetes_pod(task):
    pod = task.build_pod_request_obj(dry_run=True)  # no cluster: no API client
    container = pod.spec.containers[0]
    env = [
        [e.name, e.value_from.secret_key_ref.name, e.value_from.secret_key_ref.key]
        for e in container.env or []
        if e.value_from is not None
    ]
    resources = container.resources
    return {
        "argv": list(container.command) + list(container.args),
        "image": container.image,
        "namespace": pod.metadata.namespace,
        "service_account": pod.spec.service_account_name,
        "secret_env": env,
        "requests": resources.requests if resources else None,
        "limits": resources.limits if resources else None,
        "in_cluster": task.in_cluster,
        "config_file": task.config_file,
        "deferrable": task.deferrable,
    }


def docker(task):
    return {
        "argv": list(task.command),
        "image": task.image,
        "network": task.network_mode,
        "mounts": [[m["Source"], m["Target"], m["ReadOnly"]] for m in task.mounts],
    }


def dbt_cloud(task):
    [step] = task.steps_override
    return {
        "argv": shlex.split(step),
        "job_id": task.job_id,
        "account_id": task.account_id,
        "conn_id": task.dbt_cloud_conn_id,
        "wait_for_termination": task.wait_for_termination,
        "deferrable": task.deferrable,
    }


def ecs_task(task):
    stub = EcsStub()
    task.__dict__["client"] = stub  # `client` is a cached_property: the stub takes its place
    task._start_task()
    [request] = stub.calls
    [override] = request["overrides"]["containerOverrides"]
    return {
        "argv": override["command"],
        "run_task": request,
        "awslogs_group": task.awslogs_group,
        "awslogs_stream_prefix": task.awslogs_stream_prefix,
        "container_name": task.container_name,
        "region": task.region_name,
        "deferrable": task.deferrable,
    }


def inspect(executor, folder):
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    bag = DagBag(dag_folder=folder)
    result = {"import_errors": {os.path.basename(f): e for f, e in bag.import_errors.items()}}
    describe = globals()[executor]
    tasks = {}
    for dag_id, dag in sorted(bag.dags.items()):
        DagSerialization.to_dict(dag)  # what the DAG processor stores
        for task in dag.tasks:
            seen = describe(task)
            seen["operator"] = [c.__name__ for c in type(task).__mro__[:2]]
            tasks[f"{dag_id}/{task.task_id}"] = seen
    result["tasks"] = tasks
    return result


def main():
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="dagship-airflow-"))
    import airflow

    result = {"airflow": airflow.__version__}
    for arg in sys.argv[2:]:
        executor, folder = arg.split("=", 1)
        result[executor] = inspect(executor, os.path.abspath(folder))
    with open(sys.argv[1], "w") as out:
        json.dump(result, out, default=str, sort_keys=True)


if __name__ == "__main__":
    main()
