"""The training options: `TrainConfig`, every key of `lslm-eval train`, checked when built.

Invariant: a `TrainConfig` that exists is valid (`__post_init__` checks every range and choice), and
the one way from text to a config is `load_train_config` (a YAML file, then `--key value`
overrides), whose values are read as YAML and then converted by `TrainConfig` itself.
Paper 1's recipe (LoRA r=8, alpha=4, dropout 0.1, AdamW at 2e-5, 2 epochs) is the default.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Sequence

from lslm_eval.model import LSLMConfig

FIELDS = ("audio", "instruction", "response")  # one training example
MODES = ("adaptor", "lora", "full")
DECAYS = ("cosine", "linear", "constant")
DTYPES = ("auto", "float32", "bfloat16", "float16")


class TrainConfigError(ValueError):
    """A training option that is unknown or out of range."""



@dataclass
class TrainConfig:
    data: str = ""  # manifest.jsonl (audio, instruction, response), a save_to_disk dir, or hub:ID[:CONFIG]:SPLIT
    columns: dict[str, str] = field(default_factory=dict)  # dataset column of each field, e.g. {response: answer}
    output_dir: str = "runs/train"  # checkpoints OUT/checkpoint-<step>/, train_log.jsonl (--output_path sets it too)
    # model
    hf: str | None = None  # a transformers-native audio LM (hub id or directory) instead of encoder + adaptor + llm
    trust_remote_code: bool = False  # with hf: load the repository's own model code
    encoder: str = LSLMConfig.encoder  # Whisper: an offline name, an openai-whisper name or a checkpoint file
    llm: str = LSLMConfig.llm  # causal LM: offline:NAME, a hub id or a local directory
    gguf_file: str | None = None  # the GGUF file inside `llm`, when it holds one
    init_checkpoint: str | None = None  # start from an lslm-eval checkpoint instead of a fresh adaptor
    stack: int = 5  # encoder frames stacked into one adaptor input
    adaptor_hidden: int = 2048  # width of the adaptor's hidden layer
    activation: str = "gelu"  # the adaptor's activation
    system_prompt: str | None = None  # system turn of every training prompt (kept in the checkpoint)
    # what trains (the encoder never does)
    mode: str = "lora"  # adaptor | lora | full; the adaptor trains in every mode
    lora_r: int = 8  # LoRA rank
    lora_alpha: float = 4.0  # LoRA scale numerator (scale = alpha / r)
    lora_dropout: float = 0.1  # dropout on the LoRA path
    lora_targets: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])  # or ["all-linear"]
    gradient_checkpointing: bool = False  # recompute LLM activations in the backward pass (less memory)
    # optimisation
    lr: float = 2e-5  # peak learning rate (AdamW)
    adaptor_lr: float | None = None  # defaults to lr
    weight_decay: float = 0.0  # AdamW weight decay
    warmup_steps: int = 100  # optimizer steps of linear warmup
    decay: str = "cosine"  # cosine | linear | constant, after the linear warmup
    batch_size: int = 8  # examples per process per micro-batch
    grad_accum: int = 1  # micro-batches per optimizer step
    max_steps: int | None = None  # optimizer steps; overrides epochs
    epochs: float = 2.0  # passes over the data (when max_steps is unset)
    max_grad_norm: float = 1.0  # 0: no clipping
    text_mix: float = 0.0  # fraction of examples given as written instead of spoken instruction
    distill_weight: float = 0.0  # weight of KL(text-input distribution || speech-input distribution)
    # bookkeeping
    save_every: int = 500  # optimizer steps between checkpoints (and one at the end)
    log_every: int = 10  # optimizer steps between log lines
    seed: int = 0  # data order, text_mix draws, fresh adaptor and LoRA weights
    dtype: str = "float32"  # frozen weights and compute; trainable weights stay float32 (mixed precision)
    device: str | None = None  # "cpu" forces the CPU; otherwise accelerate chooses
    frame_cache_gb: float = 2.0  # encoder frames kept in CPU memory per process (the encoder is frozen)

    def __post_init__(self):
        for option in fields(self):  # YAML reads 2e-5 (no dot) as a string
            value = getattr(self, option.name)
            if "float" in str(option.type) and isinstance(value, (str, int)) and not isinstance(value, bool):
                try:
                    setattr(self, option.name, float(value))
                except ValueError:
                    raise TrainConfigError(f"{option.name} must be a number, got {value!r}") from None
        checks = [
            (self.mode in MODES, f"mode must be one of {MODES}, got {self.mode!r}"),
            (self.decay in DECAYS, f"decay must be one of {DECAYS}, got {self.decay!r}"),
            (self.dtype in DTYPES, f"dtype must be one of {DTYPES}, got {self.dtype!r}"),
            (self.lr > 0 and (self.adaptor_lr is None or self.adaptor_lr > 0), "learning rates must be positive"),
            (min(self.batch_size, self.grad_accum, self.save_every, self.log_every, self.lora_r) >= 1,
             "batch_size, grad_accum, save_every, log_every and lora_r must be at least 1"),
            (self.max_steps is None or self.max_steps >= 1, f"max_steps must be at least 1, got {self.max_steps}"),
            (self.max_steps is not None or self.epochs > 0, f"epochs must be positive, got {self.epochs}"),
            (self.warmup_steps >= 0 and self.max_grad_norm >= 0 and self.frame_cache_gb >= 0,
             "warmup_steps, max_grad_norm and frame_cache_gb cannot be negative"),
            (0 <= self.text_mix <= 1, f"text_mix is a fraction in [0, 1], got {self.text_mix}"),
            (self.text_mix == 0 or self.mode != "adaptor", "text_mix needs mode lora or full: in adaptor mode a written instruction reaches no trainable weight"),
            (self.distill_weight >= 0, f"distill_weight cannot be negative, got {self.distill_weight}"),
            (0 <= self.lora_dropout < 1, f"lora_dropout must be in [0, 1), got {self.lora_dropout}"),
            (set(self.columns) <= set(FIELDS), f"columns maps the fields {FIELDS} to dataset columns; got keys {sorted(self.columns)}"),
            (not self.hf or self.mode != "full", f"hf={self.hf} trains its projector (mode adaptor) or the projector + LoRA on its language model (mode lora), not mode full"),
            (bool(self.data), "no training data: set `data` to a manifest.jsonl, a `datasets` save_to_disk directory or hub:ID:SPLIT"),
        ]
        for ok, message in checks:
            if not ok:
                raise TrainConfigError(message)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise TrainConfigError(f"unknown training options {unknown}; known: {sorted(known)}")
        return cls(**data)



def parse_overrides(tokens: Sequence[str]) -> dict[str, str]:
    """`--key value` / `--key=value` command-line tokens -> {key: text} (dashes in keys become underscores)."""
    extra, values = list(tokens), {}
    while extra:
        key = extra.pop(0)
        if not key.startswith("--"):
            raise TrainConfigError(f"overrides come as --key value pairs; got {key!r}")
        if "=" in key:
            key, value = key.split("=", 1)
        elif extra and not extra[0].startswith("--"):
            value = extra.pop(0)
        else:
            raise TrainConfigError(f"{key} needs a value")
        values[key[2:].replace("-", "_")] = value
    return values


def stage_main(description: str, config_class, train, argv: Sequence[str] | None = None) -> None:
    """The command line of a cached-frame stage (`python -m lslm_eval.trainers.ctc|repeat RECIPE.yaml [--key value
    ...] [--resume]`): the recipe's options, then the overrides (read as YAML values), then
    `train(config, resume=...)`; prints the last checkpoint."""
    import argparse
    import logging

    import yaml

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("recipe", help=f"YAML file of {config_class.__name__} options")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in output_dir")
    args, rest = parser.parse_known_args(argv)
    options = yaml.safe_load(Path(args.recipe).read_text()) or {}
    try:
        options.update({key: yaml.safe_load(value) for key, value in parse_overrides(rest).items()})
        config = config_class.from_dict(options)
    except ValueError as err:  # a bad option names itself, without a traceback
        parser.error(f"{args.recipe}: {err}")
    logging.basicConfig(level=logging.INFO)
    print(train(config, resume=args.resume))


def _coerce(kind, text: str):
    """A command-line string as the dataclass field's type."""
    import yaml

    value = yaml.safe_load(text)
    name = str(kind)
    if "float" in name and isinstance(value, (str, int)) and not isinstance(value, bool):
        return float(value)
    if "list" in name and isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


