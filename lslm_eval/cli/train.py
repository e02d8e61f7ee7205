"""`lslm-eval train`: adaptor + LoRA (or full) training from a YAML recipe and --key value overrides."""

from __future__ import annotations

import argparse


def config_and_overrides(config: str | None, overrides: list[str]) -> tuple[str | None, list[str]]:
    """Undo argparse's one guess: given `train --data m.jsonl`, it takes m.jsonl for the CONFIG
    positional; the first override without a value gets it back. lm-eval's names become the keys'."""
    tokens = [next((LM_EVAL_NAMES[name] + token[len(name):] for name in LM_EVAL_NAMES
                    if token == name or token.startswith(name + "=")), token) for token in overrides]
    if config is None:
        return None, tokens
    for i, token in enumerate(tokens):
        if token.startswith("--") and "=" not in token and (i + 1 == len(tokens) or tokens[i + 1].startswith("--")):
            return None, tokens[: i + 1] + [config] + tokens[i + 1 :]
    return config, tokens


LM_EVAL_NAMES = {"--output_path": "--output_dir"}  # lm-eval's flag name for the run's output folder


def keys_help() -> str:
    """The epilog of `train --help`: every training key, its default and what it is."""
    from lslm_eval.trainers.config import describe_keys

    lines = ["training keys (set in CONFIG.yaml or as --key value; --output_path is output_dir):"]
    for name, default, comment in describe_keys():
        lines.append(f"  --{name} {default!r}" + (f"  {comment}" if comment else ""))
    return "\n".join(lines)


def run(args) -> int:
    from lslm_eval.trainers.config import TrainConfigError, load_train_config
    from lslm_eval.trainers.data import TrainingDataError
    from lslm_eval.trainers.train import Trainer

    try:
        trainer = Trainer(load_train_config(*config_and_overrides(args.config, args.overrides)), resume=args.resume)
    except (TrainConfigError, TrainingDataError) as err:
        raise SystemExit(f"lslm-eval train: {err}") from None
    last = trainer.run()
    if last is not None:
        print(f"last checkpoint: {last}")
    return 0


def add_to(verbs) -> None:
    import argparse

    train = verbs.add_parser("train", help="train adaptor + LoRA (or full) on spoken instructions",
                             description="lslm-eval train [CONFIG.yaml] [--resume] [--KEY VALUE ...]: every training key "
                                         "below can be set as --key value. Several processes: "
                                         "accelerate launch --multi_gpu --num_processes N -m lslm_eval.cli train CONFIG.yaml",
                             epilog=keys_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("config", nargs="?", help="YAML of TrainConfig keys; every key can be overridden as --key value")
    train.add_argument("--resume", action="store_true", help="continue from the newest complete checkpoint in output_dir")
    train.set_defaults(func=run, takes_overrides=True)
