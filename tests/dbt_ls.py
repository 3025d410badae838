"""Runs the real `dbt ls` many times on one project, parsing it once, for
tests/dags_dbt_agreement.rs.

    .venv/bin/python tests/dbt_ls.py REQUEST.json RESULT.json

REQUEST: {"project_dir": ..., "profiles_dir": ..., "target": ..., "deps": bool,
          "queries": {key: [ls arguments, e.g. "--selector", "daily"]}}
RESULT:  {"manifest": path of target/manifest.json,
          "results": {key: [sorted unique_ids] or {"error": message}}}

Each query is `dbt ls <arguments> --output json --output-keys unique_id`, invoked through
dbt's own runner with the parsed manifest reused (the `ls` command's code path, without
re-parsing the project 50 times).
"""
import json
import os
import sys

from dbt.cli.main import dbtRunner


def main():
    with open(sys.argv[1]) as f:
        request = json.load(f)
    base = [
        "--project-dir", request["project_dir"],
        "--profiles-dir", request["profiles_dir"],
        "--target", request["target"],
        "--quiet",
    ]
    if request.get("deps"):
        deps = dbtRunner().invoke(["deps"] + base)
        if not deps.success:
            raise SystemExit(f"dbt deps failed: {deps.exception}")
    parsed = dbtRunner().invoke(["parse"] + base)
    if not parsed.success:
        raise SystemExit(f"dbt parse failed: {parsed.exception}")
    runner = dbtRunner(manifest=parsed.result)
    results = {}
    for key, arguments in request["queries"].items():
        res = runner.invoke(["ls"] + base + arguments + ["--output", "json", "--output-keys", "unique_id"])
        if res.success:
            results[key] = sorted(json.loads(line)["unique_id"] for line in res.result or [])
        else:
            results[key] = {"error": str(res.exception)}
    manifest = os.path.join(request["project_dir"], "target", "manifest.json")
    with open(sys.argv[2], "w") as f:
        json.dump({"manifest": manifest, "results": results}, f)


if __name__ == "__main__":
    main()
