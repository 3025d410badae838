#!/usr/bin/env bash
# The test command: installs what the tests need, then runs formatting, lints and every test.
# Each phase is announced on stderr; pip and cargo show their progress (on a first run pip
# installs the Python tools, and cargo checks every dependency for clippy, then builds it).
set -euo pipefail
cd "$(dirname "$0")/.."

phase() { echo "==> $*" >&2; }

# CI builds a fresh checkout once: incremental compilation's caches (several GB for the test
# binaries) would only fill the disk.
if [ "${CI:-}" = "true" ]; then
    export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
fi

phase "Python tools in .venv"
bash scripts/python-env.sh
export PATH="$PWD/.venv/bin:$PATH"
phase "Airflow 2.10 in .venv-airflow2 (the generated DAGs load in Airflow 2 and 3)"
VENV=.venv-airflow2 bash scripts/python-env.sh requirements-airflow2.txt

phase "curl for the GitHub action's tests (apt-get when missing)"
if ! command -v curl >/dev/null 2>&1; then
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >&2
fi

phase "PostgreSQL for the alembic tests"
eval "$(bash scripts/postgres.sh start)"
trap 'bash scripts/postgres.sh stop "$DAGSHIP_TEST_POSTGRES_DIR"' EXIT

phase "cargo fmt --check"
cargo fmt --check
phase "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings
# --all-targets also runs each benchmark once, so benchmarks cannot rot.
phase "cargo test --all-targets --no-fail-fast"
# The tests keep a copy of every DAG file they generate here, for the last phase to load
# (tests/kept_dags/mod.rs).
export DAGSHIP_KEPT_DAGS="$PWD/target/kept-dags"
rm -rf "$DAGSHIP_KEPT_DAGS"
cargo test --all-targets --no-fail-fast
phase "every DAG file the tests generated, loaded in Airflow 3 and 2.10"
# (Airflow logs a line per file on standard output; the summary and errors go to stderr.)
.venv/bin/python tests/load_kept_dags.py "$DAGSHIP_KEPT_DAGS" >/dev/null
.venv-airflow2/bin/python tests/load_kept_dags.py "$DAGSHIP_KEPT_DAGS" >/dev/null
