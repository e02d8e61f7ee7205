"""The one generation loop: a causal LM continues a left-padded `PromptBatch` of inputs_embeds.

Every backend's `generate` calls `generate` here. Invariants:

- Each row's continuation depends only on its own prompt: a row's positions count its own tokens
  (padding excluded), its padding is masked, and greedy decoding gives what decoding the row alone
  gives (up to floating-point summation order).
- No decode slot is spent on a finished row: a row leaves the batch (and its KV-cache rows leave
  the cache) at the step that ends it: an end-of-sequence token, a stop string, or `max_new_tokens`.
- Stop strings are checked on the decoded text after every token, so the result is exactly
  `cut_at_stop(text)` of the full `max_new_tokens` continuation, without decoding past the stop.
- With `max_rows` below the number of rows, at most `max_rows` rows decode at once and a pending
  row is prefilled into every freed slot (refill); the cache is left-padded to a common length and
  columns that are padding in every row are dropped. Caches other than plain `DynamicLayer`s
  (sliding windows) are not merged: there the next rows start when the whole group has ended.
  In that mode a prompt prefix shared by every row (the chat template before the query) is run once
  and its keys and values are copied into each new row's cache (positions count from it as before).

The KV cache is transformers' `DynamicCache` (keys/values (B, heads, L, head_dim) per layer), passed
as `cache=` (the transformers 5 name; `past_key_values` is its deprecated alias).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor

from .prompt import PromptBatch


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """The text up to the first occurrence of any stop string."""
    cut = min((i for s in stop if s and (i := text.find(s)) >= 0), default=len(text))
    return text[:cut]


@dataclass
class DecodeStats:
    """Counters over one or more `generate` calls (the benchmark reads them)."""

    prefill_calls: int = 0
    prefill_rows: int = 0
    decode_steps: int = 0
    decode_slots: int = 0  # rows computed over all decode steps (the work paid for)
    kept_tokens: int = 0  # tokens that belong to a row's continuation, its ending token included
    prefix_tokens: int = 0  # shared prompt-prefix positions computed once per call instead of per row

    @property
    def kept_share(self) -> float:
        """Kept tokens over tokens computed (each prefill computes one token per row)."""
        computed = self.decode_slots + self.prefill_rows
        return self.kept_tokens / computed if computed else 1.0


def eos_ids(llm, tokenizer) -> set[int]:
    """The ids that end a row: the generation config's eos (int or list), else the tokenizer's."""
    config = getattr(llm, "generation_config", None)
    ids = getattr(config, "eos_token_id", None) if config is not None else None
    if ids is None:
        ids = tokenizer.eos_token_id
    ids = [ids] if isinstance(ids, int) else list(ids or [])
    return {int(i) for i in ids}


def _pick(logits: Tensor, do_sample: bool, temperature: float, top_p: float) -> Tensor:
    """logits (B, V) -> token ids (B,): argmax, or a sample at `temperature` from the top-p nucleus."""
    if not do_sample:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / max(temperature, 1e-6), dim=-1)
    if top_p < 1.0:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        outside = sorted_probs.cumsum(dim=-1) - sorted_probs > top_p  # the first token is always inside
        sorted_probs = sorted_probs.masked_fill(outside, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return torch.multinomial(probs, 1)[:, 0]


class _Active:
    """The rows decoding now: their cache, mask (B, L), next position (B,), and batch row indices."""

    def __init__(self, cache, mask: Tensor, next_pos: Tensor, rows: list[int]):
        self.cache, self.mask, self.next_pos, self.rows = cache, mask, next_pos, rows

    def keep(self, keep: list[int]) -> None:
        """Keep only the given positions (indices into the active rows); cache rows go too."""
        index = torch.tensor(keep, dtype=torch.long, device=self.mask.device)
        self.cache.batch_select_indices(index)
        self.mask, self.next_pos = self.mask[index], self.next_pos[index]
        self.rows = [self.rows[i] for i in keep]
        self._drop_padding_columns()

    def _layers(self):
        layers = getattr(self.cache, "layers", None)
        if layers is None or not all(type(layer).__name__ == "DynamicLayer" for layer in layers):
            return None  # sliding-window or other layouts: leave the columns alone
        return layers

    def _drop_padding_columns(self) -> None:
        layers = self._layers()
        if layers is None or self.mask.numel() == 0:
            return
        first = int(self.mask.any(dim=0).nonzero()[0])
        if first == 0:
            return
        for layer in layers:
            if layer.is_initialized and layer.keys.numel():
                layer.keys, layer.values = layer.keys[..., first:, :], layer.values[..., first:, :]
        self.mask = self.mask[:, first:]

    def merge(self, other: "_Active") -> bool:
        """Append other's rows, left-padding the shorter cache; False if the cache layout cannot."""
        mine, theirs = self._layers(), other._layers()
        if mine is None or theirs is None or len(mine) != len(theirs):
            return False
        width = max(self.mask.shape[1], other.mask.shape[1])

        def pad(x: Tensor, to: int, dim: int) -> Tensor:
            if x.shape[dim] == to:
                return x
            shape = list(x.shape)
            shape[dim] = to - x.shape[dim]
            return torch.cat([x.new_zeros(shape), x], dim=dim)

        for a, b in zip(mine, theirs):
            a.keys = torch.cat([pad(a.keys, width, -2), pad(b.keys, width, -2)], dim=0)
            a.values = torch.cat([pad(a.values, width, -2), pad(b.values, width, -2)], dim=0)
        self.mask = torch.cat([pad(self.mask, width, 1), pad(other.mask, width, 1)], dim=0)
        self.next_pos = torch.cat([self.next_pos, other.next_pos])
        self.rows += other.rows
        return True


