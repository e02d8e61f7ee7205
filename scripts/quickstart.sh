#!/usr/bin/env bash
# Install, then score the offline default LSLM on the shipped VoiceBench sd-qa sample, speech and text.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. "${LSLM_EVAL_VENV:-.venv}/bin/activate"
lm_eval --model lslm --tasks voicebench_sdqa,voicebench_sdqa_text \
  --metadata '{"voicebench_source": "sample"}' --batch_size 8 --log_samples --output_path outputs/quickstart "$@"
