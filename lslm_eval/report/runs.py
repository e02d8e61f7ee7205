"""Read lm-eval output folders and probe files into scored tasks the leaderboard can pair.

lm-eval 0.4.13 (`--output_path OUTPUT --log_samples`) writes, per run:

    OUTPUT/<model_name_sanitized>/results_<date_id>.json          results, configs, config.model_args, n-samples
    OUTPUT/<model_name_sanitized>/samples_<task>_<date_id>.jsonl  one line per (doc, filter): doc, filter, metrics

Project conventions: speech task `voicebench_<subset>`, text twin `voicebench_<subset>_text`, each
reporting its main metric (`MAIN_METRIC`) in the subset's unit. A run is identified by model and
checkpoint from `config.model_args`; an item by its `doc` (`id`, else a hash of `prompt`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from lslm_eval.skips import is_skipped

TASK_PREFIX = "voicebench_"
TEXT_SUFFIX = "_text"
SPEECH, TEXT = "speech", "text"
DEFAULT_FILTER = "none"
# Main metric of each subset's tasks, as the task YAMLs name it (change here if a task renames it).
MAIN_METRIC = {
    "sdqa": "pedant",
    "mmsu": "acc",
    "openbookqa": "acc",
    "ifeval": "final",
    "advbench": "refusal_rate",
    "bbh": "acc",
    "alpacaeval_full": "judge_score",
    "commoneval": "judge_score",
    "wildvoice": "judge_score",
}
CHECKPOINT_ARGS = ("checkpoint", "pretrained", "hf")  # model_args naming the weights, in order of preference
PART_ARGS = ("encoder", "llm", "gguf_file", "peft")  # without a checkpoint, the parts name the weights together
MODEL_NAME_ARGS = ("llm", "pretrained", "checkpoint", "hf", "model", "peft")
STEP_PATTERN = re.compile(r"(?:checkpoint|step|global_step)[-_]?(\d+)$", re.IGNORECASE)
RESULTS_PATTERN = re.compile(r"^results_(?P<date>.+)\.json$")
PROMPT_HASH_CHARS = 16
# Where lslm_eval.probe's Prober writes each scalar in its probe.json: (section, key)
PROBE_SECTIONS = {"f_bar_cos": ("sequence", "cos_bar"), "f_bar_d": ("sequence", "dist_bar"),
                  "aps_cos": ("aps", "cos"), "aps_d": ("aps", "dist")}


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
    modality: str
    metric: str
    score: float
    items: dict[str, float] | None  # item key -> score in the subset's unit; None without a sample log
    results_file: Path
    date_id: str
    model_names: frozenset[str]  # every name this run answers to (model type, llm, checkpoint...)


@dataclass(frozen=True)
class Probe:
    """Similarity scalars of one checkpoint, from a probe JSON file."""

    checkpoint: str
    model: str | None
    task: str | None
    step: int | None
    scalars: dict[str, float]
    source: Path


def parse_task_name(task: str) -> tuple[str, str] | None:
    """`voicebench_<subset>[_text]` -> (subset, modality); None for tasks outside the convention."""
    if not task.startswith(TASK_PREFIX):
        return None
    rest = task[len(TASK_PREFIX):]
    if rest.endswith(TEXT_SUFFIX):
        return rest[: -len(TEXT_SUFFIX)], TEXT
    return rest, SPEECH


def twin_task(subset: str, modality: str) -> str:
    return f"{TASK_PREFIX}{subset}{TEXT_SUFFIX if modality == SPEECH else ''}"


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


def prompt_hash(prompt) -> str:
    return hashlib.sha256(str(prompt).encode("utf-8")).hexdigest()[:PROMPT_HASH_CHARS]


def item_key(doc: Mapping) -> str:
    """Stable identity of one item: its `id`, else a hash of its `prompt` (the transcript)."""
    if doc.get("id") not in (None, ""):
        return f"id:{doc['id']}"
    if doc.get("prompt") not in (None, ""):
        return f"prompt:{prompt_hash(doc['prompt'])}"
    raise IncompleteRunError(f"a sample's doc has neither 'id' nor 'prompt' (keys {sorted(doc)}); items cannot be matched")


def item_keys(docs: list[Mapping]) -> list[str]:
    """Unique keys for docs given in doc_id order.

    An `id` shared by several items (VoiceBench bbh's `id` is the BBH task name) is extended by the
    prompt hash; items identical in both are numbered in doc_id order (their content is the same).
    """
    keys = [item_key(doc) for doc in docs]
    counts = Counter(keys)
    keys = [f"{k}|prompt:{prompt_hash(d['prompt'])}" if counts[k] > 1 and k.startswith("id:") and d.get("prompt") else k
            for k, d in zip(keys, docs)]
    counts, seen = Counter(keys), Counter()
    unique = []
    for key in keys:
        seen[key] += 1
        unique.append(f"{key}#{seen[key]}" if counts[key] > 1 else key)
    return unique


def main_metric_key(task_results: Mapping, metric: str, task: str, path: Path) -> tuple[str, str]:
    """Find "<metric>,<filter>" in a task's results -> (key, filter)."""
    keys = [k for k in task_results if k.split(",", 1)[0] == metric and "," in k]
    if not keys:
        available = sorted({k.split(",", 1)[0] for k in task_results if "," in k and "_stderr" not in k})
        raise IncompleteRunError(f"{path}: task {task} reports no {metric!r} (has {available}); "
                                 f"fix the task or MAIN_METRIC in lslm_eval/report/runs.py")
    preferred = [k for k in keys if k.endswith("," + DEFAULT_FILTER)]
    if len(keys) > 1 and not preferred:
        raise IncompleteRunError(f"{path}: task {task} reports {metric!r} under several filters {keys}; keep one")
    key = (preferred or keys)[0]
    return key, key.split(",", 1)[1]


def read_sample_log(path: Path, metric: str, filter_name: str) -> dict[str, float]:
    """Per-item scores of one task's sample log (JSONL) -> {item key: score}."""
    lines = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                sample = json.loads(line)
            except json.JSONDecodeError as err:
                raise IncompleteRunError(f"{path}:{number}: not JSON ({err}); the sample log is damaged") from err
            if sample.get("filter", DEFAULT_FILTER) == filter_name and not any(map(is_skipped, sample.get("filtered_resps") or [])):
                lines.append(sample)  # an item the model skipped (lslm_eval.skips) has no score: it is not an item here
    lines.sort(key=lambda s: s.get("doc_id", 0))
    keys = item_keys([s.get("doc") or {} for s in lines])
    scores = {}
    for key, sample in zip(keys, lines):
        value = sample.get(metric)
        if isinstance(value, bool):
            value = float(value)
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise IncompleteRunError(f"{path}: doc_id {sample.get('doc_id')} has {metric}={value!r}; "
                                     f"the leaderboard needs one finite number per item")
        scores[key] = float(value)
    return scores


def read_results_file(path: Path, notes: list[str]) -> list[TaskScore]:
    """The VoiceBench tasks of one lm-eval results file, with per-item scores when logged."""
    match = RESULTS_PATTERN.match(path.name)
    if not match:
        raise IncompleteRunError(f"{path}: not an lm-eval results file (expected results_<date>.json)")
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise IncompleteRunError(f"{path}: not JSON ({err})") from err
    run, names = run_identity(results, path)
    date_id = match.group("date")
    children = {child for group in (results.get("group_subtasks") or {}).values() for child in group}
    scores = []
    for task, task_results in (results.get("results") or {}).items():
        parsed = parse_task_name(task)
        if parsed is None:
            notes.append(f"{path.name}: task {task} is not a {TASK_PREFIX}* task; not tabulated")
            continue
        subset, modality = parsed
        if subset not in MAIN_METRIC and (task in children or (results.get("group_subtasks") or {}).get(task)):
            continue  # a split of a VoiceBench group (read through the group), or a group of whole subsets
        if subset not in MAIN_METRIC:
            raise IncompleteRunError(f"{path}: task {task} names unknown subset {subset!r}; "
                                     f"known: {sorted(MAIN_METRIC)} (extend MAIN_METRIC in lslm_eval/report/runs.py)")
        metric = MAIN_METRIC[subset]
        key, filter_name = main_metric_key(task_results, metric, task, path)
        items = read_items(path.parent, task, results, date_id, metric, filter_name, notes)
        try:
            score = float(task_results[key])
        except (TypeError, ValueError) as err:
            raise IncompleteRunError(f"{path}: task {task} reports {key}={task_results[key]!r}, not a number") from err
        scores.append(TaskScore(run, task, subset, modality, metric, score, items, path, date_id, names))
    return scores


def read_items(folder: Path, task: str, results: Mapping, date_id: str, metric: str, filter_name: str,
               notes: list[str]) -> dict[str, float] | None:
    """Per-item scores of a task (of all its splits for a group task); None when no sample log exists."""
    splits = (results.get("group_subtasks") or {}).get(task) or [task]
    items: dict[str, float] = {}
    for split in splits:
        log = folder / f"samples_{split}_{date_id}.jsonl"
        if not log.is_file():
            notes.append(f"no sample log {log.name} next to results_{date_id}.json: no interval for {task}")
            return None
        scores = read_sample_log(log, metric, filter_name)
        expected = ((results.get("n-samples") or {}).get(split) or {}).get("effective")
        if expected is not None and len(scores) != int(expected):
            raise IncompleteRunError(f"{log}: {len(scores)} items logged but n-samples says {expected}; the log is incomplete")
        prefix = f"{split.removesuffix(TEXT_SUFFIX)}/" if len(splits) > 1 else ""  # same for both modalities
        items.update({prefix + k: v for k, v in scores.items()})
    return items


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
    """All VoiceBench task scores of the runs; a task evaluated twice for one run keeps the latest (noted)."""
    notes: list[str] = []
    latest: dict[tuple[RunKey, str], TaskScore] = {}
    for path in find_results_files(run_dirs):
        for score in read_results_file(path, notes):
            slot = (score.run, score.task)
            if slot in latest:
                older, newer = sorted((latest[slot], score), key=lambda s: s.date_id)
                notes.append(f"{score.run}: {score.task} evaluated twice; using {newer.results_file}, not {older.results_file}")
                score = newer
            latest[slot] = score
    return list(latest.values()), notes


def probe_scalars(data: Mapping, scalar_names: Iterable[str]) -> dict[str, float]:
    """Scalars by flat key (top level or under `probe`), else from the Prober's nested sections."""
    flat = data.get("probe") if isinstance(data.get("probe"), Mapping) else data
    scalars = {}
    for name in scalar_names:
        value = flat.get(name)
        if value is None and name in PROBE_SECTIONS:
            section, key = PROBE_SECTIONS[name]
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
