"""Per-item flips between two runs of one task: which items an intervention (or a modality) fixed or broke.

    run A (e.g. Original, or text)  vs  run B (e.g. Angle Bottom3, or speech)
    fixed          A wrong, B right          broken        A right, B wrong
    both_correct   right in both             both_wrong    wrong in both

Any two arms of one benchmark compare (speech vs text, text vs text@base, speech vs cascade): items
are matched by their stable id (lslm_eval.data.ids, read by report.samples), never by position. An
item is right when its main-metric score (lslm_eval.benchmarks) is above `threshold` (0 by default:
PEDANT's 0/100, accuracy's 0/100).

Input is lm-eval's per-sample log (`samples_<task>_<date>.jsonl`, from --log_samples), a folder
holding one, or the samples of `simple_evaluate` in memory. Output: one JSONL row per matched item
and a short Markdown summary with a few examples side by side.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from lslm_eval.benchmarks import DEFAULT_FILTER, main_metric

from .bootstrap import exact_mcnemar
from .samples import SAMPLES_PATTERN, find_sample_log, keyed_samples, read_sample_lines, sample_value

FIXED, BROKEN, BOTH_CORRECT, BOTH_WRONG = "fixed", "broken", "both_correct", "both_wrong"
STATUSES = (FIXED, BROKEN, BOTH_CORRECT, BOTH_WRONG)
FLIPS_JSONL = "flips.jsonl"
FLIPS_MD = "flips.md"
EXAMPLE_CHARS = 300  # text shown per cell of the Markdown examples


@dataclass(frozen=True)
class SampleItem:
    key: str
    doc_id: int | None
    question: str
    reference: str
    response: str
    score: float


@dataclass
class SampleRun:
    """One task's per-item results in one run."""

    label: str
    task: str
    metric: str
    items: dict[str, SampleItem]
    source: str = ""


@dataclass
class FlipReport:
    a: str
    b: str
    task_a: str
    task_b: str
    metric: str
    threshold: float
    rows: list[dict]  # one per matched item, in A's doc order
    only_a: list[str] = field(default_factory=list)  # item keys missing from B
    only_b: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return {status: sum(row["status"] == status for row in self.rows) for status in STATUSES}

    def summary(self) -> dict:
        counts = self.counts
        n = len(self.rows)
        correct_a, correct_b = counts[BOTH_CORRECT] + counts[BROKEN], counts[BOTH_CORRECT] + counts[FIXED]
        return {"a": self.a, "b": self.b, "task_a": self.task_a, "task_b": self.task_b, "metric": self.metric,
                "threshold": self.threshold, "matched": n, **counts, "net": counts[FIXED] - counts[BROKEN],
                "correct_a": correct_a, "correct_b": correct_b, "only_a": len(self.only_a), "only_b": len(self.only_b),
                "mcnemar_p": exact_mcnemar(counts[BROKEN], counts[FIXED])}


# ---------------------------------------------------------------- reading runs

def default_metric(task: str, samples: list[Mapping]) -> str:
    """The task's main metric (lslm_eval.benchmarks), else the first it logs."""
    return main_metric(task, samples[0].get("metrics") or [])


def _first_text(value) -> str:
    while isinstance(value, (list, tuple)) and value:
        value = value[0]
    return "" if value is None or isinstance(value, (list, tuple)) else str(value)


def _question(sample: Mapping) -> str:
    doc = sample.get("doc") or {}
    if isinstance(doc.get("prompt"), str):
        return doc["prompt"]
    arguments = sample.get("arguments")
    if isinstance(arguments, Mapping):  # sanitised in the JSONL: {"gen_args_0": {"arg_0": context, ...}}
        return str((arguments.get("gen_args_0") or {}).get("arg_0", ""))
    return _first_text(arguments)


def samples_to_run(samples: list[Mapping], task: str, label: str, metric: str | None = None,
                   filter_name: str = DEFAULT_FILTER, source: str = "") -> SampleRun:
    """lm-eval samples (from a log or from simple_evaluate) -> SampleRun keyed by item identity."""
    keyed = keyed_samples(samples, filter_name, source or task)
    metric = metric or default_metric(task, list(keyed.values()))
    items = {}
    for key, sample in keyed.items():
        items[key] = SampleItem(key, sample.get("doc_id"), _question(sample), str(sample.get("target", "")),
                                _first_text(sample.get("filtered_resps")), sample_value(sample, metric, source or task))
    return SampleRun(label, task, metric, items, source)


