"""Paper 1's table 1 in one command: every intervention setting evaluated through lm-eval on one loaded model.

    OUT/<setting slug>/results_<date>.json, samples_<task>_<date>.jsonl   one lm-eval run per setting
    OUT/interventions.md, interventions.json                              the table, changes against Original

Rows are settings (Original first), columns each task's main metric; every cell other than Original's
carries its change against Original, and the JSON adds the items fixed and broken (report.flips).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..report.flips import SampleRun, compare_runs, samples_to_run
from ..benchmarks import main_metric as task_main_metric
from ..benchmarks import result_key
from .settings import Intervention

ORIGINAL = "Original"
ORIGINAL_SLUG = "original"
TABLE_MD = "interventions.md"
TABLE_JSON = "interventions.json"


@dataclass
class GridRun:
    """One setting's lm-eval run: main-metric score per task and where its files are."""

    setting: Intervention | None
    metrics: dict[str, str]  # task -> main metric
    scores: dict[str, float]
    stderr: dict[str, float | None]
    items: dict[str, SampleRun]  # task -> per-item results (no docs kept: they may hold audio)
    folder: Path

    @property
    def name(self) -> str:
        return ORIGINAL if self.setting is None else self.setting.name

    @property
    def slug(self) -> str:
        return ORIGINAL_SLUG if self.setting is None else self.setting.slug


def main_metric(results: dict, task: str) -> tuple[str, str]:
    """(metric, results key "<metric>,<filter>") of a task: lslm_eval.benchmarks' main metric, else the
    first metric of the task's metric_list."""
    listed = [m["metric"] for m in (results.get("configs", {}).get(task, {}).get("metric_list") or [])]
    metric = task_main_metric(task, listed)
    return metric, result_key(results["results"][task], metric, task)[0]


def evaluate_setting(lm, setting: Intervention | None, tasks: Sequence[str], folder: Path, limit: int | None = None,
                     task_manager=None, model_args: str = "", **evaluate_args) -> GridRun:
    """Switch `lm` to `setting`, run lm-eval on `tasks`, save results and sample logs under `folder`.

    `model_args` (those `lm` was made with) are recorded in the results with the setting's own added."""
    from lm_eval import simple_evaluate
    from lm_eval.loggers import EvaluationTracker

    lm.set_intervention(setting)
    tracker = EvaluationTracker(output_path=str(folder / "results.json"))  # a .json path: files go straight into folder
    recorded = ",".join(part for part in (model_args, setting.model_args() if setting else "") if part)
    results = simple_evaluate(model=lm, model_args=recorded, tasks=list(tasks), limit=limit, log_samples=True,
                              task_manager=task_manager, evaluation_tracker=tracker, **evaluate_args)
    samples = results.pop("samples")
    tracker.save_results_aggregated(results=results, samples=samples)
    for task, task_samples in samples.items():
        tracker.save_results_samples(task_name=task, samples=[dict(s) for s in task_samples])
    metrics, scores, stderr, items = {}, {}, {}, {}
    for task in tasks:
        metrics[task], key = main_metric(results, task)
        scores[task] = float(results["results"][task][key])
        err = results["results"][task].get(key.replace(",", "_stderr,", 1))
        stderr[task] = float(err) if isinstance(err, (int, float)) and math.isfinite(err) else None
        filter_name = key.split(",", 1)[1]
        items[task] = samples_to_run(samples[task], task, ORIGINAL if setting is None else setting.name, metrics[task], filter_name)
    return GridRun(setting, metrics, scores, stderr, items, folder)


def run_grid(lm, settings: Sequence[Intervention | None], tasks: Sequence[str], out_dir: str | Path,
             limit: int | None = None, task_manager=None, model_args: str = "", **evaluate_args) -> list[GridRun]:
    """Evaluate every setting (None = Original, which must come first) with the one model `lm`."""
    if not settings or settings[0] is not None:
        raise ValueError("the grid starts with Original (None): every change is measured against it")
    out = Path(out_dir)
    runs = []
    try:
        for setting in settings:
            slug = ORIGINAL_SLUG if setting is None else setting.slug
            runs.append(evaluate_setting(lm, setting, tasks, out / slug, limit, task_manager, model_args, **evaluate_args))
    finally:
        lm.set_intervention(None)
    return runs


