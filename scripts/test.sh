#!/usr/bin/env bash
# The whole test suite, from a fresh clone: venv, dependencies, services, lint, tests,
# and a smoke run of every benchmark script. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip >/dev/null
python -m pip install -q -e ".[dev]"
scripts/services.sh
ruff check .
python -m pytest -n 2 --dist loadfile "$@"
scripts/bench-smoke.sh
