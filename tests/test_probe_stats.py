"""Sequence/token statistics: analytic cases, undefined monotonicity, streaming == per-item means."""

from __future__ import annotations

import json
import math

import pytest
import torch
from scipy.stats import spearmanr

from lslm_eval.probe.stats import ProbeStatistics, alignment_case, item_statistics, path_monotonicity

LAYERS = 4  # L + 1


def states(length: int, seed: int, dim: int = 8) -> torch.Tensor:
    return torch.randn(LAYERS, length, dim, generator=torch.Generator().manual_seed(seed))


def random_pairs(count: int, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    pairs = []
    for i in range(count):
        ht = torch.randn(LAYERS, 2 + i % 4, 8, generator=gen)
        hs = ht.repeat_interleave(3, dim=1) + torch.randn(LAYERS, 3 * ht.shape[1], 8, generator=gen)
        pairs.append((hs, ht))
    pairs.append((states(5, 99), states(1, 98)))  # T_t = 1: monotonicity undefined at every layer
    return pairs


def test_identical_states():
    h = states(6, 0)
    item = item_statistics(h, h)
    ones, zeros = torch.ones(LAYERS, dtype=torch.float64), torch.zeros(LAYERS, dtype=torch.float64)
    assert torch.allclose(item.seq_cos, ones, atol=1e-12) and torch.equal(item.seq_dist, zeros)
    assert torch.allclose(item.aps_cos, ones, atol=1e-12) and torch.equal(item.aps_dist, zeros)
    assert torch.allclose(item.mono_cos, ones) and torch.allclose(item.mono_dist, ones)
    assert torch.equal(item.agreeing, torch.full((LAYERS,), 6))
    record = item.record("a")
    assert record["consistency"] == 1.0 and record["aps_cos"] == pytest.approx(1.0) and record["dist_bar"] == 0.0


def test_repeated_and_reversed_speech():
    ht = states(5, 1)
    repeated = item_statistics(ht.repeat_interleave(4, dim=1), ht)
    assert torch.allclose(repeated.mono_cos, torch.ones(LAYERS, dtype=torch.float64))
    assert torch.allclose(repeated.mono_dist, torch.ones(LAYERS, dtype=torch.float64))
    assert torch.allclose(repeated.aps_cos, torch.ones(LAYERS, dtype=torch.float64), atol=1e-12)
    reversed_ = item_statistics(ht.flip(1), ht)
    assert torch.allclose(reversed_.mono_cos, -torch.ones(LAYERS, dtype=torch.float64))
    assert torch.allclose(reversed_.mono_dist, -torch.ones(LAYERS, dtype=torch.float64))


def test_spearman_matches_scipy_with_ties():
    gen = torch.Generator().manual_seed(3)
    paths = torch.randint(0, 5, (20, 9), generator=gen)
    rho = path_monotonicity(paths)
    for row, value in zip(paths, rho):
        expected = spearmanr(range(9), row.tolist()).statistic
        assert (math.isnan(expected) and math.isnan(value)) or value.item() == pytest.approx(expected, abs=1e-12)


def test_constant_path_is_undefined_and_excluded_not_zero():
    rho = path_monotonicity(torch.tensor([[2, 2, 2], [0, 1, 2]]))
    assert math.isnan(rho[0].item()) and rho[1].item() == pytest.approx(1.0)
    assert math.isnan(path_monotonicity(torch.tensor([4])).item())  # T_t = 1
    h = states(4, 2)
    one_frame = item_statistics(h[:, :1], h)  # T_s = 1: every path is constant
    assert one_frame.mono_cos.isnan().all() and one_frame.mono_dist.isnan().all()
    acc = ProbeStatistics()
    acc.update(h, h)  # monotonicity 1
    acc.update(h[:, :1], h)  # undefined
    mono = acc.result()["monotonicity"]["cos"]
    assert mono["mean"] == pytest.approx(1.0)  # an average with 0 would give 0.5
    assert mono["excluded"] == LAYERS - 1 and mono["n_cells"] == LAYERS - 1
    assert mono["excluded_per_layer"] == [1] * LAYERS


def test_streaming_equals_mean_of_items():
    pairs = random_pairs(7)
    items = [item_statistics(hs, ht) for hs, ht in pairs]
    acc = ProbeStatistics()
    for hs, ht in pairs:
        acc.update(hs, ht)
    result = acc.result()
    n = len(items)
    assert result["sequence"]["cos_bar"] == pytest.approx(sum(it.record()["cos_bar"] for it in items) / n, abs=1e-12)
    assert result["sequence"]["dist_bar"] == pytest.approx(sum(it.record()["dist_bar"] for it in items) / n, abs=1e-12)
    assert result["aps"]["cos"] == pytest.approx(sum(it.record()["aps_cos"] for it in items) / n, abs=1e-12)
    assert result["aps"]["dist"] == pytest.approx(sum(it.record()["aps_dist"] for it in items) / n, abs=1e-12)
    assert result["sequence"]["cos"] == pytest.approx(torch.stack([it.seq_cos for it in items]).mean(0).tolist(), abs=1e-12)
    cells = torch.stack([it.mono_cos[1:] for it in items])
    assert result["monotonicity"]["cos"]["mean"] == pytest.approx(cells[~cells.isnan()].mean().item(), abs=1e-12)
    assert result["monotonicity"]["cos"]["excluded"] == int(cells.isnan().sum()) >= LAYERS - 1
    agreeing = sum(it.agreeing[1:].sum().item() for it in items)
    assert result["consistency"]["mean"] == pytest.approx(agreeing / sum((LAYERS - 1) * it.n_tokens for it in items))
    json.dumps(result, allow_nan=False)  # NaN never leaks into JSON


def test_batch_merge_and_state_round_trip_equal_one_pass():
    pairs = random_pairs(6, seed=1)
    keys = [f"item{i}" for i in range(len(pairs))]
    one = ProbeStatistics(keep_items=True)
    for key, (hs, ht) in zip(keys, pairs):
        one.update(hs, ht, key)
    batched = ProbeStatistics(keep_items=True)
    batched.update_batch(pairs[:3], keys[:3])
    batched.update_batch(pairs[3:], keys[3:])
    shard_a, shard_b = ProbeStatistics(keep_items=True), ProbeStatistics(keep_items=True)
    shard_a.update_batch(pairs[:2], keys[:2])
    shard_b.update_batch(pairs[2:], keys[2:])
    restored = ProbeStatistics.from_state_dict(json.loads(json.dumps(shard_a.state_dict(), allow_nan=False)))
    merged = restored.merge(ProbeStatistics.from_state_dict(json.loads(json.dumps(shard_b.state_dict()))))
    reference = one.result()
    for acc in (batched, merged):
        got = acc.result()
        assert [r["key"] for r in got["items"]] == keys
        assert _close(got, reference)


def _close(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, abs=1e-12)
    return a == b


def test_errors_and_alignment_case():
    with pytest.raises(ValueError, match="no items"):
        ProbeStatistics().result()
    acc = ProbeStatistics()
    acc.update(states(3, 0), states(2, 1))
    with pytest.raises(ValueError, match="decoder layers"):
        acc.update(torch.randn(3, 3, 8), torch.randn(3, 2, 8))
    case = alignment_case(states(6, 0), states(6, 0), layer=2, key="x")
    assert case["path_cos"] == case["path_dist"] == list(range(6))
    assert len(case["cos"]) == 6 and len(case["cos"][0]) == 6
    with pytest.raises(ValueError, match="out of range"):
        alignment_case(states(6, 0), states(6, 0), layer=LAYERS)
