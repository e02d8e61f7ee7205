#!/usr/bin/env bash
# The README's walkthrough, run as written, with a check after every step and its wall time:
# install, quick start with its GAP, train a small run, score it, leaderboard, gate.
# Small on purpose (16 spoken instructions, 4 adaptor steps, 8 items per task): minutes on a CPU.
#   bash scripts/walkthrough.sh [WORK_DIR]        (default outputs/walkthrough)
# LIMIT (8) sets the items per task of `score`; SKIP_QUICKSTART=1 leaves out the quick start step.
set -euo pipefail
: "${LIMIT:=8}"
cd "$(dirname "$0")/.."
work=${1:-outputs/walkthrough}
mkdir -p "$work"
step() {  # step NAME COMMAND...: run, time, and stop the walkthrough if it fails
  local name=$1 start=$SECONDS
  shift
  echo "=== $name: $*"
  "$@"
  echo "=== $name: $((SECONDS - start)) s"
}
expect() { [ -e "$1" ] || { echo "walkthrough: $1 was not written" >&2; exit 1; }; }

step install bash scripts/setup.sh
. "${LSLM_EVAL_VENV:-.venv}/bin/activate"
lslm-eval --version

if [ "${SKIP_QUICKSTART:-0}" != 1 ]; then
  step quickstart bash scripts/quickstart.sh
  expect outputs/quickstart/lslm-offline-default
fi

default=$(python -c 'from lslm_eval.model import DEFAULT_CHECKPOINT; print(DEFAULT_CHECKPOINT)')
step instructions lslm-eval data instructions 16 "$work/instructions.jsonl" --seed 1
step synth lslm-eval data synth "$work/instructions.jsonl" "$work/synth" --self_distill --system_prompt "Answer briefly." \
  --max_response_tokens 16
expect "$work/synth/manifest.jsonl"
rm -rf "$work/run"
step train lslm-eval train trainers/recipes/offline_instructions.yaml --data "$work/synth/manifest.jsonl" \
  --init_checkpoint "$default" --output_dir "$work/run" --max_steps 4 --save_every 2 --batch_size 4 --warmup_steps 0
expect "$work/run/checkpoint-4"

step score lslm-eval score "$work/run" --tasks voicebench_sdqa,voicebench_sdqa_text \
  --metadata '{"voicebench_source": "sample"}' --limit "$LIMIT" --gen_kwargs max_gen_toks=16 --output_path "$work/scores"
expect "$work/scores/checkpoint-4/probe/probe.json"
step score-again lslm-eval score "$work/run" --tasks voicebench_sdqa,voicebench_sdqa_text \
  --metadata '{"voicebench_source": "sample"}' --limit "$LIMIT" --gen_kwargs max_gen_toks=16 --output_path "$work/scores"

step leaderboard lslm-eval leaderboard "$work"/scores/checkpoint-* --probe "$work/scores" --output_path "$work/leaderboard"
expect "$work/leaderboard/leaderboard.html"

# the gate: exit 0 = no regression beyond the tolerance, 1 = regression (both are answers)
set +e
lslm-eval compare --baseline "$work/scores/checkpoint-2" --candidate "$work/scores/checkpoint-4" --tolerance 5 \
  --tolerance_se 2 --metrics gap overall_speech overall_text --gap_test
status=$?
set -e
[ "$status" -le 1 ] || { echo "walkthrough: compare could not read its input (exit $status)" >&2; exit 1; }
echo "=== gate: exit $status ($([ "$status" = 0 ] && echo pass || echo regression))"
echo "walkthrough done: $work"
