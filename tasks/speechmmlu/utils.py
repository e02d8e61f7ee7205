"""Glue between lm-eval's SpeechMMLU task YAML and lslm-eval's data and scoring (which hold the logic)."""

from __future__ import annotations

from typing import Any

from lslm_eval.data.speechmmlu import ANSWER_COLUMN, AUDIO_COLUMN, TEXT_COLUMN
from lslm_eval.data.speechmmlu import doc_to_audio as _doc_to_audio
from lslm_eval.data.speechmmlu import speechmmlu_dataset  # noqa: F401  (used by the YAML)
from lslm_eval.benchmarks import CHANCE_METRIC, FAIL_METRIC
from lslm_eval.scoring.speechmmlu import ANSWER_INDICES, NO_ANSWER, extract_speechmmlu_answer, speechmmlu_correct
from lslm_eval.skips import skippable
from lslm_eval.tasks.audio_docs import PairedDocs

PERCENT = 100.0
_DOCS = PairedDocs(AUDIO_COLUMN, _doc_to_audio, TEXT_COLUMN)
speech_docs, text_docs, doc_to_audio = _DOCS.speech_docs, _DOCS.text_docs, _DOCS.doc_to_audio  # named by the YAML
cascade_docs = _DOCS.cascade_docs


@skippable  # an item the model skipped (bad_audio=skip) gets no metrics
def process_speechmmlu(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """`acc` (the first "option x" named is the answer; none named is wrong, the official rule), `fail` (no option
    named) and `acc_chance` (such items counted at chance, 1/4), in percent."""
    response = results[0]
    acc = PERCENT * speechmmlu_correct(response, doc[ANSWER_COLUMN])
    failed = extract_speechmmlu_answer(response) == NO_ANSWER
    return {"acc": acc, FAIL_METRIC: PERCENT * failed,
            CHANCE_METRIC: PERCENT / len(ANSWER_INDICES) if failed else acc}
