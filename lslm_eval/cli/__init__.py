"""`lslm-eval`: every verb that is not an lm-eval run. Thin: parse arguments, call the library.

One module per group of verbs; each has `add_to(verbs)` (its argparse sub-parsers) and run
functions that only turn arguments into library calls and library errors into exit messages.
"""

from __future__ import annotations

import argparse
from lslm_eval.cli import convert, data, flags, intervene, probe, report, score, train

VERB_MODULES = (train, score, probe, intervene, report, data, convert)  # the order of `lslm-eval --help`


def build_parser() -> argparse.ArgumentParser:
    parser = flags.Parser(prog="lslm-eval", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"lslm-eval {flags.version()}")
    verbs = parser.add_subparsers(dest="verb", required=True)
    for module in VERB_MODULES:
        module.add_to(verbs)
    return parser


def respellings(parser, verb: str, unknown: list[str]) -> str:
    """'--self-distill is spelt --self_distill' for options given in another spelling (or the old --out)."""
    import argparse

    known = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and verb in action.choices:
            for sub in [action.choices[verb], *(c for a in action.choices[verb]._actions
                                               if isinstance(a, argparse._SubParsersAction) for c in a.choices.values())]:
                known |= {option for a in sub._actions for option in a.option_strings}
    hints = []
    for token in unknown:
        name = token.split("=", 1)[0]
        spelt = "--output_path" if name == "--out" else name.replace("-", "_").replace("__", "--", 1)
        if name.startswith("--") and spelt != name and spelt in known:
            hints.append(f"{name} is spelt {spelt}")
    return "; ".join(hints)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if getattr(args, "takes_overrides", False):
        args.overrides = rest
    elif rest:
        hints = respellings(parser, args.verb, rest)
        parser.error(f"unrecognized arguments: {' '.join(rest)}" + (f" ({hints})" if hints else ""))
    return args.func(args)

