"""How well does each checkpoint hear questions it never trained on? (docs/offline-default.md)

    python scripts/heldout_nll.py RUN_DIR/checkpoint-* [--n 16] [--train-instructions 2400]

For `n` template questions outside the training set (and outside the VoiceBench sample), the
backbone answers the written question (greedy, 24 tokens); each checkpoint is scored by the mean
per-token NLL of those answers given the espeak-ng *spoken* question. A random adaptor is the
first row. Lower is better; the written question itself sets the floor. The checkpoints are those
of one adaptor-mode run: the first one's encoder and LLM are loaded once and only adaptors are swapped.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from lslm_eval.adaptor import Adaptor
from lslm_eval.model import ADAPTOR_FILE, LSLM, load_adaptor_state
from lslm_eval.trainers.heldout import held_out_questions, spoken_answer_nll
from lslm_eval.tts import synthesize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--train-instructions", type=int, default=2400, help="`lslm-eval data instructions N --seed 0`")
    args = parser.parse_args()

    questions = held_out_questions(args.n, args.train_instructions)
    wavs = [synthesize(q) for q in questions]
    model = LSLM.from_pretrained(args.checkpoints[0], dtype="float32")
    answers = [a.strip() for a in model.generate(model.collate(model.build_items(questions)), max_new_tokens=24)]

    trained = model.adaptor
    cfg = model.config
    torch.manual_seed(0)
    model.adaptor = Adaptor.from_config(cfg)
    print(f"| checkpoint | held-out NLL ({args.n} questions) |\n|---|---|")
    print(f"| random adaptor | {spoken_answer_nll(model, wavs, answers):.3f} |")
    model.adaptor = trained  # the checkpoints share the encoder and LLM: only their adaptors are swapped in
    for checkpoint in args.checkpoints:
        trained.load_state_dict(load_adaptor_state(Path(checkpoint) / ADAPTOR_FILE, trained))
        print(f"| {checkpoint} | {spoken_answer_nll(model, wavs, answers):.3f} |")


if __name__ == "__main__":
    main()
