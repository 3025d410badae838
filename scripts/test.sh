#!/usr/bin/env bash
# The test command: installs what the tests need, then runs formatting, lints and every test.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/python-env.sh
export PATH="$PWD/.venv/bin:$PATH"

eval "$(bash scripts/postgres.sh start)"
trap 'bash scripts/postgres.sh stop "$DAGSHIP_TEST_POSTGRES_DIR"' EXIT

cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings
# --all-targets also runs each benchmark once, so benchmarks cannot rot.
cargo test --all-targets --no-fail-fast
