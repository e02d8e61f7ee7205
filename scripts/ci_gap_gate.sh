#!/usr/bin/env bash
# The GAP gate of examples/github-actions/gap-gate.yml, runnable here as it runs on a CI runner:
# score a candidate and a baseline on the shipped VoiceBench sd-qa sample (speech + text, no hub),
# then `lslm-eval compare`: exit 0 when the GAP and both Overalls hold, 1 when one regressed.
#
#   bash scripts/ci_gap_gate.sh                       # the offline default against itself
#   CANDIDATE_ARGS=checkpoint=runs/x/checkpoint-400 BASELINE_ARGS=checkpoint=runs/x/checkpoint-200 bash scripts/ci_gap_gate.sh
#
# Environment (all optional):
#   CANDIDATE_ARGS / BASELINE_ARGS  --model_args of each side (default: none = the offline default)
#   BASELINE        a baseline already scored: an lm-eval output folder or a leaderboard JSON
#                   (then BASELINE_ARGS is not evaluated)
#   LIMIT (8)  MAX_GEN_TOKS (16)  BATCH_SIZE (8)   small, so a CPU runner finishes in minutes
#   TOLERANCE (5)   allowed worsening in points; TOLERANCE_SE (2) standard errors where larger
#   OUT (outputs/ci)
set -euo pipefail
: "${LIMIT:=8}" "${MAX_GEN_TOKS:=16}" "${BATCH_SIZE:=8}" "${TOLERANCE:=5}" "${TOLERANCE_SE:=2}" "${OUT:=outputs/ci}"
tasks=voicebench_sdqa,voicebench_sdqa_text

score() {  # score MODEL_ARGS OUTPUT_PATH
  local model_args=()
  [ -n "$1" ] && model_args=(--model_args "$1")
  lm_eval --model lslm "${model_args[@]}" --tasks "$tasks" --metadata '{"voicebench_source": "sample"}' \
    --limit "$LIMIT" --gen_kwargs "max_gen_toks=$MAX_GEN_TOKS" --batch_size "$BATCH_SIZE" --device cpu \
    --log_samples --output_path "$2"
}

rm -rf "$OUT/candidate"
score "${CANDIDATE_ARGS:-}" "$OUT/candidate"
baseline=${BASELINE:-}
if [ -z "$baseline" ]; then
  rm -rf "$OUT/baseline"
  score "${BASELINE_ARGS:-}" "$OUT/baseline"
  baseline=$OUT/baseline
fi
lslm-eval leaderboard "$OUT/candidate" --output_path "$OUT/leaderboard" --format md,json
gap_test=()
[ -d "$baseline" ] && gap_test=(--gap_test)
lslm-eval compare --baseline "$baseline" --candidate "$OUT/candidate" --tolerance "$TOLERANCE" \
  --tolerance_se "$TOLERANCE_SE" --metrics gap overall_speech overall_text "${gap_test[@]}"
