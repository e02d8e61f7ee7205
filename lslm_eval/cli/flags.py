"""The flags every lslm-eval verb shares with `lm_eval`, parsed by lm-eval's own argument actions.

Invariant: `--tasks`, `--model_args`, `--limit`, `--metadata`, `--gen_kwargs`, `--batch_size`,
`--device`, `--output_path`, `--log_samples` and `--seed` mean here what they mean to `lm_eval run`
(same spelling, same value syntax, same parsed value: the actions are lm-eval's); every option is
spelt with underscores like lm-eval's; no option may be abbreviated (`--model` is not
`--model_args`); every option has help. Where a verb uses a flag differently (probe writes no
sample log, so `--log_samples` writes its per-item JSONL), its help says so.
"""

from __future__ import annotations

import argparse
import random
from functools import partial
from importlib import metadata as package_metadata

# lm-eval's own parsers of these flags (lm_eval/_cli/utils.py, lm-eval 0.4.13; pinned <0.5 in pyproject)
from lm_eval._cli.utils import MergeDictAction, SplitArgs, _int_or_none_list_arg_type

METRICS_DOC = "docs/metrics.md"  # every score, GAP, APS, CKA, intervention and test, defined
DEFAULT_SEEDS = "0,1234,1234,1234"  # lm-eval's --seed default: python, numpy, torch, fewshot
FLAGS = ("tasks", "model_args", "limit", "metadata", "gen_kwargs", "batch_size", "device", "output_path", "log_samples", "seed")


def version() -> str:
    try:
        return package_metadata.version("lslm-eval")
    except package_metadata.PackageNotFoundError:  # a source checkout that is not installed
        return "unknown"


class Parser(argparse.ArgumentParser):
    """argparse without prefix matching; every sub-parser made from it is the same kind."""

    def __init__(self, *args, **kwargs):
        kwargs["allow_abbrev"] = False
        pointer = f"Definitions of every score and statistic: {METRICS_DOC} in the lslm-eval repository."
        kwargs["epilog"] = f"{kwargs['epilog']}\n\n{pointer}" if kwargs.get("epilog") else pointer
        super().__init__(*args, **kwargs)


def add_tasks(parser, required: bool = True, help: str = "speech tasks, comma- or space-separated, e.g. voicebench_sdqa") -> None:
    parser.add_argument("--tasks", "-t", nargs="+", action=SplitArgs, default=None, required=required, metavar="<task>", help=help)


def add_model(parser, help_extra: str = "") -> None:
    """--model_args, --batch_size, --device: the lslm model, as `lm_eval --model lslm` builds it."""
    parser.add_argument("--model_args", "-a", nargs="+", action=MergeDictAction, default=None, metavar="<arg>",
                        help="lslm model arguments as key=val,key2=val2 or a JSON object, as for lm_eval --model lslm"
                             + help_extra)
    parser.add_argument("--batch_size", "-b", default=None, metavar="<size>",
                        help="items per forward pass: an integer or auto (default: the model's, 8)")
    parser.add_argument("--device", default=None, metavar="<device>", help="cuda, cuda:0, cpu... (default: cuda when available)")


def add_data(parser) -> None:
    """--limit and --metadata."""
    parser.add_argument("--limit", "-L", type=float, default=None, metavar="<limit>",
                        help="items per task: an integer count, or a fraction below 1")
    parser.add_argument("--metadata", nargs="+", action=MergeDictAction, default=None, metavar="<args>",
                        help='task metadata as key=val or JSON, as for lm_eval (e.g. \'{"voicebench_source": "sample"}\')')


def add_gen_kwargs(parser) -> None:
    parser.add_argument("--gen_kwargs", nargs="+", action=MergeDictAction, default=None, metavar="<arg>",
                        help="generation arguments as key=val,key2=val2, as for lm_eval (e.g. max_gen_toks=64)")


def add_output_path(parser, default, help: str, required: bool = False) -> None:
    parser.add_argument("--output_path", "-o", default=default, required=required, metavar="<path>", help=help)


def add_log_samples(parser, help: str = "save every item's output and score (lm-eval sample logs)") -> None:
    parser.add_argument("--log_samples", "-s", action="store_true", help=help)


def add_seed(parser, help: str | None = None) -> None:
    parser.add_argument("--seed", type=partial(_int_or_none_list_arg_type, 3, 4, DEFAULT_SEEDS), default=None,
                        metavar="<python,numpy,torch,fewshot>",
                        help=help or f"random seeds as for lm_eval: one integer for all four, or four (default: {DEFAULT_SEEDS})")


def seeds(args) -> list[int | None]:
    """The four seeds of --seed (lm-eval's default when absent)."""
    return args.seed if args.seed is not None else _int_or_none_list_arg_type(3, 4, DEFAULT_SEEDS, DEFAULT_SEEDS)


def seed_everything(args) -> None:
    """Seed python, numpy and torch from --seed, as lm-eval does before a run."""
    import numpy as np
    import torch

    python_seed, numpy_seed, torch_seed, _ = seeds(args)
    if python_seed is not None:
        random.seed(python_seed)
    if numpy_seed is not None:
        np.random.seed(numpy_seed)
    if torch_seed is not None:
        torch.manual_seed(torch_seed)


def model_args_string(model_args: dict | None) -> str:
    """--model_args as lm-eval records it: key=val,key2=val2."""
    return ",".join(f"{key}={value}" for key, value in (model_args or {}).items())


def build_lm(args):
    """The lslm lm-eval model from --model_args, --batch_size and --device (what `lm_eval --model lslm` makes)."""
    from lslm_eval.plugins.lslm import LSLMEval

    from lslm_eval.model import CheckpointError

    extras = {"batch_size": args.batch_size, "device": args.device}
    try:
        return LSLMEval.create_from_arg_obj(dict(args.model_args or {}), {k: v for k, v in extras.items() if v is not None})
    except CheckpointError as err:  # a missing part, another width...: the message says what to do
        raise SystemExit(f"lslm-eval {args.verb}: {err}") from None

