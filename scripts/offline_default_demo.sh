#!/usr/bin/env bash
# The demonstration of docs/offline-default.md: every checkpoint of the transcript stage scored on the held-out
# spoken set with probing, the leaderboard, the correlation with the probe scalars, the paired gap test between the
# first and the last checkpoint, the intervention grid on the last one, and the cascade arm for reference.
#   bash scripts/offline_default_demo.sh WORK_DIR [N_ITEMS [GRID_ITEMS]]
# WORK_DIR is where scripts/build_default_checkpoint.sh trained (its runs/ folder); results go to WORK_DIR/eval.
# N_ITEMS (default 328, all): the first N held-out sd-qa questions per checkpoint; GRID_ITEMS (default 100): the
# intervention grid's (five settings, each a full generation pass). A run folder that exists is kept (resume).
set -euo pipefail
work=$(cd "${1:?usage: offline_default_demo.sh WORK_DIR [N_ITEMS [GRID_ITEMS]]}" && pwd)
n=${2:-328}
grid_n=${3:-100}
cd "$work"
mkdir -p eval
held='{"voicebench_source": "heldout"}'
common=(--limit "$n" --metadata "$held" --batch_size 16 --gen_kwargs max_gen_toks=32 --log_samples)
checkpoints=(runs/offline-ctc/checkpoint-2250 $(ls -d runs/offline-repeat/checkpoint-* | sort -t- -k3 -n))
names=()
for ck in "${checkpoints[@]}"; do
  name=$(basename "$(dirname "$ck")")-${ck##*-}
  names+=("$name")
  [ -d "eval/$name" ] && { echo "eval/$name exists: kept"; continue; }
  lm_eval --model lslm --model_args "checkpoint=$ck,probe=eval/$name/probe" --tasks voicebench_sdqa \
    "${common[@]}" --output_path "eval/$name"
done
# Adaptor-only training: the text twin is the same at every checkpoint; score it once and share it.
[ -d eval/text ] || lm_eval --model lslm --model_args "checkpoint=${checkpoints[0]}" --tasks voicebench_sdqa_text \
  "${common[@]}" --output_path eval/text
# The cascade (Whisper tiny.en's own transcript, read by the same backbone): what the encoder lets a listener reach.
[ -d eval/cascade ] || lm_eval --model lslm --model_args "checkpoint=${checkpoints[0]}" --tasks voicebench_sdqa_cascade \
  "${common[@]}" --output_path eval/cascade
python "$(dirname "$0")/share_text_twin.py" eval/text eval/text-twins "${checkpoints[@]}"
runs=() probes=()
for name in "${names[@]}"; do runs+=("eval/$name"); probes+=("eval/$name/probe"); done
lslm-eval leaderboard "${runs[@]}" eval/text-twins --probe "${probes[@]}" --output_path eval/leaderboard
lslm-eval correlate "${runs[@]}" eval/text-twins --probe "${probes[@]}" | tee eval/correlate.txt
first=${names[0]} last=${names[-1]}
for name in "$first" "$last"; do
  ck=${checkpoints[0]}; for c in "${checkpoints[@]}"; do [ "$(basename "$(dirname "$c")")-${c##*-}" = "$name" ] && ck=$c; done
  rm -rf "eval/pair/$name" && mkdir -p "eval/pair/$name"  # copies: the run readers do not follow links
  cp -r "eval/$name" "eval/pair/$name/speech" && cp -r "eval/text-twins/$(basename "$ck")" "eval/pair/$name/text"
done
lslm-eval compare --baseline "eval/pair/$first" --candidate "eval/pair/$last" --gap_test | tee eval/gap_test.txt
[ -d eval/grid ] || lslm-eval interventions --tasks voicebench_sdqa --model_args "checkpoint=${checkpoints[-1]}" \
  --batch_size 16 --limit "$grid_n" --metadata "$held" --gen_kwargs max_gen_toks=32 --output_path eval/grid
echo "demonstration in $work/eval"
