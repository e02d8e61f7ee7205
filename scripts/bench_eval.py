"""Evaluation throughput, as ratios measured in one run (docs/benchmarks.md).

    python scripts/bench_eval.py                          # offline default, the sd-qa sample, 64 new tokens
    python scripts/bench_eval.py --threads 2 --json out.json

On one loaded model and the 48 requests of `voicebench_sdqa` + `voicebench_sdqa_text` (sample
source, greedy, `max_gen_toks` 64) it measures:

1. the plugin's `generate_until` at batch 1 (one at a time) against batch 8 (finished rows leave,
   freed slots refill), against batch 8 without refill (drop only), and against the previous path
   (transformers' `generate` on batches of 8, cut afterwards); the share of decode slots kept by each;
2. decode tokens/s at batch 1, 8, 16, 32 against the machine's ceiling: the GFLOP/s of a large fp32
   matmul measured here, divided by 2 x the parameters a token passes through;
3. Whisper encoding of the 24 sample clips: 30 s padded windows vs variable length, one clip at a time
   vs masked batches;
4. a probed run (`probe=DIR`) against its two plain passes (the speech run plus a forward pass of the
   text twins).

The machine may be shared: the load average is printed before and after; compare ratios, not seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import torch

MAX_NEW = 64
DECODE_STEPS = 16


def load_average() -> float:
    return os.getloadavg()[0]


def sample_requests(max_new: int, with_tasks: bool = False):
    """The Instances lm-eval builds for the two sd-qa sample tasks, with max_gen_toks set."""
    from lm_eval.tasks import TaskManager, get_task_dict

    manager = TaskManager(metadata={"voicebench_source": "sample"})
    requests, tasks = [], get_task_dict(["voicebench_sdqa", "voicebench_sdqa_text"], manager)
    for task in tasks.values():
        task.build_all_requests(limit=None, rank=0, world_size=1)
        requests += task.instances
    for request in requests:
        request.args[1]["max_gen_toks"] = max_new
    return (requests, tasks) if with_tasks else requests


def dtype_scores(dtypes=("float32", "bfloat16")) -> dict:
    """Each dtype's sd-qa sample scores (the tasks' own process_results on batch-8 outputs), and how
    many outputs the dtypes share."""
    from lslm_eval.plugins.lslm import LSLMEval

    requests, tasks = sample_requests(MAX_NEW, with_tasks=True)
    out, texts = {}, {}
    for dtype in dtypes:
        lm = LSLMEval(dtype=dtype, device="cpu", batch_size=8)
        seconds, texts[dtype] = timed(lambda: lm.generate_until(requests, disable_tqdm=True), f"generate_until {dtype}")
        per_task: dict[str, list[float]] = {}
        for request, text in zip(requests, texts[dtype]):
            metrics = tasks[request.task_name].process_results(request.doc, [text])
            per_task.setdefault(request.task_name, []).append(float(metrics["score"]))
        out[dtype] = {"seconds": seconds, **{task: sum(v) / len(v) for task, v in per_task.items()}}
        del lm
    first, second = dtypes
    out["same_outputs"] = sum(a == b for a, b in zip(texts[first], texts[second]))
    out["requests"] = len(requests)
    return out


def timed(fn, label: str | None = None):
    start = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - start
    if label:
        print(f"[bench] {label}: {seconds:.1f} s (load {load_average():.1f})", file=sys.stderr, flush=True)
    return seconds, out


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(timed(lambda: a @ b)[0] for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def params_per_token(llm) -> int:
    """Weights a decoded token is multiplied by: all parameters, less an input embedding that is not
    also the output projection (a lookup, not a matmul)."""
    seen, total = set(), 0
    for p in llm.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    inp, out = llm.get_input_embeddings().weight, llm.get_output_embeddings().weight
    return total - (inp.numel() if inp.data_ptr() != out.data_ptr() else 0)


class Counting:
    """Wraps model.generate to sum the DecodeStats of every call."""

    def __init__(self, model):
        from lslm_eval.generation import DecodeStats

        self.model, self.stats, self.original = model, DecodeStats(), model.generate

    def __enter__(self):
        self.model.generate = lambda batch, **kw: self.original(batch, stats=self.stats, **kw)
        return self.stats

    def __exit__(self, *exc):
        self.model.generate = self.original


def run_plugin(lm, requests, batch_size: int, refill: bool = True):
    from lslm_eval.plugins import lslm as plugin

    lm.batch_size = batch_size
    saved = plugin.REFILL_CHUNKS
    plugin.REFILL_CHUNKS = saved if refill else 1
    try:
        with Counting(lm.model) as stats:
            if refill:
                seconds, texts = timed(lambda: lm.generate_until(requests, disable_tqdm=True), f"generate_until batch {batch_size}")
            else:  # one generate call per batch of batch_size rows: finished rows leave, nothing refills
                original = lm._generate_batch
                lm._generate_batch = lambda reqs, max_rows=None: original(reqs, max_rows=None)
                try:
                    seconds, texts = timed(lambda: lm.generate_until(requests, disable_tqdm=True), "generate_until batch 8, drop only")
                finally:
                    lm._generate_batch = original
    finally:
        plugin.REFILL_CHUNKS = saved
    return seconds, texts, stats


@torch.no_grad()
def run_transformers_generate(lm, requests, batch_size: int):
    """The previous path: transformers' generate on left-padded batches (longest first), cut afterwards."""
    from lslm_eval.generation import cut_at_stop

    model = lm.model
    lengths = [lm._expected_length(r) for r in requests]
    order = sorted(range(len(requests)), key=lambda i: (lengths[i][0], -lengths[i][1]))
    texts, slots, kept = [None] * len(requests), 0, 0
    eos = model.llm.generation_config.eos_token_id
    eos = {eos} if isinstance(eos, int) else set(eos or [model.tokenizer.eos_token_id])

    def go():
        nonlocal slots, kept
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            turns, wavs, transcripts, _ = zip(*(lm._unpack(requests[i]) for i in chunk))
            batch = model.collate(model.build_items(list(turns), list(wavs), list(transcripts)))
            out = model.llm.generate(inputs_embeds=batch.inputs_embeds, attention_mask=batch.attention_mask,
                                     max_new_tokens=MAX_NEW, do_sample=False, temperature=None, top_p=None, top_k=None,
                                     pad_token_id=model.tokenizer.pad_token_id)
            slots += out.shape[0] * out.shape[1]
            for i, row in zip(chunk, out.tolist()):
                ends = [j for j, t in enumerate(row) if t in eos]
                kept += (ends[0] + 1) if ends else len(row)
                until = requests[i].args[1].get("until") or []
                texts[i] = cut_at_stop(model.tokenizer.decode(row, skip_special_tokens=True), [until] if isinstance(until, str) else until)

    seconds, _ = timed(go, "transformers generate batch 8")
    return seconds, texts, kept / slots


