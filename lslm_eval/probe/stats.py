"""Sequence- and token-level speech/text similarity statistics (SPEC §3-§4), per item and streaming.

One item is a pair of span states: speech hs (L+1, T_s, d) and text ht (L+1, T_t, d), layer 0 being the
input embeddings. Per layer l = 0..L it yields
    sequence level   cos and L2 distance of the span means
    APS              mean_j A_l[i*_j, j] for the cosine and the distance path
    monotonicity     Spearman rho between j and i*_j (NaN when T_t < 2 or the path is constant)
    agreement        how many tokens get the same frame from the cosine and the distance path.
Scalars average layers 1..L only (layer 0 stays in the curves), as f_bar and APS do in SPEC §3-§4;
monotonicity and consistency scalars follow the same rule.

`ProbeStatistics` keeps running float64 sums per layer, so its memory does not grow with the number of
items (unless `keep_items=True`). Aggregation over items:
    sequence, APS      mean over items (then over layers 1..L for the scalar)
    monotonicity       mean over the defined (item, layer) cells; undefined cells are counted, not averaged
    consistency        agreeing (layer, token) cells / all (layer, token) cells, pooled over items.
JSON has no NaN: `result()` writes every NaN (an undefined mean) as null.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor

from .paths import COS, DIST, cosine_matrix, distance_matrix, path_from_matrix, path_values, validate_item

STATE_VERSION = 1
_SUM_FIELDS = ("seq_cos", "seq_dist", "aps_cos", "aps_dist", "mono_cos_sum", "mono_cos_count",
               "mono_dist_sum", "mono_dist_count", "agreeing")


def json_number(x: float) -> float | None:
    """A float for JSON: NaN becomes None (null)."""
    x = float(x)
    return None if math.isnan(x) else x


def json_list(values: Tensor) -> list:
    return [json_number(v) for v in values.tolist()]


def average_ranks(x: Tensor) -> Tensor:
    """(..., T) -> 1-based ranks (..., T) float64; tied values share the mean of their ranks."""
    ordered = x.sort(dim=-1).values.contiguous()
    below = torch.searchsorted(ordered, x.contiguous(), right=False)
    up_to = torch.searchsorted(ordered, x.contiguous(), right=True)
    return (below + up_to + 1).double() / 2


def path_monotonicity(path: Tensor) -> Tensor:
    """Spearman rho between token index j and i*_j. path (..., T_t) -> (...,) float64.

    NaN when T_t < 2 or the path is constant (rho is undefined there, not 0).
    """
    n_tokens = path.shape[-1]
    if n_tokens < 2:
        return torch.full(path.shape[:-1], math.nan, dtype=torch.float64, device=path.device)
    rank_path = average_ranks(path)
    rank_token = torch.arange(1, n_tokens + 1, dtype=torch.float64, device=path.device)
    dp = rank_path - rank_path.mean(-1, keepdim=True)
    dt = rank_token - rank_token.mean()
    rho = (dp * dt).sum(-1) / (dp.pow(2).sum(-1) * dt.pow(2).sum()).sqrt()
    constant = path.amax(-1) == path.amin(-1)
    return rho.masked_fill(constant, math.nan)


@dataclass
class ItemStatistics:
    """Per-layer statistics of one item; every tensor has shape (L+1,) and lives on the CPU."""

    n_frames: int
    n_tokens: int
    seq_cos: Tensor  # cos(mean h^s_l, mean h^t_l)
    seq_dist: Tensor  # |mean h^s_l - mean h^t_l|_2
    aps_cos: Tensor  # mean_j A^cos_l[i*_j, j] on the cosine path
    aps_dist: Tensor  # mean_j A^d_l[i*_j, j] on the distance path
    mono_cos: Tensor  # Spearman rho of the cosine path, NaN where undefined
    mono_dist: Tensor  # Spearman rho of the distance path, NaN where undefined
    agreeing: Tensor  # int64: tokens whose cosine and distance paths pick the same frame

    @property
    def num_layers(self) -> int:
        return self.seq_cos.shape[0] - 1

    def record(self, key: str | None = None) -> dict:
        """JSON-ready summary (NaN -> null). Scalars average layers 1..L."""
        def defined_mean(values: Tensor) -> float:
            defined = values[1:][~values[1:].isnan()]
            return defined.mean().item() if defined.numel() else math.nan

        return {
            "key": key,
            "n_frames": self.n_frames,
            "n_tokens": self.n_tokens,
            "cos_bar": json_number(self.seq_cos[1:].mean()),
            "dist_bar": json_number(self.seq_dist[1:].mean()),
            "aps_cos": json_number(self.aps_cos[1:].mean()),
            "aps_dist": json_number(self.aps_dist[1:].mean()),
            "monotonicity_cos": json_number(defined_mean(self.mono_cos)),
            "monotonicity_dist": json_number(defined_mean(self.mono_dist)),
            "consistency": self.agreeing[1:].sum().item() / (self.num_layers * self.n_tokens),
            "seq_cos": json_list(self.seq_cos),
            "seq_dist": json_list(self.seq_dist),
            "monotonicity_cos_per_layer": json_list(self.mono_cos),
            "monotonicity_dist_per_layer": json_list(self.mono_dist),
        }


def item_statistics(hs: Tensor, ht: Tensor) -> ItemStatistics:
    """hs (L+1, T_s, d), ht (L+1, T_t, d) -> ItemStatistics, computed in float64."""
    validate_item(hs, ht)
    mean_s, mean_t = hs.double().mean(1, keepdim=True), ht.double().mean(1, keepdim=True)
    a_cos, a_dist = cosine_matrix(hs, ht), distance_matrix(hs, ht)
    path_cos, path_dist = path_from_matrix(a_cos, COS), path_from_matrix(a_dist, DIST)
    return ItemStatistics(
        n_frames=hs.shape[1],
        n_tokens=ht.shape[1],
        seq_cos=cosine_matrix(mean_s, mean_t)[:, 0, 0].cpu(),
        seq_dist=(mean_s - mean_t)[:, 0].norm(dim=-1).cpu(),
        aps_cos=path_values(a_cos, path_cos).mean(-1).cpu(),
        aps_dist=path_values(a_dist, path_dist).mean(-1).cpu(),
        mono_cos=path_monotonicity(path_cos).cpu(),
        mono_dist=path_monotonicity(path_dist).cpu(),
        agreeing=(path_cos == path_dist).sum(-1).cpu(),
    )


def alignment_case(hs: Tensor, ht: Tensor, layer: int, key: str | None = None) -> dict:
    """One item's A^cos and A^d at `layer` with both paths, JSON-ready (for figures.plot_alignment_case)."""
    validate_item(hs, ht)
    if not 0 <= layer < hs.shape[0]:
        raise ValueError(f"layer {layer} out of range 0..{hs.shape[0] - 1}")
    a_cos, a_dist = cosine_matrix(hs[layer], ht[layer]), distance_matrix(hs[layer], ht[layer])
    return {
        "key": key,
        "layer": layer,
        "cos": a_cos.tolist(),
        "dist": a_dist.tolist(),
        "path_cos": path_from_matrix(a_cos, COS).tolist(),
        "path_dist": path_from_matrix(a_dist, DIST).tolist(),
    }


