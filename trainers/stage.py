"""The loop both cached-frame training stages share (trainers/ctc.py, trainers/repeat.py).

A stage is what it trains and the loss of one batch; everything around that is this loop: AdamW, linear warm-up
then cosine decay, length-bucketed batches, a JSON line per `log_every` steps, a checkpoint per `save_every` steps
(an lslm-eval checkpoint plus a state file holding the optimizer, scheduler, step and any other trained module),
and `--resume` from the newest complete checkpoint. The data order is a function of (seed, epoch) and a stage's
own draws are functions of (seed, step), so a resumed run repeats the uninterrupted one exactly.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

log = logging.getLogger(__name__)

LOG_FILE = "train_log.jsonl"
CHECKPOINT_PREFIX = "checkpoint-"

BatchLoss = Callable[[list[int], int], dict]  # (batch indices, step) -> {"loss": Tensor to minimise, name: float to log}


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 matrix products natively (oneDNN's AVX512-BF16 or AMX kernels)."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def cpu_bf16(requested: bool | str, option: str = "bf16") -> bool:
    """A stage's `bf16` option as the autocast switch: "auto" is on where the CPU computes bfloat16 natively and off
    elsewhere; true or false as asked, true with a warning where bfloat16 is emulated (on an AVX2-only EPYC a
    transcript-stage step took 210-260 s in bfloat16, 12-17 s in float32: docs/offline-default.md)."""
    if requested == "auto":
        return native_bf16()
    if not isinstance(requested, bool):
        raise ValueError(f"{option} is true, false or auto; got {requested!r}")
    if requested and not native_bf16():
        log.warning("%s: true, but this CPU has no native bfloat16 (no AVX512-BF16 or AMX): autocast is emulated and "
                    "many times slower than float32; pass --%s auto or false", option, option)
    return requested


def length_buckets(lengths: list[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Batches of similar length: indices shuffled, sorted by length within windows of 50 batches, cut into batches,
    batch order shuffled; a function of (seed, epoch)."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    window = batch_size * 50
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window].tolist(), key=lambda i: lengths[i])
        batches += [chunk[j : j + batch_size] for j in range(0, len(chunk) - batch_size + 1, batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def trim_log(log_file: Path, step: int) -> None:
    """On resume: drop the log records written after the checkpoint being resumed (they will be written again)."""
    if log_file.is_file():
        kept = [line for line in log_file.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= step]
        log_file.write_text("".join(line + "\n" for line in kept))


def latest_checkpoint(out: Path, state_file: str) -> Path | None:
    """The newest OUT/checkpoint-<step> that holds its stage's state file (a complete one), or None."""
    found = [(int(p.name[len(CHECKPOINT_PREFIX):]), p) for p in Path(out).glob(f"{CHECKPOINT_PREFIX}*")
             if p.name[len(CHECKPOINT_PREFIX):].isdigit() and (p / state_file).is_file()]
    return max(found)[1] if found else None


def previous_checkpoint(config, state_file: str, resume: bool) -> Path | None:
    """The checkpoint to resume from; an error naming the directory if one exists and resume is off."""
    previous = latest_checkpoint(Path(config.output_dir), state_file)
    if previous is not None and not resume:
        raise ValueError(f"{config.output_dir} already holds {previous.name}; pass --resume to continue it or choose another output_dir")
    return previous


def run_stage(config, name: str, lslm, lengths: list[int], batch_loss: BatchLoss, state_file: str,
              previous: Path | None = None, modules: dict[str, nn.Module] | None = None) -> Path:
    """Train lslm.adaptor (and `modules`, saved in the state file) to config.max_steps; returns the last checkpoint.

    lengths: each example's length, for the buckets; batch_loss gets a batch's indices into it and the step.
    config: output_dir, seed, lr, warmup_steps, max_steps, batch_size, max_grad_norm, save_every, log_every."""
    from lslm_eval.model import ADAPTOR_FILE, load_adaptor_state

    modules = modules or {}
    adaptor = lslm.adaptor.float()
    adaptor.requires_grad_(True)
    if adaptor.compressor is not None:  # the CTC stage's head, frozen in every later stage
        adaptor.compressor.requires_grad_(False)
    params = [p for p in adaptor.parameters() if p.requires_grad] + [p for m in modules.values() for p in m.parameters()]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    schedule = lambda step: min(1.0, (step + 1) / config.warmup_steps) * 0.5 * (1 + math.cos(math.pi * min(1.0, step / config.max_steps)))  # noqa: E731
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    out, step = Path(config.output_dir), 0
    if previous is not None:
        adaptor.load_state_dict(load_adaptor_state(previous / ADAPTOR_FILE, adaptor))
        state = torch.load(previous / state_file, weights_only=True)
        for key, module in modules.items():
            module.load_state_dict(state[key])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step = state["step"]
        trim_log(out / LOG_FILE, step)
    out.mkdir(parents=True, exist_ok=True)
    batches, batches_epoch = length_buckets(lengths, config.batch_size, config.seed, 0), 0
    per_epoch = len(batches)
    if per_epoch == 0:
        raise ValueError(f"{len(lengths)} training examples make no batch of batch_size {config.batch_size}")
    bar = tqdm(total=config.max_steps, initial=step, desc=name)
    started, last, running = time.time(), previous, []
    while step < config.max_steps:
        epoch, position = divmod(step, per_epoch)
        if epoch != batches_epoch:  # the epoch's batches are drawn once, not at every step
            batches, batches_epoch = length_buckets(lengths, config.batch_size, config.seed, epoch), epoch
        terms = batch_loss(batches[position], step)
        loss: Tensor = terms["loss"]
        optimizer.zero_grad()
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm) if config.max_grad_norm else None
        optimizer.step()
        scheduler.step()
        step += 1
        running.append({k: float(v.detach() if torch.is_tensor(v) else v) for k, v in terms.items()})
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}")
        if step % config.log_every == 0 or step == config.max_steps:
            record = {"step": step, "epoch": round(step / per_epoch, 3),
                      **{k: float(np.mean([r[k] for r in running])) for k in running[0]},
                      "lr": scheduler.get_last_lr()[0], "grad_norm": None if grad_norm is None else float(grad_norm),
                      "elapsed_s": round(time.time() - started, 1)}
            running = []
            with open(out / LOG_FILE, "a") as f:
                f.write(json.dumps(record) + "\n")
        if step % config.save_every == 0 or step == config.max_steps:
            lslm.config.extra = {name: asdict(config), "step": step}

            def write_state(directory: Path) -> None:
                torch.save({**{k: m.state_dict() for k, m in modules.items()}, "optimizer": optimizer.state_dict(),
                            "scheduler": scheduler.state_dict(), "step": step}, directory / state_file)

            last = lslm.save_pretrained(out / f"{CHECKPOINT_PREFIX}{step}", extra=write_state)
    bar.close()
    return last
