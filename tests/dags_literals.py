"""Parses generated DAG files (without importing Airflow) and prints, as JSON, the values
their literals hold, for tests/dags_prop.rs to compare with what went in.

    python3 tests/dags_literals.py FILE...

Per file: {"dag": keyword arguments of DAG(...) that are literals,
           "commands": COMMANDS, "options": DBT_OPTIONS (split like a shell when a string),
           "tasks": TASKS rows with --select/--exclude unquoted like a shell (bash executor),
           "overrides": OVERRIDES, "job": [PROJECT, REGION, JOB] (executor cloud_run_job),
           "settings": every value of the settings module (tuples as lists),
           "extras": {task_id: bash_command} of the BashOperators declared around dbt tasks}
The values that differ between environments (DBT_OPTIONS, PROJECT, REGION, JOB) are read
from the settings module beside the file, which the file names instead of holding them.
A file that is not valid Python makes this fail (ast.parse raises).
"""
import ast
import json
import os
import shlex
import sys


def constant(node):
    """The value of a literal, or of json.loads(<literal>)."""
    if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "loads":
        return json.loads(ast.literal_eval(node.args[0]))
    if isinstance(node, ast.ListComp):  # OVERRIDES = [task_settings(s) for s in json.loads(...)]
        return constant(node.generators[0].iter)
    return ast.literal_eval(node)


def literals(node):
    """A literal's value; in a dict, the entries that are literals; else None."""
    if isinstance(node, ast.Dict):
        return {ast.literal_eval(k): literals(v) for k, v in zip(node.keys, node.values)}
    try:
        return ast.literal_eval(node)
    except ValueError:
        return None  # not a literal (a datetime, a variable)


SETTINGS_FILE = "dagship_settings.py"


def parse(path):
    with open(path, encoding="ascii") as f:  # generated files are pure ASCII
        return ast.parse(f.read(), filename=path)


def from_settings(node):
    """`load_settings()` or `SETTINGS["NAME"]`: a value the settings module holds."""
    if isinstance(node, ast.Call):
        return getattr(node.func, "id", None) == "load_settings"
    return isinstance(node, ast.Subscript) and getattr(node.value, "id", None) == "SETTINGS"


def assignments(tree):
    """NAME = value for every upper-case name, but those read from the settings module."""
    values = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            # An object built once from settings values (`RESOURCES = k8s.V1Resource...(
            # requests=REQUESTS ...)`, `SECRETS = [Secret(...) for entry in SECRET_ENV]`) holds
            # no literal of its own.
            built = name in ("RESOURCES", "SECRETS")
            if name.isupper() and not from_settings(node.value) and not built:
                values[name] = constant(node.value)
    return values


def inspect(path):
    tree = parse(path)
    values = assignments(tree)
    settings = assignments(parse(os.path.join(os.path.dirname(path), SETTINGS_FILE)))
    read = {
        node.targets[0].id
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Subscript)
        and from_settings(node.value)
    }
    if read - settings.keys():
        raise SystemExit(f"{path} reads {sorted(read - settings.keys())}: not in its settings")
    values.update(settings)
    dag, extras = {}, {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
            continue
        kwargs = {k.arg: literals(k.value) for k in node.keywords}
        if node.func.id == "DAG":
            dag = kwargs
        elif node.func.id == "BashOperator":
            extras[kwargs["task_id"]] = kwargs["bash_command"]
    bash = isinstance(values.get("DBT_OPTIONS"), str)
    unquote = (lambda s: s if s is None else shlex.split(s)) if bash else (lambda s: s)
    tasks = [
        [group, task_id, command, unquote(select), unquote(exclude), upstream, settings]
        for group, task_id, command, select, exclude, upstream, settings in values["TASKS"]
    ]
    return {
        "dag": dag,
        "commands": values["COMMANDS"],
        "options": shlex.split(values["DBT_OPTIONS"]) if bash else values["DBT_OPTIONS"],
        "tasks": tasks,
        "overrides": values["OVERRIDES"],
        "job": [values.get("PROJECT"), values.get("REGION"), values.get("JOB")],
        "extras": extras,
        "settings": settings,
    }


if __name__ == "__main__":
    json.dump({p: inspect(p) for p in sys.argv[1:]}, sys.stdout)
