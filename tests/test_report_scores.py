"""Overall and GAP against paper 1, appendix table 2 (tests/data/paper1_table2.tsv, 40 rows).

Tolerance: every printed number is rounded to its printed decimals, so a printed input x^ is
within h = 0.5 * 10^-decimals of the true x (h = 0.005 for two decimals, 0.05 for "100.0").
The mean of five inputs is then within mean(h_i) of the true Overall, and the printed Overall
is within 0.005 of it: |overall(x^) - printed| <= 0.005 + mean(h_i). A GAP recomputed from the
subsets carries the input error of both modalities: <= 0.005 + mean(h_speech) + mean(h_text);
one taken from the two printed Overalls: <= 0.005 + 0.005 + 0.005.
Rows whose printed numbers do not reproduce are listed in the file's `mismatch` column, with why;
the test also checks that each listed mismatch really is one, so the list cannot hide a good row.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from lslm_eval.report.scores import OFFICIAL_SUBSETS, PAPER_SUBSETS, MissingSubsetError, modality_gap, overall, resolve_subsets

TABLE = Path(__file__).parent / "data" / "paper1_table2.tsv"
PAPER_COLUMNS = {"advbench": "advbench", "ifeval": "ifeval", "obqa": "openbookqa", "mmsu": "mmsu", "sdqa": "sdqa"}
FLOAT_SLACK = 1e-9
PRINTED_HALF_UNIT = 0.005  # the derived columns are printed with two decimals


def half_unit(printed: str) -> float:
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    return 0.5 * 10**-decimals


def load_rows() -> list[dict]:
    with TABLE.open(encoding="utf-8") as handle:
        return list(csv.DictReader((line for line in handle if not line.startswith("#")), delimiter="\t"))


def subset_scores(row: dict, prefix: str) -> tuple[dict[str, float], float] | None:
    """({subset: score}, mean input half-unit) or None when the extraction lost a cell."""
    printed = {name: row[f"{prefix}_{column}"] for column, name in PAPER_COLUMNS.items()}
    if "NA" in printed.values():
        return None
    return {k: float(v) for k, v in printed.items()}, sum(half_unit(v) for v in printed.values()) / len(printed)


def derived_checks(row: dict) -> dict[str, tuple[float, float, float]]:
    """field -> (recomputed, printed, tolerance) for every derived field the row allows."""
    checks = {}
    speech, text = subset_scores(row, "s"), subset_scores(row, "t")
    if speech:
        checks["s_overall"] = (overall(speech[0], PAPER_SUBSETS), float(row["s_overall"]), PRINTED_HALF_UNIT + speech[1])
    if text:
        checks["t_overall"] = (overall(text[0], PAPER_SUBSETS), float(row["t_overall"]), PRINTED_HALF_UNIT + text[1])
    if speech and text and row["gap"] != "NA":
        checks["gap"] = (modality_gap(speech[0], text[0], PAPER_SUBSETS), float(row["gap"]),
                         PRINTED_HALF_UNIT + speech[1] + text[1])
    if row["gap"] != "NA":
        checks["gap_printed"] = (float(row["t_overall"]) - float(row["s_overall"]), float(row["gap"]), 3 * PRINTED_HALF_UNIT)
    return checks


ROWS = load_rows()


def test_table_has_forty_rows_of_four_models_two_strategies_five_steps():
    assert len(ROWS) == 40
    assert {(r["model"], r["strategy"]) for r in ROWS} == {
        (m, s) for m in ("Qwen2.5-1.5B", "Qwen2.5-7B", "Llama3.2-3B", "Llama3.1-8B") for s in ("Full", "LoRA")}
    assert sorted({int(r["steps"]) for r in ROWS}) == [2000, 4000, 6000, 8000, 10000]


@pytest.mark.parametrize("row", ROWS, ids=[f"{r['model']}-{r['strategy']}-{r['steps']}" for r in ROWS])
def test_overall_and_gap_reproduce_the_printed_values(row):
    checks = derived_checks(row)
    expected_to_fail = set() if row["mismatch"] == "-" else set(row["mismatch"].split(","))
    assert expected_to_fail <= set(checks), f"listed mismatch {expected_to_fail - set(checks)} cannot even be computed"
    for name, (recomputed, printed, tolerance) in checks.items():
        agrees = abs(recomputed - printed) <= tolerance + FLOAT_SLACK
        if name in expected_to_fail:
            assert not agrees, f"{name} is listed as a mismatch but reproduces ({recomputed:.4f} vs {printed})"
        else:
            assert agrees, f"{name}: recomputed {recomputed:.4f}, printed {printed}, tolerance {tolerance:.4f}"


def test_nearly_every_derived_value_is_checked():
    checks = [derived_checks(r) for r in ROWS]
    assert sum(len(c) for c in checks) == 4 * 38 + 1  # two rows garbled by the extraction: one check left
    mismatches = sum(0 if r["mismatch"] == "-" else len(r["mismatch"].split(",")) for r in ROWS)
    assert mismatches == 10  # in 5 rows, each explained in the note column


def test_spec_check_row():
    speech = dict(zip(PAPER_SUBSETS, (77.50, 15.55, 25.27, 26.25, 31.83)))
    text = dict(zip(PAPER_SUBSETS, (96.73, 20.16, 61.10, 42.06, 44.44)))
    assert round(overall(speech), 2) == 35.28
    assert round(overall(text), 2) == 52.90
    assert round(modality_gap(speech, text), 2) == 17.62


def test_official_overall_scales_judge_subsets_by_twenty():
    scores = {s: 50.0 for s in OFFICIAL_SUBSETS} | {"alpacaeval_full": 4.0, "commoneval": 3.0, "wildvoice": 2.5}
    expected = (80 + 60 + 50 + 6 * 50) / 9
    assert math.isclose(overall(scores, "official"), expected)
    assert resolve_subsets("paper") == PAPER_SUBSETS


def test_missing_subset_is_named_never_averaged_over_fewer():
    scores = dict(zip(PAPER_SUBSETS, (1.0, 2.0, 3.0, 4.0, 5.0)))
    del scores["mmsu"]
    with pytest.raises(MissingSubsetError, match=r"\['mmsu'\]"):
        overall(scores)
    with pytest.raises(MissingSubsetError, match="not finite"):
        overall(scores | {"mmsu": math.nan})
    with pytest.raises(ValueError, match="unknown subsets"):
        overall(scores, "nine")