class ProbeStatistics:
    """Streaming sums of `ItemStatistics` over items of one checkpoint; mergeable across shards."""

    def __init__(self, keep_items: bool = False):
        self.keep_items = keep_items
        self.num_layers: int | None = None
        self.n_items = 0
        self.n_tokens = 0
        self.sums: dict[str, Tensor] = {}
        self.items: list[dict] = []

    def _start(self, num_layers: int) -> None:
        if self.num_layers is None:
            self.num_layers = num_layers
            self.sums = {name: torch.zeros(num_layers + 1, dtype=torch.float64) for name in _SUM_FIELDS}
        elif num_layers != self.num_layers:
            raise ValueError(f"item has {num_layers} decoder layers, earlier items had {self.num_layers}; "
                             "one accumulator per model")

    def add(self, item: ItemStatistics, key: str | None = None) -> None:
        """Fold one item's statistics into the sums."""
        self._start(item.num_layers)
        s = self.sums
        s["seq_cos"] += item.seq_cos
        s["seq_dist"] += item.seq_dist
        s["aps_cos"] += item.aps_cos
        s["aps_dist"] += item.aps_dist
        for metric, rho in ((COS, item.mono_cos), (DIST, item.mono_dist)):
            defined = ~rho.isnan()
            s[f"mono_{metric}_sum"] += torch.where(defined, rho, 0.0)
            s[f"mono_{metric}_count"] += defined.double()
        s["agreeing"] += item.agreeing.double()
        self.n_items += 1
        self.n_tokens += item.n_tokens
        if self.keep_items:
            self.items.append(item.record(key))

    def update(self, hs: Tensor, ht: Tensor, key: str | None = None) -> ItemStatistics:
        """Add one item: hs (L+1, T_s, d), ht (L+1, T_t, d). Returns its statistics."""
        item = item_statistics(hs, ht)
        self.add(item, key)
        return item

    def update_batch(self, items: Sequence[tuple[Tensor, Tensor]], keys: Sequence[str] | None = None) -> list[ItemStatistics]:
        """Add a batch: a list of (hs, ht) pairs of unpadded spans (lengths may differ)."""
        if keys is not None and len(keys) != len(items):
            raise ValueError(f"got {len(keys)} keys for {len(items)} items")
        return [self.update(hs, ht, None if keys is None else keys[i]) for i, (hs, ht) in enumerate(items)]

    def merge(self, other: ProbeStatistics) -> ProbeStatistics:
        """Add another shard's sums into this one (in place) and return self."""
        if other.num_layers is None:
            return self
        self._start(other.num_layers)
        for name in _SUM_FIELDS:
            self.sums[name] += other.sums[name]
        self.n_items += other.n_items
        self.n_tokens += other.n_tokens
        self.items.extend(other.items)
        self.keep_items = self.keep_items or other.keep_items
        return self

    def state_dict(self) -> dict:
        """JSON-ready state for `from_state_dict` (write shards from several processes, merge later)."""
        return {"version": STATE_VERSION, "keep_items": self.keep_items, "num_layers": self.num_layers,
                "n_items": self.n_items, "n_tokens": self.n_tokens,
                "sums": {name: value.tolist() for name, value in self.sums.items()}, "items": self.items}

    @classmethod
    def from_state_dict(cls, state: dict) -> ProbeStatistics:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"probe statistics state version {state.get('version')!r}, expected {STATE_VERSION}")
        acc = cls(keep_items=state["keep_items"])
        acc.num_layers, acc.n_items, acc.n_tokens = state["num_layers"], state["n_items"], state["n_tokens"]
        acc.sums = {name: torch.tensor(state["sums"][name], dtype=torch.float64) for name in _SUM_FIELDS} if state["sums"] else {}
        acc.items = list(state["items"])
        return acc

    def result(self) -> dict:
        """JSON-ready summary; per-layer lists have L+1 entries (layer 0 first); NaN is written as null."""
        if not self.n_items:
            raise ValueError("no items were added; call update() before result()")
        s, n, n_layers = self.sums, self.n_items, self.num_layers
        seq_cos, seq_dist = s["seq_cos"] / n, s["seq_dist"] / n
        aps_cos, aps_dist = s["aps_cos"] / n, s["aps_dist"] / n

        def monotonicity(metric: str) -> dict:
            total, count = s[f"mono_{metric}_sum"], s[f"mono_{metric}_count"]
            return {
                "mean": json_number(total[1:].sum() / count[1:].sum()) if count[1:].sum() else None,
                "per_layer": json_list(total / count),  # 0/0 = NaN -> null where no cell is defined
                "n_cells": int(count[1:].sum()),
                "excluded": int(n * n_layers - count[1:].sum()),
                "excluded_per_layer": [int(n - c) for c in count.tolist()],
            }

        out = {
            "n_items": n,
            "n_tokens": self.n_tokens,
            "num_layers": n_layers,
            "sequence": {"cos": json_list(seq_cos), "dist": json_list(seq_dist),
                         "cos_bar": json_number(seq_cos[1:].mean()), "dist_bar": json_number(seq_dist[1:].mean())},
            "aps": {"cos": json_number(aps_cos[1:].mean()), "dist": json_number(aps_dist[1:].mean()),
                    "cos_per_layer": json_list(aps_cos), "dist_per_layer": json_list(aps_dist)},
            "monotonicity": {COS: monotonicity(COS), DIST: monotonicity(DIST)},
            "consistency": {"mean": json_number(s["agreeing"][1:].sum() / (n_layers * self.n_tokens)),
                            "per_layer": json_list(s["agreeing"] / self.n_tokens),
                            "n_cells": n_layers * self.n_tokens},
        }
        if self.keep_items:
            out["items"] = list(self.items)
        return out
