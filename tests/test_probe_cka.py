"""Cross-layer linear CKA: analytic invariances, streaming == direct Gram computation, shards, memory bound."""

from __future__ import annotations

import math

import pytest
import torch

from lslm_eval.probe.cka import ALIGNED, MOMENTS, POOLED, ROWS, CrossLayerCKA, layer_pairs, linear_cka
from lslm_eval.probe.paths import alignment_path

NUM_LAYERS, DIM = 3, 6


def gram_cka(x: torch.Tensor, y: torch.Tensor, debiased: bool = False) -> float:
    """Reference: CKA from n x n Gram matrices; the debiased form is Song et al. (2012) eq. 5 as printed."""
    x, y = x.double() - x.double().mean(0), y.double() - y.double().mean(0)
    n = x.shape[0]

    def hsic(k: torch.Tensor, l: torch.Tensor) -> float:
        if not debiased:
            return (k * l).sum().item()
        k, l = k - torch.diag(k.diagonal()), l - torch.diag(l.diagonal())
        one = torch.ones(n, dtype=torch.float64)
        value = (torch.trace(k @ l) + (one @ k @ one) * (one @ l @ one) / ((n - 1) * (n - 2))
                 - 2 / (n - 2) * (one @ k @ l @ one))
        return value.item() / (n * (n - 3))

    k, l = x @ x.T, y @ y.T
    return hsic(k, l) / math.sqrt(hsic(k, k) * hsic(l, l))


def random_items(count: int, seed: int = 0, dim: int = DIM) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    items = []
    for i in range(count):
        t_t = 2 + i % 3
        ht = torch.randn(NUM_LAYERS + 1, t_t, dim, generator=gen) + 3.0  # a common offset: centring matters
        hs = ht.repeat_interleave(2, dim=1)[:, : 2 * t_t - i % 2] + 0.7 * torch.randn(NUM_LAYERS + 1, 2 * t_t - i % 2, dim, generator=gen)
        items.append((hs, ht))
    return items


def direct_matrix(items, view: str, debiased: bool) -> torch.Tensor:
    size = NUM_LAYERS + 1
    out = torch.empty(size, size, dtype=torch.float64)
    for l in range(size):
        for m in range(size):
            if view == POOLED:
                x = torch.stack([hs[l].double().mean(0) for hs, _ in items])
                y = torch.stack([ht[m].double().mean(0) for _, ht in items])
            else:
                x = torch.cat([hs[l].double()[alignment_path(hs[l], ht[m])] for hs, ht in items])
                y = torch.cat([ht[m].double() for _, ht in items])
            out[l, m] = gram_cka(x, y, debiased)
    return out


def as_tensor(result: dict) -> torch.Tensor:
    return torch.tensor([[math.nan if v is None else v for v in row] for row in result["matrix"]], dtype=torch.float64)


def test_linear_cka_invariances():
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(40, 8, generator=gen, dtype=torch.float64), torch.randn(40, 5, generator=gen, dtype=torch.float64)
    y = y + 0.5 * x[:, :5]
    q, _ = torch.linalg.qr(torch.randn(8, 8, generator=gen, dtype=torch.float64))
    base = linear_cka(x, y)
    assert 0.05 < base < 0.95
    assert linear_cka(x @ q * 3.7 + 11.0, y) == pytest.approx(base, abs=1e-12)  # orthogonal, isotropic, shift
    assert linear_cka(x, y * 0.01) == pytest.approx(base, abs=1e-12)
    stretch = torch.diag(torch.tensor([30.0, 1, 1, 1, 1, 1, 1, 0.05], dtype=torch.float64))
    assert abs(linear_cka(x @ stretch, y) - base) > 1e-2  # not invariant to an arbitrary linear map
    assert linear_cka(x, x @ q) == pytest.approx(1.0, abs=1e-12)
    for debiased in (False, True):
        assert linear_cka(x, y, debiased) == pytest.approx(gram_cka(x, y, debiased), abs=1e-12)
    assert linear_cka(x @ q * 2.0, y, debiased=True) == pytest.approx(linear_cka(x, y, debiased=True), abs=1e-12)


@pytest.mark.parametrize("view", [POOLED, ALIGNED])
def test_identical_states_give_one_on_the_diagonal(view):
    items = [(ht.clone(), ht) for _, ht in random_items(6, seed=2)]
    acc = CrossLayerCKA(view=view)
    acc.update_batch(items)
    diagonal = as_tensor(acc.result()).diagonal()
    assert torch.allclose(diagonal, torch.ones_like(diagonal), atol=1e-12)