def _new_cache(llm):
    from transformers import DynamicCache

    config = getattr(llm, "config", None)
    try:
        return DynamicCache(config=config)
    except Exception:  # configs the cache cannot read layer types from
        return DynamicCache()


def _new_cache_layers(llm) -> list:
    return list(getattr(_new_cache(llm), "layers", None) or [])


def shared_prefix_length(batch: PromptBatch) -> int:
    """Length of the prompt prefix (the positions before the query span) when every row's is the
    same embeddings; 0 when rows differ. Its keys and values can then be computed once."""
    mask = batch.attention_mask
    starts = mask.int().argmax(dim=1)  # first real column of each row
    lengths = batch.span_start.to(starts.device) - starts
    length = int(lengths.min())
    if length < 1 or int(lengths.max()) != length:
        return 0
    first = batch.inputs_embeds[0, int(starts[0]) : int(starts[0]) + length]
    for row in range(1, mask.shape[0]):
        start = int(starts[row])
        if not torch.equal(batch.inputs_embeds[row, start : start + length], first):
            return 0
    return length


def _forward(llm, cache, mask: Tensor, position_ids: Tensor, *, inputs_embeds=None, input_ids=None) -> Tensor:
    """One forward pass that appends to `cache`; the last position's logits (B, V) in float32."""
    out = llm(inputs_embeds=inputs_embeds, input_ids=input_ids, attention_mask=mask, position_ids=position_ids,
              cache=cache, use_cache=True, logits_to_keep=1)
    return out.logits[:, -1].float()


