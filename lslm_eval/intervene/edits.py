"""SPEC §6 edits of one item's speech span at one layer, as pure functions (no hooks here).

Token-level edits change the frames i*_j that text tokens align to (probe.paths, cosine path):
    targets   "bottom-k": the k tokens with the lowest A^cos[i*_j, j] (paper 1: k = 3); "all": every token
    angle     h_i <- |h_i| * t_i / |t_i|       (text direction, speech norm kept)
    length    h_i <- h_i * |t_i| / |h_i|       (speech direction kept, text norm)
where t_i is the mean of the text vectors of all selected tokens aligned to frame i. Frames not targeted
are returned bit-identical. A zero-norm h_i (length) or t_i (angle) has no direction: that frame is
left as it is.

Statistical calibration maps the whole speech span per dimension onto text statistics:
    h <- (h - mu_s) / sigma_s * sigma_t + mu_t      (mean-only: h - mu_s + mu_t)
with mu, sigma (population std) estimated by `CalibrationStats` on a calibration split that must not
overlap the evaluation data (`check_disjoint`). A dimension with sigma_s = 0 is only shifted.
Arithmetic is float64; results come back in the input dtype.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import torch
from torch import Tensor

from ..probe.paths import COS, cosine_matrix, path_from_matrix, path_values

BOTTOM_K = "bottom-k"
ALL = "all"
SELECTIONS = (BOTTOM_K, ALL)
ANGLE = "angle"
LENGTH = "length"
TOKEN_EDITS = (ANGLE, LENGTH)
DEFAULT_K = 3  # paper 1, section 5.3: the three least-aligned tokens
CALIBRATION_VERSION = 1


def _check_span(hs_l: Tensor, ht_l: Tensor | None = None) -> None:
    for name, x in (("speech span hs_l", hs_l), ("text span ht_l", ht_l)):
        if x is None:
            continue
        if not isinstance(x, Tensor) or not x.is_floating_point() or x.ndim != 2 or x.shape[0] == 0:
            raise ValueError(f"{name} must be a non-empty float tensor (T, d) of one layer, got "
                             f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}")
    if ht_l is not None and hs_l.shape[1] != ht_l.shape[1]:
        raise ValueError(f"speech width {hs_l.shape[1]} != text width {ht_l.shape[1]}; use the same layer of one model")


@dataclass
class EditTargets:
    """What a token-level edit changes: frames (F,) ascending, text (F, d) float64 target vectors."""

    tokens: Tensor  # (K,) selected text tokens j, ascending
    path: Tensor  # (T_t,) the cosine alignment path i*_j of every token
    scores: Tensor  # (T_t,) A^cos[i*_j, j], float64
    frames: Tensor  # (F,) distinct frames i*_j of the selected tokens, ascending
    text: Tensor  # (F, d) mean text vector of the selected tokens aligned to each frame


def select_targets(hs_l: Tensor, ht_l: Tensor, selection: str = BOTTOM_K, k: int = DEFAULT_K) -> EditTargets:
    """hs_l (T_s, d), ht_l (T_t, d) of one layer -> the frames to edit and their text targets.

    bottom-k takes the k lowest path scores (ties: the smaller j); k >= T_t selects every token.
    """
    _check_span(hs_l, ht_l)
    if selection not in SELECTIONS:
        raise ValueError(f"unknown target selection {selection!r}; choose one of {SELECTIONS}")
    matrix = cosine_matrix(hs_l, ht_l)
    path = path_from_matrix(matrix, COS)
    scores = path_values(matrix, path)
    if selection == ALL:
        tokens = torch.arange(ht_l.shape[0], device=ht_l.device)
    else:
        if k < 1:
            raise ValueError(f"bottom-k needs k >= 1, got {k}")
        tokens = scores.sort(stable=True).indices[:k].sort().values
    frames, slot = torch.unique(path[tokens], sorted=True, return_inverse=True)
    text = torch.zeros(len(frames), ht_l.shape[1], dtype=torch.float64, device=ht_l.device)
    text.index_add_(0, slot, ht_l[tokens].double())
    counts = torch.zeros(len(frames), dtype=torch.float64, device=ht_l.device).index_add_(0, slot, torch.ones_like(slot, dtype=torch.float64))
    return EditTargets(tokens=tokens, path=path, scores=scores, frames=frames, text=text / counts[:, None])


def angle_projection(hs_l: Tensor, targets: EditTargets) -> Tensor:
    """Targeted frames take their text target's direction and keep their norm. (T_s, d) -> (T_s, d)."""
    h = hs_l[targets.frames].double()
    target_norm = targets.text.norm(dim=-1, keepdim=True)
    edited = h.norm(dim=-1, keepdim=True) * targets.text / target_norm.clamp_min(torch.finfo(torch.float64).tiny)
    return _write_rows(hs_l, targets.frames, torch.where(target_norm > 0, edited, h))


