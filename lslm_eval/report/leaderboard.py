"""The leaderboard: one row per checkpoint, speech and text scores, Overall, GAP with its interval.

    board = build_leaderboard(["runs/"], probe_files=["probe/ckpt-2000.json"])
    Path("board.html").write_text(board.to_html())

Every speech task needs its text twin on the same run (model + checkpoint), every checkpoint
every subset of the Overall, every probe file a run: otherwise `IncompleteRunError` names what is
missing. Nothing is dropped from the table silently; choices made along the way are in `notes`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from lslm_eval.report.bootstrap import (
    DEFAULT_CONFIDENCE,
    DEFAULT_RESAMPLES,
    GapInterval,
    PairedSubset,
    bootstrap_gap,
    pair_items,
    stratified_se,
)
from lslm_eval.report.gate import Metric
from lslm_eval.report.regression import SIMILARITY_SCALARS
from lslm_eval.report.render import csv_table, html_page, markdown_table, to_json
from lslm_eval.report.runs import (
    MAIN_METRIC,
    SPEECH,
    TEXT,
    IncompleteRunError,
    Probe,
    RunKey,
    TaskScore,
    read_probe,
    read_runs,
    step_of,
    twin_task,
)
from lslm_eval.report.scores import OFFICIAL_SUBSETS, SUBSET_SETS, modality_gap, overall, resolve_subsets, subset_scale

NAMED_COLUMNS = ("GAP", "Overall speech", "Overall text")  # per named subset set, after the chosen Overall
ITEM_MEAN_RTOL = 1e-6  # per-item mean vs reported score: beyond this the notes say so
TITLE = "lslm-eval leaderboard: VoiceBench speech vs text input"


@dataclass(frozen=True)
class NamedOverall:
    """Both Overalls and their GAP over a named subset set (`scores.SUBSET_SETS`), in points."""

    speech: float
    text: float
    gap: float


@dataclass
class LeaderboardRow:
    """One checkpoint. Subset scores in their own unit; Overall and GAP in points."""

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

    @property
    def name(self) -> str:
        return str(RunKey(self.model, self.checkpoint))


@dataclass
class Leaderboard:
    subsets: tuple[str, ...]
    rows: list[LeaderboardRow]
    notes: list[str]
    confidence: float = DEFAULT_CONFIDENCE
    scalars: tuple[str, ...] = SIMILARITY_SCALARS
    named: tuple[str, ...] = ()  # named subset sets with their own Overall columns

    def columns(self) -> list[str]:
        level = f"{round(self.confidence * 100)}%"
        return (["model", "checkpoint", "step", "GAP", f"GAP {level} low", f"GAP {level} high",
                 "Overall speech", "Overall text"]
                + [f"{column} ({name})" for name in self.named for column in NAMED_COLUMNS]
                + [f"speech {s}" for s in self.subsets] + [f"text {s}" for s in self.subsets] + list(self.scalars))

    def table(self) -> list[list]:
        table = []
        for r in self.rows:
            low, high = (r.interval.low, r.interval.high) if r.interval else (None, None)
            table.append([r.model, r.checkpoint, r.step, r.gap, low, high, r.overall_speech, r.overall_text]
                         + [getattr(r.overalls.get(name), key, None) for name in self.named for key in ("gap", "speech", "text")]
                         + [r.speech[s] for s in self.subsets] + [r.text[s] for s in self.subsets]
                         + [r.probe.get(k) for k in self.scalars])
        return table

    def to_markdown(self) -> str:
        notes = "".join(f"- {n}\n" for n in self.notes)
        return markdown_table(self.columns(), self.table()) + (f"\nNotes:\n{notes}" if notes else "")

    def to_csv(self) -> str:
        return csv_table(self.columns(), self.table())

    def to_html(self) -> str:
        return html_page(TITLE, self.columns(), self.table(), self.notes)

    def to_json(self) -> str:
        rows = []
        for r in self.rows:
            interval = r.interval
            rows.append({
                "model": r.model, "checkpoint": r.checkpoint, "step": r.step, "gap": r.gap,
                "gap_interval": None if interval is None else {"low": interval.low, "high": interval.high, "se": interval.se,
                                                                "n_items": interval.n_items},
                "overall_speech": r.overall_speech, "overall_text": r.overall_text,
                "speech": r.speech, "text": r.text, "speech_se": r.speech_se, "text_se": r.text_se,
                "probe": r.probe, "probe_task": r.probe_task,
                "overalls": {name: {"speech": o.speech, "text": o.text, "gap": o.gap} for name, o in r.overalls.items()},
            })
        metrics = {name: {"value": m.value, "se": m.se, "higher_is_better": m.higher_is_better}
                   for name, m in self.metric_table().items()}
        return to_json({"subsets": list(self.subsets), "confidence": self.confidence, "rows": rows,
                        "named_overalls": {name: list(SUBSET_SETS[name]) for name in self.named},
                        "metrics": metrics, "notes": self.notes})

    def points(self) -> list[dict]:
        """One point per checkpoint for `correlate` and the figures."""
        return [{"model": r.model, "checkpoint": r.checkpoint, "step": r.step, "gap": r.gap,
                 "overall_speech": r.overall_speech, "overall_text": r.overall_text, **r.probe} for r in self.rows]

    def metric_table(self, by_run: bool = True) -> dict[str, Metric]:
        """Flat metrics for the regression gate: `<run>/gap`, `<run>/overall_speech`, `<run>/speech/<subset>`...

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
            for name, named in r.overalls.items():
                table[f"{prefix}{name}/gap"] = Metric(named.gap, higher_is_better=False)
                table[f"{prefix}{name}/overall_speech"] = Metric(named.speech)
                table[f"{prefix}{name}/overall_text"] = Metric(named.text)
            for s in self.subsets:
                table[f"{prefix}speech/{s}"] = Metric(r.speech[s], r.speech_se.get(s))
                table[f"{prefix}text/{s}"] = Metric(r.text[s], r.text_se.get(s))
        return table


