"""Read lm-eval output folders and probe files into scored tasks the leaderboard can pair.

lm-eval 0.4.13 (`--output_path OUTPUT --log_samples`) writes, per run:

    OUTPUT/<model_name_sanitized>/results_<date_id>.json          results, configs, config.model_args, n-samples
    OUTPUT/<model_name_sanitized>/samples_<task>_<date_id>.jsonl  one line per (doc, filter): doc, filter, metrics

Which task is which subset and input, and its main metric, come from `lslm_eval.benchmarks`; the
arm from the task's input and the model's `arm=` argument. A run is identified by model and
checkpoint from `config.model_args` (the arms of one checkpoint share it); an item by its doc's
stable id (`lslm_eval.data.ids`), read by `report.samples`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lslm_eval.benchmarks import (ARM_ARG, ASR_ERRORS, ASR_WORDS, CASCADE, CHANCE_METRIC, FAIL_METRIC, PROBE_SCALARS,
                                  TASK_GROUPS, arm_of, result_key, task_of)
from lslm_eval.report.samples import item_scores, keyed_samples, of_filter, read_sample_lines

CHECKPOINT_ARGS = ("checkpoint", "pretrained", "hf")  # model_args naming the weights, in order of preference
PART_ARGS = ("encoder", "llm", "gguf_file", "peft")  # without a checkpoint, the parts name the weights together
MODEL_NAME_ARGS = ("llm", "pretrained", "checkpoint", "hf", "model", "peft")
STEP_PATTERN = re.compile(r"(?:checkpoint|step|global_step)[-_]?(\d+)$", re.IGNORECASE)
RESULTS_PATTERN = re.compile(r"^results_(?P<date>.+)\.json$")
EXTRA_METRICS = (FAIL_METRIC, CHANCE_METRIC)  # read beside the main metric where a task reports them


class IncompleteRunError(ValueError):
    """Runs that cannot be paired or tabulated as given: names what is missing."""


@dataclass(frozen=True, order=True)
class RunKey:
    """The identity of an evaluated checkpoint: lm-eval model type and normalised checkpoint path."""

    model: str
    checkpoint: str

    def __str__(self) -> str:
        return f"{self.model}@{self.checkpoint}" if self.checkpoint else self.model


@dataclass(frozen=True)
class TaskScore:
    """One task of one run: the reported main metric and, with sample logs, its per-item scores."""

    run: RunKey
    task: str
    subset: str
    arm: str  # speech, text, text@base or cascade (lslm_eval.benchmarks.ARMS)
    metric: str
    score: float
    items: dict[str, float] | None  # item id -> score in the subset's unit; None without a sample log
    results_file: Path
    date_id: str
    model_names: frozenset[str]  # every name this run answers to (model type, llm, checkpoint...)
    extra: dict[str, float] = field(default_factory=dict)  # FAIL_METRIC / CHANCE_METRIC as reported
    extra_items: dict[str, dict[str, float]] = field(default_factory=dict)  # the same per item
    asr: dict[str, tuple[int, int]] | None = None  # cascade: item id -> (word errors, reference words)


@dataclass(frozen=True)
class Probe:
    """Similarity scalars of one checkpoint, from a probe JSON file."""

    checkpoint: str
    model: str | None
    task: str | None
    step: int | None
    scalars: dict[str, float]
    source: Path


def normalise_checkpoint(path: str) -> str:
    return os.path.normpath(path) if path else ""


def step_of(checkpoint: str) -> int | None:
    """Training step from a checkpoint folder named like `checkpoint-2000` or `step_2000`."""
    match = STEP_PATTERN.search(os.path.basename(normalise_checkpoint(checkpoint)))
    return int(match.group(1)) if match else None


def parse_model_args(model_args) -> dict[str, str]:
    """lm-eval's `model_args`, a dict or a "k=v,k=v" string -> dict of strings."""
    if model_args is None or model_args == "":
        return {}
    if isinstance(model_args, Mapping):
        return {str(k): str(v) for k, v in model_args.items() if v is not None}
    pairs = {}
    for part in str(model_args).split(","):
        if "=" in part:
            key, value = part.split("=", 1)
            pairs[key.strip()] = value.strip()
    return pairs


