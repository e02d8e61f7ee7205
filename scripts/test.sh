#!/usr/bin/env bash
# Install, then run the test suite against the installed package.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. "${LSLM_EVAL_VENV:-.venv}/bin/activate"
# `pytest`, not `python -m pytest`: the latter puts the checkout first on sys.path and would shadow
# the installed package (whose tasks/, plugins/, trainers/ live inside lslm_eval).
pytest -q "$@"
# PEDANT parity against qa-metrics 0.2.17 itself, in its own pinned environment
bash scripts/pedant_reference.sh
