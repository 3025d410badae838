#!/usr/bin/env bash
# The main job on the embedded default: the example pipeline's `local` environment, offline.
# Sets up the project-local venv (pinned dbt-core, dbt-duckdb, alembic) first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/python-env.sh requirements.txt
export PATH="$PWD/.venv/bin:$PATH"
cargo run --quiet --release -- run --env local "$@"