def subset_order(subsets: Iterable[str]) -> tuple[str, ...]:
    """The official leaderboard order, then any others alphabetically."""
    found = set(subsets)
    return tuple(s for s in OFFICIAL_SUBSETS if s in found) + tuple(sorted(found - set(OFFICIAL_SUBSETS)))


def group_by_run(scores: Sequence[TaskScore]) -> dict[RunKey, dict[tuple[str, str], TaskScore]]:
    """Index scores by run and (subset, modality); every task must have its twin."""
    runs: dict[RunKey, dict[tuple[str, str], TaskScore]] = {}
    for score in scores:
        runs.setdefault(score.run, {})[(score.subset, score.modality)] = score
    missing = []
    for run, tasks in sorted(runs.items()):
        for subset, modality in sorted(tasks):
            other = TEXT if modality == SPEECH else SPEECH
            if (subset, other) not in tasks:
                missing.append(f"{run}: {tasks[(subset, modality)].task} has no {other} twin {twin_task(subset, modality)}"
                               f" (from {tasks[(subset, modality)].results_file})")
    if missing:
        raise IncompleteRunError("speech and text tasks must come in pairs for the same model and checkpoint:\n  "
                                 + "\n  ".join(missing))
    return runs


def check_item_means(task: TaskScore, notes: list[str]) -> None:
    mean = float(np.mean(list(task.items.values())))
    if not math.isclose(mean, task.score, rel_tol=ITEM_MEAN_RTOL, abs_tol=ITEM_MEAN_RTOL):
        notes.append(f"{task.run}: {task.task} reports {task.metric}={task.score:.4f} but its items average {mean:.4f} "
                     f"(aggregate is not a per-item mean); the interval is for the per-item mean")


def build_row(run: RunKey, tasks: dict[tuple[str, str], TaskScore], subsets: tuple[str, ...], notes: list[str],
              n_resamples: int, confidence: float, seed: int) -> LeaderboardRow:
    speech = {s: tasks[(s, SPEECH)].score for s in subsets}
    text = {s: tasks[(s, TEXT)].score for s in subsets}
    row = LeaderboardRow(run.model, run.checkpoint, step_of(run.checkpoint), speech, text,
                         overall(speech, subsets, modality=f"{run} speech"), overall(text, subsets, modality=f"{run} text"),
                         modality_gap(speech, text, subsets))
    logged = [tasks[(s, m)] for s in subsets for m in (SPEECH, TEXT) if tasks[(s, m)].items is not None]
    if len(logged) < 2 * len(subsets):
        notes.append(f"{run}: {2 * len(subsets) - len(logged)} of {2 * len(subsets)} tasks have no sample log; no GAP interval")
        return row
    for task in logged:
        check_item_means(task, notes)
    paired = {s: pair_items(tasks[(s, SPEECH)].items, tasks[(s, TEXT)].items, scale=subset_scale(s), subset=f"{run} {s}")
              for s in subsets}
    row.interval = bootstrap_gap(paired, n_resamples=n_resamples, confidence=confidence, seed=seed)
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
    for name, subsets in SUBSET_SETS.items():
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

    subsets: "paper", "official", a list, or None for every subset found in the runs; every
    checkpoint must have them all in both modalities. probe_task: keep probe files of that task.
    """
    scores, notes = read_runs(run_dirs)
    if not scores:
        raise IncompleteRunError(f"no {sorted(MAIN_METRIC)} VoiceBench tasks in the given runs")
    runs = group_by_run(scores)
    chosen = subset_order({s for tasks in runs.values() for s, _ in tasks}) if subsets is None else resolve_subsets(subsets)
    lacking = [f"{run}: {[s for s in chosen if (s, SPEECH) not in tasks]}" for run, tasks in sorted(runs.items())
               if any((s, SPEECH) not in tasks for s in chosen)]
    if lacking:
        raise IncompleteRunError(f"every checkpoint needs every subset of the Overall {list(chosen)}; missing:\n  "
                                 + "\n  ".join(lacking))
    extra = sorted({s for tasks in runs.values() for s, _ in tasks} - set(chosen))
    if extra:
        notes.append(f"subsets {extra} were evaluated but are outside the chosen Overall {list(chosen)}; not shown per subset")
    scaled = [s for s in chosen if subset_scale(s) != 1.0]
    if scaled:
        notes.append(f"{scaled} are judge scores (1-5) shown as reported; the Overall counts them x{subset_scale(scaled[0]):g}")
    label = next((f" (the {name} set)" for name, s in SUBSET_SETS.items() if set(s) == set(chosen)), "")
    notes.insert(0, f"Overall and GAP (with its interval) are over {list(chosen)}{label}")
    runs = dict(sorted(runs.items()))
    rows = [build_row(run, tasks, chosen, notes, n_resamples, confidence, seed) for run, tasks in runs.items()]
    named = attach_named_overalls(rows, runs, chosen, notes)
    names: dict[RunKey, frozenset[str]] = {}
    for score in scores:  # a run's speech and text tasks may come from different results files
        names[score.run] = names.get(score.run, frozenset()) | score.model_names
    attach_probes(rows, [read_probe(p, scalars) for p in probe_files], names, probe_task)
    rows.sort(key=lambda r: (r.model, r.step if r.step is not None else -1, r.checkpoint))
    return Leaderboard(chosen, rows, notes, confidence, tuple(scalars), named)
