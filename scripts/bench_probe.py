"""Cost of probing: a probed pass (paired_states + Prober.add) against the two plain forward passes it needs,
and peak memory for 10 and 1,000 items (it must not grow with the number of items).

    python scripts/bench_probe.py                      # offline default (or the same compute while it is missing)
    python scripts/bench_probe.py --items 10 1000 --timing-items 16 --repeats 3 --threads 1

Timing runs in this process on the same items, batches and threads: the plain passes, a probed pass on a
fresh Prober (CKA keeps rows) and one on a Prober in its steady state (the aligned CKA view has switched
to moments, as in any run past ~100 items); repeats are interleaved and the minimum is kept. Memory runs each item count in a fresh worker process (`--worker N`), which
resets its peak-RSS counter after the model is loaded and one warm-up item has run, so the number is
what probing N items adds on top of the loaded model. Items reuse a few spoken sentences (espeak-ng).
The 1-minute load average is printed before and after: numbers taken under load are marked so.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

SENTENCES = [
    "what is the capital of france",
    "how many legs does a spider have",
    "who wrote the novel pride and prejudice",
    "which planet is known as the red planet",
    "how long does it take light from the sun to reach the earth",
    "name three instruments in a string quartet",
]
TARGET_RATIO = 1.3  # a probed pass may cost at most 1.3 times the two plain passes
BUSY_LOAD_PER_CORE = 0.5  # a 1-minute load average above this per core counts as "under load"


def load_model():
    """The offline default checkpoint, or while it is not there a fresh adaptor of the same shape (same compute)."""
    from lslm_eval.model import DEFAULT_CHECKPOINT, LSLM, LSLMConfig

    if DEFAULT_CHECKPOINT.is_dir():
        return LSLM.from_pretrained(DEFAULT_CHECKPOINT, dtype="float32"), str(DEFAULT_CHECKPOINT)
    return LSLM.build(LSLMConfig(adaptor_hidden=1024), dtype="float32"), "LSLM.build(LSLMConfig(adaptor_hidden=1024)) (no default checkpoint yet)"


def make_items(n: int):
    """n PairedItems cycling through the spoken SENTENCES (each synthesized once)."""
    from lslm_eval.probe.runner import PairedItem
    from lslm_eval.tts import synthesize

    wavs = [synthesize(text) for text in SENTENCES]
    return [PairedItem(f"item-{i}", wavs[i % len(wavs)], SENTENCES[i % len(wavs)]) for i in range(n)]


CKA_POOLED_PAIRS = "all"  # the harness's default (the full heatmap); --cka-pooled diagonal bounds memory sooner


def make_prober(out_dir: Path):
    from lslm_eval.probe.runner import Prober

    return Prober(out_dir, {"bench": True}, cka_pooled_pairs=CKA_POOLED_PAIRS)  # aligned view: diagonal, as in the harness


@torch.no_grad()
def plain_passes(model, items, batch_size: int) -> None:
    """What probing needs at the least: one speech and one text forward pass per item, nothing recorded."""
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        turns, transcripts = [i.user_turn for i in chunk], [i.transcript for i in chunk]
        for wavs in ([i.wav for i in chunk], None):
            model(model.collate(model.build_items(turns, wavs, transcripts)))


def probed_pass(model, items, batch_size: int, prober) -> float:
    """paired_states + Prober.add over the items; returns the seconds spent in Prober.add."""
    from lslm_eval.probe.runner import paired_states

    in_add = 0.0
    for key, hs, ht in paired_states(model, items, batch_size):
        start = time.perf_counter()
        prober.add(hs, ht, key)
        in_add += time.perf_counter() - start
    return in_add


def load_average() -> float:
    return os.getloadavg()[0]


def steady_prober(model, items, batch_size: int, scratch: Path):
    """A Prober past the aligned CKA view's switch from rows to moments: the state of any run beyond ~100 items."""
    from lslm_eval.probe.cka import ALIGNED, MOMENTS
    from lslm_eval.probe.runner import paired_states

    prober = make_prober(scratch)
    states = list(paired_states(model, items[: len(SENTENCES)], batch_size))
    while prober.cka[ALIGNED].mode != MOMENTS:
        for key, hs, ht in states:
            prober.add(hs, ht, key)
    return prober


def timing(model, n_items: int, batch_size: int, repeats: int, scratch: Path) -> dict:
    """Minimum over repeats (the least disturbed run) of: the plain passes, a probed pass on a fresh Prober,
    and a probed pass on a Prober in its steady state. The order rotates every repeat."""
    items = make_items(n_items)
    plain_passes(model, items[:batch_size], batch_size)  # warm-up (allocator, kernels)
    steady = steady_prober(model, items, batch_size, scratch)
    variants = {"plain": lambda: (plain_passes(model, items, batch_size), 0.0)[1],
                "fresh": lambda: probed_pass(model, items, batch_size, make_prober(scratch)),
                "steady": lambda: probed_pass(model, items, batch_size, steady)}
    seconds = {name: [] for name in variants}
    in_add = {name: [] for name in variants}
    names = list(variants)
    for repeat in range(repeats):
        for name in names[repeat % 3:] + names[: repeat % 3]:
            start = time.perf_counter()
            in_add[name].append(variants[name]())
            seconds[name].append(time.perf_counter() - start)
    best = {name: min(values) for name, values in seconds.items()}
    return {"items": n_items, "seconds": best, "add": {name: min(values) for name, values in in_add.items()},
            "ratio": {name: best[name] / best["plain"] for name in names}}


