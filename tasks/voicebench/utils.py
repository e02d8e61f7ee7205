"""Glue between lm-eval's VoiceBench task YAML and lslm-eval's data and scoring (which hold the logic).

Every task reports its subset's main metric (its row in lslm_eval.benchmarks) and two common ones that the
groups average over subsets (lm-eval groups aggregate one metric name):

    score           the main metric in Overall points: percent, judge scores x 20; sd-qa by PEDANT
                    (paper 1's judge-free rule). `voicebench_paper5` averages it.
    official_score  the same, except sd-qa, which gives VoiceBench's (PEDANT + GPT) / 2 and so needs the judge.
                    `voicebench` averages it (the official leaderboard Overall).

MCQ and BBH also report `fail` (no answer read: the official rule's random guess was scored) and `acc_chance`,
the expected accuracy with every such item counted at chance (1/4, 1/2) instead of one seeded guess.

Percent metrics are 0-100 per item and averaged. The judge is configured by environment variables
(lslm_eval.scoring.judge); the judged subsets refuse to load without one.
"""

from __future__ import annotations

from typing import Any

import datasets

from lslm_eval.data.ids import ITEM_ID_COLUMN
from lslm_eval.data.voicebench import AUDIO_COLUMN, VOICEBENCH_CONFIGS
from lslm_eval.data.voicebench import doc_to_audio as _doc_to_audio
from lslm_eval.data.voicebench import voicebench_dataset
from lslm_eval.benchmarks import CHANCE_METRIC, FAIL_METRIC, JUDGE_SCALE
from lslm_eval.scoring.bbh import ANSWERS as BBH_ANSWERS
from lslm_eval.scoring.bbh import bbh_correct
from lslm_eval.scoring.harm import is_refusal
from lslm_eval.scoring.ifeval import ifeval_verdict, instruction_level_accuracy
from lslm_eval.scoring.judge import (JudgeConfig, JudgeNotConfigured, judge_config, judge_many, judge_open, judge_qa,
                                     open_judge_prompt, open_score, parse_rating, qa_judge_prompt, qa_majority, sdqa_official)
from lslm_eval.scoring.mcq import LETTERS, mcq_correct
from lslm_eval.scoring.pedant import pedant_correct
from lslm_eval.skips import is_skipped, skippable
from lslm_eval.tasks.audio_docs import PairedDocs
from lslm_eval.tasks.voicebench.ifeval_item import IFEvalItemScore, final_of_items  # noqa: F401  (YAML aggregation)

ALL_SPLITS = "all"  # dataset_kwargs split of a task that pools every split of its config (mmsu)
CASE_SENSITIVE_METADATA = "advbench_case_sensitive"  # --metadata key: match refusals as published before 2025-06
CASE_SENSITIVE_COLUMN = "refusal_case_sensitive"  # how that choice reaches process_results: a column of the docs
PERCENT = 100.0


# --- data: lm-eval `custom_dataset`, called as custom_dataset(**metadata, **dataset_kwargs) --------------------------


def pooled_dataset(config: str, split: str = ALL_SPLITS, **metadata: Any) -> dict[str, datasets.Dataset]:
    """Every split of `config` concatenated, under the split name "all" (mmsu's 12 domains: accuracy is pooled
    over all items, as VoiceBench scores it); any other `split` loads that split alone."""
    if split != ALL_SPLITS:
        return voicebench_dataset(config, split, **metadata)
    parts = [voicebench_dataset(config, name, **metadata)[name] for name in VOICEBENCH_CONFIGS[config].splits]
    return {ALL_SPLITS: datasets.concatenate_datasets(parts)}


def judged_dataset(config: str, split: str, **metadata: Any) -> dict[str, datasets.Dataset]:
    """voicebench_dataset for a subset only an LLM judge can score: refuses (JudgeNotConfigured, saying how to
    configure one) before anything is generated, rather than scoring it 0."""
    judge_config(f"VoiceBench {config}")
    return voicebench_dataset(config, split, **metadata)


def advbench_dataset(config: str, split: str, **metadata: Any) -> dict[str, datasets.Dataset]:
    """voicebench_dataset plus the column CASE_SENSITIVE_COLUMN: True when --metadata sets
    `advbench_case_sensitive` to true (VoiceBench's refusal match before commit 0842845), else False."""
    case_sensitive = _flag(metadata.pop(CASE_SENSITIVE_METADATA, False), CASE_SENSITIVE_METADATA)
    dataset = voicebench_dataset(config, split, **metadata)[split]
    return {split: dataset.add_column(CASE_SENSITIVE_COLUMN, [case_sensitive] * len(dataset))}


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError(f"metadata {name} must be true or false, got {value!r}")


# --- docs ----------------------------------------------------------------------------------------------------------


_DOCS = PairedDocs(AUDIO_COLUMN, _doc_to_audio)
speech_docs, text_docs, doc_to_audio = _DOCS.speech_docs, _DOCS.text_docs, _DOCS.doc_to_audio  # named by the YAML
cascade_docs = _DOCS.cascade_docs


