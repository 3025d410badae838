"""Differential oracle: runs dbt-core's own selector (dbt ls semantics) over a corpus
manifest and records the results as golden data for tests/dbt_oracle.rs.

    bash scripts/python-env.sh requirements.txt   # dbt-core and dbt-duckdb in .venv
    .venv/bin/python tools/dbt_oracle.py tests/corpus tests/data/dbt/oracle

dbt's `path:` method globs the project directory, which the corpus does not ship; we
recreate the root project's files the manifest reveals (the same approximation the Rust
engine makes), so `path:` cases here check pathlib's glob rules, not that approximation
(the corpus expectations check that).
"""

import gzip
import json
import os
import sys
import tempfile
from argparse import Namespace

import yaml
from dbt.compilation import Linker
from dbt.config.selectors import SelectorConfig
from dbt.contracts.graph.manifest import Manifest, WritableManifest
from dbt.contracts.graph.nodes import GenericTestNode
from dbt.flags import set_from_args
from dbt.graph import Graph, ResourceTypeSelector, parse_difference
from dbt.task.list import ListTask
from dbt_common.events.contextvars import set_task_contextvars

HERE = os.path.dirname(os.path.abspath(__file__))


def versioned_variant(corpus, out_dir):
    """jaffle_shop plus versioned models, access levels and groups (no corpus project
    has them), written next to the golden files for the Rust test to load."""
    data = json.load(gzip.open(os.path.join(corpus, "jaffle_shop.manifest.json.gz")))
    nodes = data["nodes"]
    base = nodes["model.jaffle_shop.customers"]
    base.update(version=1, latest_version=2)
    base["fqn"] = base["fqn"] + ["v1"]
    for v in (2, 3.0):
        copy = json.loads(json.dumps(base))
        copy.update(version=v, latest_version=2, unique_id=f"model.jaffle_shop.customers.v{int(v)}")
        copy["fqn"] = base["fqn"][:-1] + [f"v{int(v)}"]
        nodes[copy["unique_id"]] = copy
    nodes["model.jaffle_shop.stg_orders"].update(version="beta", latest_version="alpha")
    nodes["model.jaffle_shop.orders"].update(access="public", group="finance")
    nodes["model.jaffle_shop.orders"]["config"].update(access="public", group="finance")
    nodes["model.jaffle_shop.stg_customers"].update(access="private", group="crm")
    nodes["model.jaffle_shop.stg_customers"]["config"].update(access="private", group="crm")
    data["metrics"]["metric.jaffle_shop.average_order_value"]["config"]["group"] = "finance"
    path = os.path.join(out_dir, "jaffle_versioned.manifest.json.gz")
    with gzip.open(path, "wt") as f:
        json.dump(data, f)
    return path


def load(path):
    raw = gzip.open(path).read()
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        f.write(raw)
    data = json.loads(raw)
    manifest = Manifest.from_writable_manifest(WritableManifest.read_and_check_versions(f.name))
    os.unlink(f.name)
    # Reading the JSON back types every test as singular (the first class of dbt's
    # union that fits); `dbt parse` makes generic tests GenericTestNode, so restore that.
    for unique_id, node in data["nodes"].items():
        if node.get("test_metadata"):
            manifest.nodes[unique_id] = GenericTestNode.from_dict(node)
    linker = Linker()
    linker.link_graph(manifest)
    return data, manifest, Graph(linker.graph)


def fake_root(data):
    """Creates the root project's known files in a temp dir (see module doc)."""
    root_pkg = data["metadata"]["project_name"]
    paths = set()
    sections = ["nodes", "sources", "exposures", "metrics", "semantic_models",
                "saved_queries", "unit_tests", "functions", "macros", "docs"]
    entries = [e for s in sections for e in (data.get(s) or {}).values()]
    entries += [e for lst in (data.get("disabled") or {}).values() for e in lst]
    for e in entries:
        if e.get("package_name") != root_pkg:
            continue
        paths.add(e.get("original_file_path") or "")
        patch = e.get("patch_path")
        if patch and "://" in patch:
            paths.add(patch.split("://")[1])
    root = tempfile.mkdtemp(prefix="dbt_oracle_")
    for p in paths:
        parts = [s for s in p.split("/") if s not in ("", ".")]
        if not parts or p.startswith("/") or ".." in parts:
            continue
        full = os.path.join(root, *parts)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        open(full, "a").close()
    return root


def selector_for(manifest, graph, resource_types=None):
    types = resource_types or list(ListTask.DEFAULT_RESOURCE_VALUES)
    return ResourceTypeSelector(graph, manifest, None, resource_types=types, include_empty_nodes=True)


def run(fn):
    try:
        return sorted(fn())
    except Exception as exc:  # dbt raising is a result too
        return {"error": f"{type(exc).__name__}: {exc}"}


def set_indirect(mode):
    set_from_args(Namespace(indirect_selection=mode), None)


def expression_results(manifest, graph, cases):
    out = []
    for case in cases:
        set_indirect(case.get("indirect", "eager"))
        sel = selector_for(manifest, graph)
        spec = lambda: parse_difference(case["select"] or None, case.get("exclude") or None)
        out.append(dict(case, result=run(lambda: sel.get_selected(spec()))))
    return out


def selectors_results(manifest, graph, yaml_text):
    set_indirect("eager")
    config = SelectorConfig.selectors_from_dict(yaml.safe_load(yaml_text))
    sel = selector_for(manifest, graph)
    return {name: run(lambda: sel.get_selected(entry["definition"])) for name, entry in config.items()}


def main(corpus, out_dir):
    cases = json.load(open(os.path.join(HERE, "oracle_cases.json")))
    selectors_yaml = open(os.path.join(HERE, "oracle_selectors.yml")).read()
    os.makedirs(out_dir, exist_ok=True)
    for project, project_cases in cases.items():
        if project == "jaffle_versioned":
            path = versioned_variant(corpus, out_dir)
        else:
            path = os.path.join(corpus, f"{project}.manifest.json.gz")
        data, manifest, graph = load(path)
        set_task_contextvars(project_root=fake_root(data))
        golden = {
            "project": project,
            "expressions": expression_results(manifest, graph, project_cases),
            "selectors_yaml": selectors_yaml,
            "selectors": selectors_results(manifest, graph, selectors_yaml),
        }
        with gzip.open(os.path.join(out_dir, f"{project}.json.gz"), "wt") as f:
            json.dump(golden, f)
        print(project, len(project_cases), "expressions")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
