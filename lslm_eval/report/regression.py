"""OLS of GAP on a similarity scalar across checkpoints (SPEC section 7; paper 1, figs. 5 and 7).

One point per checkpoint: x = a similarity scalar of its probe (f_bar^cos, f_bar^d, APS^cos,
APS^d), y = its GAP. Degenerate inputs give NaN with the reason instead of an exception.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from lslm_eval.benchmarks import SIMILARITY_SCALARS
from lslm_eval.report.render import csv_table, markdown_table, to_json

FIT_DECIMALS = 4
CONSTANT_RTOL = 1e-12
MIN_POINTS = 3  # two points always fit a line exactly (r = +-1, p = 0): no evidence


@dataclass(frozen=True)
class LinearFit:
    """GAP = slope * x + intercept; NaN fields with `reason` set when the fit is undefined."""

    slope: float
    intercept: float
    r_squared: float
    pearson_r: float
    p_value: float
    n: int
    reason: str = ""

    @property
    def ok(self) -> bool:
        return not self.reason


def undefined_fit(n: int, reason: str) -> LinearFit:
    return LinearFit(math.nan, math.nan, math.nan, math.nan, math.nan, n, reason)


def is_constant(values: np.ndarray) -> bool:
    """True when the spread is zero up to float rounding (a fit on it would be noise)."""
    return float(np.ptp(values)) <= CONSTANT_RTOL * max(1.0, float(np.abs(values).max()))


def fit_gap(similarity: Sequence[float], gap: Sequence[float]) -> LinearFit:
    """Ordinary least squares of `gap` (n,) on `similarity` (n,); p-value of Pearson r (two-sided t test)."""
    from scipy import stats

    x = np.asarray(similarity, dtype=np.float64)
    y = np.asarray(gap, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"similarity {x.shape} and gap {y.shape} must be 1-D and of equal length")
    n = x.size
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        return undefined_fit(n, f"non-finite values at points {np.flatnonzero(~(np.isfinite(x) & np.isfinite(y))).tolist()}")
    if n < MIN_POINTS:
        return undefined_fit(n, f"n = {n} < {MIN_POINTS} points")
    if is_constant(x):
        return undefined_fit(n, "the similarity scalar has zero variance")
    if is_constant(y):
        return undefined_fit(n, "GAP has zero variance")
    result = stats.linregress(x, y)
    r = float(result.rvalue)
    return LinearFit(float(result.slope), float(result.intercept), r * r, r, float(result.pvalue), n)


@dataclass(frozen=True)
class Correlation:
    """Fits of GAP on each similarity scalar, per group (group "all" when not grouped)."""

    fits: dict[tuple[str, str], LinearFit]  # (group, scalar) -> fit
    points: list[dict]
    group_by: str | None = None

    COLUMNS = ("group", "scalar", "n", "slope", "intercept", "r_squared", "pearson_r", "p_value", "reason")

    def rows(self) -> list[list]:
        return [[group, scalar, *(getattr(fit, c) for c in self.COLUMNS[2:])] for (group, scalar), fit in self.fits.items()]

    def to_markdown(self) -> str:
        return markdown_table(self.COLUMNS, self.rows(), decimals=FIT_DECIMALS)

    def to_csv(self) -> str:
        return csv_table(self.COLUMNS, self.rows())

    def to_json(self) -> str:
        return to_json({"group_by": self.group_by, "fits": [dict(zip(self.COLUMNS, row)) for row in self.rows()]})


def correlate(source, scalars: Sequence[str] = SIMILARITY_SCALARS, group_by: str | None = None) -> Correlation:
    """Fit GAP on each scalar across checkpoints.

    source: a Leaderboard (uses its `.points()`) or an iterable of mappings with `gap`, the scalars,
    and `model`/`checkpoint` (and the `group_by` key when grouping, e.g. "model" or "strategy").
    A point lacking a requested scalar is an error naming it, never silently left out.
    """
    points: list[Mapping] = list(source.points() if hasattr(source, "points") else source)
    if not points:
        raise ValueError("correlate needs at least one checkpoint")
    for scalar in scalars:
        lacking = [point_name(p) for p in points if not is_number(p.get(scalar))]
        if lacking:
            raise ValueError(f"no {scalar!r} for {lacking}: give each checkpoint a probe file, or choose scalars")
    if any(not is_number(p.get("gap")) for p in points):
        raise ValueError(f"no GAP for {[point_name(p) for p in points if not is_number(p.get('gap'))]}")
    groups = group_points(points, group_by)
    fits = {}
    for group, members in groups.items():
        for scalar in scalars:
            fits[(group, scalar)] = fit_gap([p[scalar] for p in members], [p["gap"] for p in members])
    return Correlation(fits, [dict(p) for p in points], group_by)


def group_points(points: Iterable[Mapping], group_by: str | None) -> dict[str, list[Mapping]]:
    if group_by is None:
        return {"all": list(points)}
    groups: dict[str, list[Mapping]] = {}
    for point in points:
        if point.get(group_by) in (None, ""):
            raise ValueError(f"{point_name(point)} has no {group_by!r} to group by")
        groups.setdefault(str(point[group_by]), []).append(point)
    return groups


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def point_name(point: Mapping) -> str:
    return f"{point.get('model', '?')}@{point.get('checkpoint', '?')}"
