"""Speech-text alignment training (paper 1 §3.2): adaptor + LoRA (or full) on spoken instructions.

Paper 1's recipe: LoRA r=8, alpha=4, dropout 0.1 on a frozen Whisper encoder, AdamW at a peak
learning rate of 2e-5, 2 epochs; these are the `TrainConfig` defaults. The loss is cross-entropy on
the response tokens only, optionally plus `distill_weight` times the KL divergence from the model's
own output distribution on the written instruction.

Checkpoints `OUT/checkpoint-<step>/` are lslm-eval checkpoints (the harness loads them with
`--model_args checkpoint=...`) plus the trainer state `--resume` needs; each is written atomically.
A resumed run repeats the uninterrupted run exactly: the data order is a function of (seed, epoch),
and the optimizer, scheduler and every process's RNG state are saved.

Runs under `accelerate launch` with any number of processes: process `rank` of `world` takes its
own slice of every global batch, only the main process writes checkpoints and logs.

    lslm-eval train RECIPE.yaml [--key value ...]
    accelerate launch --multi_gpu --num_processes 8 -m lslm_eval.cli train RECIPE.yaml
    lslm-eval train RECIPE.yaml --resume          # after a kill: continues from the newest checkpoint

(On CPUs, `--multi_gpu` with `device: cpu` starts torchrun processes that join a gloo group;
accelerate's `--cpu` runs several processes only through MPI.)
"""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from lslm_eval.audio import load_audio
from lslm_eval.model import (ADAPTOR_FILE, FULL_LLM_DIR, PEFT_DIR, LSLM, CheckpointError, LSLMConfig, load_adaptor_state,
                             resolve_dtype)
from lslm_eval.prompt import AUDIO_PLACEHOLDER, IGNORE_INDEX, PromptItem

log = logging.getLogger(__name__)

TRAINER_STATE = "trainer_state.json"  # step, schedule length, process count, the TrainConfig
OPTIMIZER_STATE = "optimizer.pt"  # optimizer and scheduler state dicts
RNG_STATE = "rng_state.pt"  # one torch RNG state per process
LOG_FILE = "train_log.jsonl"
TENSORBOARD_DIR = "tensorboard"
CHECKPOINT_PREFIX = "checkpoint-"
CHECKPOINT_NAME = re.compile(rf"{CHECKPOINT_PREFIX}(\d+)")
HUB_PREFIX = "hub:"
FIELDS = ("audio", "instruction", "response")  # one training example
MODES = ("adaptor", "lora", "full")
DECAYS = ("cosine", "linear", "constant")
DTYPES = ("auto", "float32", "bfloat16", "float16")
MIXED_PRECISION = {torch.float32: "no", torch.bfloat16: "bf16", torch.float16: "fp16"}
GIB = 2**30


class TrainConfigError(ValueError):
    """A training option that is unknown or out of range."""


class TrainingDataError(ValueError):
    """Training data that is missing or lacks what an example needs."""


@dataclass
class TrainConfig:
    data: str = ""  # manifest.jsonl (audio, instruction, response), a save_to_disk dir, or hub:ID[:CONFIG]:SPLIT
    columns: dict[str, str] = field(default_factory=dict)  # dataset column of each field, e.g. {response: answer}
    output_dir: str = "runs/train"
    # model
    encoder: str = LSLMConfig.encoder
    llm: str = LSLMConfig.llm
    gguf_file: str | None = None
    init_checkpoint: str | None = None  # start from an lslm-eval checkpoint instead of a fresh adaptor
    stack: int = 5
    adaptor_hidden: int = 2048
    activation: str = "gelu"
    system_prompt: str | None = None
    # what trains (the encoder never does)
    mode: str = "lora"  # adaptor | lora | full; the adaptor trains in every mode
    lora_r: int = 8
    lora_alpha: float = 4.0
    lora_dropout: float = 0.1
    lora_targets: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])  # or ["all-linear"]
    gradient_checkpointing: bool = False
    # optimisation
    lr: float = 2e-5
    adaptor_lr: float | None = None  # defaults to lr
    weight_decay: float = 0.0
    warmup_steps: int = 100
    decay: str = "cosine"  # cosine | linear | constant, after the linear warmup
    batch_size: int = 8  # examples per process per micro-batch
    grad_accum: int = 1  # micro-batches per optimizer step
    max_steps: int | None = None  # optimizer steps; overrides epochs
    epochs: float = 2.0
    max_grad_norm: float = 1.0  # 0: no clipping
    text_mix: float = 0.0  # fraction of examples given as written instead of spoken instruction
    distill_weight: float = 0.0  # weight of KL(text-input distribution || speech-input distribution)
    # bookkeeping
    save_every: int = 500
    log_every: int = 10
    seed: int = 0
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


