"""`lslm-eval calibrate` (speech/text statistics at one layer) and `lslm-eval interventions` (paper 1 table 1)."""

from __future__ import annotations

from pathlib import Path


def run_calibrate(args) -> int:
    from lslm_eval.intervene.calibration import estimate_calibration
    from lslm_eval.intervene.edits import CalibrationStats
    from lslm_eval.cli.flags import build_lm, seed_everything
    from lslm_eval.paired import TaskDataError, load_paired_items, load_tasks

    seed_everything(args)
    lm = build_lm(args)
    if lm.intervention is not None:
        raise SystemExit("calibrate measures the unedited model: drop intervene= from --model_args")
    stats = CalibrationStats(args.layer)
    try:
        tasks = load_tasks(",".join(args.tasks), args.metadata, args.split)
        for name, task in tasks.items():
            items = load_paired_items(task, args.limit)
            stats.merge(estimate_calibration(lm.model, items, args.layer, lm.batch_size))
            print(f"{name} ({task.config.test_split}): {len(items)} items")
    except TaskDataError as err:
        raise SystemExit(str(err)) from None
    stats.info = {"tasks": sorted(tasks), "splits": {n: t.config.test_split for n, t in tasks.items()}, "limit": args.limit,
                  "checkpoint": lm.checkpoint, **lm.model_parts(),
                  "n_items": len(stats.keys)}
    Path(args.output_path).parent.mkdir(parents=True, exist_ok=True)
    print(f"layer {args.layer}: {len(stats.keys)} items, {stats.speech.count} speech frames, {stats.text.count} text tokens "
          f"-> {stats.save(args.output_path)}")
    return 0


def run_interventions(args) -> int:
    from lm_eval.tasks import TaskManager

    from lslm_eval.cli.flags import build_lm, model_args_string, seeds
    from lslm_eval.intervene.grid import run_grid, write_grid
    from lslm_eval.intervene.settings import paper_grid

    if "intervene" in (args.model_args or {}):
        raise SystemExit("the grid sets the intervention itself: drop intervene= (and targets, layer, stats) from --model_args")
    settings = paper_grid(args.layer, args.stats)  # reads --stats before the model loads
    lm = build_lm(args)
    tasks = list(args.tasks)
    task_manager = TaskManager(metadata=args.metadata or None)
    python_seed, numpy_seed, torch_seed, fewshot_seed = seeds(args)
    runs = run_grid(lm, settings, tasks, args.output_path, args.limit, task_manager, model_args=model_args_string(args.model_args),
                    gen_kwargs=args.gen_kwargs, random_seed=python_seed, numpy_random_seed=numpy_seed,
                    torch_random_seed=torch_seed, fewshot_random_seed=fewshot_seed)
    info = {"model_args": model_args_string(args.model_args), "limit": args.limit, "layer": args.layer, "stats": args.stats,
            "checkpoint": lm.checkpoint}
    markdown_path, json_path, markdown = write_grid(runs, tasks, args.output_path, info, args.threshold)
    print(markdown)
    print(f"-> {markdown_path}, {json_path}; sample logs under {args.output_path}/<setting>/")
    return 0


def add_to(verbs) -> None:
    from lslm_eval.cli import flags

    calib = verbs.add_parser("calibrate", help="speech and text per-dimension statistics at one layer, for intervene=calibrate")
    flags.add_tasks(calib, help="paired speech tasks (estimation data), comma- or space-separated")
    flags.add_model(calib)
    flags.add_data(calib)
    flags.add_output_path(calib, None, "statistics file to write (.safetensors or .json)", required=True)
    flags.add_seed(calib)
    calib.add_argument("--split", default=None, help="read this split instead of the task's test split (keep it apart from the evaluated one)")
    calib.add_argument("--layer", type=int, default=0, help="0 = input embeddings (adaptor output), l = decoder layer l")
    calib.set_defaults(func=run_calibrate)

    grid = verbs.add_parser("interventions", help="paper 1 table 1: Original, Angle/Length x Bottom3/All (+ calibration) in one run")
    flags.add_tasks(grid)
    flags.add_model(grid, help_extra=" (without intervene: the grid sets it)")
    flags.add_data(grid)
    flags.add_gen_kwargs(grid)
    flags.add_output_path(grid, "outputs/interventions", "folder: one lm-eval output folder per setting, grid.md and grid.json")
    flags.add_seed(grid)
    grid.add_argument("--layer", type=int, default=0, help="layer the token edits apply at")
    grid.add_argument("--stats", default=None, help="calibration statistics (lslm-eval calibrate): adds Calibrate and Calibrate (mean)")
    grid.add_argument("--threshold", type=float, default=0.0, help="an item is right when its score is above this (flip counts)")
    grid.set_defaults(func=run_interventions)
