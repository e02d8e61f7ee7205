"""Glue between lm-eval's SpeechMMLU task YAML and lslm-eval's data and scoring (which hold the logic)."""

from __future__ import annotations

from typing import Any

import datasets

from lslm_eval.data.speechmmlu import ANSWER_COLUMN, AUDIO_COLUMN
from lslm_eval.data.speechmmlu import doc_to_audio as _doc_to_audio
from lslm_eval.data.speechmmlu import speechmmlu_dataset  # noqa: F401  (used by the YAML)
from lslm_eval.scoring.speechmmlu import NO_ANSWER, extract_speechmmlu_answer, speechmmlu_correct
from lslm_eval.tasks.audio_docs import revealed, with_unlogged_audio, without_audio

PERCENT = 100.0


def speech_docs(dataset: datasets.Dataset) -> datasets.Dataset:
    """Speech task's `process_docs`: the audio stays out of the sample logs (lslm_eval.tasks.audio_docs)."""
    return with_unlogged_audio(dataset, AUDIO_COLUMN)


def text_docs(dataset: datasets.Dataset) -> datasets.Dataset:
    """Text task's `process_docs`: the question text is the input; the audio is dropped."""
    return without_audio(dataset, AUDIO_COLUMN)


def doc_to_audio(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """lslm_eval.data.speechmmlu.doc_to_audio for docs from speech_docs."""
    return _doc_to_audio(revealed(doc, AUDIO_COLUMN))


def process_speechmmlu(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """`acc` (the first "option x" named is the answer) and `fail` (no option named), in percent."""
    response = results[0]
    return {"acc": PERCENT * speechmmlu_correct(response, doc[ANSWER_COLUMN]),
            "fail": PERCENT * (extract_speechmmlu_answer(response) == NO_ANSWER)}
