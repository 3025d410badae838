#!/usr/bin/env python3
"""Writes a synthetic dbt manifest (schema v12) shaped like a large real project.

Layers staging -> intermediate -> marts, a root project and three packages (two of them
share a few model names, so units need `<package>__<name>`), ephemeral intermediate
models, seeds, snapshots, sources, generic tests on most models and `relationships`
tests across models. Every node carries the keys dbt writes (config, columns,
raw_code, ...) with realistic sizes: about 13 KB per model with its tests, as the
corpus's synthetic 10k manifest (137 MB).

    python3 bench/gen_manifest.py --models 10000 --out /tmp/m10k.json [--selectors FILE]

Deterministic: the same arguments give the same bytes.
"""
import argparse
import json
import random

ROOT = "bench_project"
PACKAGES = [ROOT, "pkg_alpha", "pkg_beta", "pkg_gamma"]
SCHEMA = "https://schemas.getdbt.com/dbt/manifest/v12.json"


def model_config(materialized, tags, meta=None):
    return {
        "access": "protected", "alias": None, "batch_size": None, "begin": None,
        "column_types": {}, "concurrent_batches": None,
        "contract": {"alias_types": True, "enforced": False}, "database": None,
        "docs": {"node_color": None, "show": True}, "enabled": True, "event_time": None,
        "freshness": None, "full_refresh": None, "grants": {}, "group": None,
        "incremental_strategy": None, "latest_version_pointer": {"alias": None, "enabled": None},
        "lookback": 1, "materialized": materialized, "meta": meta or {},
        "on_configuration_change": "apply", "on_error": None, "on_schema_change": "ignore",
        "packages": [], "persist_docs": {}, "post-hook": [], "pre-hook": [], "quoting": {},
        "schema": None, "static_analysis": None, "tags": tags, "unique_key": None,
    }


def columns(n):
    return {
        f"column_{i}": {"constraints": [], "data_type": None,
                        "description": "A column of the synthetic benchmark manifest.",
                        "meta": {}, "name": f"column_{i}", "quote": None, "tags": []}
        for i in range(n)
    }


SQL = ("select\n" + ",\n".join(f"    t.column_{i} as column_{i}" for i in range(80))
       + "\nfrom {{ ref('upstream') }} as t\nwhere t.column_0 is not null\n")


def base_node(kind, package, name, fqn, path, depends, tags, config, rng):
    uid = f"{kind}.{package}.{name}"
    return {
        "access": "protected", "alias": name, "build_path": None,
        "checksum": {"checksum": "%064x" % rng.getrandbits(256), "name": "sha256"},
        "columns": columns(26), "compiled_path": None, "config": config,
        "constraints": [], "contract": {"alias_types": True, "checksum": None, "enforced": False},
        "created_at": 1795246622.8, "database": "warehouse",
        "depends_on": {"macros": [], "nodes": depends}, "deprecation_date": None,
        "description": "Synthetic model for dagship's benchmarks. " * 4, "doc_blocks": [],
        "docs": {"node_color": None, "show": True}, "fqn": fqn, "functions": [], "group": None,
        "language": "sql", "latest_version": None, "meta": {}, "metrics": [], "name": name,
        "original_file_path": ("models/" if package == ROOT else f"dbt_packages/{package}/models/")
        + path if kind == "model" else path,
        "package_name": package, "patch_path": f"{package}://models/schema.yml", "path": path,
        "primary_key": ["column_0"], "raw_code": SQL,
        "refs": [{"name": d.split(".")[-1], "package": None, "version": None} for d in depends
                 if not d.startswith("source.")],
        "relation_name": f'"warehouse"."analytics"."{name}"', "resource_type": kind,
        "schema": "analytics", "sources": [], "tags": tags, "time_spine": None,
        "unique_id": uid, "unrendered_config": {"materialized": config.get("materialized")},
        "version": None,
    }


def test_node(package, name, depends, attached, column, rng, kind="unique"):
    return {
        "alias": name, "attached_node": attached, "build_path": None,
        "checksum": {"checksum": "", "name": "none"}, "column_name": column, "columns": {},
        "compiled_path": None,
        "config": {"alias": None, "database": None, "enabled": True, "error_if": "!= 0",
                   "fail_calc": "count(*)", "group": None, "limit": None, "materialized": "test",
                   "meta": {}, "schema": "dbt_test__audit", "severity": "ERROR",
                   "sql_header": None, "static_analysis": None, "store_failures": None,
                   "store_failures_as": None, "tags": [], "warn_if": "!= 0", "where": None},
        "contract": {"alias_types": True, "checksum": None, "enforced": False},
        "created_at": 1795246622.8, "database": "warehouse",
        "depends_on": {"macros": [f"macro.dbt.test_{kind}"], "nodes": depends},
        "description": "", "doc_blocks": [], "docs": {"node_color": None, "show": True},
        "file_key_name": "models.x", "fqn": [package, "schema", name], "functions": [],
        "group": None, "language": "sql", "meta": {}, "metrics": [], "name": name,
        "original_file_path": "models/schema.yml", "package_name": package, "patch_path": None,
        "path": f"{name}.sql", "raw_code": "{{ test_%s(**_dbt_generic_test_kwargs) }}" % kind,
        "refs": [], "relation_name": None, "resource_type": "test", "schema": "analytics",
        "sources": [], "tags": [],
        "test_metadata": {"kwargs": {"column_name": column}, "name": kind, "namespace": None},
        "unique_id": f"test.{package}.{name}.{rng.getrandbits(40):010x}", "unrendered_config": {},
    }


