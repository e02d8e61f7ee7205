"""Seconds per optimizer step of the transcript stage (trainers/repeat.py's objective), on the shipped offline default.

    python scripts/bench_repeat_step.py [--checkpoint DIR]   # 6 timed steps of batch 16, after 2 untimed

Each step is the stage's: a batch of `--batch` examples (cached-frame shapes: 2-5 s of Whisper frames, a
sentence of 6-16 words repeated, or the question answered with a 12-24-word answer, 60% answered, with the KL to
the text twin), forward and backward through the frozen LLM, AdamW on the adaptor. Frames are random and the
texts drawn from the WordNet sentences of the stage's corpus (seed 0): an uncompressed adaptor's step costs what a
real one does; a CTC-compressing one's rows depend on what the frames say, so time those on real clips instead.
Prints one JSON line: seconds per step (median of the timed steps), batch, bf16, threads, peak RSS (MiB).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time

import numpy as np
import torch

from lslm_eval.model import DEFAULT_CHECKPOINT, LSLM
from lslm_eval.trainers.ctc_corpus import wordnet_sentences
from lslm_eval.trainers.repeat import RepeatConfig, RepeatObjective
from lslm_eval.trainers.stage import cpu_bf16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="an LSLM checkpoint (default: the shipped one)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()

    lslm = LSLM.from_pretrained(args.checkpoint, dtype="float32")
    lslm.requires_grad_(False)
    lslm.llm.eval()
    lslm.adaptor.float().requires_grad_(True)
    config = RepeatConfig(bf16=cpu_bf16("auto"))
    objective = RepeatObjective(lslm, config)
    optimizer = torch.optim.AdamW([p for p in lslm.adaptor.parameters() if p.requires_grad], lr=1e-4)
    rng = np.random.default_rng(0)
    pool = [s for s in wordnet_sentences() if 6 <= len(s.split()) <= 24]
    times = []
    for step in range(args.warmup + args.steps):
        picks = rng.choice(len(pool), size=2 * args.batch, replace=False)
        texts = [" ".join(pool[i].split()[:16]) for i in picks[: args.batch]]
        answers = [pool[i] for i in picks[args.batch :]]
        frames = [torch.randn(int(rng.integers(100, 250)), lslm.encoder.dim) for _ in texts]
        repeat = (rng.random(args.batch) >= 0.6).tolist()
        started = time.perf_counter()
        loss, _, _ = objective(frames, texts, answers, repeat)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step >= args.warmup:
            times.append(time.perf_counter() - started)
    print(json.dumps({"s_per_step": round(statistics.median(times), 3), "batch": args.batch, "bf16": config.bf16,
                      "threads": torch.get_num_threads(), "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))


if __name__ == "__main__":
    main()
