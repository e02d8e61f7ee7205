"""IFEval: VoiceBench's four instruction-following accuracies and their mean, via lm-eval's checkers.

VoiceBench's `src/evaluator/ifeval.py` (MatthewCYM/VoiceBench, HEAD 5338154) runs Google's IFEval
checkers; lm-eval's `lm_eval.tasks.ifeval` carries the same checkers and the same strict and loose
tests (`utils.test_instruction_following_strict/_loose`: kwargs with falsy values dropped, an empty
response fails, loose also tries the response without its first and/or last line and without `*`),
so this module calls lm-eval's and adds only VoiceBench's response clean-up and its `final`:

    prompt_strict / prompt_loose            percent of items whose instructions all pass
    instruction_strict / instruction_loose  percent of all instructions (pooled over items) that pass
    final                                   the mean of those four

Before importing lm-eval's module this puts nltk's English punkt_tab data (built offline by
`punkt_tab`) on nltk's path, so that its import does not try to download it, and seeds langdetect
(used by the language and case checkers, random without a seed) so that verdicts repeat.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType

from lslm_eval.scoring.punkt_tab import ensure_punkt_tab

TURN_MARKERS = ("<1>", "<2>", "<3>")
USER_TURN_SUFFIX = "<|user|>"
LANGDETECT_SEED = 0
IFEVAL_PARTS = ("prompt_strict", "instruction_strict", "prompt_loose", "instruction_loose")


@dataclass(frozen=True)
class IFEvalVerdict:
    """One IFEval item: whether all instructions pass, and each instruction, under both tests."""

    prompt_strict: bool
    instruction_strict: tuple[bool, ...]
    prompt_loose: bool
    instruction_loose: tuple[bool, ...]


@functools.cache
def _lm_eval_ifeval() -> ModuleType:
    ensure_punkt_tab()
    from langdetect import DetectorFactory

    DetectorFactory.seed = LANGDETECT_SEED
    from lm_eval.tasks.ifeval import utils

    return utils


def clean_response(response: str) -> str:
    """VoiceBench's clean-up: drop a leading turn marker `<1>`-`<3>` and a trailing `<|user|>`."""
    if not isinstance(response, str):
        raise TypeError(f"response must be a string, got {type(response).__name__}")
    if response.startswith(TURN_MARKERS):
        response = response[3:].strip()
    if response.endswith(USER_TURN_SUFFIX):
        response = response[: -len(USER_TURN_SUFFIX)].strip()
    return response


def parse_kwargs(kwargs: object, n_instructions: int) -> list[dict]:
    """An item's `kwargs` as one dict per instruction.

    Accepts the dataset's list of dicts (None for absent arguments, as Arrow stores them), a JSON
    string of that list, or a list of JSON strings; a None entry means no arguments.
    """
    if isinstance(kwargs, str):
        kwargs = json.loads(kwargs)
    if not isinstance(kwargs, Sequence) or isinstance(kwargs, str):
        raise ValueError(f"IFEval kwargs must be a list with one entry per instruction, got {type(kwargs).__name__}")
    parsed = []
    for entry in kwargs:
        if isinstance(entry, str):
            entry = json.loads(entry)
        if entry is None:
            entry = {}
        if not isinstance(entry, Mapping):
            raise ValueError(f"each IFEval kwargs entry must be a dict (or JSON of one), got {entry!r}")
        parsed.append(dict(entry))
    if len(parsed) != n_instructions:
        raise ValueError(f"IFEval item has {n_instructions} instructions but {len(parsed)} kwargs entries")
    return parsed


def ifeval_verdict(response: str, prompt: str, instruction_id_list: Sequence[str], kwargs: object) -> IFEvalVerdict:
    """Check `response` against the item's instructions, strictly and loosely (lm-eval's tests)."""
    checks = _lm_eval_ifeval()
    ids = list(instruction_id_list)
    if not ids:
        raise ValueError("an IFEval item needs at least one instruction id")
    unknown = [i for i in ids if i not in checks.instructions_registry.INSTRUCTION_DICT]
    if unknown:
        raise ValueError(f"unknown IFEval instruction ids {unknown}: lm-eval's checkers know none of them")
    example = checks.InputExample(key=0, instruction_id_list=ids, prompt=prompt, kwargs=parse_kwargs(kwargs, len(ids)))
    text = clean_response(response)
    strict = checks.test_instruction_following_strict(example, text)
    loose = checks.test_instruction_following_loose(example, text)
    return IFEvalVerdict(
        prompt_strict=strict.follow_all_instructions,
        instruction_strict=tuple(strict.follow_instruction_list),
        prompt_loose=loose.follow_all_instructions,
        instruction_loose=tuple(loose.follow_instruction_list),
    )


def prompt_level_accuracy(flags: Sequence[bool]) -> float:
    """Percent of items that pass all their instructions (one bool per item)."""
    if not flags:
        raise ValueError("prompt_level_accuracy needs at least one item")
    return 100.0 * sum(bool(f) for f in flags) / len(flags)


def instruction_level_accuracy(per_item: Sequence[Sequence[bool]]) -> float:
    """Percent of all instructions that pass, pooled over items (one list of bools per item)."""
    flat = [bool(f) for flags in per_item for f in flags]
    if not flat:
        raise ValueError("instruction_level_accuracy needs at least one instruction")
    return 100.0 * sum(flat) / len(flat)


def ifeval_scores(verdicts: Sequence[IFEvalVerdict]) -> dict[str, float]:
    """The four parts and VoiceBench's `final` (their mean), all in percent."""
    scores = {
        "prompt_strict": prompt_level_accuracy([v.prompt_strict for v in verdicts]),
        "instruction_strict": instruction_level_accuracy([v.instruction_strict for v in verdicts]),
        "prompt_loose": prompt_level_accuracy([v.prompt_loose for v in verdicts]),
        "instruction_loose": instruction_level_accuracy([v.instruction_loose for v in verdicts]),
    }
    scores["final"] = sum(scores[p] for p in IFEVAL_PARTS) / len(IFEVAL_PARTS)
    return scores


def ifeval_final(verdicts: Sequence[IFEvalVerdict]) -> float:
    """VoiceBench's IFEval score: the mean of the four parts, in percent (an lm-eval aggregation)."""
    return ifeval_scores(verdicts)["final"]
