"""Stratified paired bootstrap of the GAP and the paired checkpoint comparison, on simulated items."""

from __future__ import annotations

import time

import numpy as np
import pytest

from lslm_eval.report.bootstrap import PairedSubset, bootstrap_gap, compare_gaps, pair_items, stratified_se


def independent_subsets(rng, p_speech, p_text, sizes):
    """Binary items scored 0/100, speech correct w.p. p_speech[k] and text w.p. p_text[k], independently."""
    return {f"s{k}": PairedSubset(tuple(map(str, range(n))), 100.0 * (rng.random(n) < p_speech[k]),
                                  100.0 * (rng.random(n) < p_text[k]))
            for k, n in enumerate(sizes)}


def test_gap_estimate_is_the_equal_weight_mean_of_subset_gaps():
    a = PairedSubset(("x", "y"), np.array([0.0, 100.0]), np.array([100.0, 100.0]))  # gap 50
    b = PairedSubset(("x", "y", "z", "w"), np.zeros(4), np.array([0.0, 0.0, 0.0, 4.0]), scale=20.0)  # gap 20
    interval = bootstrap_gap({"a": a, "b": b}, n_resamples=200, seed=1)
    assert interval.estimate == pytest.approx(35.0)  # not the pooled item mean (50 + 80) / 6
    assert interval.low <= interval.estimate <= interval.high
    assert interval.n_items == {"a": 2, "b": 4}


def test_interval_covers_the_true_gap_at_nominal_rate():
    rng = np.random.default_rng(7)
    p_speech, p_text, sizes = (0.4, 0.6), (0.55, 0.7), (150, 350)
    true_gap = 100 * np.mean(np.subtract(p_text, p_speech))
    datasets = 300
    covered = 0
    for trial in range(datasets):
        interval = bootstrap_gap(independent_subsets(rng, p_speech, p_text, sizes), n_resamples=1000, seed=trial)
        covered += interval.low <= true_gap <= interval.high
    coverage = covered / datasets
    # 95% nominal; binomial SD over 300 datasets is 1.3 points, the percentile method runs slightly low
    assert 0.91 <= coverage <= 0.985, coverage


def test_stratification_matters_for_unequal_subsets():
    rng = np.random.default_rng(3)
    items = independent_subsets(rng, (0.2, 0.8), (0.9, 0.85), (40, 2000))
    interval = bootstrap_gap(items, n_resamples=4000, seed=0)
    # analytic SE of the stratified estimator: the small, very different subset dominates
    expected_se = stratified_se([s.contributions for s in items.values()])
    assert interval.se == pytest.approx(expected_se, rel=0.08)


def test_pairing_tightens_the_interval_on_correlated_items():
    rng = np.random.default_rng(11)
    n = 400
    ease = rng.random(n)
    speech = 100.0 * (ease < 0.5)
    text = 100.0 * (ease < 0.6)  # text right whenever speech is: strongly paired
    paired = bootstrap_gap({"s": PairedSubset(tuple(map(str, range(n))), speech, text)}, seed=0)
    unpaired_se = np.sqrt(speech.var(ddof=1) / n + text.var(ddof=1) / n)
    assert paired.se < 0.7 * unpaired_se


def test_seeded_and_fast():
    rng = np.random.default_rng(0)
    items = {"s": PairedSubset(tuple(map(str, range(500))), rng.random(500), rng.random(500))}
    start = time.perf_counter()
    first = bootstrap_gap(items, n_resamples=10_000, seed=5)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"10k resamples of 500 items took {elapsed:.2f} s"
    assert bootstrap_gap(items, n_resamples=10_000, seed=5) == first
    assert bootstrap_gap(items, n_resamples=10_000, seed=6).low != first.low


def test_pair_items_matches_by_key_not_position_and_names_strays():
    speech = {"a": 1.0, "b": 0.0, "c": 1.0}
    text = {"c": 1.0, "a": 1.0, "b": 1.0}
    paired = pair_items(speech, text)
    assert list(paired.contributions) == [0.0, 1.0, 0.0]  # a, b, c
    with pytest.raises(ValueError, match=r"1 only in speech \(e.g. \['d'\]\)"):
        pair_items(speech | {"d": 0.0}, text, subset="mmsu")


def test_compare_gaps_detects_a_real_difference_and_not_noise():
    rng = np.random.default_rng(2)
    n = 600
    keys = tuple(map(str, range(n)))
    text = 100.0 * (rng.random(n) < 0.7)
    good = 100.0 * (rng.random(n) < 0.6)
    bad = 100.0 * (rng.random(n) < 0.45)
    a = {"s": PairedSubset(keys, good, text)}
    b = {"s": PairedSubset(keys, bad, text)}
    real = compare_gaps(a, b, n_resamples=4000, seed=0)
    assert real.difference == pytest.approx(np.mean(bad - good))
    assert real.p_value < 0.01 and real.high < 0
    same_model = {"s": PairedSubset(keys, 100.0 * (rng.random(n) < 0.6), text)}
    null_p = compare_gaps(a, same_model, n_resamples=4000, seed=0).p_value
    assert null_p > 0.01


def test_compare_gaps_pairs_over_shared_items_only():
    a = {"s": PairedSubset(("1", "2", "3"), np.array([0.0, 0.0, 1.0]), np.ones(3))}
    b = {"s": PairedSubset(("2", "3", "4"), np.array([1.0, 1.0, 0.0]), np.ones(3))}
    result = compare_gaps(a, b, n_resamples=100, seed=0)
    assert result.n_items == {"s": 2} and result.n_unshared == {"s": 2}
    assert result.difference == pytest.approx(0.5)  # items 2, 3: A gaps (1, 0), B gaps (0, 0)
    with pytest.raises(ValueError, match="different subsets"):
        compare_gaps(a, {"t": b["s"]})


def test_permutation_p_value_is_calibrated_under_the_null():
    rng = np.random.default_rng(4)
    p_values = []
    for trial in range(200):
        keys = tuple(map(str, range(120)))
        text = 100.0 * (rng.random(120) < 0.7)
        a = {"s": PairedSubset(keys, 100.0 * (rng.random(120) < 0.5), text)}
        b = {"s": PairedSubset(keys, 100.0 * (rng.random(120) < 0.5), text)}
        p_values.append(compare_gaps(a, b, n_resamples=500, seed=trial).p_value)
    rejection = np.mean(np.array(p_values) < 0.05)
    assert 0.01 <= rejection <= 0.09, rejection  # nominal 0.05; binomial SD over 200 runs is 0.015