def run_identity(results: Mapping, path: Path) -> tuple[RunKey, frozenset[str]]:
    config = results.get("config") or {}
    if "model" not in config:
        raise IncompleteRunError(f"{path}: no config.model; is this an lm-eval results file?")
    args = parse_model_args(config.get("model_args"))
    checkpoint = next((normalise_checkpoint(args[k]) for k in CHECKPOINT_ARGS if args.get(k)), "")
    if not checkpoint and not any(args.get(k) for k in PART_ARGS):  # e.g. the offline default: the checkpoint the
        checkpoint = normalise_checkpoint(str(config.get("checkpoint") or ""))  # model recorded (lslm's model info)
    key = RunKey(str(config["model"]), checkpoint or "+".join(args[k] for k in PART_ARGS if args.get(k)))
    names = {key.model, key.checkpoint, os.path.basename(checkpoint)}
    names |= {args[k] for k in MODEL_NAME_ARGS if args.get(k)}
    names |= {str(results[k]) for k in ("model_name",) if results.get(k)}
    return key, frozenset(n for n in names if n)


def task_arm(task: str, model_args: Mapping[str, str]) -> tuple[str, str] | None:
    """(subset, arm) of a task run, or None for a task outside lslm_eval.benchmarks."""
    found = task_of(task)
    if found is None:
        return None
    row, kind = found
    return row.subset, arm_of(kind, model_args.get(ARM_ARG))


SAMPLE_SOURCE = "sample"  # --metadata '{"voicebench_source": "sample"}': the data shipped in the package


def sample_tasks(results: Mapping) -> list[str]:
    """The tasks of a results file that read the shipped sample instead of the benchmark."""
    return sorted(task for task, config in (results.get("configs") or {}).items()
                  if isinstance(config, Mapping) and (config.get("metadata") or {}).get("voicebench_source") == SAMPLE_SOURCE)


def read_results_file(path: Path, notes: list[str]) -> list[TaskScore]:
    """The vocabulary's tasks of one lm-eval results file, with per-item scores when logged."""
    match = RESULTS_PATTERN.match(path.name)
    if not match:
        raise IncompleteRunError(f"{path}: not an lm-eval results file (expected results_<date>.json)")
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise IncompleteRunError(f"{path}: not JSON ({err})") from err
    run, names = run_identity(results, path)
    on_sample = sample_tasks(results)
    if on_sample:
        notes.append(f"{run}: {', '.join(on_sample)} scored on the SAMPLE shipped in the package (voicebench_source=sample, "
                     f"a few items per task), not on VoiceBench: for trying the tools, not for reporting ({path.name})")
    model_args = parse_model_args((results.get("config") or {}).get("model_args"))
    date_id = match.group("date")
    groups = results.get("group_subtasks") or {}
    children = {child for group in groups.values() for child in group}
    scores = []
    for task, task_results in (results.get("results") or {}).items():
        try:
            parsed = task_arm(task, model_args)
        except ValueError as err:
            raise IncompleteRunError(f"{path}: {err}") from None
        if parsed is None:
            if task not in TASK_GROUPS and task not in children and not groups.get(task):
                notes.append(f"{path.name}: task {task} is not in lslm_eval/benchmarks.py; not tabulated")
            continue  # a group of whole subsets (its members are read), or a split of one (read through the subset)
        subset, arm = parsed
        metric = task_of(task)[0].metric
        try:
            key, filter_name = result_key(task_results, metric, task, str(path))
            score = float(task_results[key])
        except (TypeError, ValueError) as err:
            raise IncompleteRunError(f"{path}: task {task}: {err}") from None
        extra = {m: float(task_results[f"{m},{filter_name}"]) for m in EXTRA_METRICS
                 if isinstance(task_results.get(f"{m},{filter_name}"), (int, float))}
        logged = read_items(path.parent, task, results, date_id, [metric, *extra], filter_name, notes)
        items = extra_items = asr = None
        if logged is not None:
            samples, items, extra_items = logged
            asr = asr_counts(samples, path) if arm == CASCADE else None
        scores.append(TaskScore(run, task, subset, arm, metric, score, items, path, date_id, names, extra,
                                extra_items or {}, asr))
    return scores


def asr_counts(samples: Mapping[str, Mapping], path: Path) -> dict[str, tuple[int, int]]:
    """Per item (word errors, reference words) of the ASR transcript, from the cascade task's logged docs."""
    counts = {}
    for key, sample in samples.items():
        doc = sample.get("doc") or {}
        if ASR_ERRORS not in doc or ASR_WORDS not in doc:
            raise IncompleteRunError(f"{path}: cascade doc_id {sample.get('doc_id')} carries no {ASR_ERRORS}/{ASR_WORDS}")
        counts[key] = (int(doc[ASR_ERRORS]), int(doc[ASR_WORDS]))
    return counts


