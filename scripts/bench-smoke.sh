#!/usr/bin/env bash
# A small smoke run of each benchmark script (the full runs are not part of CI).
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
for script in bench/*.py; do
  # helper modules (data generators) have no --smoke mode; benchmarks say so in their usage
  grep -q -- "--smoke" "$script" || continue
  echo "== smoke: $script"
  timeout 600 python "$script" --smoke
done
