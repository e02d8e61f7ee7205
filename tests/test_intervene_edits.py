"""SPEC §6 edits: norms and directions, untouched frames bit-identical, shared frames, calibration."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lslm_eval.intervene.edits import (ALL, BOTTOM_K, CalibrationStats, angle_projection, calibrate, edit_tokens,
                                       length_normalization, select_targets)
from lslm_eval.probe.paths import alignment_path, cosine_matrix


def span_pair(t_t: int = 6, k: int = 3, dim: int = 16, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    ht = torch.randn(t_t, dim, generator=gen)
    hs = 2.5 * ht.repeat_interleave(k, dim=0) + 0.8 * torch.randn(k * t_t, dim, generator=gen)
    return hs, ht


def test_bottom_k_picks_the_least_aligned_tokens():
    hs, ht = span_pair()
    targets = select_targets(hs, ht, BOTTOM_K, k=3)
    path = alignment_path(hs, ht)
    assert torch.equal(targets.path, path)  # the probe's path, not a second one
    scores = cosine_matrix(hs, ht)[path, torch.arange(ht.shape[0])]
    assert sorted(targets.tokens.tolist()) == sorted(scores.argsort()[:3].tolist())
    assert torch.equal(targets.frames, path[targets.tokens].unique())
    assert torch.equal(select_targets(hs, ht, BOTTOM_K, k=100).tokens, torch.arange(ht.shape[0]))
    assert torch.equal(select_targets(hs, ht, ALL).tokens, torch.arange(ht.shape[0]))
    with pytest.raises(ValueError, match="k >= 1"):
        select_targets(hs, ht, BOTTOM_K, k=0)
    with pytest.raises(ValueError, match="selection"):
        select_targets(hs, ht, "bottom3")


@pytest.mark.parametrize("selection", [BOTTOM_K, ALL])
def test_angle_projection_keeps_norms_and_takes_text_direction(selection):
    hs, ht = span_pair(seed=1)
    targets = select_targets(hs, ht, selection)
    out = angle_projection(hs, targets)
    edited = targets.frames
    assert torch.allclose(out[edited].norm(dim=-1), hs[edited].norm(dim=-1), rtol=1e-6)
    for frame, token in zip(targets.path[targets.tokens], targets.tokens):
        assert F.cosine_similarity(out[frame], ht[token], dim=0).item() == pytest.approx(1.0, abs=1e-6)
    untouched = torch.ones(hs.shape[0], dtype=torch.bool)
    untouched[edited] = False
    assert torch.equal(out[untouched], hs[untouched]) and untouched.any()


def test_length_normalization_keeps_direction_and_matches_norm():
    hs, ht = span_pair(seed=2)
    targets = select_targets(hs, ht, ALL)
    out = length_normalization(hs, targets)
    for frame, token in zip(targets.path[targets.tokens], targets.tokens):
        assert F.cosine_similarity(out[frame], hs[frame], dim=0).item() == pytest.approx(1.0, abs=1e-6)
        assert out[frame].norm().item() == pytest.approx(ht[token].norm().item(), rel=1e-6)
    untouched = torch.ones(hs.shape[0], dtype=torch.bool)
    untouched[targets.frames] = False
    assert torch.equal(out[untouched], hs[untouched])


def test_several_tokens_on_one_frame_use_the_mean_text_vector():
    ht = torch.tensor([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.0, 0.0, 1.0]])
    hs = torch.tensor([[2.0, 0.5, 0.0], [0.0, 0.0, 3.0], [0.0, -4.0, 0.0]])  # tokens 0 and 1 align to frame 0
    targets = select_targets(hs, ht, ALL)
    assert targets.path.tolist() == [0, 0, 1] and targets.frames.tolist() == [0, 1]
    mean = (ht[0] + ht[1]) / 2
    angle = angle_projection(hs, targets)
    assert torch.allclose(angle[0], hs[0].norm() * mean / mean.norm(), atol=1e-6)
    assert torch.allclose(length_normalization(hs, targets)[0], hs[0] * mean.norm() / hs[0].norm(), atol=1e-6)
    assert torch.equal(angle[2], hs[2])  # frame 2 is on no token's path


def test_dtype_kept_and_zero_norms_left_alone():
    hs, ht = span_pair(seed=3)
    low = edit_tokens(hs.bfloat16(), ht.bfloat16(), "angle", BOTTOM_K, 2)
    assert low.dtype == torch.bfloat16 and low.shape == hs.shape
    ht_zero = torch.zeros(2, 4)
    hs_zero = torch.tensor([[0.0, 0, 0, 0], [1.0, 2, 3, 4]])
    targets = select_targets(hs_zero, ht_zero, ALL)
    assert torch.equal(angle_projection(hs_zero, targets), hs_zero)  # no text direction to take
    assert torch.equal(length_normalization(hs_zero[:1], select_targets(hs_zero[:1], torch.ones(1, 4), ALL)), hs_zero[:1])
    with pytest.raises(ValueError, match="token edit"):
        edit_tokens(hs, ht, "rotate")
    with pytest.raises(ValueError, match="width"):
        select_targets(hs, ht[:, :3])


def calibration_split(count: int = 6, seed: int = 4):
    gen = torch.Generator().manual_seed(seed)
    pairs = []
    for i in range(count):
        ht = 0.5 * torch.randn(3 + i, 8, generator=gen) - 1.0
        hs = 3.0 * torch.randn(2 * (3 + i), 8, generator=gen) + torch.arange(8.0)
        pairs.append((hs, ht))
    return pairs


def test_calibration_maps_speech_statistics_onto_text_on_the_estimation_data():
    pairs = calibration_split()
    stats = CalibrationStats(layer=0)
    stats.update_batch(pairs, keys=[f"cal{i}" for i in range(len(pairs))])
    speech, text = torch.cat([hs for hs, _ in pairs]).double(), torch.cat([ht for _, ht in pairs]).double()
    assert torch.allclose(stats.mu_s, speech.mean(0), atol=1e-12) and torch.allclose(stats.sigma_t, text.std(0, correction=0), atol=1e-12)
    mapped = torch.cat([calibrate(hs.double(), stats) for hs, _ in pairs])
    assert torch.allclose(mapped.mean(0), text.mean(0), atol=1e-10)
    assert torch.allclose(mapped.std(0, correction=0), text.std(0, correction=0), atol=1e-10)
    shifted = torch.cat([calibrate(hs.double(), stats, mean_only=True) for hs, _ in pairs])
    assert torch.allclose(shifted.mean(0), text.mean(0), atol=1e-10)
    assert torch.allclose(shifted.std(0), speech.std(0), atol=1e-10)
    assert calibrate(pairs[0][0], stats).dtype == torch.float32
    stats.check_disjoint(["eval0", "eval1"])
    with pytest.raises(ValueError, match="used to estimate"):
        stats.check_disjoint(["eval0", "cal3"])


@pytest.mark.parametrize("suffix", [".json", ".safetensors"])
def test_calibration_streaming_merge_and_files(tmp_path, suffix):
    pairs = calibration_split()
    one = CalibrationStats(layer=2)
    for i, (hs, ht) in enumerate(pairs):
        one.update(torch.stack([hs * 0, hs * 0, hs]), torch.stack([ht * 0, ht * 0, ht]), key=f"k{i}")  # (L+1, T, d): layer 2 taken
    shard_a, shard_b = CalibrationStats(layer=2), CalibrationStats(layer=2)
    shard_a.update_batch(pairs[:2], keys=["k0", "k1"])
    shard_b.update_batch(pairs[2:], keys=[f"k{i}" for i in range(2, len(pairs))])
    shard_b.save(tmp_path / f"b{suffix}")
    merged = shard_a.merge(CalibrationStats.load(tmp_path / f"b{suffix}"))
    for name in ("mu_s", "sigma_s", "mu_t", "sigma_t"):
        assert torch.allclose(getattr(merged, name), getattr(one, name), atol=1e-12)
    assert merged.keys == one.keys and merged.layer == 2
    with pytest.raises(ValueError, match="layer"):
        merged.merge(CalibrationStats(layer=0))
    with pytest.raises(ValueError, match="empty"):
        calibrate(pairs[0][0], CalibrationStats())
    with pytest.raises(ValueError, match=".json or .safetensors"):
        merged.save(tmp_path / "stats.pt")
