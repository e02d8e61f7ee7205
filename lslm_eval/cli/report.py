"""The report verbs: `flips`, `leaderboard`, `compare` (the regression gate) and `correlate`.

Unusable input (the library says what is missing) goes to stderr with exit status 2; a failed gate
exits with 1.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

INPUT_ERROR = 2  # exit status of a report verb given unusable input (a failed regression gate exits with 1)
GATE_FAILED = 1


def report_verb(command):
    """Run a report verb; unusable input (the library says what is missing) -> stderr, status 2."""

    @functools.wraps(command)
    def run(args) -> int:
        try:
            return command(args)
        except (ValueError, OSError) as err:
            print(f"lslm-eval {args.verb}: error: {err}", file=sys.stderr)
            return INPUT_ERROR

    return run


def subsets_arg(text: str):
    """--subsets: "paper", "official" or comma-separated subset (and group) names, e.g. paper,speechmmlu."""
    from lslm_eval.benchmarks import resolve_subsets

    try:
        return list(resolve_subsets(text))
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def formats_arg(text: str) -> list[str]:
    """--format: comma-separated, from REPORT_FORMATS."""
    from lslm_eval.report.outputs import REPORT_FORMATS

    chosen = [name.strip().lower() for name in text.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in REPORT_FORMATS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"unknown formats {unknown or [text]}: choose from {','.join(REPORT_FORMATS)}")
    return chosen


def board_options(args) -> dict:
    """build_leaderboard's keyword arguments from the options add_board_options adds."""
    return {"subsets": args.subsets, "n_resamples": args.resamples, "confidence": args.confidence, "seed": args.seed,
            "probe_task": getattr(args, "probe_task", None)}


def leaderboard_from(args, run_dirs, probes=()):
    from lslm_eval.report.leaderboard import build_leaderboard

    return build_leaderboard(run_dirs, probes, **board_options(args))


def run_flips(args) -> int:
    from lslm_eval.report.flips import compare_runs, load_run, render_markdown, write_flip_report

    labels = args.labels or [None, None]
    try:
        a = load_run(args.run_a, args.task, args.metric, args.filter, labels[0])
        b = load_run(args.run_b, args.task_b or args.task, args.metric or a.metric, args.filter, labels[1])
        report = compare_runs(a, b, args.threshold)
    except (OSError, ValueError) as err:
        raise SystemExit(f"lslm-eval flips: {err}") from None
    jsonl, markdown = write_flip_report(report, args.output_path, args.examples)
    print(render_markdown(report, args.examples))
    print(f"-> {jsonl}, {markdown}")
    return 0


@report_verb
def run_leaderboard(args) -> int:
    from lslm_eval.report.outputs import write_leaderboard
    from lslm_eval.report.sources import find_probe_files

    if args.format and not args.output_path:
        raise ValueError("--format chooses the files written into --output_path DIR: give --output_path")
    board = leaderboard_from(args, args.runs, find_probe_files(args.probe))
    print(board.to_markdown(), end="")
    if args.output_path:
        for path in write_leaderboard(board, args.output_path, args.format):
            print(f"wrote {path}", file=sys.stderr)
    return 0


@report_verb
def run_compare(args) -> int:
    from lslm_eval.report.gap_test import gap_test_table, paired_statistics_table
    from lslm_eval.report.gate import compare
    from lslm_eval.report.sources import check_comparable, gate_side

    baseline, candidate = gate_side(args.baseline, **board_options(args)), gate_side(args.candidate, **board_options(args))
    check_comparable(baseline, candidate)
    single = baseline.single is not None and candidate.single is not None  # one checkpoint each: match by metric
    result = compare(baseline.single if single else baseline.by_run, candidate.single if single else candidate.by_run,
                     args.tolerance, args.tolerance_se, args.metrics)
    print(result.to_markdown(), end="")
    print(paired_statistics_table(baseline, candidate), end="")
    if args.gap_test:
        print(gap_test_table(baseline, candidate, args.resamples, args.confidence, args.seed), end="")
    return 0 if result.passed else GATE_FAILED


@report_verb
def run_correlate(args) -> int:
    from lslm_eval.report.outputs import write_correlation
    from lslm_eval.report.sources import find_probe_files, print_notes

    board = leaderboard_from(args, args.runs, find_probe_files(args.probe))
    print_notes("leaderboard", board.notes)
    result, written, undated = write_correlation(board, args.output_path, args.scalars, args.group_by)
    print(result.to_markdown(), end="")
    if undated:
        print(f"no training-step figure: {undated} carry no step (name checkpoints checkpoint-<step>)", file=sys.stderr)
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    return 0


