"""The leaderboard: one row per checkpoint, the arms' scores, Overall, GAP and the paired statistics.

    board = build_leaderboard(["runs/"], probe_files=["probe/ckpt-2000.json"])
    Path("board.html").write_text(board.to_html())

Arms (lslm_eval.benchmarks): speech and text are required for every subset of the Overall;
text@base (the text twins on the original LLM) and cascade (the backbone reading an ASR transcript)
are shown where a checkpoint has them for every subset. Derived, in points over the chosen subsets:

    GAP = misalignment   text - speech          (SPEC section 7)
    forgetting           text@base - text       what speech training cost the text ability
    base gap             text@base - speech     = forgetting + misalignment
    cascade gap          cascade - speech       what hearing end to end loses against reading one's ASR
    recovery             speech / text          the modality recovery rate (ratio of Overalls)

Each with a stratified paired bootstrap interval (report.bootstrap.bootstrap_statistic) over the items
both arms were scored on, matched by identity. Per subset: each arm's score with its interval, the
exact McNemar test of speech vs text correctness (right/wrong subsets), the fail rate and the score
with every unreadable answer counted at chance (MCQ, BBH, SpeechMMLU), and the cascade's WER.

Every speech task needs its text twin on the same run, every checkpoint every subset of the Overall,
every probe file a run: otherwise `IncompleteRunError` names what is missing. Nothing is dropped
silently; choices made along the way are in `notes`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from lslm_eval.benchmarks import (CASCADE, CHANCE_METRIC, FAIL_METRIC, GROUPS, SIMILARITY_SCALARS, SPEECH, TEXT,
                                  TEXT_AT_BASE, benchmark, resolve_subsets, subset_order)
from lslm_eval.report.bootstrap import (DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, GapInterval, Interval, PairedSubset,
                                        bootstrap_gap, bootstrap_statistic, exact_mcnemar, pair_items, stratified_se)
from lslm_eval.report.gate import Metric
from lslm_eval.report.render import csv_table, html_page, markdown_table, to_json
from lslm_eval.report.runs import IncompleteRunError, Probe, RunKey, TaskScore, read_probe, read_runs, step_of
from lslm_eval.report.scores import modality_gap, overall, subset_scale

NAMED_COLUMNS = ("GAP", "Overall speech", "Overall text")  # per named subset set, after the chosen Overall
OPTIONAL_ARMS = (TEXT_AT_BASE, CASCADE)
ITEM_MEAN_RTOL = 1e-6  # per-item mean vs reported score: beyond this the notes say so
TITLE = "lslm-eval leaderboard: VoiceBench speech vs text input"
# Derived statistics: name -> (label, (arm a, arm b), kind): difference = Overall_a - Overall_b, ratio = a / b.
DERIVED = {
    "gap": ("GAP", (TEXT, SPEECH), "difference"),
    "forgetting": ("forgetting", (TEXT_AT_BASE, TEXT), "difference"),
    "base_gap": ("base gap", (TEXT_AT_BASE, SPEECH), "difference"),
    "cascade_gap": ("cascade gap", (CASCADE, SPEECH), "difference"),
    "recovery": ("recovery", (SPEECH, TEXT), "ratio"),
}
PAIRS = ((TEXT, SPEECH), (TEXT_AT_BASE, TEXT), (CASCADE, SPEECH))  # per-subset paired tests (a vs b)


def twin_task(subset: str, arm: str) -> str:
    row = benchmark(subset)
    return row.speech_task if arm == TEXT else row.text_task


@dataclass(frozen=True)
class NamedOverall:
    """Both Overalls and their GAP over a named subset set (`benchmarks.GROUPS`), in points."""

    speech: float
    text: float
    gap: float


@dataclass
class LeaderboardRow:
    """One checkpoint. Subset scores in their own unit; Overall and derived statistics in points."""

    model: str
    checkpoint: str
    step: int | None
    speech: dict[str, float]
    text: dict[str, float]
    overall_speech: float
    overall_text: float
    gap: float
    interval: GapInterval | None = None  # stratified paired bootstrap, when every task logged its samples
    speech_se: dict[str, float] = field(default_factory=dict)  # per subset, from per-item scores
    text_se: dict[str, float] = field(default_factory=dict)
    overall_speech_se: float | None = None
    overall_text_se: float | None = None
    probe: dict[str, float] = field(default_factory=dict)
    probe_task: str | None = None
    overalls: dict[str, NamedOverall] = field(default_factory=dict)  # named sets other than `subsets` it covers
    paired: dict[str, PairedSubset] = field(default_factory=dict, repr=False)  # per-item scores, for compare_gaps
    paired_by: dict[str, dict[str, PairedSubset]] = field(default_factory=dict, repr=False)  # DERIVED difference ->
    # subset -> (b, a) items matched, as PairedSubset(speech=b, text=a): contributions a - b, for compare_gaps
    arms: dict[str, dict[str, float]] = field(default_factory=dict)  # arm -> subset -> score (speech, text, ...)
    overall_arms: dict[str, float] = field(default_factory=dict)
    derived: dict[str, Interval] = field(default_factory=dict)  # DERIVED name -> estimate and interval
    subset_intervals: dict[tuple[str, str], Interval] = field(default_factory=dict)  # (arm, subset), in points
    subset_derived: dict[tuple[str, str], Interval] = field(default_factory=dict)  # (DERIVED name, subset)
    tests: dict[tuple[str, str, str], dict] = field(default_factory=dict)  # (a, b, subset) -> counts and McNemar p
    chance: dict[tuple[str, str], float] = field(default_factory=dict)  # (arm, subset) -> score, fallbacks at chance
    fail: dict[tuple[str, str], float] = field(default_factory=dict)  # (arm, subset) -> percent unreadable
    wer: dict[str, float] = field(default_factory=dict)  # subset (and "all") -> cascade transcripts' WER, percent

    @property
    def name(self) -> str:
        return str(RunKey(self.model, self.checkpoint))


def level(confidence: float) -> str:
    return f"{round(confidence * 100)}%"


@dataclass
class Leaderboard:
    subsets: tuple[str, ...]
    rows: list[LeaderboardRow]
    notes: list[str]
    confidence: float = DEFAULT_CONFIDENCE
    scalars: tuple[str, ...] = SIMILARITY_SCALARS
    named: tuple[str, ...] = ()  # named subset sets with their own Overall columns
    arms: tuple[str, ...] = (SPEECH, TEXT)  # arms some row has

    @property
    def derived(self) -> list[str]:
        """DERIVED statistics some row has."""
        return [name for name in DERIVED if any(name in r.derived for r in self.rows)]

    @property
    def fallback_subsets(self) -> list[str]:
        return [s for s in self.subsets if any((a, s) in r.chance for r in self.rows for a in self.arms)]

    def columns(self) -> list[str]:
        lv = level(self.confidence)
        derived = [c for name in self.derived if name != "gap"
                   for c in (DERIVED[name][0], f"{DERIVED[name][0]} {lv} low", f"{DERIVED[name][0]} {lv} high")]
        return (["model", "checkpoint", "step", "GAP", f"GAP {lv} low", f"GAP {lv} high"]
                + [f"Overall {arm}" for arm in self.arms] + derived
                + (["cascade WER"] if CASCADE in self.arms else [])
                + [f"{column} ({name})" for name in self.named for column in NAMED_COLUMNS]
                + [f"{arm} {s}" for arm in self.arms for s in self.subsets]
                + [f"{arm} {s} {kind}" for s in self.fallback_subsets for arm in self.arms for kind in ("chance", "fail")]
                + list(self.scalars))

    def table(self) -> list[list]:
        table = []
        for r in self.rows:
            low, high = (r.interval.low, r.interval.high) if r.interval else (None, None)
            derived = []
            for name in self.derived:
                if name != "gap":
                    d = r.derived.get(name)
                    derived += [d.estimate, d.low, d.high] if d else [None, None, None]
            table.append([r.model, r.checkpoint, r.step, r.gap, low, high]
                         + [r.overall_arms.get(arm) for arm in self.arms] + derived
                         + ([r.wer.get("all")] if CASCADE in self.arms else [])
                         + [getattr(r.overalls.get(name), key, None) for name in self.named for key in ("gap", "speech", "text")]
                         + [r.arms.get(arm, {}).get(s) for arm in self.arms for s in self.subsets]
                         + [getattr(r, kind).get((arm, s)) for s in self.fallback_subsets for arm in self.arms
                            for kind in ("chance", "fail")]
                         + [r.probe.get(k) for k in self.scalars])
        return table

    def subset_table(self) -> tuple[list[str], list[list]]:
        """One line per checkpoint and subset: each arm with its interval, the paired tests, fallbacks, WER."""
        def cell(i: Interval | None) -> str | None:
            if i is None:
                return None
            return f"{i.estimate:.2f} [{i.low:.2f}, {i.high:.2f}]" if math.isfinite(i.low) else f"{i.estimate:.2f}"

        pairs = [(a, b) for a, b in PAIRS if a in self.arms and b in self.arms]
        derived = self.derived
        columns = (["checkpoint", "subset"] + [f"{arm} (points) [{level(self.confidence)}]" for arm in self.arms]
                   + [f"{DERIVED[name][0]} [{level(self.confidence)}]" for name in derived]
                   + [f"{a} vs {b}: {k}" for a, b in pairs for k in ("only a right", "only b right", "McNemar p")]
                   + ["speech fail %", "speech chance", "text fail %", "text chance"]
                   + (["cascade WER %"] if CASCADE in self.arms else []))
        rows = []
        for r in self.rows:
            for s in self.subsets:
                line = ([r.name, s] + [cell(r.subset_intervals.get((arm, s))) for arm in self.arms]
                        + [cell(r.subset_derived.get((name, s))) for name in derived])
                for a, b in pairs:
                    test = r.tests.get((a, b, s))
                    line += [test["only_a"], test["only_b"], test["p"]] if test else [None, None, None]
                line += [r.fail.get((SPEECH, s)), r.chance.get((SPEECH, s)), r.fail.get((TEXT, s)), r.chance.get((TEXT, s))]
                if CASCADE in self.arms:
                    line.append(r.wer.get(s))
                rows.append(line)
        return columns, rows

    def to_markdown(self) -> str:
        notes = "".join(f"- {n}\n" for n in self.notes)
        columns, rows = self.subset_table()
        return (markdown_table(self.columns(), self.table()) + "\n**Per subset**\n\n" + markdown_table(columns, rows, decimals=4)
                + (f"\nNotes:\n{notes}" if notes else ""))

    def to_csv(self) -> str:
        return csv_table(self.columns(), self.table())

    def to_html(self, figures: Sequence[tuple[str, bytes]] = ()) -> str:
        return html_page(TITLE, self.columns(), self.table(), self.notes, figures=figures)

    def to_json(self) -> str:
        def interval(i: Interval | None):
            return None if i is None else {"estimate": i.estimate, "low": i.low, "high": i.high, "se": i.se, "n_items": i.n_items}

        rows = []
        for r in self.rows:
            gi = r.interval
            rows.append({
                "model": r.model, "checkpoint": r.checkpoint, "step": r.step, "gap": r.gap,
                "gap_interval": None if gi is None else {"low": gi.low, "high": gi.high, "se": gi.se, "n_items": gi.n_items},
                "overall_speech": r.overall_speech, "overall_text": r.overall_text,
                "speech": r.speech, "text": r.text, "speech_se": r.speech_se, "text_se": r.text_se,
                "arms": r.arms, "overall_arms": r.overall_arms,
                "derived": {name: interval(i) for name, i in r.derived.items()},
                "subsets": {s: {**{arm: interval(r.subset_intervals.get((arm, s))) for arm in self.arms},
                                **{name: interval(r.subset_derived.get((name, s))) for name in self.derived}}
                            for s in self.subsets},
                "paired_tests": [{"a": a, "b": b, "subset": s, **t} for (a, b, s), t in r.tests.items()],
                "chance": [{"arm": a, "subset": s, "score": v, "fail": r.fail.get((a, s))} for (a, s), v in r.chance.items()],
                "cascade_wer": r.wer,
                "probe": r.probe, "probe_task": r.probe_task,
                "overalls": {name: {"speech": o.speech, "text": o.text, "gap": o.gap} for name, o in r.overalls.items()},
            })
        metrics = {name: {"value": m.value, "se": m.se, "higher_is_better": m.higher_is_better}
                   for name, m in self.metric_table().items()}
        return to_json({"subsets": list(self.subsets), "arms": list(self.arms), "confidence": self.confidence,
                        "rows": rows, "named_overalls": {name: list(GROUPS[name]) for name in self.named},
                        "metrics": metrics, "notes": self.notes})

    def points(self) -> list[dict]:
        """One point per checkpoint for `correlate` and the figures."""
        return [{"model": r.model, "checkpoint": r.checkpoint, "step": r.step, "gap": r.gap,
                 "overall_speech": r.overall_speech, "overall_text": r.overall_text, **r.probe} for r in self.rows]

    def metric_table(self, by_run: bool = True) -> dict[str, Metric]:
        """Flat metrics for the regression gate: `<run>/gap`, `<run>/overall_speech`, `<run>/speech/<subset>`,
        `<run>/forgetting`, `<run>/speech/<subset>/acc_chance`, `<run>/speech/<subset>/fail`...

        by_run=False drops the `<run>/` prefix (only for a single-row leaderboard), so that runs of
        different checkpoints can be gated against each other.
        """
        if not by_run and len(self.rows) != 1:
            raise ValueError(f"by_run=False needs exactly one row, the leaderboard has {len(self.rows)}")
        table = {}
        for r in self.rows:
            prefix = f"{r.name}/" if by_run else ""
            table[prefix + "gap"] = Metric(r.gap, r.interval.se if r.interval else None, higher_is_better=False)
            table[prefix + "overall_speech"] = Metric(r.overall_speech, r.overall_speech_se)
            table[prefix + "overall_text"] = Metric(r.overall_text, r.overall_text_se)
            for arm in OPTIONAL_ARMS:
                if arm in r.overall_arms:
                    se = r.derived.get("overall_" + arm)
                    table[f"{prefix}overall_{arm}"] = Metric(r.overall_arms[arm], se.se if se else None)
            for name, d in r.derived.items():
                if name in DERIVED and name != "gap":
                    table[prefix + name] = Metric(d.estimate, d.se if math.isfinite(d.se) else None,
                                                  higher_is_better=DERIVED[name][2] == "ratio")
            for name, named in r.overalls.items():
                table[f"{prefix}{name}/gap"] = Metric(named.gap, higher_is_better=False)
                table[f"{prefix}{name}/overall_speech"] = Metric(named.speech)
                table[f"{prefix}{name}/overall_text"] = Metric(named.text)
            for s in self.subsets:
                table[f"{prefix}speech/{s}"] = Metric(r.speech[s], r.speech_se.get(s))
                table[f"{prefix}text/{s}"] = Metric(r.text[s], r.text_se.get(s))
                for arm in OPTIONAL_ARMS:
                    if s in r.arms.get(arm, {}):
                        table[f"{prefix}{arm}/{s}"] = Metric(r.arms[arm][s])
            for (arm, s), value in r.chance.items():
                table[f"{prefix}{arm}/{s}/{CHANCE_METRIC}"] = Metric(value)
                table[f"{prefix}{arm}/{s}/{FAIL_METRIC}"] = Metric(r.fail[(arm, s)], higher_is_better=False)
            if "all" in r.wer:
                table[f"{prefix}cascade/wer"] = Metric(r.wer["all"], higher_is_better=False)
        return table


def group_by_run(scores: Sequence[TaskScore]) -> dict[RunKey, dict[tuple[str, str], TaskScore]]:
    """Index scores by run and (subset, arm); every speech task must have its text twin and vice versa."""
    runs: dict[RunKey, dict[tuple[str, str], TaskScore]] = {}
    for score in scores:
        runs.setdefault(score.run, {})[(score.subset, score.arm)] = score
    missing = []
    for run, tasks in sorted(runs.items()):
        for subset, arm in sorted(tasks):
            if arm not in (SPEECH, TEXT):
                continue
            other = TEXT if arm == SPEECH else SPEECH
            if (subset, other) not in tasks:
                missing.append(f"{run}: {tasks[(subset, arm)].task} has no {other} twin {twin_task(subset, arm)}"
                               f" (from {tasks[(subset, arm)].results_file})")
    if missing:
        raise IncompleteRunError("speech and text tasks must come in pairs for the same model and checkpoint:\n  "
                                 + "\n  ".join(missing))
    return runs


def check_item_means(task: TaskScore, notes: list[str]) -> None:
    mean = float(np.mean(list(task.items.values())))
    if not math.isclose(mean, task.score, rel_tol=ITEM_MEAN_RTOL, abs_tol=ITEM_MEAN_RTOL):
        notes.append(f"{task.run}: {task.task} ({task.arm}) reports {task.metric}={task.score:.4f} but its items average {mean:.4f} "
                     f"(aggregate is not a per-item mean); the interval is for the per-item mean")


@dataclass
class Settings:
    n_resamples: int
    confidence: float
    seed: int


def matched_keys(tasks: dict[tuple[str, str], TaskScore], arms: Sequence[str], subset: str) -> tuple[str, ...]:
    """The item ids every arm was scored on in `subset`, sorted: the rows of matched_columns."""
    return tuple(sorted(set.intersection(*(set(tasks[(subset, arm)].items) for arm in arms))))


def matched_columns(tasks: dict[tuple[str, str], TaskScore], arms: Sequence[str], subsets: Sequence[str],
                    source=lambda t: t.items) -> dict[str, np.ndarray] | None:
    """subset -> (n, len(arms)) per-item scores on the items every arm was scored on; None when a log is missing."""
    columns = {}
    for s in subsets:
        logged = [source(tasks[(s, arm)]) for arm in arms]
        if any(items is None for items in logged):
            return None
        shared = sorted(set.intersection(*(set(items) for items in logged)))
        if not shared:
            raise IncompleteRunError(f"{tasks[(s, arms[0])].run}: {s} shares no item between arms {list(arms)}")
        columns[s] = np.array([[items[key] for items in logged] for key in shared], dtype=np.float64)
    return columns


def derive(row: LeaderboardRow, tasks, subsets, arms: Sequence[str], settings: Settings, notes: list[str]) -> None:
    """Every DERIVED statistic whose two arms the row has, with its interval; per-arm Overall SEs too."""
    scales = {s: subset_scale(s) for s in subsets}
    boot = dict(n_resamples=settings.n_resamples, confidence=settings.confidence, seed=settings.seed)
    for name, (_, (a, b), kind) in DERIVED.items():
        if a not in arms or b not in arms:
            continue
        oa, ob = row.overall_arms[a], row.overall_arms[b]
        estimate = oa - ob if kind == "difference" else (oa / ob if ob else math.nan)
        columns = matched_columns(tasks, (a, b), subsets)
        if columns is None:
            row.derived[name] = Interval(estimate, math.nan, math.nan, math.nan)
            continue
        if kind == "difference":
            row.paired_by[name] = {s: PairedSubset(matched_keys(tasks, (a, b), s), columns[s][:, 1], columns[s][:, 0],
                                                   scales[s]) for s in subsets}
        statistic = (lambda o: o[:, 0] - o[:, 1]) if kind == "difference" else (lambda o: o[:, 0] / o[:, 1])
        interval = bootstrap_statistic(columns, scales, statistic, **boot)
        row.derived[name] = Interval(estimate, interval.low, interval.high, interval.se, interval.n_items)
        for s in subsets:  # the same statistic within each subset (items resampled within it)
            row.subset_derived[(name, s)] = bootstrap_statistic({s: columns[s]}, {s: scales[s]}, statistic, **boot)
        if kind == "ratio" and not math.isfinite(interval.low):
            notes.append(f"{row.name}: no interval for {name}: a resampled text Overall is 0")
    for arm in arms:  # each arm's Overall with its interval
        columns = matched_columns(tasks, (arm,), subsets)
        if columns is not None:
            row.derived["overall_" + arm] = bootstrap_statistic(columns, scales, lambda o: o[:, 0], **boot)
    for s in subsets:
        for arm in arms:
            items = tasks[(s, arm)].items
            if items is not None:
                values = np.array(list(items.values()), dtype=np.float64)[:, None]
                row.subset_intervals[(arm, s)] = bootstrap_statistic({s: values}, {s: scales[s]}, lambda o: o[:, 0], **boot)
        for a, b in PAIRS:
            if a in arms and b in arms and benchmark(s).binary:
                columns = matched_columns(tasks, (a, b), [s])
                if columns is not None:
                    right = columns[s] > 0
                    only_a, only_b = int(np.sum(right[:, 0] & ~right[:, 1])), int(np.sum(~right[:, 0] & right[:, 1]))
                    row.tests[(a, b, s)] = {"both_right": int(np.sum(right.all(axis=1))), "only_a": only_a, "only_b": only_b,
                                            "both_wrong": int(np.sum(~right.any(axis=1))), "n": int(right.shape[0]),
                                            "p": exact_mcnemar(only_a, only_b)}


def attach_fallbacks(row: LeaderboardRow, tasks, subsets, arms: Sequence[str]) -> None:
    """Fail rate and score with fallbacks at chance, per arm and subset, where the task reports them."""
    for s in subsets:
        for arm in arms:
            task = tasks[(s, arm)]
            if CHANCE_METRIC in task.extra and FAIL_METRIC in task.extra:
                row.chance[(arm, s)] = task.extra[CHANCE_METRIC]
                row.fail[(arm, s)] = task.extra[FAIL_METRIC]


def attach_wer(row: LeaderboardRow, tasks, subsets) -> None:
    """Corpus WER (percent) of the cascade's transcripts per subset and pooled over all its items."""
    total = [0, 0]
    for s in subsets:
        counts = tasks[(s, CASCADE)].asr
        if counts is None:
            return
        errors, words = (sum(c[i] for c in counts.values()) for i in (0, 1))
        row.wer[s] = 100.0 * errors / words if words else math.nan
        total[0] += errors
        total[1] += words
    row.wer["all"] = 100.0 * total[0] / total[1] if total[1] else math.nan


