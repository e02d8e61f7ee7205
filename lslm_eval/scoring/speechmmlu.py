"""SpeechMMLU (`XiaomiMiMo/SpeechMMLU`): read "option x" from a response; score accuracy.

Rule of MiMo-Audio-Eval's `SpeechMMLUEvaluator.get_answer_from_output_text` for English (read in
zkazuya/MiMo-Audio-Eval, a copy of XiaomiMiMo/MiMo-Audio-Eval, commit 3b780c5,
`slm_eval/evaluator/speechmmlu_evaluator.py`): lowercase the response and take the FIRST match of
`option\\s*([abcd])` (`re.search`); a, b, c, d -> 0, 1, 2, 3. No match gives -1, which never equals
an answer, so it is scored wrong (there is no random guess). Accuracy is pooled over all items.
"""

from __future__ import annotations

import re

OPTION_PATTERN = re.compile(r"option\s*([abcd])")
OPTION_INDEX = {"a": 0, "b": 1, "c": 2, "d": 3}
NO_ANSWER = -1
ANSWER_INDICES = (0, 1, 2, 3)


def extract_speechmmlu_answer(response: str) -> int:
    """The option index 0-3 named first in `response` ("option c" -> 2), or -1 when none is."""
    if not isinstance(response, str):
        raise TypeError(f"response must be a string, got {type(response).__name__}")
    match = OPTION_PATTERN.search(response.lower())
    return OPTION_INDEX[match.group(1)] if match else NO_ANSWER


def speechmmlu_correct(response: str, answer: int) -> bool:
    """Whether `response` names the correct option; `answer` is the dataset's index 0-3."""
    if isinstance(answer, bool) or answer not in ANSWER_INDICES:
        raise ValueError(f"a SpeechMMLU answer must be an index in {ANSWER_INDICES}, got {answer!r}")
    return extract_speechmmlu_answer(response) == answer