# -------------------------------------------------------------------- data
class InstructionData:
    """Random access to training examples: `data[i]` -> {"audio", "instruction", "response"}.

    Rows are a list (manifest) or a `datasets.Dataset` whose audio column is left undecoded, so
    audio is read only when an example is used and `datasets` never needs torchcodec."""

    def __init__(self, rows: Sequence[dict], source: str):
        self.rows = rows
        self.source = source

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict:
        return self.rows[int(index)]

    def waveform(self, index: int) -> np.ndarray:
        """(n,) float32 16 kHz mono, whatever the stored rate and channel count (soxr resampling)."""
        return load_audio(self[index]["audio"])


def load_instruction_data(data: str, columns: dict[str, str] | None = None) -> InstructionData:
    """A manifest.jsonl, a `datasets.save_to_disk` directory, or `hub:ID:SPLIT` / `hub:ID:CONFIG:SPLIT`."""
    if data.startswith(HUB_PREFIX):
        return _from_dataset(_load_hub_dataset(data[len(HUB_PREFIX):]), data, columns or {})
    path = Path(data)
    if path.is_file():
        return _from_manifest(path)
    if path.is_dir():
        import datasets

        dataset = datasets.load_from_disk(str(path))
        if isinstance(dataset, datasets.DatasetDict):
            raise TrainingDataError(f"{path} holds the splits {sorted(dataset)}; give one of them: {path}/<split>")
        return _from_dataset(dataset, data, columns or {})
    raise TrainingDataError(f"training data not found: {data!r} is neither a file, a directory nor hub:ID:SPLIT")


def _load_hub_dataset(spec: str):
    import datasets

    parts = spec.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise TrainingDataError(f"a hub dataset is written hub:ID:SPLIT or hub:ID:CONFIG:SPLIT, got hub:{spec}")
    name, config, split = parts[0], (parts[1] if len(parts) == 3 else None), parts[-1]
    return datasets.load_dataset(name, config, split=split)


def _from_manifest(path: Path) -> InstructionData:
    rows = []
    for line_no, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise TrainingDataError(f"{path}:{line_no}: not JSON ({err})") from None
        _check_example(row, f"{path}:{line_no}")
        audio = path.parent / row["audio"]
        if not audio.is_file():
            raise TrainingDataError(f"{path}:{line_no}: audio file {audio} does not exist (paths are relative to the manifest)")
        rows.append({"audio": str(audio.resolve()), "instruction": row["instruction"], "response": row["response"]})
    if not rows:
        raise TrainingDataError(f"{path} holds no examples")
    return InstructionData(rows, str(path))


def _from_dataset(dataset, source: str, columns: dict[str, str]) -> InstructionData:
    import datasets

    names = {name: columns.get(name, name) for name in FIELDS}
    missing = [f"{name} (column {column!r})" for name, column in names.items() if column not in dataset.column_names]
    if missing:
        raise TrainingDataError(f"{source}: no {', '.join(missing)}; it has {dataset.column_names}; map fields with `columns`")
    dataset = dataset.select_columns(list(names.values())).rename_columns({c: n for n, c in names.items() if c != n})
    if isinstance(dataset.features["audio"], datasets.Audio):
        dataset = dataset.cast_column("audio", datasets.Audio(decode=False))
    for name in ("instruction", "response"):
        for index, text in enumerate(dataset[name]):
            if not isinstance(text, str) or not text.strip():
                raise TrainingDataError(f"{source}: example {index} has no {name} (got {text!r})")
    if len(dataset) == 0:
        raise TrainingDataError(f"{source} holds no examples")
    return InstructionData(dataset, source)


def _check_example(row: Any, where: str) -> None:
    if not isinstance(row, dict):
        raise TrainingDataError(f"{where}: an example is a JSON object with {FIELDS}")
    missing = [name for name in FIELDS if not isinstance(row.get(name), str) or not row[name].strip()]
    if missing:
        raise TrainingDataError(f"{where}: missing or empty {missing}; every example needs {FIELDS}")