def build_row(run: RunKey, tasks: dict[tuple[str, str], TaskScore], subsets: tuple[str, ...], notes: list[str],
              settings: Settings) -> LeaderboardRow:
    speech = {s: tasks[(s, SPEECH)].score for s in subsets}
    text = {s: tasks[(s, TEXT)].score for s in subsets}
    row = LeaderboardRow(run.model, run.checkpoint, step_of(run.checkpoint), speech, text,
                         overall(speech, subsets, modality=f"{run} speech"), overall(text, subsets, modality=f"{run} text"),
                         modality_gap(speech, text, subsets))
    arms = [SPEECH, TEXT]
    for arm in OPTIONAL_ARMS:
        have = [s for s in subsets if (s, arm) in tasks]
        if len(have) == len(subsets):
            arms.append(arm)
        elif have:
            notes.append(f"{run}: {arm} covers only {have} of {list(subsets)}; no {arm} Overall")
    row.arms = {arm: {s: tasks[(s, arm)].score for s in subsets} for arm in arms}
    row.overall_arms = {arm: overall(row.arms[arm], subsets, modality=f"{run} {arm}") for arm in arms}
    attach_fallbacks(row, tasks, subsets, arms)
    if CASCADE in arms:
        attach_wer(row, tasks, subsets)
    logged = [tasks[(s, m)] for s in subsets for m in arms if tasks[(s, m)].items is not None]
    if len(logged) < len(arms) * len(subsets):
        notes.append(f"{run}: {len(arms) * len(subsets) - len(logged)} of {len(arms) * len(subsets)} tasks have no "
                     f"sample log; intervals only where both arms logged")
    for task in logged:
        check_item_means(task, notes)
    derive(row, tasks, subsets, arms, settings, notes)
    if not all(tasks[(s, m)].items is not None for s in subsets for m in (SPEECH, TEXT)):
        return row
    paired = {s: pair_items(tasks[(s, SPEECH)].items, tasks[(s, TEXT)].items, scale=subset_scale(s), subset=f"{run} {s}")
              for s in subsets}
    row.interval = bootstrap_gap(paired, n_resamples=settings.n_resamples, confidence=settings.confidence, seed=settings.seed)
    row.paired = paired
    row.speech_se = {s: stratified_se([paired[s].speech]) for s in subsets}
    row.text_se = {s: stratified_se([paired[s].text]) for s in subsets}
    row.overall_speech_se = stratified_se([paired[s].scale * paired[s].speech for s in subsets])
    row.overall_text_se = stratified_se([paired[s].scale * paired[s].text for s in subsets])
    return row


