"""Held-out check of a spoken-instruction adaptor: does it hear questions it never trained on?

The backbone answers the *written* held-out questions; a checkpoint is scored by the mean per-token
NLL of those answers given the *spoken* questions (lower is better; a random adaptor is the ceiling
to beat). Used by tests/test_offline_default.py and scripts/heldout_nll.py.
"""

from __future__ import annotations

import numpy as np
import torch

from lslm_eval.data.voicebench import evaluation_prompts
from lslm_eval.model import LSLM
from lslm_eval.prompt import AUDIO_PLACEHOLDER
from lslm_eval.trainers.instructions import make_instructions


def held_out_questions(n: int, train_instructions: int, seed: int = 7) -> list[str]:
    """`n` template questions outside the first `train_instructions` questions of `make_instructions(seed=0)` (as
    `lslm-eval data instructions` excludes the evaluation sets, and as the CTC corpus `trainers.ctc_corpus` does)
    and outside the shipped VoiceBench sample."""
    from lslm_eval.trainers.ctc_corpus import evaluation_texts

    excluded = set(evaluation_prompts())
    excluded |= {q.lower() for q in make_instructions(train_instructions, seed=0, exclude=excluded)}
    excluded |= {q.lower() for q in make_instructions(train_instructions, seed=0, exclude=set(evaluation_texts()))}
    return make_instructions(n, seed=seed, exclude=excluded)


def spoken_answer_nll(model: LSLM, wavs: list[np.ndarray], answers: list[str]) -> float:
    """Mean NLL per answer token given the spoken questions; wavs: (samples,) float32 16 kHz each."""
    items = model.build_items([AUDIO_PLACEHOLDER] * len(wavs), wavs)
    for item, answer in zip(items, answers):
        item.response_ids = model.tokenizer(answer, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        return model(model.collate(items, padding_side="right")).loss.item()


def heldout_spoken_questions(n: int) -> tuple[list[np.ndarray], list[str], list[str]]:
    """The first `n` sd-qa questions of the shipped held-out set (`voicebench_source: heldout`), as stored:
    (waveforms (samples,) float32 16 kHz, written questions, references)."""
    from lslm_eval.audio import load_audio
    from lslm_eval.data.sources import HELDOUT
    from lslm_eval.data.voicebench import load_voicebench

    rows = load_voicebench("sd-qa", "usa", HELDOUT).select(range(n))
    return [load_audio(row["audio"]) for row in rows], list(rows["prompt"]), list(rows["reference"])