@torch.no_grad()
def generate(llm, tokenizer, batch: PromptBatch, max_new_tokens: int = 256, do_sample: bool = False,
             temperature: float = 1.0, top_p: float = 1.0, stop: Sequence[str] = (), max_rows: int | None = None,
             stats: DecodeStats | None = None) -> list[str]:
    """Left-padded batch -> one decoded continuation per row (special tokens skipped), cut at the
    first stop string. `max_rows`: decode at most this many rows at once, refilling freed slots."""
    n = batch.inputs_embeds.shape[0]
    if n == 0:
        return []
    if max_new_tokens < 1:
        return [""] * n
    stats = stats if stats is not None else DecodeStats()
    stop = [s for s in stop if s]
    ends = eos_ids(llm, tokenizer)
    tokens: list[list[int]] = [[] for _ in range(n)]
    texts: list[str | None] = [None] * n
    pending = list(range(n))
    limit = n if max_rows is None else max(1, int(max_rows))
    whole_batch = limit >= n  # prefill the caller's batch exactly as given (hooks may check its width)
    active: _Active | None = None

    def finish_check(row: int, token: int) -> bool:
        """Record `token` for `row`; True when the row has ended."""
        stats.kept_tokens += 1
        if token in ends:
            return True
        tokens[row].append(token)
        if stop:
            text = tokenizer.decode(tokens[row], skip_special_tokens=True)
            if any(s in text for s in stop):
                return True
        return len(tokens[row]) >= max_new_tokens

    shared = 0 if whole_batch else shared_prefix_length(batch)
    prefix_cache: list[tuple[Tensor, Tensor]] | None = None

    def prefill_prefix() -> list[tuple[Tensor, Tensor]] | None:
        """The shared prefix's keys and values per layer, computed once (None: not a plain cache)."""
        start = int(batch.attention_mask[0].nonzero()[0])
        embeds = batch.inputs_embeds[:1, start : start + shared]
        ones = batch.attention_mask.new_ones(1, shared)
        cache = _new_cache(llm)
        _forward(llm, cache, ones, torch.arange(shared, device=ones.device)[None], inputs_embeds=embeds)
        stats.prefix_tokens += shared
        layers = _Active(cache, ones, ones[:, 0], [0])._layers()
        return None if layers is None else [(layer.keys, layer.values) for layer in layers]

    def prefill_after_prefix(rows: list[int]) -> tuple[_Active, Tensor]:
        """Prefill rows whose first `shared` positions are the prefix already in `prefix_cache`."""
        starts = batch.attention_mask[rows].int().argmax(dim=1) + shared
        pieces = [batch.inputs_embeds[row, int(start) :] for row, start in zip(rows, starts)]
        width = max(p.shape[0] for p in pieces)
        embeds = batch.inputs_embeds.new_zeros(len(rows), width, batch.inputs_embeds.shape[-1])
        rest = batch.attention_mask.new_zeros(len(rows), width)
        for b, piece in enumerate(pieces):
            embeds[b, width - piece.shape[0] :], rest[b, width - piece.shape[0] :] = piece, 1
        positions = (shared + rest.cumsum(dim=1) - 1).clamp(min=shared)
        cache = _new_cache(llm)
        for layer, (keys, values) in zip(cache.layers, prefix_cache):
            layer.update(keys.expand(len(rows), *keys.shape[1:]), values.expand(len(rows), *values.shape[1:]))
        mask = torch.cat([rest.new_ones(len(rows), shared), rest], dim=1)
        logits = _forward(llm, cache, mask, positions, inputs_embeds=embeds)
        stats.prefill_calls += 1
        stats.prefill_rows += len(rows)
        return _Active(cache, mask, mask.sum(dim=1), list(rows)), _pick(logits, do_sample, temperature, top_p)

    def prefill(rows: list[int]) -> tuple[_Active, Tensor]:
        nonlocal shared, prefix_cache
        if shared and prefix_cache is None:
            prefix_cache = prefill_prefix()
            if prefix_cache is None or len(prefix_cache) != len(_new_cache_layers(llm)):
                shared = 0
        if shared:
            return prefill_after_prefix(rows)
        index = torch.tensor(rows, dtype=torch.long)
        embeds, mask = batch.inputs_embeds, batch.attention_mask
        positions = batch.position_ids
        if not whole_batch:
            embeds, mask, positions = embeds[index], mask[index], positions[index]
            first = int(mask.any(dim=0).nonzero()[0])  # columns that are padding in every chosen row
            embeds, mask, positions = embeds[:, first:], mask[:, first:], positions[:, first:]
        cache = _new_cache(llm)
        logits = _forward(llm, cache, mask, positions, inputs_embeds=embeds)
        stats.prefill_calls += 1
        stats.prefill_rows += len(rows)
        next_pos = mask.sum(dim=1).to(positions.device)
        return _Active(cache, mask, next_pos, list(rows)), _pick(logits, do_sample, temperature, top_p)

    def admit() -> Tensor | None:
        """Prefill pending rows into free slots; their first tokens, after the active rows' last."""
        nonlocal active, pending
        free = limit - (len(active.rows) if active is not None else 0)
        if not pending or free <= 0:
            return None
        if active is not None and active.rows and active._layers() is None:
            return None  # a cache layout rows cannot be merged into: the next rows wait for this group to end
        rows, pending = pending[:free], pending[free:]
        new, first = prefill(rows)
        done = [finish_check(row, int(t)) for row, t in zip(rows, first.tolist())]
        keep = [i for i, d in enumerate(done) if not d]
        if len(keep) < len(rows):
            new.keep(keep)
            first = first[keep]
        if not keep:
            return None
        if active is None or not active.rows:
            active = new
        elif not active.merge(new):
            raise RuntimeError("the new rows' KV cache does not have the active rows' layout")
        return first

    def refill(last: Tensor | None) -> Tensor | None:
        """Admit pending rows until the free slots are filled or nothing is pending."""
        while True:
            admitted = admit()
            if admitted is not None:
                return admitted if last is None or not last.numel() else torch.cat([last, admitted.to(last.device)])
            if not pending or (active is not None and active.rows):
                return last  # nothing to admit now; with no row running, admit() is tried again

    last = refill(None)
    while active is not None and active.rows:
        step_mask = torch.cat([active.mask, active.mask.new_ones(len(active.rows), 1)], dim=1)
        logits = _forward(llm, active.cache, step_mask, active.next_pos[:, None], input_ids=last[:, None].to(step_mask.device))
        active.mask, active.next_pos = step_mask, active.next_pos + 1
        stats.decode_steps += 1
        stats.decode_slots += len(active.rows)
        picked = _pick(logits, do_sample, temperature, top_p)
        done = [finish_check(row, int(t)) for row, t in zip(active.rows, picked.tolist())]
        keep = [i for i, d in enumerate(done) if not d]
        if len(keep) < len(done):
            active.keep(keep)
            picked = picked[keep]
        last = refill(picked)
    for row in range(n):
        text = tokenizer.decode(tokens[row], skip_special_tokens=True)
        texts[row] = cut_at_stop(text, stop)
    return texts
