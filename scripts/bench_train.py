"""Training throughput and peak memory of one trainer configuration, on the CPU by default.

    python scripts/bench_train.py                      # offline default: Whisper tiny.en + SmolLM2-135M, adaptor, batch 8
    python scripts/bench_train.py --mode lora --steps 5 --examples 24

Speaks `--examples` template instructions with espeak-ng into a temporary manifest, builds a
`Trainer` and times `--steps` optimizer steps. A step whose examples were all seen before uses
cached encoder frames ("warm"); the others run the encoder too ("cold"). CPU seconds (all threads)
are reported beside wall seconds: on a shared machine they vary less. Peak memory is the
process's maximum resident set size (resource.getrusage), which includes loading the models.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import tempfile
import time
from pathlib import Path

import soundfile
import torch

from lslm_eval.audio import SAMPLE_RATE
from lslm_eval.trainers.instructions import make_instructions
from lslm_eval.trainers.config import TrainConfig
from lslm_eval.trainers.train import Trainer
from lslm_eval.tts import synthesize

RESPONSE = "Here is a short answer to that question."  # throughput only: every target is the same length


def speak_manifest(directory: Path, n: int) -> str:
    rows = []
    for i, text in enumerate(make_instructions(n, seed=123)):
        path = directory / f"{i:04d}.flac"
        soundfile.write(path, synthesize(text), SAMPLE_RATE, format="FLAC")
        rows.append({"audio": path.name, "instruction": text, "response": RESPONSE})
    manifest = directory / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(manifest)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def other_training_running() -> bool:
    return subprocess.run(["pgrep", "-f", "lslm-eval train"], capture_output=True).returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", default="adaptor", choices=["adaptor", "lora", "full"])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--examples", type=int, default=16, help="examples in the manifest; steps past one epoch are warm")
    parser.add_argument("--adaptor-hidden", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    under_load = other_training_running()

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        data = speak_manifest(Path(tmp), args.examples)
        speak_s = time.perf_counter() - started
        config = TrainConfig(data=data, output_dir=str(Path(tmp) / "out"), mode=args.mode, batch_size=args.batch_size,
                             adaptor_hidden=args.adaptor_hidden, max_steps=args.steps, warmup_steps=1, lr=1e-3, device="cpu",
                             system_prompt="Answer briefly.")
        started = time.perf_counter()
        trainer = Trainer(config)
        load_s = time.perf_counter() - started
        trainer.objective.train()
        seen: set[int] = set()
        rows = []
        for _ in range(args.steps):
            indices = {i for micro in range(config.grad_accum)
                       for i in trainer.micro_batch_indices(trainer.step * config.grad_accum + micro)}
            started, cpu_started = time.perf_counter(), time.process_time()
            metrics = trainer.train_step()
            seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
            rows.append((metrics["step"], "warm" if indices <= seen else "cold", seconds, cpu_seconds, metrics["loss"]))
            print(f"step {metrics['step']}: {seconds:.1f} s", flush=True)
            seen |= indices

    trainable = sum(p.numel() for p in trainer.lslm.parameters() if p.requires_grad)
    print(f"config: {config.encoder} + {config.llm}, mode {args.mode}, batch {args.batch_size}, adaptor_hidden "
          f"{args.adaptor_hidden}, {trainable / 1e6:.2f} M trainable, {args.threads} threads, {args.examples} examples")
    print(f"speaking the manifest: {speak_s:.1f} s; building the trainer: {load_s:.1f} s")
    print(f"{'step':>4}  {'frames':>6}  {'seconds':>8}  {'samples/s':>9}  {'cpu s':>7}  {'samples/cpu s':>13}  {'loss':>7}")
    for step, cache, seconds, cpu_seconds, loss in rows:
        print(f"{step:>4}  {cache:>6}  {seconds:>8.2f}  {args.batch_size / seconds:>9.2f}  {cpu_seconds:>7.2f}  "
              f"{args.batch_size / cpu_seconds:>13.2f}  {loss:>7.3f}")
    for cache in ("cold", "warm"):
        times = [(seconds, cpu) for _, c, seconds, cpu, _ in rows if c == cache]
        if times:
            wall, cpu = (sum(column) for column in zip(*times))
            print(f"{cache}: {args.batch_size * len(times) / wall:.2f} samples/s, {args.batch_size * len(times) / cpu:.2f} "
                  f"samples per CPU second over {len(times)} step(s)")
    print(f"peak RSS: {peak_rss_mib():.0f} MiB")
    if under_load:
        print("NOTE: another `lslm-eval train` was running: these numbers were taken under load")


if __name__ == "__main__":
    main()