def load_train_config(config_file: str | Path | None = None, overrides: Sequence[str] = ()) -> TrainConfig:
    """YAML file (optional) then `--key value` (or `--key=value`) overrides -> TrainConfig."""
    import yaml

    values = parse_overrides(overrides)
    data = yaml.safe_load(Path(config_file).read_text()) if config_file else {}
    kinds = {f.name: f.type for f in fields(TrainConfig)}
    for name, value in values.items():
        if name not in kinds:
            raise TrainConfigError(f"unknown training option {name!r}; known: {sorted(kinds)}")
        data[name] = _coerce(kinds[name], value)
    return TrainConfig.from_dict(data)


def describe_keys() -> list[tuple[str, object, str]]:
    """(key, default, the comment on its line in `TrainConfig`) for every training option, in order."""
    import inspect
    import re

    from dataclasses import MISSING

    comments = {}
    for line in inspect.getsource(TrainConfig).splitlines():
        match = re.match(r"\s{4}(\w+): [^#]*?(?:#\s*(.*))?$", line)
        if match:
            comments[match.group(1)] = match.group(2) or ""
    rows = []
    for option in fields(TrainConfig):
        default = option.default if option.default is not MISSING else option.default_factory()
        rows.append((option.name, default, comments.get(option.name, "")))
    return rows
