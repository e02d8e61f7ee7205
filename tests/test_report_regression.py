"""OLS of GAP on a similarity scalar: planted slopes come back, degenerate inputs give NaN + reason."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from lslm_eval.report.regression import correlate, fit_gap


def test_recovers_a_planted_line_and_r_squared():
    rng = np.random.default_rng(0)
    x = rng.uniform(0.2, 0.9, 400)
    noise_sd, slope = 2.0, -30.0
    y = slope * x + 40.0 + rng.normal(0.0, noise_sd, x.size)
    fit = fit_gap(x, y)
    assert fit.ok and fit.n == 400
    assert fit.slope == pytest.approx(slope, abs=1.0)
    assert fit.intercept == pytest.approx(40.0, abs=0.7)
    planted_r2 = slope**2 * x.var() / (slope**2 * x.var() + noise_sd**2)
    assert fit.r_squared == pytest.approx(planted_r2, abs=0.03)
    assert fit.pearson_r < 0 and fit.r_squared == pytest.approx(fit.pearson_r**2)
    assert fit.p_value < 1e-50


def test_p_value_matches_the_t_test_of_pearson_r():
    x = np.array([0.61, 0.64, 0.70, 0.72, 0.75, 0.80])
    y = np.array([33.5, 23.3, 25.0, 17.4, 16.8, 15.6])
    fit = fit_gap(x, y)
    r = fit.pearson_r
    t = r * math.sqrt((len(x) - 2) / (1 - r * r))
    assert fit.p_value == pytest.approx(2 * stats.t.sf(abs(t), len(x) - 2))


@pytest.mark.parametrize("x, y, reason", [
    ([0.1, 0.2], [3.0, 4.0], "n = 2 < 3"),
    ([0.5, 0.5, 0.5], [3.0, 4.0, 5.0], "similarity scalar has zero variance"),
    ([0.1, 0.2, 0.3], [7.0, 7.0, 7.0], "GAP has zero variance"),
    ([0.1, math.nan, 0.3], [1.0, 2.0, 3.0], "non-finite values at points [1]"),
])
def test_degenerate_inputs_give_nan_with_a_reason(x, y, reason):
    fit = fit_gap(x, y)
    assert not fit.ok and reason in fit.reason
    assert math.isnan(fit.slope) and math.isnan(fit.r_squared) and math.isnan(fit.p_value)


def test_correlate_groups_and_names_points_without_a_scalar():
    points = [{"model": m, "checkpoint": f"c{i}", "gap": 30 - 20 * s + (1 if m == "b" else 0), "aps_cos": s}
              for m in ("a", "b") for i, s in enumerate((0.2, 0.4, 0.6, 0.8))]
    result = correlate(points, scalars=("aps_cos",), group_by="model")
    assert set(result.fits) == {("a", "aps_cos"), ("b", "aps_cos")}
    assert all(f.slope == pytest.approx(-20.0) and f.r_squared == pytest.approx(1.0) for f in result.fits.values())
    assert "| a | aps_cos | 4 | -20.0000 |" in result.to_markdown()
    assert result.to_csv().splitlines()[0].startswith("group,scalar,n,slope")
    with pytest.raises(ValueError, match=r"no 'f_bar_cos' for \['a@c0'"):
        correlate(points, scalars=("f_bar_cos",))
