#!/usr/bin/env bash
# Install, then score the offline default LSLM on the shipped VoiceBench sd-qa sample, speech and
# text, and print the modality gap (GAP) with its bootstrap interval.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. "${LSLM_EVAL_VENV:-.venv}/bin/activate"
# --gen_kwargs caps answers at 64 tokens to keep the CPU run to a few minutes (VoiceBench's own
# runner allows 2,048, the tasks' default); drop it on a GPU.
lm_eval --model lslm --tasks voicebench_sdqa,voicebench_sdqa_text \
  --metadata '{"voicebench_source": "sample"}' --batch_size 8 --gen_kwargs max_gen_toks=64 \
  --log_samples --output_path outputs/quickstart "$@"
# The GAP (text score minus speech score) with its 95% interval, from the folder just written.
lslm-eval leaderboard outputs/quickstart
