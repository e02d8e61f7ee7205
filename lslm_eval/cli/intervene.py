"""`lslm-eval calibrate` (speech/text statistics at one layer) and `lslm-eval interventions` (paper 1 table 1)."""

from __future__ import annotations

import json
from pathlib import Path


def run_calibrate(args) -> int:
    from lslm_eval.intervene.calibration import estimate_calibration
    from lslm_eval.intervene.edits import CalibrationStats
    from lslm_eval.paired import TaskDataError, load_paired_items, load_tasks
    from lslm_eval.plugins.lslm import LSLMEval

    lm = LSLMEval.create_from_arg_string(args.model_args or "")
    if lm.intervention is not None:
        raise SystemExit("calibrate measures the unedited model: drop intervene= from --model_args")
    stats = CalibrationStats(args.layer)
    try:
        tasks = load_tasks(args.tasks, args.metadata, args.split)
        for name, task in tasks.items():
            items = load_paired_items(task, args.limit)
            stats.merge(estimate_calibration(lm.model, items, args.layer, lm.batch_size))
            print(f"{name} ({task.config.test_split}): {len(items)} items")
    except TaskDataError as err:
        raise SystemExit(str(err)) from None
    stats.info = {"tasks": sorted(tasks), "splits": {n: t.config.test_split for n, t in tasks.items()}, "limit": args.limit,
                  "checkpoint": lm.checkpoint, "encoder": lm.model.config.encoder, "llm": lm.model.config.llm,
                  "n_items": len(stats.keys)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    print(f"layer {args.layer}: {len(stats.keys)} items, {stats.speech.count} speech frames, {stats.text.count} text tokens "
          f"-> {stats.save(args.out)}")
    return 0


def run_interventions(args) -> int:
    from lm_eval.tasks import TaskManager

    from lslm_eval.intervene.grid import run_grid, write_grid
    from lslm_eval.intervene.settings import paper_grid
    from lslm_eval.plugins.lslm import LSLMEval

    if "intervene=" in (args.model_args or ""):
        raise SystemExit("the grid sets the intervention itself: drop intervene= (and targets, layer, stats) from --model_args")
    settings = paper_grid(args.layer, args.stats)  # reads --stats before the model loads
    lm = LSLMEval.create_from_arg_string(args.model_args or "")
    tasks = args.tasks.split(",")
    task_manager = TaskManager(metadata=json.loads(args.metadata) if args.metadata else None)
    runs = run_grid(lm, settings, tasks, args.output_path, args.limit, task_manager, model_args=args.model_args or "",
                    gen_kwargs=args.gen_kwargs)
    info = {"model_args": args.model_args, "limit": args.limit, "layer": args.layer, "stats": args.stats,
            "checkpoint": lm.checkpoint}
    markdown_path, json_path, markdown = write_grid(runs, tasks, args.output_path, info, args.threshold)
    print(markdown)
    print(f"-> {markdown_path}, {json_path}; sample logs under {args.output_path}/<setting>/")
    return 0


def add_to(verbs) -> None:
    calib = verbs.add_parser("calibrate", help="speech and text per-dimension statistics at one layer, for intervene=calibrate")
    calib.add_argument("--tasks", required=True, help="comma-separated paired speech tasks (estimation data)")
    calib.add_argument("--model_args", default="", help="as for lm_eval --model lslm")
    calib.add_argument("--metadata", default=None, help="JSON, as for lm_eval")
    calib.add_argument("--split", default=None, help="read this split instead of the task's test split (keep it apart from the evaluated one)")
    calib.add_argument("--limit", type=int, default=None)
    calib.add_argument("--layer", type=int, default=0, help="0 = input embeddings (adaptor output), l = decoder layer l")
    calib.add_argument("--out", required=True, help="statistics file (.safetensors or .json)")
    calib.set_defaults(func=run_calibrate)

    grid = verbs.add_parser("interventions", help="paper 1 table 1: Original, Angle/Length x Bottom3/All (+ calibration) in one run")
    grid.add_argument("--tasks", required=True, help="comma-separated speech tasks, e.g. voicebench_sdqa")
    grid.add_argument("--model_args", default="", help="as for lm_eval --model lslm, without intervene")
    grid.add_argument("--metadata", default=None, help="JSON, as for lm_eval")
    grid.add_argument("--limit", type=int, default=None)
    grid.add_argument("--layer", type=int, default=0, help="layer the token edits apply at")
    grid.add_argument("--stats", default=None, help="calibration statistics (lslm-eval calibrate): adds Calibrate and Calibrate (mean)")
    grid.add_argument("--gen_kwargs", default=None, help="as for lm_eval")
    grid.add_argument("--threshold", type=float, default=0.0, help="an item is right when its score is above this (flip counts)")
    grid.add_argument("--output_path", default="outputs/interventions")
    grid.set_defaults(func=run_interventions)