@torch.no_grad()
def decode_rate(model, items, batch: int, steps: int = DECODE_STEPS) -> float:
    """Decode tokens/s at a fixed batch: one prefill, then `steps` decode steps timed (no row ends)."""
    from lslm_eval.generation import _forward, _new_cache

    rows = [items[i % len(items)] for i in range(batch)]
    prompt = model.collate(rows)
    cache = _new_cache(model.llm)
    logits = _forward(model.llm, cache, prompt.attention_mask, prompt.position_ids, inputs_embeds=prompt.inputs_embeds)
    mask, pos = prompt.attention_mask, prompt.attention_mask.sum(dim=1)
    token = logits.argmax(-1)

    def step():
        nonlocal mask, pos, token
        mask = torch.cat([mask, mask.new_ones(batch, 1)], dim=1)
        token = _forward(model.llm, cache, mask, pos[:, None], input_ids=token[:, None]).argmax(-1)
        pos = pos + 1

    step()  # warm-up
    seconds, _ = timed(lambda: [step() for _ in range(steps)])
    return batch * steps / seconds


def encoding(model, wavs):
    enc = model.encoder
    saved = enc.padded
    out = {}
    try:
        for padded in (True, False):
            enc.padded = padded
            name = "padded_30s" if padded else "variable"
            out[f"{name}_one_at_a_time_s"] = timed(lambda: [enc(w) for w in wavs])[0]
            out[f"{name}_batched_s"] = timed(lambda: enc.encode_batch(wavs))[0]
    finally:
        enc.padded = saved
    return out


def probing(lm, requests):
    """A probed run of the speech requests against the same run unprobed plus the text twins' forward pass."""
    from lslm_eval.probe.runner import Prober

    speech = [r for r in requests if (r.args[2] if len(r.args) > 2 else {}).get("audio")]
    lm.batch_size = 8
    plain_s, _ = timed(lambda: lm.generate_until(speech, disable_tqdm=True))
    first_s = plain_s

    def twins():  # the one text-twin pass the prober runs (probe.twin)
        from lslm_eval.probe.twin import text_twin_states

        for start in range(0, len(speech), 8):
            unpacked = [lm._unpack(r) for r in speech[start : start + 8]]
            text_twin_states(lm.model, [u[0] for u in unpacked], [u[2] for u in unpacked])

    twin_s, _ = timed(twins)
    with tempfile.TemporaryDirectory() as out:
        lm.prober = Prober(out, {"bench": True, "tasks": []}, cka_aligned_pairs="diagonal")
        try:
            probed_s, _ = timed(lambda: lm.generate_until(speech, disable_tqdm=True))
        finally:
            lm.prober = None
    again_s, _ = timed(lambda: lm.generate_until(speech, disable_tqdm=True))  # plain again: the load drifts
    plain_s = min(first_s, again_s)
    return {"plain_run_s": plain_s, "plain_runs_s": [first_s, again_s], "text_twin_forward_s": twin_s, "probed_run_s": probed_s,
            "probed_over_two_plain_passes": probed_s / (plain_s + twin_s)}


