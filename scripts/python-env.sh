#!/usr/bin/env bash
# Creates (or reuses) the project-local Python venv `.venv` with pinned tools:
#   bash scripts/python-env.sh                   # requirements.txt + requirements-test.txt
#   bash scripts/python-env.sh requirements.txt  # only what the example needs
#   VENV=.venv-airflow2 bash scripts/python-env.sh requirements-airflow2.txt
#                                                # Airflow 2.10, beside (Composer 2 runs it)
# Reinstalls only when the requirement files it is given change. Progress goes to stderr, one
# line per package, so that the first install (minutes) shows what it is doing without
# flooding CI logs.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${VENV:-.venv}
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(requirements.txt requirements-test.txt)
stamp="$venv/.requirements.sha256"
want=$(cat "${files[@]}" | sha256sum | cut -d' ' -f1)

# Up to date if these files, or a superset that was installed with them, match.
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && grep -qx "$want" "$stamp"; then
  exit 0
fi

# pip's default output is several lines per package (sizes, progress bars, cache notes);
# keep one numbered line per package and the install summary. pip's errors and warnings go
# to stderr and pass untouched; its resolver's notes ("INFO: pip is looking at...") stay.
one_line_per_package() {
  awk '
    /^Collecting / { n++; printf "  [%d] %s\n", n, $2; fflush(); next }
    /^Installing collected packages: / {
      k = split(substr($0, 32), names, ", ")
      printf "  installing %d package%s...\n", k, k == 1 ? "" : "s"; fflush(); next
    }
    /^Successfully installed / {
      printf "  installed %d package%s\n", NF - 2, NF == 3 ? "" : "s"; fflush(); next
    }
    /^$/ || /^[[:space:]]/ || /^Looking in / || /^Requirement already satisfied/ { next }
    { print; fflush() }
  '
}

pip_install() {
  # Unbuffered, so that each line reaches the filter when pip writes it.
  PYTHONUNBUFFERED=1 "$venv/bin/python" -m pip install --disable-pip-version-check \
    --progress-bar off "$@" | one_line_per_package >&2
}

started=$SECONDS
echo "setting up $venv (pinned Python tools: ${files[*]}), one line per package..." >&2
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
args=()
for f in "${files[@]}"; do args+=(-r "$f"); done
pip_install "${args[@]}"
# Record this set, and requirements.txt alone when it was part of it.
{ echo "$want"; [[ " ${files[*]} " == *" requirements.txt "* ]] && sha256sum < requirements.txt | cut -d' ' -f1; } > "$stamp"
echo "$venv is ready ($((SECONDS - started)) s)" >&2
