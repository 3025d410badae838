#!/usr/bin/env bash
# Creates (or reuses) the project-local Python venv `.venv` with pinned tools:
#   bash scripts/python-env.sh                   # requirements.txt + requirements-test.txt
#   bash scripts/python-env.sh requirements.txt  # only what the example needs
# Reinstalls only when the requirement files it is given change.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(requirements.txt requirements-test.txt)
stamp="$venv/.requirements.sha256"
want=$(cat "${files[@]}" | sha256sum | cut -d' ' -f1)

# Up to date if these files, or a superset that was installed with them, match.
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && grep -qx "$want" "$stamp"; then
  exit 0
fi
echo "setting up $venv (pinned Python tools: ${files[*]})..." >&2
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
args=()
for f in "${files[@]}"; do args+=(-r "$f"); done
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${args[@]}"
# Record this set, and requirements.txt alone when it was part of it.
{ echo "$want"; [[ " ${files[*]} " == *" requirements.txt "* ]] && sha256sum < requirements.txt | cut -d' ' -f1; } > "$stamp"