def main_job(lm, requests, args, result: dict) -> None:
    one_s, one_texts, one_stats = run_plugin(lm, requests, 1)
    eight_s, eight_texts, eight_stats = run_plugin(lm, requests, 8)
    result["main_job"] = {"batch1_s": one_s, "batch8_refill_s": eight_s, "speedup_batch8_over_batch1": one_s / eight_s,
                          "same_outputs": one_texts == eight_texts,
                          "rows_differing": sum(a != b for a, b in zip(one_texts, eight_texts)),
                          "kept_share_batch8": eight_stats.kept_share, "decode_slots_batch8": eight_stats.decode_slots,
                          "kept_tokens_batch8": eight_stats.kept_tokens, "decode_steps_batch8": eight_stats.decode_steps}
    if "droponly" not in args.skip:
        drop_s, drop_texts, drop_stats = run_plugin(lm, requests, 8, refill=False)
        result["main_job"].update({"batch8_drop_only_s": drop_s, "speedup_drop_only_over_batch1": one_s / drop_s,
                                   "decode_steps_drop_only": drop_stats.decode_steps,
                                   "drop_only_same_outputs": drop_texts == one_texts})
    if "hf" not in args.skip:
        hf_s, hf_texts, hf_kept = run_transformers_generate(lm, requests, 8)
        result["main_job"].update({"transformers_generate_batch8_s": hf_s, "speedup_over_transformers_batch8": hf_s / eight_s,
                                   "kept_share_transformers_batch8": hf_kept,
                                   "transformers_same_outputs": hf_texts == one_texts})
    print(json.dumps(result, indent=1), flush=True)



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--skip", nargs="*", default=[], choices=["main", "hf", "droponly", "decode", "encode", "probe"])
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--dtype-scores", action="store_true", help="only: float32 vs bfloat16 scores on the sample")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.dtype_scores:
        result = {"load_before": load_average(), "dtype_scores": dtype_scores(), "load_after": load_average()}
        print(json.dumps(result, indent=1))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(result, f, indent=1)
        return
    from lslm_eval.plugins.lslm import LSLMEval

    result = {"load_before": load_average(), "threads": torch.get_num_threads(), "dtype": args.dtype}
    lm = LSLMEval(dtype=args.dtype, device="cpu", batch_size=8)
    requests = sample_requests(MAX_NEW)
    result["requests"] = len(requests)
    result["matmul_gflops_before"] = matmul_gflops()

    if "main" in args.skip:
        args.skip += ["hf", "droponly"]
    else:
        main_job(lm, requests, args, result)
    model = lm.model
    if "decode" not in args.skip:
        turns, wavs, transcripts, _ = zip(*(lm._unpack(r) for r in requests[:8]))
        items = model.build_items(list(turns), list(wavs), list(transcripts))
        gflops = matmul_gflops()
        ceiling = gflops * 1e9 / (2 * params_per_token(model.llm))
        rates = {b: decode_rate(model, items, b) for b in (1, 8, 16, 32)}
        result["decode"] = {"matmul_gflops": gflops, "params_per_token": params_per_token(model.llm),
                            "ceiling_tokens_s": ceiling,
                            **{f"batch{b}_tokens_s": r for b, r in rates.items()},
                            **{f"batch{b}_share_of_ceiling": r / ceiling for b, r in rates.items()}}
    if "encode" not in args.skip:
        wavs = [lm._unpack(r)[1] for r in requests if lm._unpack(r)[1] is not None]
        enc = encoding(model, wavs)
        enc["clips"] = len(wavs)
        enc["padded_over_variable_one_at_a_time"] = enc["padded_30s_one_at_a_time_s"] / enc["variable_one_at_a_time_s"]
        enc["variable_one_at_a_time_over_batched"] = enc["variable_one_at_a_time_s"] / enc["variable_batched_s"]
        result["encoding"] = enc
    if "probe" not in args.skip:
        result["probing"] = probing(lm, requests)
    result["load_after"] = load_average()
    print(json.dumps(result, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
