"""The benchmark vocabulary: every paired subset, its tasks, its main metric and scale, its groups.

One row per paired subset. Tasks, scoring glue, report, flips, the intervention grid and the CLI read
these rows; nothing else restates a task name, a metric or a scale (tests/test_benchmarks.py checks
every row against the task YAMLs and the probe output). Adding a paired benchmark is: its data, its
tasks (speech, text twin, cascade), its scoring, and one row here.

    subset       the name the report uses ("sdqa")
    speech_task  the lm-eval task that hears the question ("voicebench_sdqa")
    text_task    its twin that reads the transcript ("voicebench_sdqa_text")
    cascade_task the twin that reads an ASR transcript of the audio ("voicebench_sdqa_cascade")
    metric       the per-item main metric the tasks report, in the subset's unit
    scale        unit -> Overall points (judge scores 1-5 x 20; percent x 1)
    groups       named sets the subset belongs to ("paper": paper 1's five, "official": VoiceBench's nine)
    chance       expected main-metric score (in the subset's unit) of a uniform guess among the answers, for
                 subsets whose rule reads an answer (MCQ 1/4, BBH yes/no or (A)/(B) 1/2); None otherwise
    binary       per-item scores are right / wrong (0 or 100): McNemar's test and flips apply directly

Arms (what input the model gets, and which model): speech, text, text@base (the text twin on the
original LLM: `arm=text@base` in --model_args), cascade (the cascade task). Torch-free: the report
imports it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

PERCENT = 100.0
JUDGE_SCALE = 20.0  # a 1-5 judge score x 20 is on the 0-100 scale of the other subsets (VoiceBench leaderboard)
DEFAULT_FILTER = "none"

# Inputs a task gives the model, and the arms of a modality-gap study.
SPEECH, TEXT, CASCADE = "speech", "text", "cascade"
TEXT_AT_BASE = "text@base"
ARMS = (SPEECH, TEXT, TEXT_AT_BASE, CASCADE)
ARM_ARG = "arm"  # the lslm model argument choosing the arm of the model (speech/text: default; text@base)
MODEL_ARMS = ("default", TEXT_AT_BASE)  # values of ARM_ARG

# Per-item metrics beside the main one, for subsets whose rule reads an answer (MCQ, BBH, SpeechMMLU).
FAIL_METRIC = "fail"  # percent of items where no answer could be read
CHANCE_METRIC = "acc_chance"  # expected accuracy with every unreadable answer counted at chance
# Per-item columns the cascade task adds to its docs (logged with --log_samples).
ASR_TRANSCRIPT, ASR_ERRORS, ASR_WORDS = "asr_transcript", "asr_word_errors", "asr_reference_words"


@dataclass(frozen=True)
class Benchmark:
    subset: str
    speech_task: str
    text_task: str
    cascade_task: str
    metric: str
    scale: float = 1.0
    groups: tuple[str, ...] = ()
    chance: float | None = None
    binary: bool = True

    @property
    def tasks(self) -> dict[str, str]:
        """input -> task name."""
        return {SPEECH: self.speech_task, TEXT: self.text_task, CASCADE: self.cascade_task}

    @property
    def unit(self) -> str:
        return "judge 1-5" if self.scale == JUDGE_SCALE else "percent"


def _voicebench(subset: str, metric: str, groups: tuple[str, ...], **kw) -> Benchmark:
    base = f"voicebench_{subset}"
    return Benchmark(subset, base, f"{base}_text", f"{base}_cascade", metric, groups=groups, **kw)


PAPER, OFFICIAL = "paper", "official"
BOTH = (PAPER, OFFICIAL)
BENCHMARKS: tuple[Benchmark, ...] = (  # the official leaderboard order, then SpeechMMLU
    _voicebench("alpacaeval_full", "judge_score", (OFFICIAL,), scale=JUDGE_SCALE, binary=False),
    _voicebench("commoneval", "judge_score", (OFFICIAL,), scale=JUDGE_SCALE, binary=False),
    _voicebench("wildvoice", "judge_score", (OFFICIAL,), scale=JUDGE_SCALE, binary=False),
    _voicebench("sdqa", "pedant", BOTH),
    _voicebench("mmsu", "acc", BOTH, chance=PERCENT / 4),
    _voicebench("openbookqa", "acc", BOTH, chance=PERCENT / 4),
    _voicebench("bbh", "acc", (OFFICIAL,), chance=PERCENT / 2),
    _voicebench("ifeval", "final", BOTH, binary=False),
    _voicebench("advbench", "refusal_rate", BOTH),
    Benchmark("speechmmlu", "speechmmlu", "speechmmlu_text", "speechmmlu_cascade", "acc", chance=PERCENT / 4),
)
BY_SUBSET: dict[str, Benchmark] = {b.subset: b for b in BENCHMARKS}
BY_TASK: dict[str, tuple[Benchmark, str]] = {task: (b, kind) for b in BENCHMARKS for kind, task in b.tasks.items()}

# Named subset sets (an Overall is taken over one): paper 1's five in its table-2 order, VoiceBench's nine.
GROUPS: dict[str, tuple[str, ...]] = {
    PAPER: ("advbench", "ifeval", "openbookqa", "mmsu", "sdqa"),
    OFFICIAL: tuple(b.subset for b in BENCHMARKS if OFFICIAL in b.groups),
}
# lm-eval groups of whole subsets (one per input), for reading group results.
TASK_GROUPS = {"voicebench_paper5": (PAPER, SPEECH), "voicebench_paper5_text": (PAPER, TEXT),
               "voicebench_paper5_cascade": (PAPER, CASCADE),
               "voicebench": (OFFICIAL, SPEECH), "voicebench_text": (OFFICIAL, TEXT)}

# Similarity scalars of a probe (lslm_eval.probe: `probe/<speech task>/probe.json`): name -> (section, key).
PROBE_SCALARS: dict[str, tuple[str, str]] = {
    "f_bar_cos": ("sequence", "cos_bar"), "f_bar_d": ("sequence", "dist_bar"),
    "aps_cos": ("aps", "cos"), "aps_d": ("aps", "dist"),
}
SIMILARITY_SCALARS = tuple(PROBE_SCALARS)


def benchmark(subset: str) -> Benchmark:
    """The row of `subset`; a clear error naming the known ones otherwise."""
    if subset not in BY_SUBSET:
        raise ValueError(f"unknown subset {subset!r}; known: {sorted(BY_SUBSET)} (a new one needs a row in "
                         f"lslm_eval/benchmarks.py)")
    return BY_SUBSET[subset]


def task_of(task: str) -> tuple[Benchmark, str] | None:
    """(row, input: speech / text / cascade) of a task name, or None for a task outside the vocabulary."""
    return BY_TASK.get(task)


def scale(subset: str) -> float:
    """Multiplier from a subset's native unit to Overall points."""
    return benchmark(subset).scale


