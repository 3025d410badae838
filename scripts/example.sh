#!/usr/bin/env bash
# The main job on the embedded default: the example pipeline's `local` environment, offline.
# Sets up the project-local venv (pinned dbt-core, dbt-duckdb, alembic) first, then builds
# dagship; both show their progress on stderr (a first build compiles every dependency), so
# stdout holds only what `run` prints (e.g. with `--output json`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/python-env.sh requirements.txt
export PATH="$PWD/.venv/bin:$PATH"
cargo build --release
cargo run --quiet --release -- run --env local "$@"
