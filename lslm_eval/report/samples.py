"""lm-eval's per-sample logs (`samples_<task>_<date_id>.jsonl`, from --log_samples): the one reader.

A log has one JSON line per (doc, filter): `doc_id`, `doc` (the task doc, audio left out), `filter`,
`metrics` (names), one field per metric, `target`, `arguments`, `resps`, `filtered_resps`. Items are
keyed by `lslm_eval.data.ids.doc_item_ids` (the dataset's stable id), never by position, so a speech
run, its text twin, its cascade and a base-LLM run of one benchmark match item for item. Items the model
skipped (`bad_audio=skip`, lslm_eval.skips) are left out.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from lslm_eval.benchmarks import DEFAULT_FILTER
from lslm_eval.data.ids import doc_item_ids
from lslm_eval.skips import is_skipped

SAMPLES_PATTERN = re.compile(r"^samples_(?P<task>.+)_(?P<date>\d{4}-\d{2}-\d{2}T[\d\-.]+)\.jsonl$")


def read_sample_lines(path: Path) -> list[dict]:
    """Every line of a sample log; a damaged line names the file and line number."""
    samples = []
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    samples.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise ValueError(f"{path}:{number}: not JSON ({err}); the sample log is damaged") from err
    return samples


def of_filter(samples: Iterable[Mapping], filter_name: str = DEFAULT_FILTER) -> list[Mapping]:
    return [s for s in samples if s.get("filter", DEFAULT_FILTER) == filter_name]


def skipped(sample: Mapping) -> bool:
    """An item the model skipped (lslm_eval.skips): it has no score, so it is not an item here."""
    return any(map(is_skipped, sample.get("filtered_resps") or []))


def keyed_samples(samples: Iterable[Mapping], filter_name: str = DEFAULT_FILTER, source: str = "") -> dict[str, Mapping]:
    """Samples of one filter in doc_id order, skipped items left out -> {item id: sample}."""
    chosen = sorted((s for s in of_filter(samples, filter_name) if not skipped(s)), key=lambda s: s.get("doc_id", 0))
    if not chosen:
        raise ValueError(f"{source or 'samples'}: no scored samples with filter {filter_name!r}")
    try:
        keys = doc_item_ids([s.get("doc") or {} for s in chosen])
    except ValueError as err:
        raise ValueError(f"{source}: {err}") from None
    return dict(zip(keys, chosen))


def sample_value(sample: Mapping, metric: str, source: str = "") -> float:
    """One sample's finite per-item value of `metric` (booleans as 0/1)."""
    value = sample.get(metric)
    if isinstance(value, bool):
        value = float(value)
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{source}: doc_id {sample.get('doc_id')} has {metric}={value!r}, not a finite number "
                         f"(metrics logged: {sample.get('metrics')})")
    return float(value)


def item_scores(samples: Mapping[str, Mapping], metric: str, source: str = "") -> dict[str, float]:
    """{item id: value of metric} of keyed samples."""
    return {key: sample_value(sample, metric, source) for key, sample in samples.items()}


def read_sample_log(path: Path, metric: str, filter_name: str = DEFAULT_FILTER) -> dict[str, float]:
    """Per-item scores of one task's sample log -> {item id: score}."""
    return item_scores(keyed_samples(read_sample_lines(path), filter_name, str(path)), metric, str(path))


def find_sample_log(run: str | Path, task: str | None = None) -> Path:
    """A samples_<task>_<date>.jsonl file, or the newest such file of `task` under a run folder."""
    path = Path(run)
    if path.is_file():
        return path
    if not path.is_dir():
        raise FileNotFoundError(f"no sample log or run folder at {path}")
    found = [(m.group("task"), m.group("date"), p) for p in path.rglob("samples_*.jsonl") if (m := SAMPLES_PATTERN.match(p.name))]
    tasks = sorted({t for t, _, _ in found})
    if not found:
        raise FileNotFoundError(f"{path}: no samples_<task>_<date>.jsonl inside; run lm_eval with --log_samples")
    if task is None:
        if len(tasks) > 1:
            raise ValueError(f"{path} holds sample logs of several tasks {tasks}; choose one with --task")
        task = tasks[0]
    logs = sorted((date, p) for t, date, p in found if t == task)
    if not logs:
        raise FileNotFoundError(f"{path}: no sample log of task {task!r} (found {tasks})")
    return logs[-1][1]
