"""The one alignment path: similarity matrices, argmax/argmin with the smallest-index tie rule."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lslm_eval.probe.paths import (alignment_path, cosine_matrix, distance_matrix, first_extreme_index, path_from_matrix,
                                   path_values, validate_item)


def states(layers: int = 3, length: int = 5, dim: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.randn(layers, length, dim, generator=torch.Generator().manual_seed(seed))


def test_matrices_match_definitions():
    hs, ht = states(1, 4)[0], states(1, 3, seed=1)[0]
    cos = cosine_matrix(hs, ht)
    dist = distance_matrix(hs, ht)
    assert cos.shape == dist.shape == (4, 3) and cos.dtype == dist.dtype == torch.float64
    for i in range(4):
        for j in range(3):
            assert cos[i, j].item() == pytest.approx(F.cosine_similarity(hs[i].double(), ht[j].double(), dim=0).item(), abs=1e-12)
            assert dist[i, j].item() == pytest.approx((hs[i].double() - ht[j].double()).norm().item(), abs=1e-12)


def test_identical_states_give_the_identity_path_per_layer():
    h = states()
    identity = torch.arange(h.shape[1]).expand(h.shape[0], -1)
    for metric in ("cos", "dist"):
        assert torch.equal(alignment_path(h, h, metric), identity)
    assert torch.equal(distance_matrix(h, h).diagonal(dim1=-2, dim2=-1), torch.zeros(3, 5, dtype=torch.float64))


@pytest.mark.parametrize("k", [2, 3])
def test_repeated_frames_pick_the_first_frame_of_each_block(k):
    ht = states()
    hs = ht.repeat_interleave(k, dim=1)  # frames k*j .. k*j+k-1 equal token j
    for metric in ("cos", "dist"):
        path = alignment_path(hs, ht, metric)
        assert torch.equal(path // k, torch.arange(ht.shape[1]).expand_as(path))  # inside token j's block
        assert torch.equal(path % k, torch.zeros_like(path))  # exact ties -> smallest i


def test_tie_rule_is_enforced():
    matrix = torch.tensor([[0.0, 5.0, 1.0], [2.0, 5.0, 1.0], [2.0, -1.0, 1.0]])
    assert first_extreme_index(matrix, dim=0, largest=True).tolist() == [1, 0, 0]
    assert first_extreme_index(matrix, dim=0, largest=False).tolist() == [0, 2, 0]
    assert path_from_matrix(matrix, "cos").tolist() == [1, 0, 0]
    assert path_from_matrix(matrix, "dist").tolist() == [0, 2, 0]
    assert path_values(matrix, torch.tensor([1, 0, 0])).tolist() == [2.0, 5.0, 1.0]


def test_broadcasting_and_dtypes():
    hs, ht = states(4, 7), states(4, 3, seed=2)
    per_cell = alignment_path(hs[1], ht)  # one speech layer against every text layer
    assert per_cell.shape == (4, 3)
    assert torch.equal(per_cell[2], alignment_path(hs[1], ht[2]))
    low = alignment_path(hs.bfloat16(), ht.bfloat16(), "dist")
    assert torch.equal(low, alignment_path(hs.bfloat16().float(), ht.bfloat16().float(), "dist"))
    zero = torch.zeros(1, 8)
    assert torch.equal(cosine_matrix(zero, ht[0]), torch.zeros(1, 3, dtype=torch.float64))


def test_bad_input_is_rejected_with_a_reason():
    h = states()
    with pytest.raises(ValueError, match="NaN"):
        path_from_matrix(torch.tensor([[float("nan"), 1.0]]), "cos")
    with pytest.raises(ValueError, match="metric"):
        alignment_path(h, h, "euclid")
    with pytest.raises(ValueError, match=r"\(L\+1, T, d\)"):
        validate_item(h[0], h[0])
    with pytest.raises(ValueError, match="agree"):
        validate_item(h, states(4))
    with pytest.raises(ValueError, match="empty span"):
        validate_item(h, h[:, :0])
    bad = h.clone()
    bad[1, 2, 3] = float("inf")
    with pytest.raises(ValueError, match="inf"):
        validate_item(bad, h)
    with pytest.raises(TypeError, match="floating-point"):
        validate_item(h.long(), h)