def attach_named_overalls(rows: list[LeaderboardRow], runs: dict[RunKey, dict[tuple[str, str], TaskScore]],
                          chosen: tuple[str, ...], notes: list[str]) -> tuple[str, ...]:
    """Give each row the Overalls of the named subset sets other than `chosen` (paper, official)
    that its run covers; notes name what the others lack. Returns the sets some row has."""
    shown = []
    for name, subsets in GROUPS.items():
        if set(subsets) == set(chosen):
            continue
        lacking: dict[tuple[str, ...], list[str]] = {}
        for row, tasks in zip(rows, runs.values()):
            missing = tuple(s for s in subsets if (s, SPEECH) not in tasks)
            if missing:
                lacking.setdefault(missing, []).append(row.name)
                continue
            speech = {s: tasks[(s, SPEECH)].score for s in subsets}
            text = {s: tasks[(s, TEXT)].score for s in subsets}
            row.overalls[name] = NamedOverall(overall(speech, subsets), overall(text, subsets), modality_gap(speech, text, subsets))
        for missing, names in lacking.items():
            notes.append(f"no {name} Overall ({len(subsets)} subsets) for {', '.join(names)}: {list(missing)} not evaluated")
        if any(name in row.overalls for row in rows):
            shown.append(name)
    return tuple(shown)


