#!/usr/bin/env bash
# Live PEDANT parity: run tests/test_pedant.py where qa-metrics 0.2.17 itself runs. Its classifier
# pickles need scikit-learn 1.3.2 and numpy<2, which cannot share the main environment, so this
# uses its own (default .venv-pedant-ref). Needs qa-metrics' classifier files in
# ../shared/data/pedant-0.2.17 (else it says so and stops).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d ../shared/data/pedant-0.2.17 ] || { echo "no ../shared/data/pedant-0.2.17: live PEDANT parity not run"; exit 0; }
venv=${LSLM_EVAL_PEDANT_VENV:-.venv-pedant-ref}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip --disable-pip-version-check -q install "qa-metrics==0.2.17" pytest regex scipy 2>&1 | { grep -v "is ignored: it is neither" || true; }
"$venv/bin/python" -m pip --disable-pip-version-check -q install --no-deps . 2>&1 | { grep -v "is ignored: it is neither" || true; }
# --noconftest: the shared fixtures need torch, which this environment does not have
(cd tests && "../$venv/bin/python" -m pytest -q --noconftest -p no:cacheprovider test_pedant.py)