def source_node(package, source, table):
    return {
        "columns": {}, "config": {"enabled": True, "event_time": None, "freshness": None,
                                  "loaded_at_field": None, "meta": {}, "tags": []},
        "database": "raw", "description": "", "external": None, "fqn": [package, "staging", source, table],
        "freshness": {"error_after": {"count": None, "period": None}, "filter": None,
                      "warn_after": {"count": None, "period": None}},
        "identifier": table, "loaded_at_field": None, "loader": "", "meta": {}, "name": table,
        "original_file_path": "models/staging/_sources.yml", "package_name": package,
        "path": "models/staging/_sources.yml", "patch_path": None,
        "relation_name": f'"raw"."{source}"."{table}"', "resource_type": "source",
        "schema": source, "source_description": "", "source_meta": {}, "source_name": source,
        "tags": [], "unique_id": f"source.{package}.{source}.{table}",
    }


def generate(n_models, seed=7, shared_names=True):
    rng = random.Random(seed)
    nodes, sources = {}, {}
    n_stg, n_int = int(n_models * 0.3), int(n_models * 0.3)
    layers = {"staging": [], "intermediate": [], "marts": []}
    ephemeral = set()

    def package_of(i):
        # The root project owns most models; each package a few percent.
        r = i % 20
        return PACKAGES[r] if r < 4 and r > 0 else ROOT

    n_seeds = max(3, n_models // 100)
    seeds = []
    for i in range(n_seeds):
        name = f"seed_{i}"
        n = base_node("seed", ROOT, name, [ROOT, name], f"seeds/{name}.csv", [], ["seed"],
                      model_config("seed", ["seed"]), rng)
        nodes[n["unique_id"]] = n
        seeds.append(n["unique_id"])

    for i in range(n_models):
        pkg = package_of(i)
        if i < n_stg:
            layer, name = "staging", f"stg_model_{i}"
            src = f"source_{i % 50}"
            s = source_node(pkg, src, f"table_{i}")
            sources[s["unique_id"]] = s
            deps = [s["unique_id"]]
            if i % 25 == 0:
                deps.append(rng.choice(seeds))
        elif i < n_stg + n_int:
            layer, name = "intermediate", f"int_model_{i}"
            pool = layers["staging"] + layers["intermediate"][-200:]
            deps = rng.sample(pool, min(len(pool), rng.randint(1, 3)))
        else:
            layer, name = "marts", f"fct_model_{i}"
            pool = layers["intermediate"] + layers["marts"][-300:]
            deps = rng.sample(pool, min(len(pool), rng.randint(2, 4)))
        # A few names repeat across packages: those units become `<package>__<name>`.
        if shared_names and i % 100 in (1, 2):  # packages pkg_alpha and pkg_beta
            name = f"shared_model_{i // 100}"
        materialized = {"staging": "view", "intermediate": "view", "marts": "table"}[layer]
        if layer == "intermediate" and i % 20 == 7:
            materialized = "ephemeral"
        tags = [layer, "daily" if i % 3 else "hourly"]
        meta = {"dagship": {"pool": "heavy", "retries": 3}} if layer == "marts" and i % 50 == 0 else {}
        fqn = [pkg, layer, name]
        n = base_node("model", pkg, name, fqn, f"{layer}/{name}.sql", deps, tags,
                      model_config(materialized, tags, meta), rng)
        uid = n["unique_id"]
        if uid in nodes:
            continue
        nodes[uid] = n
        layers[layer].append(uid)
        if materialized == "ephemeral":
            ephemeral.add(uid)
            continue
        if i % 7 != 3:  # most models are tested
            for col, kind in (("column_0", "unique"), ("column_0", "not_null")):
                t = test_node(pkg, f"{kind}_{name}_{col}", [uid], uid, col, rng, kind)
                nodes[t["unique_id"]] = t
        if i % 5 == 0 and deps and not deps[0].startswith("source.") and deps[0] not in ephemeral:
            t = test_node(pkg, f"relationships_{name}_column_1__column_0__ref_{deps[0].split('.')[-1]}_",
                          [deps[0], uid], uid, "column_1", rng, "relationships")
            nodes[t["unique_id"]] = t
        if layer == "staging" and i % 40 == 0:
            snap = f"snap_{name}"
            s = base_node("snapshot", ROOT, snap, [ROOT, "snapshots", snap], f"snapshots/{snap}.sql",
                          [uid], ["snapshot"], model_config("snapshot", ["snapshot"]), rng)
            nodes[s["unique_id"]] = s

    return {
        "metadata": {"dbt_schema_version": SCHEMA, "dbt_version": "1.11.2",
                     "generated_at": "2026-01-01T00:00:00Z", "invocation_id": "bench",
                     "env": {}, "project_name": ROOT, "project_id": "0" * 32,
                     "user_id": None, "send_anonymous_usage_stats": False, "adapter_type": "duckdb"},
        "nodes": nodes, "sources": sources, "macros": {}, "docs": {}, "exposures": {},
        "metrics": {}, "groups": {}, "selectors": {}, "disabled": {}, "parent_map": {},
        "child_map": {}, "group_map": {}, "saved_queries": {}, "semantic_models": {},
        "unit_tests": {}, "functions": {},
    }


SELECTORS = """selectors:
  - name: daily
    definition: "tag:daily"
  - name: marts
    definition:
      method: path
      value: models/marts
      parents: true
  - name: packages
    definition:
      union:
        - method: package
          value: pkg_alpha
        - method: package
          value: pkg_beta
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--selectors", help="also write a selectors.yml here")
    ap.add_argument("--unique-names", action="store_true",
                    help="no model name shared by two packages (astronomer-cosmos cannot load those)")
    args = ap.parse_args()
    with open(args.out, "w") as f:
        json.dump(generate(args.models, shared_names=not args.unique_names), f, indent=None)
    if args.selectors:
        with open(args.selectors, "w") as f:
            f.write(SELECTORS)


if __name__ == "__main__":
    main()
