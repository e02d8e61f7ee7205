"""Speech-text alignment training (paper 1 §3.2): adaptor + LoRA (or full) on spoken instructions.

Loss on response tokens only. Checkpoints `OUT/checkpoint-<step>/` are lslm-eval checkpoints (the
harness loads them with `--model_args checkpoint=...`) plus the trainer state that `resume` needs;
each is written atomically. Runs under `accelerate launch` with any number of processes.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from lslm_eval.audio import load_audio
from lslm_eval.model import LSLM, LSLMConfig
from lslm_eval.prompt import AUDIO_PLACEHOLDER, PromptItem

TRAINER_STATE = "trainer_state.json"
OPTIMIZER_STATE = "optimizer.pt"
LOG_FILE = "train_log.jsonl"
CHECKPOINT_PREFIX = "checkpoint-"


@dataclass
class TrainConfig:
    data: str = ""  # a manifest.jsonl (audio, instruction, response) or a `datasets` save_to_disk dir
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
    # what trains
    mode: str = "lora"  # adaptor | lora | full
    train_encoder: bool = False
    lora_r: int = 8
    lora_alpha: float = 4.0
    lora_dropout: float = 0.1
    lora_targets: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    # optimisation
    lr: float = 2e-5
    adaptor_lr: float | None = None  # defaults to lr
    weight_decay: float = 0.0
    warmup_steps: int = 100
    decay: str = "cosine"  # cosine | linear | constant
    batch_size: int = 8
    grad_accum: int = 1
    max_steps: int | None = None
    epochs: float = 2.0
    max_grad_norm: float = 1.0
    text_mix: float = 0.0  # fraction of examples given as text input instead of speech
    distill_weight: float = 0.0  # KL to the model's own text-input output distribution
    # bookkeeping
    save_every: int = 500
    log_every: int = 10
    seed: int = 0
    dtype: str = "float32"
    device: str | None = None

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown training options {unknown}; known: {sorted(known)}")
        return cls(**data)


def read_examples(data: str) -> list[dict]:
    """Manifest rows or dataset rows as {"audio", "instruction", "response"}; audio paths made absolute."""
    path = Path(data)
    if path.is_file():
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        for row in rows:
            row["audio"] = str((path.parent / row["audio"]).resolve()) if isinstance(row["audio"], str) else row["audio"]
    elif path.is_dir():
        import datasets

        ds = datasets.load_from_disk(str(path))
        if "audio" in ds.column_names:
            ds = ds.cast_column("audio", datasets.Audio(decode=False))
        rows = list(ds)
    else:
        raise FileNotFoundError(f"training data not found: {data}")
    for i, row in enumerate(rows):
        missing = {"audio", "instruction", "response"} - set(row)
        if missing:
            raise ValueError(f"{data}: example {i} lacks {sorted(missing)}")
    return rows


def lr_lambda(config: TrainConfig, total_steps: int):
    def factor(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        if config.decay == "constant":
            return 1.0
        progress = (step - config.warmup_steps) / max(1, total_steps - config.warmup_steps)
        return max(0.0, 1 - progress) if config.decay == "linear" else 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


def prepare_model(config: TrainConfig, device: str) -> LSLM:
    """Load the LSLM and set which parameters train."""
    if config.init_checkpoint:
        model = LSLM.from_pretrained(config.init_checkpoint, device=device, dtype=config.dtype)
    else:
        model_config = LSLMConfig(encoder=config.encoder, llm=config.llm, gguf_file=config.gguf_file, stack=config.stack,
                                  adaptor_hidden=config.adaptor_hidden, activation=config.activation, system_prompt=config.system_prompt)
        model = LSLM.build(model_config, device=device, dtype=config.dtype, seed=config.seed)
    model.requires_grad_(False)
    model.adaptor.requires_grad_(True)
    model.encoder.requires_grad_(config.train_encoder)
    if config.mode == "full":
        model.llm.requires_grad_(True)
    elif config.mode == "lora" and not hasattr(model.llm, "peft_config"):
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                          target_modules=config.lora_targets, task_type="CAUSAL_LM")
        model.llm = get_peft_model(model.llm, lora)
    elif config.mode == "lora":
        for name, param in model.llm.named_parameters():
            param.requires_grad_("lora_" in name)
    elif config.mode != "adaptor":
        raise ValueError(f"mode must be adaptor, lora or full; got {config.mode!r}")
    model.config.extra = {"train": asdict(config)}
    return model


class Trainer:
    """One training run; `run()` resumes from the newest checkpoint in `output_dir` when asked."""

    def __init__(self, config: TrainConfig, resume: bool = False):
        from accelerate import Accelerator

        self.config = config
        self.accelerator = Accelerator(gradient_accumulation_steps=config.grad_accum, cpu=config.device == "cpu")
        self.out = Path(config.output_dir)
        self.examples = read_examples(config.data)
        world = self.accelerator.num_processes
        self.steps_per_epoch = max(1, len(self.examples) // (config.batch_size * world))
        self.total_steps = config.max_steps or int(config.epochs * self.steps_per_epoch)
        self.model = prepare_model(config, str(self.accelerator.device))
        groups = [{"params": [p for p in self.model.adaptor.parameters()], "lr": config.adaptor_lr or config.lr}]
        others = [p for n, p in self.model.named_parameters() if p.requires_grad and not n.startswith("adaptor.")]
        if others:
            groups.append({"params": others, "lr": config.lr})
        self.optimizer = torch.optim.AdamW(groups, weight_decay=config.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_lambda(config, self.total_steps))
        self.model, self.optimizer, self.scheduler = self.accelerator.prepare(self.model, self.optimizer, self.scheduler)
        self.step = 0
        self._frames_cache: dict[int, torch.Tensor] = {}
        if resume:
            self._resume()

    @property
    def lslm(self) -> LSLM:
        return self.accelerator.unwrap_model(self.model)

    # ---------------------------------------------------------------- data
    def batch_indices(self, step: int) -> list[int]:
        """Example indices of this process's batch at `step`: a seeded permutation per epoch, so a
        resumed run sees exactly the batches the uninterrupted run would."""
        cfg, world, rank = self.config, self.accelerator.num_processes, self.accelerator.process_index
        epoch, position = divmod(step, self.steps_per_epoch)
        order = np.random.default_rng([cfg.seed, epoch]).permutation(len(self.examples))
        start = (position * world + rank) * cfg.batch_size
        return order[start : start + cfg.batch_size].tolist()

    def _speech(self, index: int) -> torch.Tensor:
        """Adaptor output (T, d) of example `index`; encoder frames cached when the encoder is frozen."""
        lslm = self.lslm
        frames = self._frames_cache.get(index)
        if frames is None:
            wav = load_audio(self.examples[index]["audio"])
            with torch.set_grad_enabled(self.config.train_encoder):
                frames = lslm.encoder(wav)
            if not self.config.train_encoder:
                self._frames_cache[index] = frames
        return lslm.adaptor(frames.unsqueeze(0))[0]

    def _items(self, indices: list[int], step: int) -> tuple[list[PromptItem], list[PromptItem]]:
        """Training items (speech, or text with probability text_mix) and their text twins."""
        lslm, rng = self.lslm, random.Random(hash((self.config.seed, step)))
        items, twins = [], []
        for i in indices:
            ex = self.examples[i]
            response = lslm.tokenizer(ex["response"], add_special_tokens=False)["input_ids"] + [lslm.tokenizer.eos_token_id]
            as_text = rng.random() < self.config.text_mix
            item = lslm.prompt.build(AUDIO_PLACEHOLDER, None if as_text else self._speech(i), ex["instruction"])
            item.response_ids = response
            items.append(item)
            twin = lslm.prompt.build(AUDIO_PLACEHOLDER, None, ex["instruction"])
            twin.response_ids = response
            twins.append(twin)
        return items, twins

    def loss(self, items: list[PromptItem], twins: list[PromptItem]) -> torch.Tensor:
        batch = self.lslm.collate(items, padding_side="right")
        out = self.model(batch)
        if not self.config.distill_weight:
            return out.loss
        with torch.no_grad():
            teacher = self.model(self.lslm.collate(twins, padding_side="right"))
        student_logits = out.logits[batch.labels != -100]
        twin_labels = self.lslm.collate(twins, padding_side="right").labels
        teacher_logits = teacher.logits[twin_labels != -100]
        kl = F.kl_div(F.log_softmax(student_logits.float(), -1), F.log_softmax(teacher_logits.float(), -1), log_target=True, reduction="batchmean")
        return out.loss + self.config.distill_weight * kl

    # ---------------------------------------------------------------- loop
    def run(self) -> Path | None:
        cfg, acc = self.config, self.accelerator
        if self.step == 0:
            torch.manual_seed(cfg.seed)  # a resumed run continues from the RNG state it saved
        self.model.train()
        bar = tqdm(total=self.total_steps, initial=self.step, desc="train", disable=not acc.is_main_process)
        last = None
        started, samples = time.time(), 0
        while self.step < self.total_steps:
            for micro in range(cfg.grad_accum):
                with acc.accumulate(self.model):
                    items, twins = self._items(self.batch_indices(self.step * cfg.grad_accum + micro), self.step)
                    loss = self.loss(items, twins)
                    acc.backward(loss)
                    if acc.sync_gradients and cfg.max_grad_norm:
                        acc.clip_grad_norm_([p for p in self.model.parameters() if p.requires_grad], cfg.max_grad_norm)
                    self.optimizer.step()
                    self.scheduler.step()
                    self.optimizer.zero_grad()
                samples += len(items) * acc.num_processes
            self.step += 1
            loss_value = acc.gather(loss.detach()[None]).mean().item()
            rate = samples / max(1e-9, time.time() - started)
            bar.set_postfix(loss=f"{loss_value:.3f}", samples_s=f"{rate:.2f}")
            bar.update(1)
            if acc.is_main_process and (self.step % cfg.log_every == 0 or self.step == self.total_steps):
                self._log({"step": self.step, "loss": loss_value, "lr": self.scheduler.get_last_lr()[-1], "samples_per_s": rate})
            if self.step % cfg.save_every == 0 or self.step == self.total_steps:
                last = self.save()
        bar.close()
        return last

    def _log(self, record: dict) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        with open(self.out / LOG_FILE, "a") as f:
            f.write(json.dumps(record) + "\n")

    def save(self) -> Path | None:
        """OUT/checkpoint-<step>/: model checkpoint + optimizer, scheduler, RNG and step (atomic)."""
        self.accelerator.wait_for_everyone()
        if not self.accelerator.is_main_process:
            return None
        state = {"step": self.step, "total_steps": self.total_steps, "config": asdict(self.config)}

        def write_trainer_state(directory: Path) -> None:
            torch.save({"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                        "torch_rng": torch.get_rng_state()}, directory / OPTIMIZER_STATE)
            (directory / TRAINER_STATE).write_text(json.dumps(state, indent=2))

        path = self.out / f"{CHECKPOINT_PREFIX}{self.step}"
        self.lslm.save_pretrained(path, save_full_llm=self.config.mode == "full", extra=write_trainer_state)
        return path

    def _resume(self) -> None:
        checkpoints = sorted(self.out.glob(f"{CHECKPOINT_PREFIX}*"), key=lambda p: int(p.name[len(CHECKPOINT_PREFIX):]))
        complete = [c for c in checkpoints if (c / TRAINER_STATE).is_file()]
        if not complete:
            return
        latest = complete[-1]
        from safetensors.torch import load_file

        self.lslm.adaptor.load_state_dict(load_file(str(latest / "adaptor.safetensors")))
        if (latest / "adapter").is_dir():
            from peft import set_peft_model_state_dict
            from safetensors.torch import load_file as load_adapter

            set_peft_model_state_dict(self.lslm.llm, load_adapter(str(latest / "adapter" / "adapter_model.safetensors")))
        if (latest / "llm").is_dir():
            from transformers import AutoModelForCausalLM

            full = AutoModelForCausalLM.from_pretrained(str(latest / "llm"), dtype=self.lslm.dtype)
            self.lslm.llm.load_state_dict(full.state_dict())
        saved = torch.load(latest / OPTIMIZER_STATE, weights_only=True)
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["torch_rng"])
        self.step = json.loads((latest / TRAINER_STATE).read_text())["step"]
