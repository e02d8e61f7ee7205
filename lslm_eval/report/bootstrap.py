"""Paired, stratified bootstrap of the GAP and a paired test between two checkpoints.

Per-item contribution of item i of subset k (K subsets, n_k items each, scale c_k to points):

    d_ki = c_k * (text_ki - speech_ki)          GAP = (1/K) sum_k mean_i d_ki

- Paired: an item is scored once read and once heard, matched by identity (never by position).
  Resampling the difference d keeps the strong speech/text correlation of an item, which makes
  the interval much tighter than resampling the two runs independently.
- Stratified: every resample draws n_k items with replacement *within* each subset, then averages
  the K subset means with equal weight, exactly as the Overall does. Pooling all items and
  drawing from the pool would let a large subset (MMSU, 3,074 items) crowd out a small one
  (OBQA, 455) on each draw and change the estimator being bootstrapped.
- Interval: percentile of the resampled GAPs. SE: their standard deviation.

Two checkpoints A and B are compared over the items both were scored on (per subset):
e_ki = d^A_ki - d^B_ki and Delta = GAP_A - GAP_B = (1/K) sum_k mean_i e_ki. The interval comes from
the same stratified bootstrap of e; the p-value from a paired sign-flip permutation test (under
H0 the labels A and B are exchangeable within an item, which flips the sign of e_ki).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

DEFAULT_RESAMPLES = 10_000
DEFAULT_CONFIDENCE = 0.95
CHUNK_ELEMENTS = 1 << 22  # resamples x items drawn at once: bounds memory at ~32 MB per array
SHOWN_KEYS = 5  # unmatched item keys quoted in an error message


@dataclass(frozen=True)
class PairedSubset:
    """One subset's per-item scores in both modalities, aligned by item key.

    keys: (n,) item identities; speech, text: (n,) scores in the subset's unit; scale: to points.
    """

    keys: tuple[str, ...]
    speech: np.ndarray
    text: np.ndarray
    scale: float = 1.0

    def __post_init__(self) -> None:
        speech = np.asarray(self.speech, dtype=np.float64)
        text = np.asarray(self.text, dtype=np.float64)
        n = len(self.keys)
        if n == 0:
            raise ValueError("a paired subset needs at least one item")
        if speech.shape != (n,) or text.shape != (n,):
            raise ValueError(f"speech {speech.shape} and text {text.shape} scores must both be ({n},), one per key")
        if len(set(self.keys)) != n:
            raise ValueError("item keys must be unique within a subset")
        if not (np.isfinite(speech).all() and np.isfinite(text).all()):
            raise ValueError("per-item scores must be finite")
        object.__setattr__(self, "speech", speech)
        object.__setattr__(self, "text", text)

    @property
    def contributions(self) -> np.ndarray:
        """(n,) per-item GAP contributions in points: scale * (text - speech)."""
        return self.scale * (self.text - self.speech)

    def restricted(self, keys: Sequence[str]) -> PairedSubset:
        """The same subset limited to `keys` (all must be present), in that order."""
        index = {key: i for i, key in enumerate(self.keys)}
        rows = np.array([index[key] for key in keys], dtype=np.int64)
        return PairedSubset(tuple(keys), self.speech[rows], self.text[rows], self.scale)


def pair_items(speech: Mapping[str, float], text: Mapping[str, float], *, scale: float = 1.0, subset: str = "") -> PairedSubset:
    """Match per-item scores of the speech and text runs by item key; every item must be in both."""
    only_speech = sorted(set(speech) - set(text))
    only_text = sorted(set(text) - set(speech))
    if only_speech or only_text:
        name = f"subset {subset!r}: " if subset else ""
        raise ValueError(
            f"{name}speech and text runs were scored on different items: {len(only_speech)} only in speech "
            f"(e.g. {only_speech[:SHOWN_KEYS]}), {len(only_text)} only in text (e.g. {only_text[:SHOWN_KEYS]}); "
            f"run both tasks on the same items (same --limit / split)"
        )
    keys = tuple(sorted(speech))
    return PairedSubset(keys, np.array([speech[k] for k in keys]), np.array([text[k] for k in keys]), scale)


@dataclass(frozen=True)
class GapInterval:
    """A GAP (points) with its percentile bootstrap interval."""

    estimate: float
    low: float
    high: float
    se: float
    confidence: float
    n_resamples: int
    n_items: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class GapDifference:
    """GAP_A - GAP_B over the items both checkpoints were scored on, with interval and p-value."""

    difference: float
    low: float
    high: float
    se: float
    p_value: float
    confidence: float
    n_resamples: int
    n_items: dict[str, int] = field(default_factory=dict)
    n_unshared: dict[str, int] = field(default_factory=dict)


def stratified_mean(values: Sequence[np.ndarray]) -> float:
    """Equal-weight mean of the per-subset means."""
    return float(np.mean([v.mean() for v in values]))


def stratified_se(values: Sequence[np.ndarray]) -> float:
    """Analytic SE of `stratified_mean`: sqrt(sum_k var_k / n_k) / K (NaN if a subset has < 2 items)."""
    if any(v.size < 2 for v in values):
        return math.nan
    return math.sqrt(sum(v.var(ddof=1) / v.size for v in values)) / len(values)


def resampled_means(values: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(n_resamples,) means of bootstrap resamples of `values` (n,), drawn in memory-bounded chunks."""
    n = values.size
    chunk = max(1, CHUNK_ELEMENTS // n)
    out = np.empty(n_resamples)
    for start in range(0, n_resamples, chunk):
        stop = min(start + chunk, n_resamples)
        draws = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = values[draws].mean(axis=1)
    return out


def sign_flipped_means(values: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(n_resamples,) means of `values` (n,) under random sign flips (the paired permutation null)."""
    n = values.size
    chunk = max(1, CHUNK_ELEMENTS // n)
    out = np.empty(n_resamples)
    for start in range(0, n_resamples, chunk):
        stop = min(start + chunk, n_resamples)
        signs = rng.integers(0, 2, size=(stop - start, n), dtype=np.int8) * 2 - 1
        out[start:stop] = (signs @ values) / n
    return out


def check_settings(n_resamples: int, confidence: float) -> None:
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")


def stratified_bootstrap(values: Mapping[str, np.ndarray], n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(n_resamples,) equal-weight means over subsets, each subset resampled within itself."""
    return np.mean([resampled_means(values[name], n_resamples, rng) for name in sorted(values)], axis=0)


def spread(draws: np.ndarray) -> float:
    """Bootstrap standard error: the standard deviation of the resampled statistics."""
    return float(draws.std(ddof=1)) if draws.size > 1 else math.nan


def percentile_interval(draws: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = 1.0 - confidence
    low, high = np.quantile(draws, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def bootstrap_gap(items: Mapping[str, PairedSubset], *, n_resamples: int = DEFAULT_RESAMPLES,
                  confidence: float = DEFAULT_CONFIDENCE, seed: int = 0) -> GapInterval:
    """GAP over `items` (subset -> paired scores) with a stratified paired percentile interval."""
    check_settings(n_resamples, confidence)
    if not items:
        raise ValueError("bootstrap_gap needs at least one subset")
    values = {name: subset.contributions for name, subset in items.items()}
    draws = stratified_bootstrap(values, n_resamples, np.random.default_rng(seed))
    low, high = percentile_interval(draws, confidence)
    return GapInterval(stratified_mean(list(values.values())), low, high, spread(draws), confidence, n_resamples,
                       {name: len(s.keys) for name, s in items.items()})


def compare_gaps(a: Mapping[str, PairedSubset], b: Mapping[str, PairedSubset], *, n_resamples: int = DEFAULT_RESAMPLES,
                 confidence: float = DEFAULT_CONFIDENCE, seed: int = 0) -> GapDifference:
    """Paired comparison of two checkpoints' GAPs (A - B; negative: A has the smaller gap)."""
    check_settings(n_resamples, confidence)
    if set(a) != set(b):
        raise ValueError(f"checkpoints cover different subsets: only in A {sorted(set(a) - set(b))}, "
                         f"only in B {sorted(set(b) - set(a))}")
    if not a:
        raise ValueError("compare_gaps needs at least one subset")
    differences, shared_counts, unshared = {}, {}, {}
    for name in sorted(a):
        shared = sorted(set(a[name].keys) & set(b[name].keys))
        if not shared:
            raise ValueError(f"subset {name!r}: the two checkpoints share no scored item; evaluate them on the same items")
        differences[name] = a[name].restricted(shared).contributions - b[name].restricted(shared).contributions
        shared_counts[name] = len(shared)
        unshared[name] = len(a[name].keys) + len(b[name].keys) - 2 * len(shared)
    rng = np.random.default_rng(seed)
    observed = stratified_mean(list(differences.values()))
    draws = stratified_bootstrap(differences, n_resamples, rng)
    null = np.mean([sign_flipped_means(differences[name], n_resamples, rng) for name in sorted(differences)], axis=0)
    tolerance = 1e-12 * max(1.0, abs(observed))  # ties with the observed value count as extreme
    p_value = (1 + int(np.count_nonzero(np.abs(null) >= abs(observed) - tolerance))) / (n_resamples + 1)
    low, high = percentile_interval(draws, confidence)
    return GapDifference(observed, low, high, spread(draws), p_value, confidence, n_resamples, shared_counts, unshared)


# ---------------------------------------------------------------- several arms of one item

def resampled_column_means(values: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(n_resamples, m) column means of bootstrap resamples of the rows of `values` (n, m): every column of
    a resample draws the same rows, so the arms of one item stay paired."""
    n = values.shape[0]
    chunk = max(1, CHUNK_ELEMENTS // (n * values.shape[1]))
    out = np.empty((n_resamples, values.shape[1]))
    for start in range(0, n_resamples, chunk):
        stop = min(start + chunk, n_resamples)
        draws = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = values[draws].mean(axis=1)
    return out


@dataclass(frozen=True)
class Interval:
    """A statistic with its percentile bootstrap interval and SE (NaN where undefined)."""

    estimate: float
    low: float
    high: float
    se: float
    n_items: dict[str, int] = field(default_factory=dict)


def bootstrap_statistic(columns: Mapping[str, np.ndarray], scales: Mapping[str, float], statistic,
                        *, n_resamples: int = DEFAULT_RESAMPLES, confidence: float = DEFAULT_CONFIDENCE,
                        seed: int = 0) -> Interval:
    """A statistic of arm Overalls with a stratified paired bootstrap interval.

    columns: subset -> (n_k, m) per-item scores of m arms on the same items (rows matched by identity);
    scales: subset -> points per unit. The Overall of arm j is (1/K) sum_k scale_k * mean_i columns[k][i, j];
    `statistic` maps an (R, m) array of Overalls to (R,) values (e.g. o[:, 1] - o[:, 0], or a ratio).
    Rows are resampled within each subset, the same rows for every arm.
    """
    check_settings(n_resamples, confidence)
    if not columns:
        raise ValueError("bootstrap_statistic needs at least one subset")
    names = sorted(columns)
    observed = np.mean([scales[k] * np.asarray(columns[k], dtype=np.float64).mean(axis=0) for k in names], axis=0)
    rng = np.random.default_rng(seed)
    overalls = np.mean([scales[k] * resampled_column_means(np.asarray(columns[k], dtype=np.float64), n_resamples, rng)
                        for k in names], axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        estimate = float(np.asarray(statistic(observed[None, :]))[0])
        draws = np.asarray(statistic(overalls), dtype=np.float64)
    finite = draws[np.isfinite(draws)]
    if finite.size < draws.size:  # a ratio over a resample whose denominator is 0: no interval
        return Interval(estimate, math.nan, math.nan, math.nan, {k: len(columns[k]) for k in names})
    low, high = percentile_interval(draws, confidence)
    return Interval(estimate, low, high, spread(draws), {k: len(columns[k]) for k in names})


def exact_mcnemar(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts (binomial test of only_a vs only_b at 1/2)."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(only_a, only_b) + 1)) / 2.0 ** n
    return min(1.0, 2.0 * tail)
