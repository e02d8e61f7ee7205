#!/usr/bin/env bash
# Reproduce the shipped offline-default adaptor (lslm_eval/checkpoints/offline-default) with the project's own
# trainers, in two stages on the frozen Whisper tiny.en encoder and the frozen SmolLM2-135M-Instruct:
#   1. CTC alignment (trainers/recipes/offline_ctc.yaml, trainers/ctc.py): 8,000 sentences (template questions,
#      statements, WordNet glosses and examples), each spoken by three of five espeak-ng voice/rate settings
#      (24,000 clips), encoded once and cached; the adaptor's frames are trained with CTC onto SmolLM2's own token
#      embeddings. No LLM forward pass.
#   2. The transcript stage (trainers/recipes/offline_repeat.yaml, trainers/repeat.py): stage 1's head joins the
#      adaptor as its CTC compressor (posterior rows: one row per token said, the expected token embedding); on the
#      same cached clips, "repeat exactly what was said" -> the transcript, and the questions answered as the LLM
#      answers them in text (cross-entropy + KL to the text twin), at a low learning rate.
# No training text holds an evaluation item (tests/test_heldout_data.py). Times on the 2-core CPU machine are in
# docs/offline-default.md. Then `bash scripts/offline_default_demo.sh WORK_DIR` scores every checkpoint.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-build/offline-default}
mkdir -p "$work" && cd "$work"
[ -d runs/offline-ctc/checkpoint-2250 ] || python -m lslm_eval.trainers.ctc "$repo/trainers/recipes/offline_ctc.yaml"
resume=(); [ -d runs/offline-repeat ] && resume=(--resume)
python -m lslm_eval.trainers.repeat "$repo/trainers/recipes/offline_repeat.yaml" "${resume[@]}"
last=$(ls -d runs/offline-repeat/checkpoint-* | sort -t- -k3 -n | tail -1)
mkdir -p "$repo/lslm_eval/checkpoints/offline-default"
cp "$last/config.json" "$last/adaptor.safetensors" "$repo/lslm_eval/checkpoints/offline-default/"
cp runs/offline-repeat/train_log.jsonl "$repo/lslm_eval/checkpoints/offline-default/"
echo "offline default written to $repo/lslm_eval/checkpoints/offline-default from $last"