def read_items(folder: Path, task: str, results: Mapping, date_id: str, metrics: list[str], filter_name: str,
               notes: list[str]):
    """(keyed samples, main-metric scores, {extra metric: scores}) of a task; None when no sample log exists."""
    log = folder / f"samples_{task}_{date_id}.jsonl"
    if not log.is_file():
        notes.append(f"no sample log {log.name} next to results_{date_id}.json: no interval for {task}")
        return None
    try:
        lines = read_sample_lines(log)
        samples = keyed_samples(lines, filter_name, str(log))
        main = item_scores(samples, metrics[0], str(log))
        extra = {m: item_scores(samples, m, str(log)) for m in metrics[1:]}
    except ValueError as err:
        raise IncompleteRunError(str(err)) from None
    expected = ((results.get("n-samples") or {}).get(task) or {}).get("effective")
    logged = len(of_filter(lines, filter_name))  # skipped items included: they were run, only not scored
    if expected is not None and logged != int(expected):
        raise IncompleteRunError(f"{log}: {logged} items logged but n-samples says {expected}; the log is incomplete")
    return samples, main, extra


def find_results_files(run_dirs: Iterable[str | os.PathLike]) -> list[Path]:
    """Every results_*.json under the given folders (or the files themselves)."""
    files = []
    for entry in run_dirs:
        path = Path(entry)
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            found = sorted(p for p in path.rglob("results_*.json") if RESULTS_PATTERN.match(p.name))
            if not found:
                raise IncompleteRunError(f"{path}: no lm-eval results_*.json inside")
            files += found
        else:
            raise IncompleteRunError(f"run folder not found: {path}")
    return files


def read_runs(run_dirs: Iterable[str | os.PathLike]) -> tuple[list[TaskScore], list[str]]:
    """All task scores of the runs; a subset evaluated twice in one arm of one run keeps the latest (noted)."""
    notes: list[str] = []
    latest: dict[tuple[RunKey, str, str], TaskScore] = {}
    for path in find_results_files(run_dirs):
        for score in read_results_file(path, notes):
            slot = (score.run, score.subset, score.arm)
            if slot in latest:
                older, newer = sorted((latest[slot], score), key=lambda s: s.date_id)
                notes.append(f"{score.run}: {score.task} ({score.arm}) evaluated twice; using {newer.results_file}, "
                             f"not {older.results_file}")
                score = newer
            latest[slot] = score
    return list(latest.values()), notes


def probe_scalars(data: Mapping, scalar_names: Iterable[str]) -> dict[str, float]:
    """Scalars by flat key (top level or under `probe`), else from the Prober's nested sections."""
    flat = data.get("probe") if isinstance(data.get("probe"), Mapping) else data
    scalars = {}
    for name in scalar_names:
        value = flat.get(name)
        if value is None and name in PROBE_SCALARS:
            section, key = PROBE_SCALARS[name]
            value = (data.get(section) or {}).get(key) if isinstance(data.get(section), Mapping) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            scalars[name] = float(value)  # null (NaN in the probe) stays absent: correlate names it
    return scalars


def read_probe(path: str | os.PathLike, scalar_names: Iterable[str]) -> Probe:
    """A probe JSON: the Prober's `probe.json` (identity under `info`), or a flat file with
    `checkpoint`, optional `model`/`task`/`step` and the scalars at top level or under `probe`."""
    path = Path(path)
    if not path.is_file():
        raise IncompleteRunError(f"probe file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise IncompleteRunError(f"{path}: not JSON ({err})") from err
    if not isinstance(data, Mapping):
        raise IncompleteRunError(f"{path}: a probe file must hold a JSON object")
    scalar_names = list(scalar_names)
    scalars = probe_scalars(data, scalar_names)
    if not scalars:
        raise IncompleteRunError(f"{path}: none of the similarity scalars {scalar_names} found")
    identity = data.get("info") if isinstance(data.get("info"), Mapping) else data
    checkpoint = identity.get("checkpoint")
    if not checkpoint:
        raise IncompleteRunError(f"{path}: no 'checkpoint' field; the probe cannot be matched to a run")
    tasks = identity.get("tasks") or []
    task = identity.get("task") or (tasks[0] if len(tasks) == 1 else None)
    step = identity.get("step")
    return Probe(normalise_checkpoint(str(checkpoint)), identity.get("model"), task,
                 int(step) if step is not None else step_of(str(checkpoint)), scalars, path)
