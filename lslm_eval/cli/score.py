"""`lslm-eval score RUN_DIR --tasks ...`: every checkpoint of a training run through lm-eval, with probing."""

from __future__ import annotations

import sys


def run(args) -> int:
    from lslm_eval.cli.flags import model_args_string, seeds
    from lslm_eval.model import CheckpointError
    from lslm_eval.run_scores import RunScoreError, score_run

    if "checkpoint" in (args.model_args or {}) or "pretrained" in (args.model_args or {}):
        raise SystemExit("lslm-eval score: the checkpoints come from RUN_DIR; drop checkpoint=/pretrained= from --model_args")
    output_path = args.output_path or f"outputs/score/{args.run_dir.rstrip('/').split('/')[-1]}"
    try:
        scored = score_run(args.run_dir, output_path, list(args.tasks), probe=not args.no_probe,
                           model_args=args.model_args, limit=args.limit, metadata=args.metadata, gen_kwargs=args.gen_kwargs,
                           batch_size=args.batch_size, device=args.device, log_samples=args.log_samples, seeds=tuple(seeds(args)))
    except (RunScoreError, CheckpointError) as err:
        raise SystemExit(f"lslm-eval score: {err}") from None
    folders = " ".join(str(s.folder) for s in scored)
    probe = "" if args.no_probe else f" --probe {output_path}"
    print(f"{len(scored)} checkpoints ({sum(s.skipped for s in scored)} done before) in {output_path}; "
          f"model args {model_args_string(args.model_args) or '(default)'}")
    print(f"next: lslm-eval leaderboard {folders}{probe}", file=sys.stderr)
    if not args.no_probe:
        print(f"      lslm-eval correlate {folders}{probe}", file=sys.stderr)
    return 0


def add_to(verbs) -> None:
    from lslm_eval.cli import flags

    score = verbs.add_parser("score", help="score every checkpoint of a training run (lm-eval + probing), skipping done ones",
                             description="Every RUN_DIR/checkpoint-<step> through lm-eval's simple_evaluate with probe=, "
                                         "into OUTPUT_PATH/<checkpoint>/ (lm-eval's layout), which leaderboard and correlate "
                                         "read as it is. A checkpoint whose results cover the tasks at this --limit is skipped.")
    score.add_argument("run_dir", metavar="RUN_DIR", help="a training run folder (lslm-eval train's output_dir)")
    flags.add_tasks(score, help="tasks, comma- or space-separated: a speech task and its _text twin give the GAP "
                                "(e.g. voicebench_sdqa,voicebench_sdqa_text)")
    flags.add_model(score, help_extra=" (the checkpoint comes from RUN_DIR)")
    flags.add_data(score)
    flags.add_gen_kwargs(score)
    flags.add_output_path(score, None, "folder of the scores, one subfolder per checkpoint (default: outputs/score/<run name>)")
    flags.add_log_samples(score, "save every item's output and score (needed for the GAP interval; default on)")
    score.set_defaults(log_samples=True)
    score.add_argument("--no_log_samples", dest="log_samples", action="store_false", help="do not save per-item sample logs")
    flags.add_seed(score)
    score.add_argument("--no_probe", action="store_true", help="no probe=: no similarity statistics, correlate cannot use the run")
    score.set_defaults(func=run)