def attach_probes(rows: list[LeaderboardRow], probes: list[Probe], names: dict[RunKey, frozenset[str]],
                  probe_task: str | None) -> None:
    by_checkpoint: dict[str, list[LeaderboardRow]] = {}
    for row in rows:
        by_checkpoint.setdefault(row.checkpoint, []).append(row)
    chosen: dict[str, Probe] = {}
    for probe in probes:
        candidates = [r for r in by_checkpoint.get(probe.checkpoint, [])
                      if probe.model is None or probe.model in names[RunKey(r.model, r.checkpoint)]]
        if not candidates:
            known = ", ".join(r.name for r in rows)
            raise IncompleteRunError(f"probe file {probe.source} is for model {probe.model!r} checkpoint {probe.checkpoint!r}, "
                                     f"which no run evaluated (runs: {known})")
        if len(candidates) > 1:
            raise IncompleteRunError(f"probe file {probe.source} matches several runs {[r.name for r in candidates]}; "
                                     f"give it a 'model' field")
        if probe_task is not None and probe.task != probe_task:
            continue
        row = candidates[0]
        if row.name in chosen:
            raise IncompleteRunError(f"{row.name} has several probe files ({chosen[row.name].source}, {probe.source}, "
                                     f"tasks {chosen[row.name].task!r}, {probe.task!r}); choose one with probe_task")
        chosen[row.name] = probe
        row.probe, row.probe_task = dict(probe.scalars), probe.task
        if row.step is None:
            row.step = probe.step