def resolve_subsets(subsets: str | Sequence[str]) -> tuple[str, ...]:
    """`"paper"`, `"official"`, a list mixing group names and subsets, or "paper,speechmmlu" -> subset names."""
    if isinstance(subsets, str):
        if subsets in GROUPS:
            return GROUPS[subsets]
        subsets = [s.strip() for s in subsets.split(",") if s.strip()]
    names: list[str] = []
    for name in subsets:
        names += list(GROUPS[name]) if name in GROUPS else [name]
    if not names:
        raise ValueError("an Overall needs at least one subset")
    unknown = [n for n in names if n not in BY_SUBSET]
    if unknown:
        raise ValueError(f"unknown subsets {unknown}: use {' or '.join(GROUPS)} or names from {sorted(BY_SUBSET)}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"subsets listed twice: {repeated}")
    return tuple(names)


def subset_order(subsets) -> tuple[str, ...]:
    """Vocabulary order (official leaderboard, then SpeechMMLU)."""
    found = set(subsets)
    return tuple(b.subset for b in BENCHMARKS if b.subset in found)


def main_metric(task: str, fallback: Sequence[str] = ()) -> str:
    """The main metric of `task`: its row's for a task of the vocabulary, else the first of `fallback`
    (the metrics a foreign task lists or logs)."""
    found = task_of(task)
    if found is not None:
        return found[0].metric
    if fallback:
        return fallback[0]
    raise ValueError(f"task {task} is not in lslm_eval/benchmarks.py and names no metric; pass one (--metric)")


def result_key(task_results, metric: str, task: str, where: str = "") -> tuple[str, str]:
    """"<metric>,<filter>" of `metric` in one task's lm-eval results -> (key, filter); filter "none" preferred."""
    keys = [k for k in task_results if "," in k and k.split(",", 1)[0] == metric]
    if not keys:
        available = sorted({k.split(",", 1)[0] for k in task_results if "," in k and "_stderr" not in k})
        raise ValueError(f"{where + ': ' if where else ''}task {task} reports no {metric!r} (has {available})")
    preferred = [k for k in keys if k.endswith("," + DEFAULT_FILTER)]
    if len(keys) > 1 and not preferred:
        raise ValueError(f"{where + ': ' if where else ''}task {task} reports {metric!r} under several filters {keys}")
    key = (preferred or keys)[0]
    return key, key.split(",", 1)[1]


def arm_of(kind: str, model_arm: str | None) -> str:
    """The arm of a task run: its input (speech, text, cascade) and the model's `arm=` argument."""
    if model_arm in (None, "", "default"):
        return kind
    if model_arm == TEXT_AT_BASE:
        if kind != TEXT:
            raise ValueError(f"arm={TEXT_AT_BASE} runs text twins only; a {kind} task was run with it")
        return TEXT_AT_BASE
    raise ValueError(f"unknown model arm {model_arm!r}; known: {list(MODEL_ARMS)}")