def add_board_options(parser: argparse.ArgumentParser) -> None:
    """Options of every verb that builds a leaderboard from lm-eval output folders."""
    parser.add_argument("--subsets", type=subsets_arg, default=None,
                        help="the Overall and GAP: paper (5 subsets), official (9), or a,b,c (default: every subset found)")
    parser.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples of the GAP interval")
    parser.add_argument("--confidence", type=float, default=0.95, help="level of the GAP interval")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")


def add_probe_options(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument("--probe", nargs="+", action="extend", default=[], required=required, metavar="FILE_OR_DIR",
                        help="probe.json files, or folders holding them (probe=DIR, lslm-eval probe --output_path)")
    parser.add_argument("--probe_task", default=None, help="use only probe files of this task (when several per checkpoint)")


def add_to(verbs) -> None:
    from lslm_eval.cli.flags import add_output_path
    from lslm_eval.report.outputs import REPORT_FORMATS

    flips = verbs.add_parser("flips", help="per-item fixed / broken between two runs (lm-eval sample logs or grid folders)")
    flips.add_argument("run_a", help="samples_<task>_<date>.jsonl, or a folder holding one (the reference run)")
    flips.add_argument("run_b", help="the same for the compared run")
    flips.add_argument("--task", default=None, help="task to read when a folder holds several")
    flips.add_argument("--task_b", default=None, help="task of run B when it differs (e.g. voicebench_sdqa_text against voicebench_sdqa)")
    flips.add_argument("--metric", default=None, help="per-item score (default: the task's main metric)")
    flips.add_argument("--filter", default="none", help="lm-eval filter whose samples to read")
    flips.add_argument("--threshold", type=float, default=0.0, help="an item is right when its score is above this")
    flips.add_argument("--labels", nargs=2, default=None, metavar=("A", "B"), help="names of run A and run B in the report")
    flips.add_argument("--examples", type=int, default=3, help="examples of each kind in the Markdown")
    add_output_path(flips, "outputs/flips", "folder for flips.jsonl and flips.md")
    flips.set_defaults(func=run_flips)

    board = verbs.add_parser("leaderboard", help="speech/text scores, Overall, GAP with interval and similarity per checkpoint")
    board.add_argument("runs", nargs="+", metavar="RUN_DIR", help="lm_eval --output_path folders (or results_*.json)")
    add_probe_options(board, required=False)
    add_board_options(board)
    add_output_path(board, None, "also write leaderboard.{md,csv,json,html} into this folder")
    board.add_argument("--format", type=formats_arg, default=None, help=f"files to write (default {','.join(REPORT_FORMATS)})")
    board.set_defaults(func=run_leaderboard)

    gate = verbs.add_parser("compare", help="regression gate: exit 1 when a tracked metric worsens beyond the tolerance")
    gate.add_argument("--baseline", required=True, help="a run folder, a leaderboard JSON or a metric JSON")
    gate.add_argument("--candidate", required=True, help="a run folder, a leaderboard JSON or a metric JSON")
    gate.add_argument("--tolerance", type=float, default=1.0, help="allowed worsening in points")
    gate.add_argument("--tolerance_se", type=float, default=None, metavar="K",
                      help="allow K standard errors of the difference instead, where both sides have one")
    gate.add_argument("--metrics", nargs="+", default=None, metavar="PATTERN",
                      help="metrics to track (fnmatch patterns, e.g. gap 'speech/*'); default every baseline metric")
    gate.add_argument("--gap_test", action="store_true", help="also a paired bootstrap test of the two GAPs (run folders)")
    add_board_options(gate)
    gate.set_defaults(func=run_compare)

    fit = verbs.add_parser("correlate", help="OLS of GAP on each similarity scalar across checkpoints, with figures")
    fit.add_argument("runs", nargs="+", metavar="RUN_DIR", help="lm_eval --output_path folders (or results_*.json)")
    add_probe_options(fit, required=True)
    add_board_options(fit)
    fit.add_argument("--scalars", nargs="+", default=["f_bar_cos", "f_bar_d", "aps_cos", "aps_d"],
                     choices=["f_bar_cos", "f_bar_d", "aps_cos", "aps_d"], help="similarity scalars to fit GAP on")
    fit.add_argument("--group_by", choices=["model", "run"], default=None,
                     help="one fit per model type or per training run (a checkpoint's parent folder)")
    add_output_path(fit, "outputs/correlate", "folder for correlation.csv and the PNG figures")
    fit.set_defaults(func=run_correlate)