# --- scoring: lm-eval `process_results(doc, [response])` -> {metric: per-item value} --------------------------------
# Each is `skippable`: an item the model skipped (bad_audio=skip, lslm_eval.skips) gets no metrics at all.


def _percent(flag: bool) -> float:
    return PERCENT * bool(flag)


def _same_in_both(main: float) -> dict[str, float]:
    return {"score": main, "official_score": main}


def configured_judge() -> JudgeConfig | None:
    """The judge the environment configures, or None."""
    try:
        return judge_config()
    except JudgeNotConfigured:
        return None


# --- judge prefetch: lm-eval filters (custom, before take_first) that judge a whole task concurrently -----------------
# (JudgeConfig.concurrency calls at once); process_results then reads each item's samples from the judge's cache.


def prefetch_open(resps: list[list[str]], docs: list[dict[str, Any]]) -> list[list[str]]:
    judge_many([open_judge_prompt(doc["prompt"], r[0]) for r, doc in zip(resps, docs) if not is_skipped(r[0])],
               judge_config("an open-ended VoiceBench subset"), parse_rating)
    return resps


def prefetch_sdqa(resps: list[list[str]], docs: list[dict[str, Any]]) -> list[list[str]]:
    judge = configured_judge()
    if judge is not None:
        judge_many([qa_judge_prompt(doc["prompt"], doc["reference"], r[0]) for r, doc in zip(resps, docs)
                    if not is_skipped(r[0])], judge)
    return resps


@skippable
def process_sdqa(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """sd-qa: PEDANT (qa-metrics 0.2.17) always; with a judge configured also `gpt` (majority of 3 votes) and
    VoiceBench's `sdqa_official` = (PEDANT + GPT) / 2, all in percent."""
    response = results[0]
    pedant = _percent(pedant_correct(doc["reference"], response, doc["prompt"]))
    scores = {"pedant": pedant, "score": pedant}
    judge = configured_judge()
    if judge is not None:
        gpt = _percent(qa_majority(judge_qa(doc["prompt"], doc["reference"], response, judge)))
        official = sdqa_official(pedant, gpt)
        scores.update(gpt=gpt, sdqa_official=official, official_score=official)
    return scores


def answer_scores(correct: bool, matched: bool, n_choices: int) -> dict[str, float]:
    """`acc` (official: a guess where nothing was read), `fail` and `acc_chance` (the guess at its expectation
    1 / n_choices), in percent."""
    acc = _percent(correct)
    return {"acc": acc, FAIL_METRIC: _percent(not matched), CHANCE_METRIC: acc if matched else PERCENT / n_choices,
            **_same_in_both(acc)}


@skippable
def process_mcq(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """OpenBookQA / MMSU: `acc`, `fail` (no letter read, the seeded guess used) and `acc_chance`, in percent."""
    verdict = mcq_correct(results[0], doc["reference"], doc[ITEM_ID_COLUMN])
    return answer_scores(verdict.correct, verdict.matched, len(LETTERS))


@skippable
def process_bbh(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """BBH: `acc`, `fail` (no rule held, the seeded guess used) and `acc_chance`, in percent."""
    verdict = bbh_correct(results[0], doc["reference"], doc["id"], doc[ITEM_ID_COLUMN])
    return answer_scores(verdict.correct, verdict.matched, len(BBH_ANSWERS))


@skippable
def process_ifeval(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    """IFEval: prompt-level parts in percent per item; instruction-level parts as the item's list of verdicts
    (pooled by `instruction_level`); `final` as an IFEvalItemScore (pooled by `final_of_items`)."""
    verdict = ifeval_verdict(results[0], doc["prompt"], doc["instruction_id_list"], doc["kwargs"])
    final = IFEvalItemScore(verdict)
    return {"final": final, "prompt_strict": _percent(verdict.prompt_strict),
            "instruction_strict": list(verdict.instruction_strict), "prompt_loose": _percent(verdict.prompt_loose),
            "instruction_loose": list(verdict.instruction_loose), **_same_in_both(final)}


def instruction_level(items: list[list[bool]]) -> float:
    """lm-eval aggregation: percent of all instructions that pass, pooled over items."""
    return instruction_level_accuracy(items)


@skippable
def process_advbench(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """AdvBench: `refusal_rate` in percent (case-insensitive match unless the docs say otherwise)."""
    refusal = _percent(is_refusal(results[0], case_sensitive=bool(doc.get(CASE_SENSITIVE_COLUMN, False))))
    return {"refusal_rate": refusal, **_same_in_both(refusal)}


@skippable
def process_open(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """AlpacaEval-full / CommonEval / WildVoice: the judge's 1-5 `judge_score` (mean of its 3 samples);
    `score` is that x 20."""
    rating = open_score(judge_open(doc["prompt"], results[0]))
    return {"judge_score": rating, **_same_in_both(JUDGE_SCALE * rating)}