def read_status(field: str) -> int:
    """A /proc/self/status field in bytes (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def worker(n_items: int, batch_size: int, scratch: Path) -> dict:
    """Fresh process: load, warm up, reset the peak-RSS counter, probe n items, report the peak."""
    model, _ = load_model()
    items = make_items(n_items)
    probed_pass(model, items[:1], batch_size, make_prober(scratch))
    baseline = read_status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM (the peak RSS) to the current RSS
    prober = make_prober(scratch)
    start = time.perf_counter()
    probed_pass(model, items, batch_size, prober)
    prober.write()
    seconds = time.perf_counter() - start
    cka_storage = {view: (cka.mode, cka.rows_bytes(cka.n_rows) if cka.mode == "rows" else cka.moments_bytes())
                   for view, cka in prober.cka.items()}
    return {"items": n_items, "baseline_rss": baseline, "peak_rss": read_status("VmHWM"), "seconds": seconds,
            "cka_storage": cka_storage}


def memory(n_items: int, batch_size: int, scratch: Path) -> dict:
    command = [sys.executable, __file__, "--worker", str(n_items), "--batch-size", str(batch_size), "--scratch", str(scratch),
               "--threads", str(torch.get_num_threads()), "--cka-pooled", CKA_POOLED_PAIRS]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"memory worker for {n_items} items failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def mib(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:,.0f} MiB"


def main(argv=None) -> int:
    global CKA_POOLED_PAIRS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, nargs="+", default=[10, 1000], help="item counts for the memory runs")
    parser.add_argument("--timing-items", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/lslm_eval_bench_probe"))
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: steadier next to other jobs on few cores)")
    parser.add_argument("--cka-pooled", default=CKA_POOLED_PAIRS, help="layer pairs of the pooled CKA view: all | diagonal")
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    CKA_POOLED_PAIRS = args.cka_pooled
    if args.worker is not None:
        print(json.dumps(worker(args.worker, args.batch_size, args.scratch)))
        return 0

    cores = os.cpu_count() or 1
    load_before = load_average()
    model, source = load_model()
    config = model.config
    print(f"model: {source}\n  encoder {config.encoder}, llm {config.llm}, {len(model.decoder_layers())} layers, "
          f"width {config.llm_dim}; {torch.get_num_threads()} threads, batch size {args.batch_size}; "
          f"CKA pairs: pooled {CKA_POOLED_PAIRS}, aligned diagonal")
    speed = timing(model, args.timing_items, args.batch_size, args.repeats, args.scratch)
    del model
    mem = [memory(n, args.batch_size, args.scratch) for n in args.items]
    load_after = load_average()

    print(f"\ntime, {speed['items']} items, minimum of {args.repeats} interleaved repeats:")
    print("| pass | seconds | per item | of which Prober.add | ratio |\n|---|---:|---:|---:|---:|")
    rows = (("plain", "two plain forward passes"), ("fresh", "probed, fresh Prober (CKA rows)"),
            ("steady", "probed, steady state (aligned CKA in moments)"))
    for name, title in rows:
        sec, ratio = speed["seconds"][name], speed["ratio"][name]
        verdict = "" if name == "plain" else (" ok" if ratio <= TARGET_RATIO else f" OVER {TARGET_RATIO}x")
        print(f"| {title} | {sec:.2f} | {sec / speed['items'] * 1e3:.0f} ms | {speed['add'][name] / speed['items'] * 1e3:.0f} ms "
              f"| {ratio:.2f}{verdict} |")
    print("\npeak memory while probing (fresh process; RSS above the loaded, warmed-up model):")
    print("| items | model RSS | peak RSS | added | probed per item | CKA accumulators (mode, size) |\n|---:|---:|---:|---:|---:|---|")
    for m in mem:
        storage = ", ".join(f"{view} {mode} {mib(size)}" for view, (mode, size) in m["cka_storage"].items())
        print(f"| {m['items']:,} | {mib(m['baseline_rss'])} | {mib(m['peak_rss'])} | {mib(m['peak_rss'] - m['baseline_rss'])} "
              f"| {m['seconds'] / m['items'] * 1e3:.0f} ms | {storage} |")
    if len(mem) > 1:
        growth = (mem[-1]["peak_rss"] - mem[-1]["baseline_rss"]) - (mem[0]["peak_rss"] - mem[0]["baseline_rss"])
        per_item = growth / max(1, mem[-1]["items"] - mem[0]["items"])
        print(f"\ngrowth from {mem[0]['items']:,} to {mem[-1]['items']:,} items: {mib(growth)} ({per_item / 1024:.1f} KiB per item)")
    busy = max(load_before, load_after) > BUSY_LOAD_PER_CORE * cores
    print(f"\nload average (1 min) {load_before:.2f} before, {load_after:.2f} after, {cores} cores"
          + (": UNDER LOAD, timings are noisy (the ratio less so: both variants were interleaved)" if busy else ": quiet"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