def length_normalization(hs_l: Tensor, targets: EditTargets) -> Tensor:
    """Targeted frames keep their direction and take their text target's norm. (T_s, d) -> (T_s, d)."""
    h = hs_l[targets.frames].double()
    norm = h.norm(dim=-1, keepdim=True)
    edited = h * targets.text.norm(dim=-1, keepdim=True) / norm.clamp_min(torch.finfo(torch.float64).tiny)
    return _write_rows(hs_l, targets.frames, torch.where(norm > 0, edited, h))


def _write_rows(hs_l: Tensor, frames: Tensor, rows: Tensor) -> Tensor:
    out = hs_l.clone()
    out[frames] = rows.to(hs_l.dtype)
    return out


def edit_tokens(hs_l: Tensor, ht_l: Tensor, edit: str, selection: str = BOTTOM_K, k: int = DEFAULT_K) -> Tensor:
    """One call for a hook: select targets on (hs_l, ht_l), apply "angle" or "length". Returns a new (T_s, d)."""
    if edit not in TOKEN_EDITS:
        raise ValueError(f"unknown token edit {edit!r}; choose one of {TOKEN_EDITS}")
    targets = select_targets(hs_l, ht_l, selection, k)
    return angle_projection(hs_l, targets) if edit == ANGLE else length_normalization(hs_l, targets)


@dataclass
class RunningMoments:
    """Per-dimension count, mean and sum of squared deviations (Chan et al. parallel update), float64."""

    count: int
    mean: Tensor  # (d,)
    m2: Tensor  # (d,)

    @classmethod
    def empty(cls, dim: int) -> RunningMoments:
        return cls(0, torch.zeros(dim, dtype=torch.float64), torch.zeros(dim, dtype=torch.float64))

    def combine(self, count: int, mean: Tensor, m2: Tensor) -> None:
        total = self.count + count
        if count == 0:
            return
        delta = mean - self.mean
        self.mean = self.mean + delta * (count / total)
        self.m2 = self.m2 + m2 + delta.pow(2) * (self.count * count / total)
        self.count = total

    def add_rows(self, rows: Tensor) -> None:
        rows = rows.double().cpu()
        mean = rows.mean(0)
        self.combine(rows.shape[0], mean, (rows - mean).pow(2).sum(0))

    @property
    def std(self) -> Tensor:
        return (self.m2 / self.count).sqrt()