def batch_indices(n_examples: int, batch_size: int, seed: int, micro_step: int, world: int = 1, rank: int = 0) -> list[int]:
    """Example indices of process `rank`'s micro-batch number `micro_step`.

    Epoch e is the permutation drawn from (seed, e); global micro-batch k of it is the slice
    [k * world * batch_size, (k + 1) * world * batch_size), of which `rank` takes the rank-th part.
    The tail that fills no global batch is dropped."""
    per_epoch = n_examples // (batch_size * world)
    epoch, position = divmod(micro_step, per_epoch)
    order = np.random.default_rng([seed, epoch]).permutation(n_examples)
    start = (position * world + rank) * batch_size
    return order[start : start + batch_size].tolist()


def uses_text_input(seed: int, epoch: int, index: int, text_mix: float) -> bool:
    """Whether example `index` is given as its written instruction in `epoch` (probability text_mix)."""
    return text_mix > 0 and np.random.default_rng([seed, epoch, index]).random() < text_mix


def response_token_ids(tokenizer, response: str) -> list[int]:
    """The target: the response's tokens and the end-of-turn token the chat template would close with."""
    return tokenizer(response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]


def lr_lambda(config: TrainConfig, total_steps: int):
    """Learning-rate factor at optimizer step `step`: linear warmup, then cosine / linear decay to 0 or constant."""

    def factor(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        if config.decay == "constant":
            return 1.0
        progress = min(1.0, (step - config.warmup_steps) / max(1, total_steps - config.warmup_steps))
        return 1 - progress if config.decay == "linear" else 0.5 * (1 + math.cos(math.pi * progress))

    return factor


# -------------------------------------------------------------------- model
def prepare_model(config: TrainConfig, device: str) -> LSLM:
    """Load the LSLM and mark what trains: the adaptor always, plus LoRA or the whole LLM.

    Trainable weights are float32 whatever `dtype` is (mixed precision keeps master weights in
    float32); frozen ones keep `dtype`."""
    if config.init_checkpoint:
        model = LSLM.from_pretrained(config.init_checkpoint, device=device, dtype=config.dtype)
    else:
        model_config = LSLMConfig(encoder=config.encoder, llm=config.llm, gguf_file=config.gguf_file, stack=config.stack,
                                  adaptor_hidden=config.adaptor_hidden, activation=config.activation, system_prompt=config.system_prompt)
        model = LSLM.build(model_config, device=device, dtype=config.dtype, seed=config.seed)
    model.requires_grad_(False)
    has_adapter = hasattr(model.llm, "peft_config")
    if config.mode == "full":
        if has_adapter:
            model.llm = model.llm.merge_and_unload()
        model.llm.requires_grad_(True)
    elif config.mode == "lora" and not has_adapter:
        from peft import LoraConfig, get_peft_model

        targets = "all-linear" if config.lora_targets == ["all-linear"] else config.lora_targets
        lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                          target_modules=targets, task_type="CAUSAL_LM")
        model.llm = get_peft_model(model.llm, lora)
    elif config.mode == "lora":  # continue the init checkpoint's adapter
        for name, param in model.llm.named_parameters():
            param.requires_grad_("lora_" in name)
    model.adaptor.requires_grad_(True)
    for param in model.parameters():
        if param.requires_grad:
            param.data = param.data.float()
    if config.gradient_checkpointing:
        # transformers 5 renamed gradient checkpointing to activation checkpointing
        enable = getattr(model.llm, "activation_checkpointing_enable", None) or model.llm.gradient_checkpointing_enable
        enable({"use_reentrant": False})  # the first argument of both: checkpoint() keyword arguments
    model.config.extra = {"train": asdict(config)}
    return model


def load_trained_weights(model: LSLM, checkpoint: Path) -> None:
    """Put a checkpoint's adaptor, PEFT adapter or full LLM into a model built by `prepare_model`."""
    from safetensors.torch import load_file

    model.adaptor.load_state_dict(load_adaptor_state(checkpoint / ADAPTOR_FILE, model.adaptor))
    if (checkpoint / PEFT_DIR).is_dir():
        from peft import set_peft_model_state_dict

        result = set_peft_model_state_dict(model.llm, load_file(str(checkpoint / PEFT_DIR / "adapter_model.safetensors")))
        if result.unexpected_keys:
            raise CheckpointError(f"{checkpoint / PEFT_DIR}: adapter tensors {result.unexpected_keys[:5]} do not fit the model")
    if (checkpoint / FULL_LLM_DIR).is_dir():
        from transformers import AutoModelForCausalLM

        trained = AutoModelForCausalLM.from_pretrained(str(checkpoint / FULL_LLM_DIR), dtype=model.dtype)
        model.llm.load_state_dict(trained.state_dict())


