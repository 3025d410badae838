#!/usr/bin/env bash
# Creates (or reuses) the project-local Python venv `.venv` with the pinned tools from
# requirements.txt and requirements-test.txt. Reinstalls only when those files change.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
stamp="$venv/.requirements.sha256"
want=$(cat requirements.txt requirements-test.txt | sha256sum | cut -d' ' -f1)

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python" ]; then
  exit 0
fi
echo "setting up $venv (Python tools for the example and the tests)..."
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  -r requirements.txt -r requirements-test.txt
echo "$want" > "$stamp"
