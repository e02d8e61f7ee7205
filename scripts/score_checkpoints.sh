#!/usr/bin/env bash
# Score every checkpoint of a training run on a paired task (speech + text) with probing, for the
# leaderboard: bash scripts/score_checkpoints.sh RUN_DIR OUT_DIR [TASKS] [extra lm_eval args...]
set -euo pipefail
run=$1 out=$2 tasks=${3:-voicebench_sdqa,voicebench_sdqa_text}
shift $(( $# < 3 ? $# : 3 ))
for ckpt in $(ls -d "$run"/checkpoint-* | sort -t- -k2 -n); do
  name=$(basename "$ckpt")
  lm_eval --model lslm --model_args "checkpoint=$ckpt,probe=$out/$name/probe" --tasks "$tasks" \
    --metadata '{"voicebench_source": "sample"}' --log_samples --output_path "$out/$name" "$@"
done