def response_logits(logits: Tensor, labels: Tensor) -> Tensor:
    """logits (B, S, V), labels (B, S) -> (n, V): the logits that predict the n response tokens."""
    return logits[:, :-1][labels[:, 1:] != IGNORE_INDEX]


class InstructionObjective(nn.Module):
    """The training loss of one micro-batch: (loss, cross_entropy, kl), the last two detached.

    Speech examples come as encoder frames (T, d_enc), which the adaptor turns into the query;
    examples given as text (frames None) use the written instruction. The whole computation is this
    module's forward, so DistributedDataParallel sees every trainable parameter used."""

    def __init__(self, lslm: LSLM, distill_weight: float = 0.0):
        super().__init__()
        self.lslm = lslm
        self.distill_weight = distill_weight

    def build_items(self, frames: Sequence[Tensor | None], instructions: Sequence[str], responses: Sequence[list[int]]) -> list[PromptItem]:
        lslm, adaptor_param = self.lslm, self.lslm.adaptor.proj_in.weight
        items = []
        for frame, instruction, response in zip(frames, instructions, responses):
            speech = None if frame is None else lslm.adaptor(frame.to(adaptor_param.device, adaptor_param.dtype).unsqueeze(0))[0]
            item = lslm.prompt.build(AUDIO_PLACEHOLDER, speech, instruction)
            item.response_ids = list(response)
            items.append(item)
        return items

    def forward(self, frames: Sequence[Tensor | None], instructions: Sequence[str], responses: Sequence[list[int]]):
        lslm = self.lslm
        batch = lslm.collate(self.build_items(frames, instructions, responses), padding_side="right")
        out = lslm(batch)
        if not self.distill_weight:
            return out.loss, out.loss.detach(), torch.zeros_like(out.loss.detach())
        teacher_batch = lslm.collate(self.build_items([None] * len(frames), instructions, responses), padding_side="right")
        lslm.llm.eval()  # the target is the model's own deterministic text-input distribution (no dropout)
        with torch.no_grad():
            teacher = lslm(teacher_batch).logits
        lslm.llm.train(self.training)
        student = response_logits(out.logits, batch.labels).float()
        target = response_logits(teacher, teacher_batch.labels).float()
        kl = F.kl_div(F.log_softmax(student, -1), F.log_softmax(target, -1), log_target=True, reduction="batchmean")
        return out.loss + self.distill_weight * kl, out.loss.detach(), kl.detach()