def change_interval(report, resamples: int = 10_000, confidence: float = 0.95, seed: int = 0) -> list[float]:
    """Paired percentile bootstrap interval of a setting's change against Original: the mean over matched items of
    (setting's item score - Original's), items resampled with replacement."""
    import numpy as np

    from ..report.bootstrap import percentile_interval, resampled_means

    diffs = np.array([row["b"]["score"] - row["a"]["score"] for row in report.rows], dtype=float)
    return list(percentile_interval(resampled_means(diffs, resamples, np.random.default_rng(seed)), confidence))


def grid_table(runs: Sequence[GridRun], tasks: Sequence[str], threshold: float = 0.0) -> dict:
    """JSON-ready table: per setting and task the score, its change against Original with its paired 95% bootstrap
    interval (`change_interval`), items fixed / broken."""
    original = runs[0]
    rows = []
    for run in runs:
        cells = {}
        for task in tasks:
            cell = {"score": run.scores[task], "stderr": run.stderr[task], "delta": run.scores[task] - original.scores[task]}
            if run is not original:
                report = compare_runs(original.items[task], run.items[task], threshold)
                summary = report.summary()
                cell.update({k: summary[k] for k in ("fixed", "broken", "net", "matched")})
                cell["delta_95"] = change_interval(report)
            cells[task] = cell
        rows.append({"setting": run.name, "slug": run.slug, "folder": str(run.folder),
                     "intervention": run.setting.record() if run.setting else None, "tasks": cells})
    return {"tasks": list(tasks), "threshold": threshold, "rows": rows}


def render_table(table: dict, metrics: dict[str, str], title: str = "Interventions") -> str:
    """Markdown shaped like paper 1's table 1: settings as rows, each task's main metric as a column."""
    tasks = table["tasks"]
    header = "| Setting | " + " | ".join(f"{task} ({metrics[task]})" for task in tasks) + " |"
    lines = [f"# {title}", "", "Each setting's score, its change against Original and the paired 95% bootstrap interval of "
             "that change.", "", header, "|---|" + "---:|" * len(tasks)]
    for i, row in enumerate(table["rows"]):
        cells = [f"{c['score']:.2f}" if i == 0 else
                 f"{c['score']:.2f} ({c['delta']:+.2f} [{c['delta_95'][0]:+.2f}, {c['delta_95'][1]:+.2f}])"
                 for c in (row["tasks"][task] for task in tasks)]
        lines.append(f"| {row['setting']} | " + " | ".join(cells) + " |")
    lines += ["", "Items fixed / broken against Original (an item is right when its score is above "
              f"{table['threshold']:g}):", "", "| Setting | " + " | ".join(tasks) + " |", "|---|" + "---:|" * len(tasks)]
    for row in table["rows"][1:]:
        cells = [f"+{c['fixed']} / -{c['broken']}" for c in (row["tasks"][task] for task in tasks)]
        lines.append(f"| {row['setting']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_grid(runs: Sequence[GridRun], tasks: Sequence[str], out_dir: str | Path, info: dict | None = None,
               threshold: float = 0.0) -> tuple[Path, Path, str]:
    """Write interventions.md and interventions.json into out_dir; returns both paths and the Markdown."""
    table = grid_table(runs, tasks, threshold)
    table["info"] = dict(info or {})
    table["metrics"] = dict(runs[0].metrics)
    markdown = render_table(table, runs[0].metrics)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / TABLE_JSON).write_text(json.dumps(table, indent=1))
    (out / TABLE_MD).write_text(markdown)
    return out / TABLE_MD, out / TABLE_JSON, markdown