class CalibrationStats:
    """Streaming per-dimension mean / std of speech and text span states at one layer (SPEC §6)."""

    def __init__(self, layer: int = 0):
        self.layer = layer
        self.speech: RunningMoments | None = None
        self.text: RunningMoments | None = None
        self.keys: set[str] = set()
        self.info: dict = {}  # provenance (task, split, model...), saved with the statistics

    def update(self, hs: Tensor, ht: Tensor, key: str | None = None) -> None:
        """Add one paired item: (T_s, d) and (T_t, d) at this layer, or (L+1, T, d) from which the layer is taken."""
        if hs.ndim == 3 and ht.ndim == 3:
            hs, ht = hs[self.layer], ht[self.layer]
        _check_span(hs, ht)
        if self.speech is None:
            self.speech, self.text = RunningMoments.empty(hs.shape[1]), RunningMoments.empty(hs.shape[1])
        elif hs.shape[1] != self.speech.mean.shape[0]:
            raise ValueError(f"width {hs.shape[1]} differs from earlier items ({self.speech.mean.shape[0]})")
        self.speech.add_rows(hs)
        self.text.add_rows(ht)
        if key is not None:
            self.keys.add(key)

    def update_batch(self, items: Iterable[tuple[Tensor, Tensor]], keys: Iterable[str] | None = None) -> None:
        items = list(items)
        keys = [None] * len(items) if keys is None else list(keys)
        if len(keys) != len(items):
            raise ValueError(f"got {len(keys)} keys for {len(items)} items")
        for (hs, ht), key in zip(items, keys):
            self.update(hs, ht, key)

    def merge(self, other: CalibrationStats) -> CalibrationStats:
        """Add another shard's moments (same layer) into this one, in place; returns self."""
        if other.layer != self.layer:
            raise ValueError(f"cannot merge calibration statistics of layer {other.layer} into layer {self.layer}")
        if other.speech is None:
            return self
        if self.speech is None:
            self.speech, self.text = RunningMoments.empty(len(other.speech.mean)), RunningMoments.empty(len(other.text.mean))
        for mine, theirs in ((self.speech, other.speech), (self.text, other.text)):
            mine.combine(theirs.count, theirs.mean, theirs.m2)
        self.keys |= other.keys
        return self

    def _require(self) -> None:
        if self.speech is None:
            raise ValueError("calibration statistics are empty; update() them on the calibration split first")

    @property
    def mu_s(self) -> Tensor:
        self._require()
        return self.speech.mean

    @property
    def sigma_s(self) -> Tensor:
        self._require()
        return self.speech.std

    @property
    def mu_t(self) -> Tensor:
        self._require()
        return self.text.mean

    @property
    def sigma_t(self) -> Tensor:
        self._require()
        return self.text.std

    def check_disjoint(self, eval_keys: Iterable[str]) -> None:
        """Raise if any evaluation item was also used for estimation (SPEC §6)."""
        shared = self.keys.intersection(eval_keys)
        if shared:
            raise ValueError(f"{len(shared)} evaluation item(s) were used to estimate the calibration, e.g. "
                             f"{sorted(shared)[:3]}; estimate on a separate split")

    def save(self, path: str | Path) -> Path:
        """Write to .safetensors (tensors + JSON metadata) or .json, chosen by the suffix."""
        self._require()
        path = Path(path)
        meta = {"version": CALIBRATION_VERSION, "layer": self.layer, "keys": sorted(self.keys),
                "count_speech": self.speech.count, "count_text": self.text.count, "info": self.info}
        if path.suffix == ".json":
            meta.update({f"{side}_{name}": getattr(getattr(self, side), name).tolist()
                         for side in ("speech", "text") for name in ("mean", "m2")})
            path.write_text(json.dumps(meta))
        elif path.suffix == ".safetensors":
            from safetensors.torch import save_file

            tensors = {f"{side}_{name}": getattr(getattr(self, side), name).contiguous()
                       for side in ("speech", "text") for name in ("mean", "m2")}
            save_file(tensors, str(path), metadata={"lslm_eval.calibration": json.dumps(meta)})
        else:
            raise ValueError(f"save calibration statistics to a .json or .safetensors file, not {path.name!r}")
        return path

    @classmethod
    def load(cls, path: str | Path) -> CalibrationStats:
        path = Path(path)
        if path.suffix == ".json":
            meta = json.loads(path.read_text())
            tensors = {name: torch.tensor(meta[name], dtype=torch.float64)
                       for name in ("speech_mean", "speech_m2", "text_mean", "text_m2")}
        elif path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as f:
                raw = (f.metadata() or {}).get("lslm_eval.calibration")
                if raw is None:
                    raise ValueError(f"{path} holds no calibration statistics ('lslm_eval.calibration' metadata missing)")
                meta = json.loads(raw)
                tensors = {name: f.get_tensor(name) for name in f.keys()}
        else:
            raise ValueError(f"load calibration statistics from a .json or .safetensors file, not {path.name!r}")
        if meta.get("version") != CALIBRATION_VERSION:
            raise ValueError(f"{path}: calibration format version {meta.get('version')!r}, expected {CALIBRATION_VERSION}")
        stats = cls(layer=meta["layer"])
        stats.speech = RunningMoments(meta["count_speech"], tensors["speech_mean"], tensors["speech_m2"])
        stats.text = RunningMoments(meta["count_text"], tensors["text_mean"], tensors["text_m2"])
        stats.keys = set(meta["keys"])
        stats.info = meta.get("info", {})
        return stats


def calibrate(hs_l: Tensor, stats: CalibrationStats, mean_only: bool = False) -> Tensor:
    """Map the whole speech span (T_s, d) per dimension onto the text statistics; returns a new tensor."""
    _check_span(hs_l)
    mu_s, mu_t = stats.mu_s.to(hs_l.device), stats.mu_t.to(hs_l.device)
    if hs_l.shape[1] != mu_s.shape[0]:
        raise ValueError(f"speech width {hs_l.shape[1]} != calibration width {mu_s.shape[0]}")
    h = hs_l.double()
    if mean_only:
        return (h - mu_s + mu_t).to(hs_l.dtype)
    sigma_s, sigma_t = stats.sigma_s.to(hs_l.device), stats.sigma_t.to(hs_l.device)
    scale = torch.where(sigma_s > 0, sigma_t / sigma_s.clamp_min(torch.finfo(torch.float64).tiny), 1.0)
    return ((h - mu_s) * scale + mu_t).to(hs_l.dtype)
