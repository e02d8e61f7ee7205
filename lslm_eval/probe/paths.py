"""Token-level similarity matrices and THE alignment path (SPEC §4), shared by probing and interventions.

    A^cos[i, j] = cos(h^s_i, h^t_j),  A^d[i, j] = |h^s_i - h^t_j|_2      (T_s, T_t)
    i*_j = argmax_i A^cos[i, j]  or  argmin_i A^d[i, j]; ties take the smallest i.

Every function broadcasts over leading dimensions, so a whole item (L+1, T, d) is one call.
Matrices are computed in float64 whatever the input dtype.
"""

from __future__ import annotations

import torch
from torch import Tensor

COS = "cos"
DIST = "dist"
METRICS = (COS, DIST)


def validate_item(hs: Tensor, ht: Tensor) -> None:
    """Check one item's span states: hs (L+1, T_s, d) and ht (L+1, T_t, d), finite floats."""
    for name, x in (("speech states hs", hs), ("text states ht", ht)):
        if not isinstance(x, Tensor) or not x.is_floating_point():
            raise TypeError(f"{name} must be a floating-point torch.Tensor, got {type(x).__name__}")
        if x.ndim != 3:
            raise ValueError(f"{name} must have shape (L+1, T, d) (layer 0 = input embeddings), got {tuple(x.shape)}")
        if x.shape[1] == 0:
            raise ValueError(f"{name} has an empty span (T = 0); drop the item or fix its span")
    if hs.shape[0] != ht.shape[0] or hs.shape[2] != ht.shape[2]:
        raise ValueError(f"speech {tuple(hs.shape)} and text {tuple(ht.shape)} states must agree on layers (dim 0) and width (dim 2)")
    if hs.shape[0] < 2:
        raise ValueError(f"need layer 0 and at least one decoder layer, got {hs.shape[0]} layer(s)")
    for name, x in (("speech states hs", hs), ("text states ht", ht)):
        if not torch.isfinite(x).all():
            raise ValueError(f"{name} contain NaN or inf; check the forward pass (dtype overflow?) before probing")


def cosine_matrix(hs: Tensor, ht: Tensor) -> Tensor:
    """(..., T_s, d), (..., T_t, d) -> A^cos (..., T_s, T_t), float64. A zero vector has cosine 0 with everything."""
    hs, ht = hs.double(), ht.double()
    unit_s = hs / hs.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(torch.float64).tiny)
    unit_t = ht / ht.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(torch.float64).tiny)
    return unit_s @ unit_t.transpose(-1, -2)


def distance_matrix(hs: Tensor, ht: Tensor) -> Tensor:
    """(..., T_s, d), (..., T_t, d) -> A^d (..., T_s, T_t), float64 Euclidean distances.

    Computed from differences, not |x|^2 + |y|^2 - 2 x.y, so equal vectors are exactly 0 apart.
    """
    batch = torch.broadcast_shapes(hs.shape[:-2], ht.shape[:-2])
    hs = hs.double().expand(*batch, *hs.shape[-2:]).reshape(-1, *hs.shape[-2:])
    ht = ht.double().expand(*batch, *ht.shape[-2:]).reshape(-1, *ht.shape[-2:])
    dist = torch.cdist(hs, ht, compute_mode="donot_use_mm_for_euclid_dist")
    return dist.reshape(*batch, *dist.shape[-2:])


def similarity_matrix(hs: Tensor, ht: Tensor, metric: str = COS) -> Tensor:
    """A^metric (..., T_s, T_t) for metric "cos" or "dist"."""
    if metric == COS:
        return cosine_matrix(hs, ht)
    if metric == DIST:
        return distance_matrix(hs, ht)
    raise ValueError(f"unknown metric {metric!r}; choose one of {METRICS}")


def first_extreme_index(values: Tensor, dim: int, largest: bool) -> Tensor:
    """Index of the max (largest=True) or min along `dim`, the smallest index among exact ties."""
    extreme = values.amax(dim, keepdim=True) if largest else values.amin(dim, keepdim=True)
    size = values.shape[dim]
    shape = [1] * values.ndim
    shape[dim] = size
    positions = torch.arange(size, device=values.device).view(shape)
    index = torch.where(values == extreme, positions, size).amin(dim)
    if (index == size).any():
        raise ValueError("similarity matrix has NaN entries; no alignment path exists")
    return index


def path_from_matrix(matrix: Tensor, metric: str = COS) -> Tensor:
    """A (..., T_s, T_t) -> i* (..., T_t) LongTensor: argmax over frames for cos, argmin for dist."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {METRICS}")
    return first_extreme_index(matrix, dim=-2, largest=metric == COS)


def path_values(matrix: Tensor, path: Tensor) -> Tensor:
    """A (..., T_s, T_t), i* (..., T_t) -> A[i*_j, j] (..., T_t)."""
    return matrix.gather(-2, path.unsqueeze(-2)).squeeze(-2)


def alignment_path(hs_l: Tensor, ht_l: Tensor, metric: str = COS) -> Tensor:
    """Speech (..., T_s, d) and text (..., T_t, d) states -> i* (..., T_t), the frame aligned to each token.

    Leading dimensions broadcast: (L+1, T_s, d) with (L+1, T_t, d) gives one path per layer.
    """
    return path_from_matrix(similarity_matrix(hs_l, ht_l, metric), metric)
