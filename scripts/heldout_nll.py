"""How well does each checkpoint hear questions it never trained on? (docs/offline-default.md)

    python scripts/heldout_nll.py RUN_DIR/checkpoint-* [--n 16] [--train-instructions 2400]

For `n` template questions outside the training set (and outside the VoiceBench sample), the
backbone answers the written question (greedy, 24 tokens); each checkpoint is scored by the mean
per-token NLL of those answers given the espeak-ng *spoken* question. A random adaptor is the
first row. Lower is better; the written question itself sets the floor.
"""

from __future__ import annotations

import argparse

import torch

from lslm_eval.adaptor import Adaptor
from lslm_eval.model import LSLM
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

    cfg = model.config
    torch.manual_seed(0)
    model.adaptor = Adaptor(cfg.encoder_dim, cfg.llm_dim, cfg.stack, cfg.adaptor_hidden, cfg.activation)
    print(f"| checkpoint | held-out NLL ({args.n} questions) |\n|---|---|")
    print(f"| random adaptor | {spoken_answer_nll(model, wavs, answers):.3f} |")
    for checkpoint in args.checkpoints:
        model.adaptor = LSLM.from_pretrained(checkpoint, dtype="float32").adaptor
        print(f"| {checkpoint} | {spoken_answer_nll(model, wavs, answers):.3f} |")


if __name__ == "__main__":
    main()