# -------------------------------------------------------------------- checkpoints
def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The complete checkpoint-<step> with the highest step (complete: it holds the trainer state)."""
    found = [(int(m.group(1)), p) for p in Path(output_dir).glob(f"{CHECKPOINT_PREFIX}*")
             if (m := CHECKPOINT_NAME.fullmatch(p.name)) and (p / TRAINER_STATE).is_file()]
    return max(found)[1] if found else None


def rng_state() -> dict[str, Tensor]:
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict[str, Tensor]) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"])


def tensorboard_available() -> bool:
    from accelerate.utils import is_tensorboard_available

    return bool(is_tensorboard_available())


# -------------------------------------------------------------------- the run
class Trainer:
    """One training run. `run()` trains to the end; `train_step()` does one optimizer step.

    With `resume`, training continues after the newest complete checkpoint in `output_dir`; without
    it, an `output_dir` that already holds checkpoints is refused."""

    def __init__(self, config: TrainConfig, resume: bool = False):
        from accelerate import Accelerator
        from accelerate.utils import DistributedDataParallelKwargs

        self.config = config
        self.out = Path(config.output_dir)
        device_kind = "cuda" if torch.cuda.is_available() and config.device != "cpu" else "cpu"
        self.accelerator = Accelerator(
            gradient_accumulation_steps=config.grad_accum, cpu=config.device == "cpu",
            mixed_precision=MIXED_PRECISION[resolve_dtype(config.dtype, device_kind)],
            log_with="tensorboard" if tensorboard_available() else None, project_dir=str(self.out),
            # an all-text micro-batch (text_mix) leaves the adaptor unused
            kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=config.text_mix > 0)],
        )
        acc = self.accelerator
        with acc.main_process_first():  # a hub dataset is downloaded and cached once
            self.data = load_instruction_data(config.data, config.columns)
        self.micro_batches_per_epoch = len(self.data) // (config.batch_size * acc.num_processes)
        if self.micro_batches_per_epoch == 0:
            raise TrainingDataError(f"{len(self.data)} examples cannot fill one batch of {config.batch_size} on "
                                    f"{acc.num_processes} process(es); lower batch_size or add data")
        self.total_steps = config.max_steps or max(1, math.ceil(config.epochs * self.micro_batches_per_epoch / config.grad_accum))

        checkpoint = latest_checkpoint(self.out)
        if checkpoint is not None and not resume:
            raise TrainConfigError(f"{self.out} already holds {checkpoint.name}; pass --resume to continue it or choose another output_dir")
        lslm = prepare_model(config, str(acc.device))
        if resume and checkpoint is not None:
            load_trained_weights(lslm, checkpoint)
        adaptor_params = list(lslm.adaptor.parameters())
        other_params = [p for n, p in lslm.named_parameters() if p.requires_grad and not n.startswith("adaptor.")]
        groups = [{"params": adaptor_params, "lr": config.adaptor_lr or config.lr}]
        if other_params:
            groups.append({"params": other_params, "lr": config.lr})
        optimizer = torch.optim.AdamW(groups, weight_decay=config.weight_decay)
        # stepped once per optimizer step here: accelerate's prepared scheduler would step once per process
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(config, self.total_steps))
        self.objective, self.optimizer = acc.prepare(InstructionObjective(lslm, config.distill_weight), optimizer)
        self.step = 0
        self._restored_rng: list[dict] | None = None
        if resume and checkpoint is not None:
            self._load_trainer_state(checkpoint)
        self._frames: dict[int, Tensor] = {}
        self._frame_bytes = 0

    @property
    def lslm(self) -> LSLM:
        return self.accelerator.unwrap_model(self.objective).lslm

    # ---------------------------------------------------------------- one step
    def _frames_of(self, index: int) -> Tensor:
        """Encoder frames (T, d_enc) of example `index`, kept on the CPU while the cache has room."""
        frames = self._frames.get(index)
        if frames is None:
            with torch.no_grad():
                frames = self.lslm.encoder(self.data.waveform(index)).cpu()
            size = frames.numel() * frames.element_size()
            if self._frame_bytes + size <= self.config.frame_cache_gb * GIB:
                self._frames[index] = frames
                self._frame_bytes += size
        return frames

    def micro_batch_indices(self, micro_step: int) -> list[int]:
        """The examples of this process's micro-batch `micro_step`."""
        acc = self.accelerator
        return batch_indices(len(self.data), self.config.batch_size, self.config.seed, micro_step, acc.num_processes, acc.process_index)

    def micro_batch(self, micro_step: int) -> tuple[list[Tensor | None], list[str], list[list[int]]]:
        """This process's inputs of micro-batch `micro_step`: (frames or None for text input, instructions, responses)."""
        cfg = self.config
        epoch = micro_step // self.micro_batches_per_epoch
        indices = self.micro_batch_indices(micro_step)
        examples = [self.data[i] for i in indices]
        frames = [None if uses_text_input(cfg.seed, epoch, i, cfg.text_mix) else self._frames_of(i) for i in indices]
        responses = [response_token_ids(self.lslm.tokenizer, ex["response"]) for ex in examples]
        return frames, [ex["instruction"] for ex in examples], responses

    def train_step(self) -> dict[str, float]:
        """One optimizer step over `grad_accum` micro-batches; metrics averaged over all processes."""
        cfg, acc = self.config, self.accelerator
        totals = torch.zeros(3, device=acc.device)  # loss, cross-entropy, kl
        grad_norm = None
        for micro in range(cfg.grad_accum):
            with acc.accumulate(self.objective):
                loss, ce, kl = self.objective(*self.micro_batch(self.step * cfg.grad_accum + micro))
                acc.backward(loss)
                totals += torch.stack([loss.detach(), ce, kl]).float() / cfg.grad_accum
                if acc.sync_gradients and cfg.max_grad_norm:
                    grad_norm = acc.clip_grad_norm_([p for p in self.objective.parameters() if p.requires_grad], cfg.max_grad_norm)
                self.optimizer.step()
                self.optimizer.zero_grad()
        lr = self.scheduler.get_last_lr()[-1]  # the rate this step used
        if not acc.optimizer_step_was_skipped:
            self.scheduler.step()
        self.step += 1
        loss, ce, kl = acc.reduce(totals, "mean").tolist()
        metrics = {"step": self.step, "epoch": round(self.step * cfg.grad_accum / self.micro_batches_per_epoch, 4), "loss": loss, "lr": lr}
        if cfg.distill_weight:
            metrics.update(cross_entropy=ce, kl=kl)
        if grad_norm is not None:
            metrics["grad_norm"] = float(grad_norm)
        return metrics

    # ---------------------------------------------------------------- the loop
    def run(self) -> Path | None:
        """Train until `total_steps`; returns the last checkpoint (on the main process, else None)."""
        from accelerate.utils import set_seed

        cfg, acc = self.config, self.accelerator
        if self._restored_rng is None:
            set_seed(cfg.seed, device_specific=True)
        else:
            set_rng_state(self._restored_rng[acc.process_index])
        if acc.is_main_process:
            self.out.mkdir(parents=True, exist_ok=True)
        if tensorboard_available():
            acc.init_trackers(TENSORBOARD_DIR)
        self.objective.train()
        bar = tqdm(total=self.total_steps, initial=self.step, desc="train", disable=not acc.is_main_process)
        last = latest_checkpoint(self.out) if self.step else None
        started, samples = time.time(), 0
        while self.step < self.total_steps:
            metrics = self.train_step()
            samples += cfg.batch_size * cfg.grad_accum * acc.num_processes
            metrics["samples_per_s"] = round(samples / max(1e-9, time.time() - started), 3)
            bar.set_postfix(loss=f"{metrics['loss']:.4f}", samples_s=f"{metrics['samples_per_s']:.2f}")
            bar.update(1)
            if self.step % cfg.log_every == 0 or self.step == self.total_steps:
                self._log(metrics)
            if self.step % cfg.save_every == 0 or self.step == self.total_steps:
                last = self.save()
        bar.close()
        acc.end_training()
        return last if acc.is_main_process else None

    def _log(self, metrics: dict) -> None:
        """One JSON line in OUT/train_log.jsonl (main process) and TensorBoard scalars when installed."""
        if self.accelerator.is_main_process:
            with open(self.out / LOG_FILE, "a") as f:
                f.write(json.dumps(metrics) + "\n")
        self.accelerator.log({f"train/{k}": v for k, v in metrics.items() if k != "step"}, step=self.step)

    def save(self) -> Path:
        """OUT/checkpoint-<step>/: the lslm-eval checkpoint + optimizer, scheduler, RNG and step (atomic)."""
        from accelerate.utils import gather_object

        acc = self.accelerator
        rng = gather_object([rng_state()])  # every process's, in rank order
        path = self.out / f"{CHECKPOINT_PREFIX}{self.step}"
        if acc.is_main_process:
            state = {"step": self.step, "total_steps": self.total_steps, "num_processes": acc.num_processes,
                     "micro_batches_per_epoch": self.micro_batches_per_epoch, "config": asdict(self.config)}

            def write_trainer_state(directory: Path) -> None:
                torch.save({"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict()}, directory / OPTIMIZER_STATE)
                torch.save(rng, directory / RNG_STATE)
                (directory / TRAINER_STATE).write_text(json.dumps(state, indent=2))

            self.lslm.config.extra = {"train": asdict(self.config), "step": self.step}
            self.lslm.save_pretrained(path, save_full_llm=self.config.mode == "full", extra=write_trainer_state)
        acc.wait_for_everyone()
        return path

    def _load_trainer_state(self, checkpoint: Path) -> None:
        """Optimizer, scheduler, step and RNG states of `checkpoint`; the log is cut back to its step."""
        acc = self.accelerator
        state = json.loads((checkpoint / TRAINER_STATE).read_text())
        if state["num_processes"] != acc.num_processes:
            raise TrainConfigError(f"{checkpoint} was written by {state['num_processes']} processes; resume with as many "
                                   f"(the data order depends on it), not {acc.num_processes}")
        changed = sorted(k for k, v in state["config"].items() if getattr(self.config, k, v) != v)
        if changed:
            log.warning("resuming %s with changed options %s", checkpoint, changed)
        saved = torch.load(checkpoint / OPTIMIZER_STATE, weights_only=True, map_location="cpu")
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        self._restored_rng = torch.load(checkpoint / RNG_STATE, weights_only=True)
        self.step = state["step"]
        if acc.is_main_process:
            for leftover in self.out.glob(f".{CHECKPOINT_PREFIX}*"):  # staging dirs of a save that was killed
                shutil.rmtree(leftover, ignore_errors=True)
            log_file = self.out / LOG_FILE
            if log_file.is_file():
                kept = [line for line in log_file.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= self.step]
                log_file.write_text("".join(line + "\n" for line in kept))
        acc.wait_for_everyone()
