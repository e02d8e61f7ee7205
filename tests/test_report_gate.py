"""Regression gate: fails on a planted regression, passes on noise within tolerance, knows directions."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lslm_eval.report.gate import Metric, compare, load_metric_table


def noisy_table(rng, gap, overall, noise):
    return {"run/gap": gap + rng.normal(0, noise), "run/overall_speech": overall + rng.normal(0, noise),
            "run/speech/mmsu": 40.0 + rng.normal(0, noise)}


def test_passes_on_noise_within_tolerance():
    rng = np.random.default_rng(0)
    baseline = noisy_table(rng, 17.6, 35.3, 0.0)
    for _ in range(50):
        result = compare(baseline, noisy_table(rng, 17.6, 35.3, 0.2), tolerance=1.0)
        assert result.passed, result.to_markdown()


def test_fails_on_a_planted_regression_in_either_direction():
    baseline = {"run/gap": 17.6, "run/overall_speech": 35.3}
    gap_up = compare(baseline, {"run/gap": 19.0, "run/overall_speech": 35.3}, tolerance=1.0)
    assert not gap_up.passed and [c.name for c in gap_up.failures] == ["run/gap"]
    score_down = compare(baseline, {"run/gap": 17.6, "run/overall_speech": 33.9}, tolerance=1.0)
    assert [c.name for c in score_down.failures] == ["run/overall_speech"]
    improved = compare(baseline, {"run/gap": 12.0, "run/overall_speech": 40.0}, tolerance=1.0)
    assert improved.passed  # a smaller GAP and a higher score are improvements, however large


def test_standard_error_rule_when_per_item_data_give_one():
    baseline = {"gap": Metric(17.6, se=0.5, higher_is_better=False)}
    within = {"gap": Metric(18.9, se=0.5, higher_is_better=False)}  # +1.3 < 2 * sqrt(0.5^2 + 0.5^2) = 1.41
    beyond = {"gap": Metric(19.2, se=0.5, higher_is_better=False)}
    assert compare(baseline, within, tolerance=1.0, tolerance_se=2.0).passed
    assert not compare(baseline, within, tolerance=1.0).passed  # the absolute rule alone would fail it
    result = compare(baseline, beyond, tolerance=1.0, tolerance_se=2.0)
    assert not result.passed and result.checks[0].rule == "2*SE"
    no_se = compare({"gap": 17.6}, {"gap": 18.9}, tolerance=1.0, tolerance_se=2.0)
    assert not no_se.passed and no_se.checks[0].rule == "points"  # falls back without an SE
    exact = {"gap": Metric(17.6, se=0.0, higher_is_better=False)}
    small_drop = compare(exact, {"gap": Metric(18.1, se=0.0, higher_is_better=False)}, tolerance=1.0, tolerance_se=2.0)
    assert small_drop.passed and small_drop.checks[0].rule == "points"  # SE 0 does not make the gate zero-tolerant


def test_missing_metric_fails_new_metric_is_listed_and_markdown_shows_both():
    result = compare({"a/gap": 10.0, "a/overall_text": 50.0}, {"a/gap": 10.0, "b/gap": 3.0})
    statuses = {c.name: c.status for c in result.checks}
    assert statuses == {"a/gap": "pass", "a/overall_text": "missing", "b/gap": "new"}
    assert not result.passed
    table = result.to_markdown()
    assert "FAIL (1 of 3 metrics)" in table and "| a/overall_text | higher | 50.00 | - |" in table
    assert "| a/gap | lower | 10.00 | 10.00 | 0.00 |" in table


def test_tracked_patterns_and_json_tables(tmp_path):
    path = tmp_path / "base.json"
    path.write_text(json.dumps({"metrics": {"r/gap": {"value": 10.0, "se": None, "higher_is_better": False},
                                            "r/speech/mmsu": {"value": 40.0}}}))
    table = load_metric_table(path)
    assert table["r/gap"] == Metric(10.0, None, False) and table["r/speech/mmsu"].higher_is_better
    result = compare(path, {"r/gap": 10.5, "r/speech/mmsu": 20.0}, metrics=["*/gap"])
    assert result.passed and [c.name for c in result.checks] == ["r/gap"]
    with pytest.raises(ValueError, match="matches nothing"):
        compare(path, {}, metrics=["*/wer"])
