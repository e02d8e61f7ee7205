"""Speech-text alignment training (paper 1 §3.2), the loop: `Trainer` steps, logs and checkpoints.

The parts it runs are their own modules: the options (`trainers.config.TrainConfig`, paper 1's
recipe as defaults), the examples and their order (`trainers.data`), and what trains with the loss
it minimises (`trainers.objective`).

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
from dataclasses import asdict
from pathlib import Path

import torch
from torch import Tensor
from tqdm import tqdm

from lslm_eval.model import resolve_dtype
from lslm_eval.trainers.config import TrainConfig, TrainConfigError
from lslm_eval.trainers.data import (TrainingDataError, batch_indices, load_instruction_data, preflight, response_token_ids,
                                     uses_text_input)
from lslm_eval.trainers.objective import InstructionObjective, load_trained_weights, prepare_model

log = logging.getLogger(__name__)

TRAINER_STATE = "trainer_state.json"  # step, schedule length, process count, the TrainConfig
OPTIMIZER_STATE = "optimizer.pt"  # optimizer and scheduler state dicts
RNG_STATE = "rng_state.pt"  # one torch RNG state per process
LOG_FILE = "train_log.jsonl"
TENSORBOARD_DIR = "tensorboard"
CHECKPOINT_PREFIX = "checkpoint-"
CHECKPOINT_NAME = re.compile(rf"{CHECKPOINT_PREFIX}(\d+)")
MIXED_PRECISION = {torch.float32: "no", torch.bfloat16: "bf16", torch.float16: "fp16"}
GIB = 2**30


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



# -------------------------------------------------------------------- checkpoints
def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The complete checkpoint-<step> with the highest step (complete: it holds the trainer state)."""
    found = [(int(m.group(1)), p) for p in Path(output_dir).glob(f"{CHECKPOINT_PREFIX}*")
             if (m := CHECKPOINT_NAME.fullmatch(p.name)) and (p / TRAINER_STATE).is_file()]
    return max(found)[1] if found else None


def tidy_output_dir(out: Path, step: int) -> None:
    """Before training from `step`: remove staging folders of saves that were killed (`.checkpoint-*`), and cut
    train_log.jsonl back to `step`, dropping a last line a kill left half-written (any other bad line is an error)."""
    for leftover in out.glob(f".{CHECKPOINT_PREFIX}*"):
        if leftover.is_dir():
            log.warning("removing %s, the staging folder of a checkpoint save that did not finish", leftover)
            shutil.rmtree(leftover, ignore_errors=True)
    log_file = out / LOG_FILE
    if not log_file.is_file():
        return
    lines = [line for line in log_file.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    kept = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            if number == len(lines):
                log.warning("%s: dropping its last line, cut short by a kill: %r", log_file, line[:80])
                break
            raise TrainConfigError(f"{log_file}:{number}: not JSON ({err}); fix or remove the line to resume") from None
        if record.get("step", 0) <= step:
            kept.append(line)
    log_file.write_text("".join(line + "\n" for line in kept))


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
        preflight(self.data, progress=acc.is_main_process)  # every problem listed before step 1
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
        speech_params = lslm.speech_parameters()  # the adaptor (LSLM) or the projector (native)
        chosen = {id(p) for p in speech_params}
        other_params = [p for p in lslm.parameters() if p.requires_grad and id(p) not in chosen]
        groups = [{"params": speech_params, "lr": config.adaptor_lr or config.lr}]
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
        if acc.is_main_process:
            tidy_output_dir(self.out, self.step)
        acc.wait_for_everyone()
        self._frames: dict[int, Tensor] = {}
        self._frame_bytes = 0

    @property
    def lslm(self):
        return self.accelerator.unwrap_model(self.objective).lslm

    # ---------------------------------------------------------------- one step
    def _frames_of(self, index: int):
        """The backend's `frozen_speech` of example `index` (LSLM: encoder frames (T, d_enc)), kept on
        the CPU while the cache has room."""
        frames = self._frames.get(index)
        if frames is None:
            frames = torch.as_tensor(self.lslm.frozen_speech(self.data.waveform(index)))
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