@pytest.mark.parametrize("view", [POOLED, ALIGNED])
@pytest.mark.parametrize("debiased", [False, True])
@pytest.mark.parametrize("strategy", [ROWS, MOMENTS, "auto"])
def test_streaming_equals_direct(view, debiased, strategy):
    items = random_items(9, seed=3)
    acc = CrossLayerCKA(view=view, debiased=debiased, strategy=strategy)
    for hs, ht in items:
        acc.update(hs, ht)
    expected = direct_matrix(items, view, debiased)
    got = as_tensor(acc.result())
    assert torch.allclose(got, expected, atol=1e-9, equal_nan=True)
    assert acc.n_rows == (len(items) if view == POOLED else sum(ht.shape[1] for _, ht in items))


def test_auto_strategy_switches_from_rows_to_moments_exactly():
    acc = CrossLayerCKA(view=ALIGNED, pairs="diagonal")
    items = random_items(30, seed=4)
    modes = []
    for hs, ht in items:
        acc.update(hs, ht)
        modes.append(acc.mode)
    assert modes[0] == ROWS and modes[-1] == MOMENTS  # rows are cheaper only while few
    assert torch.allclose(as_tensor(acc.result()).diagonal(), direct_matrix(items, ALIGNED, False).diagonal(), atol=1e-9)


def test_batch_merge_and_save_load_equal_one_pass(tmp_path):
    items = random_items(10, seed=5)
    one = CrossLayerCKA(view=ALIGNED, debiased=True, strategy=MOMENTS)
    for hs, ht in items:
        one.update(hs, ht)
    batched = CrossLayerCKA(view=ALIGNED, debiased=True, strategy=MOMENTS)
    batched.update_batch(items[:4])
    batched.update_batch(items[4:])
    rows_shard = CrossLayerCKA(view=ALIGNED, debiased=True, strategy=ROWS)
    rows_shard.update_batch(items[:3])
    moments_shard = CrossLayerCKA(view=ALIGNED, debiased=True, strategy=MOMENTS)
    moments_shard.update_batch(items[3:])
    moments_shard.save(str(tmp_path / "shard.safetensors"))
    rows_shard.save(str(tmp_path / "rows.safetensors"))
    merged = CrossLayerCKA.load(str(tmp_path / "rows.safetensors")).merge(CrossLayerCKA.load(str(tmp_path / "shard.safetensors")))
    reference = as_tensor(one.result())
    for acc in (batched, merged):
        assert torch.allclose(as_tensor(acc.result()), reference, atol=1e-9, equal_nan=True)
        assert acc.n_items == len(items) and acc.n_rows == one.n_rows


def test_undefined_and_negative_values_are_reported_not_clipped():
    single = CrossLayerCKA(view=POOLED)
    single.update(*random_items(1)[0])
    result = single.result()
    assert all(v is None for row in result["matrix"] for v in row)  # one row: no variance, NaN -> null

    gen = torch.Generator().manual_seed(0)
    for _ in range(50):  # independent noise: the debiased estimate is negative about half the time
        items = [(torch.randn(2, 3, 4, generator=gen), torch.randn(2, 2, 4, generator=gen)) for _ in range(8)]
        x = torch.stack([hs[1].double().mean(0) for hs, _ in items])
        y = torch.stack([ht[1].double().mean(0) for _, ht in items])
        if gram_cka(x, y, debiased=True) < 0:
            break
    acc = CrossLayerCKA(view=POOLED, debiased=True, pairs=[(1, 1)])
    acc.update_batch(items)
    value = acc.result()["matrix"][1][1]
    assert value < 0 and value == pytest.approx(gram_cka(x, y, debiased=True), abs=1e-12)
    assert acc.result()["matrix"][0][0] is None  # not requested


def test_memory_bound_and_bad_requests():
    assert layer_pairs(2, "diagonal") == [(0, 0), (1, 1), (2, 2)]
    assert len(layer_pairs(2, None)) == 9
    with pytest.raises(ValueError, match="within 0..2"):
        layer_pairs(2, [(0, 3)])
    acc = CrossLayerCKA(view=POOLED, max_bytes=5_000, strategy=MOMENTS)
    with pytest.raises(MemoryError, match="fewer pairs"):
        acc.update(*random_items(1)[0])
    small = CrossLayerCKA(view=POOLED, pairs=[(1, 1)], max_bytes=5_000, strategy=MOMENTS)
    small.update(*random_items(1)[0])  # 2 blocks and 1 pair of width 6 fit
    assert small.moments_bytes() <= 5_000
    with pytest.raises(ValueError, match="width"):
        small.update(torch.randn(NUM_LAYERS + 1, 3, DIM + 1), torch.randn(NUM_LAYERS + 1, 2, DIM + 1))
