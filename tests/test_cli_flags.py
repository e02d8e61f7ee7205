"""One set of flags: lm-eval's names and parsing on every verb, no prefix matching, help everywhere."""

import argparse
import re

import pytest

from lslm_eval.cli import build_parser, main
from lslm_eval.cli.flags import FLAGS
from lslm_eval.trainers.config import TrainConfig, describe_keys


def sub_parsers(parser: argparse.ArgumentParser, path=()):
    """(verb path, parser) for every verb and nested verb."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from sub_parsers(sub, (*path, name))


def test_no_option_may_be_abbreviated(capsys):
    # --model used to become --model_args lslm and probe the default model
    with pytest.raises(SystemExit) as exit_info:
        main(["probe", "--tasks", "voicebench_sdqa", "--model", "lslm"])
    assert exit_info.value.code == 2 and "unrecognized arguments: --model lslm" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["leaderboard", "runs", "--output", "x"])  # an abbreviation of --output_path
    assert "unrecognized arguments: --output x" in capsys.readouterr().err
    for path, parser in sub_parsers(build_parser()):
        assert parser.allow_abbrev is False, path
    with pytest.raises(SystemExit):  # one spelling: the other is refused, with the right one named
        main(["leaderboard", "runs", "--out", "x", "--probe-task", "t"])
    assert "--out is spelt --output_path; --probe-task is spelt --probe_task" in capsys.readouterr().err


def test_every_option_has_help_and_one_spelling():
    verbs = list(sub_parsers(build_parser()))
    assert {path[0] for path, _ in verbs} >= {"train", "probe", "calibrate", "interventions", "flips", "figures", "leaderboard",
                                               "compare", "correlate", "data"}
    for path, parser in verbs:
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            assert action.help, f"{' '.join(path)}: {action.option_strings or action.dest} has no help"
            for option in action.option_strings:
                assert re.fullmatch(r"-[a-zA-Z]|--[a-z0-9_]+", option), f"{' '.join(path)}: {option} is not spelt like lm-eval's"
        assert "docs/metrics.md" in (parser.epilog or ""), f"{' '.join(path)} --help does not point at the definitions"
    outputs = {path: {o for a in parser._actions for o in a.option_strings if "out" in o} for path, parser in verbs}
    assert set().union(*outputs.values()) == {"--output_path"}, outputs  # one output flag name


def lm_eval_run_parser():
    from lm_eval._cli.harness import HarnessCLI

    cli = HarnessCLI()
    return next(sub for action in cli._parser._actions if isinstance(action, argparse._SubParsersAction)
                for name, sub in action.choices.items() if name == "run")


@pytest.mark.parametrize("verb", ["probe", "calibrate", "interventions"])
def test_model_verbs_parse_lm_eval_flags_as_lm_eval_does(verb):
    argv = ["--tasks", "voicebench_sdqa,voicebench_sdqa_text", "--model_args", "checkpoint=ck,dtype=float32",
            "--limit", "0.5", "--metadata", '{"voicebench_source": "sample"}', "--batch_size", "4", "--device", "cpu",
            "--output_path", "out.json", "--seed", "0,1,2,3"]
    extra = {"probe": ["--log_samples"], "interventions": ["--gen_kwargs", "max_gen_toks=48,temperature=0"]}.get(verb, [])
    ours = build_parser().parse_args([verb, *argv, *extra])
    theirs = lm_eval_run_parser().parse_args(["--model", "lslm", *argv, *extra])
    shared = [flag for flag in FLAGS if hasattr(ours, flag)]
    assert {"tasks", "model_args", "limit", "metadata", "batch_size", "device", "output_path", "seed"} <= set(shared)
    for flag in shared:
        assert getattr(ours, flag) == getattr(theirs, flag), flag
    assert ours.model_args == {"checkpoint": "ck", "dtype": "float32"} and ours.tasks == ["voicebench_sdqa", "voicebench_sdqa_text"]


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and re.fullmatch(r"lslm-eval \d+\.\d+\.\d+\S*\n", capsys.readouterr().out)


def test_train_help_lists_every_key_with_its_default(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    keys = describe_keys()
    assert [name for name, _, _ in keys] == [f.name for f in TrainConfig.__dataclass_fields__.values()]
    for name, default, _ in keys:
        assert re.search(rf"^  --{name} {re.escape(repr(default))}", text, re.M), f"train --help lacks --{name} {default!r}"
    assert "peak learning rate" in text  # the key's comment is its help


def test_train_takes_lm_eval_output_path(tmp_path):
    from lslm_eval.cli.train import config_and_overrides
    from lslm_eval.trainers.config import load_train_config

    config = load_train_config(*config_and_overrides(None, ["--data", "m.jsonl", "--output_path", str(tmp_path), "--seed", "3"]))
    assert config.output_dir == str(tmp_path) and config.seed == 3
    # argparse takes the first bare value for the CONFIG positional: it goes back to its key
    config = load_train_config(*config_and_overrides("m.jsonl", ["--data", "--output_path=o"]))
    assert config.data == "m.jsonl" and config.output_dir == "o"