def build_leaderboard(run_dirs: Iterable[str | os.PathLike], probe_files: Iterable[str | os.PathLike] = (),
                      subsets: str | Sequence[str] | None = None, *, n_resamples: int = DEFAULT_RESAMPLES,
                      confidence: float = DEFAULT_CONFIDENCE, seed: int = 0, probe_task: str | None = None,
                      scalars: Sequence[str] = SIMILARITY_SCALARS) -> Leaderboard:
    """Read lm-eval output folders (and probe JSON files) into a leaderboard.

    subsets: "paper", "official", a list (group names allowed), or None for every subset found in the
    runs; every checkpoint must have them all in speech and text. probe_task: keep probe files of that task.
    """
    scores, notes = read_runs(run_dirs)
    if not scores:
        raise IncompleteRunError("no task of lslm_eval/benchmarks.py in the given runs")
    runs = group_by_run(scores)
    found = {s for tasks in runs.values() for s, _ in tasks}
    chosen = subset_order(found) if subsets is None else resolve_subsets(subsets)
    lacking = [f"{run}: {[s for s in chosen if (s, SPEECH) not in tasks]}" for run, tasks in sorted(runs.items())
               if any((s, SPEECH) not in tasks for s in chosen)]
    if lacking:
        raise IncompleteRunError(f"every checkpoint needs every subset of the Overall {list(chosen)}; missing:\n  "
                                 + "\n  ".join(lacking))
    extra = sorted(found - set(chosen))
    if extra:
        notes.append(f"subsets {extra} were evaluated but are outside the chosen Overall {list(chosen)}; not shown per subset")
    scaled = [s for s in chosen if subset_scale(s) != 1.0]
    if scaled:
        notes.append(f"{scaled} are judge scores (1-5) shown as reported; the Overall counts them x{subset_scale(scaled[0]):g}")
    label = next((f" (the {name} set)" for name, s in GROUPS.items() if set(s) == set(chosen)), "")
    notes.insert(0, f"Overall and the derived statistics (with intervals) are over {list(chosen)}{label}")
    runs = dict(sorted(runs.items()))
    settings = Settings(n_resamples, confidence, seed)
    rows = [build_row(run, tasks, chosen, notes, settings) for run, tasks in runs.items()]
    named = attach_named_overalls(rows, runs, chosen, notes)
    names: dict[RunKey, frozenset[str]] = {}
    for score in scores:  # a run's arms may come from different results files
        names[score.run] = names.get(score.run, frozenset()) | score.model_names
    attach_probes(rows, [read_probe(p, scalars) for p in probe_files], names, probe_task)
    rows.sort(key=lambda r: (r.model, r.step if r.step is not None else -1, r.checkpoint))
    arms = tuple(arm for arm in (SPEECH, TEXT, *OPTIONAL_ARMS) if any(arm in r.arms for r in rows))
    return Leaderboard(chosen, rows, notes, confidence, tuple(scalars), named, arms)