def load_run(run: str | Path, task: str | None = None, metric: str | None = None, filter_name: str = DEFAULT_FILTER,
             label: str | None = None) -> SampleRun:
    """A sample log (or a run folder holding one) -> SampleRun. The label defaults to the folder's
    name for a folder (a grid setting: "original", "angle_bottom3_L0") and "<folder>:<task>" for a file."""
    path = find_sample_log(run, task)
    match = SAMPLES_PATTERN.match(path.name)
    task_name = task or (match.group("task") if match else path.stem)
    label = label or (Path(run).name if Path(run).is_dir() else f"{path.parent.name}:{task_name}")
    return samples_to_run(read_sample_lines(path), task_name, label, metric, filter_name, str(path))


# ---------------------------------------------------------------- comparing

def flip_status(correct_a: bool, correct_b: bool) -> str:
    if correct_a and correct_b:
        return BOTH_CORRECT
    if correct_b:
        return FIXED
    return BROKEN if correct_a else BOTH_WRONG


def compare_runs(a: SampleRun, b: SampleRun, threshold: float = 0.0) -> FlipReport:
    """Match items by key and classify each as fixed / broken / both_correct / both_wrong (B against A)."""
    if a.metric != b.metric:
        raise ValueError(f"the runs are scored by different metrics ({a.metric} vs {b.metric}); pass --metric")
    rows = []
    for key, item_a in a.items.items():
        item_b = b.items.get(key)
        if item_b is None:
            continue
        rows.append({"key": key, "status": flip_status(item_a.score > threshold, item_b.score > threshold),
                     "question": item_a.question or item_b.question, "reference": item_a.reference,
                     "a": {"doc_id": item_a.doc_id, "score": item_a.score, "response": item_a.response},
                     "b": {"doc_id": item_b.doc_id, "score": item_b.score, "response": item_b.response}})
    if not rows:
        raise ValueError(f"no item of {a.source or a.label} matches one of {b.source or b.label}; are they the same data?")
    return FlipReport(a.label, b.label, a.task, b.task, a.metric, threshold, rows,
                      [k for k in a.items if k not in b.items], [k for k in b.items if k not in a.items])


# ---------------------------------------------------------------- writing

def _cell(text: str) -> str:
    text = " ".join(str(text).split())
    text = text if len(text) <= EXAMPLE_CHARS else text[: EXAMPLE_CHARS - 1] + "…"
    return text.replace("|", "\\|") or " "


def render_markdown(report: FlipReport, examples: int = 3) -> str:
    s = report.summary()
    lines = [f"# Flips: {report.b} against {report.a}", "",
             f"Task {report.task_a}" + (f" / {report.task_b}" if report.task_b != report.task_a else "")
             + f", metric `{report.metric}` (right when > {report.threshold:g}); {s['matched']} items matched by identity.", "",
             "| fixed | broken | net | both correct | both wrong | right in A | right in B | exact McNemar p |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|",
             f"| {s[FIXED]} | {s[BROKEN]} | {s['net']:+d} | {s[BOTH_CORRECT]} | {s[BOTH_WRONG]} | {s['correct_a']} "
             f"| {s['correct_b']} | {s['mcnemar_p']:.4g} |"]
    if s["only_a"] or s["only_b"]:
        lines += ["", f"Unmatched: {s['only_a']} item(s) only in A, {s['only_b']} only in B."]
    for status, title in ((FIXED, "Fixed (wrong in A, right in B)"), (BROKEN, "Broken (right in A, wrong in B)")):
        chosen = [row for row in report.rows if row["status"] == status][:examples]
        if not chosen:
            continue
        lines += ["", f"## {title}", "", f"| question | reference | A: {_cell(report.a)} | B: {_cell(report.b)} |", "|---|---|---|---|"]
        lines += [f"| {_cell(r['question'])} | {_cell(r['reference'])} | {_cell(r['a']['response'])} | {_cell(r['b']['response'])} |"
                  for r in chosen]
    return "\n".join(lines) + "\n"


def write_flip_report(report: FlipReport, out_dir: str | Path, examples: int = 3) -> tuple[Path, Path]:
    """Write flips.jsonl (every matched item) and flips.md (summary + examples) into out_dir."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jsonl, markdown = out / FLIPS_JSONL, out / FLIPS_MD
    jsonl.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in report.rows), encoding="utf-8")
    markdown.write_text(render_markdown(report, examples), encoding="utf-8")
    return jsonl, markdown

