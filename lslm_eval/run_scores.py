"""Every checkpoint of a training run scored by lm-eval (with probing), resumably.

    OUTPUT/<checkpoint-name>/results_<date>.json          lm-eval's files (--output_path a .json file)
    OUTPUT/<checkpoint-name>/samples_<task>_<date>.jsonl
    OUTPUT/<checkpoint-name>/probe/probe.json             the probe=DIR statistics

so `lslm-eval leaderboard OUTPUT/* --probe OUTPUT` and `lslm-eval correlate` read OUTPUT as it is.
Each checkpoint runs through lm-eval's Python API (`simple_evaluate`) with the lslm model built as
`lm_eval --model lslm --model_args pretrained=CHECKPOINT,probe=OUTPUT/<name>/probe` would build it.
Invariant: a checkpoint counts as done only when a results file in its folder covers every asked
task at the asked limit (and its probe.json exists when probing); done checkpoints are skipped, so
a killed run continues where it stopped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHECKPOINT_NAME = re.compile(r"checkpoint-(\d+)")  # what `lslm-eval train` writes (trainers.train.CHECKPOINT_PREFIX)
PROBE_DIR = "probe"
PROBE_FILE = "probe.json"
MODEL_TYPE = "lslm"  # the lm-eval model name recorded in the results, as `lm_eval --model lslm` records it


class RunScoreError(ValueError):
    """A training run folder that holds no checkpoint to score."""


@dataclass(frozen=True)
class CheckpointScore:
    checkpoint: Path
    folder: Path
    skipped: bool  # already done before this call
    results: Path | None  # the results file read or written


def run_checkpoints(run_dir: str | Path) -> list[Path]:
    """The checkpoint-<step> folders of a training run that hold an lslm-eval checkpoint, by step."""
    from lslm_eval.model import ADAPTOR_FILE, CONFIG_FILE

    run = Path(run_dir)
    if not run.is_dir():
        raise RunScoreError(f"training run {run} is not a folder")
    found = sorted((int(m.group(1)), p) for p in run.iterdir()
                   if (m := CHECKPOINT_NAME.fullmatch(p.name)) and (p / CONFIG_FILE).is_file() and (p / ADAPTOR_FILE).is_file())
    if not found:
        raise RunScoreError(f"{run} holds no checkpoint-<step>/ with {CONFIG_FILE} and {ADAPTOR_FILE} (written by lslm-eval train)")
    return [path for _, path in found]


def finished_results(folder: Path, tasks: list[str], limit: float | None, probe: bool) -> Path | None:
    """The results file in `folder` that covers `tasks` at `limit`, when the checkpoint is done; else None."""
    if probe and not (folder / PROBE_DIR / PROBE_FILE).is_file():
        return None
    for path in sorted(folder.rglob("results_*.json"), reverse=True):
        try:
            results = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if set(tasks) <= set(results.get("results") or {}) and (results.get("config") or {}).get("limit") == limit:
            return path
    return None


def model_args_string(model_args: dict[str, Any]) -> str:
    return ",".join(f"{key}={value}" for key, value in model_args.items())


def score_checkpoint(checkpoint: Path, folder: Path, tasks: list[str], model_args: dict[str, Any] | None = None,
                     probe: bool = True, limit: float | None = None, metadata: dict | None = None,
                     gen_kwargs: dict | str | None = None, batch_size: str | int | None = None, device: str | None = None,
                     log_samples: bool = True, seeds: tuple = (0, 1234, 1234, 1234)) -> Path:
    """lm-eval on one checkpoint -> the results file written under `folder` (lm-eval's layout)."""
    from lm_eval import simple_evaluate
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager

    from lslm_eval.plugins.lslm import LSLMEval

    args = {**(model_args or {}), "pretrained": str(checkpoint)}  # pretrained=, as lm-eval's own models name their weights
    if probe:
        args["probe"] = str(folder / PROBE_DIR)
    extras = {k: v for k, v in {"batch_size": batch_size, "device": device}.items() if v is not None}
    lm = LSLMEval.create_from_arg_obj(dict(args), extras)
    tracker = EvaluationTracker(output_path=str(folder / "results.json"))  # a .json path: files go straight into folder
    python_seed, numpy_seed, torch_seed, fewshot_seed = seeds
    results = simple_evaluate(model=lm, model_args=model_args_string(args), tasks=list(tasks), limit=limit,
                              log_samples=log_samples, gen_kwargs=gen_kwargs, task_manager=TaskManager(metadata=metadata),
                              evaluation_tracker=tracker, metadata=metadata, random_seed=python_seed,
                              numpy_random_seed=numpy_seed, torch_random_seed=torch_seed, fewshot_random_seed=fewshot_seed)
    results["config"]["model"] = MODEL_TYPE  # simple_evaluate records the class name of a model object
    samples = results.pop("samples", None)
    tracker.save_results_aggregated(results=results, samples=samples)
    for task, task_samples in (samples or {}).items():
        tracker.save_results_samples(task_name=task, samples=[dict(s) for s in task_samples])
    written = finished_results(folder, tasks, limit, probe)
    if written is None:
        raise RunScoreError(f"{checkpoint}: lm-eval wrote no results covering {tasks} under {folder}")
    return written


def score_run(run_dir: str | Path, output_path: str | Path, tasks: list[str], probe: bool = True, progress=print,
              **evaluate) -> list[CheckpointScore]:
    """Score every checkpoint of `run_dir` into OUTPUT/<checkpoint-name>/, skipping finished ones."""
    checkpoints = run_checkpoints(run_dir)
    out = Path(output_path)
    scored = []
    for index, checkpoint in enumerate(checkpoints, 1):
        folder = out / checkpoint.name
        done = finished_results(folder, tasks, evaluate.get("limit"), probe)
        if done is not None:
            progress(f"[{index}/{len(checkpoints)}] {checkpoint.name}: done before ({done}); skipped")
            scored.append(CheckpointScore(checkpoint, folder, True, done))
            continue
        progress(f"[{index}/{len(checkpoints)}] {checkpoint.name}: scoring {','.join(tasks)}")
        written = score_checkpoint(checkpoint, folder, tasks, probe=probe, **evaluate)
        progress(f"[{index}/{len(checkpoints)}] {checkpoint.name}: -> {written}")
        scored.append(CheckpointScore(checkpoint, folder, False, written))
    return scored
