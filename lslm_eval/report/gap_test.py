"""The paired tables of `compare`, in Markdown: each side's derived statistics with their intervals, and the
paired GAP test of `--gap_test`.

For the GAP test both sides must be the lm-eval output of one checkpoint with sample logs: the test resamples
the items both were scored on (stratified paired bootstrap; p from a sign-flip test, report.bootstrap).
"""

from __future__ import annotations

from lslm_eval.report.sources import GateSide

TEST_DECIMALS = 4


def gap_test_table(baseline: GateSide, candidate: GateSide, n_resamples: int, confidence: float, seed: int) -> str:
    """Paired bootstrap of GAP_candidate - GAP_baseline over the items both were scored on; the same for
    forgetting, base gap and cascade gap where both checkpoints have their arms."""
    from lslm_eval.report.bootstrap import compare_gaps
    from lslm_eval.report.leaderboard import DERIVED
    from lslm_eval.report.render import markdown_table

    rows = []
    for side, flag in ((baseline, "--baseline"), (candidate, "--candidate")):
        if side.board is None or len(side.board.rows) != 1:
            raise ValueError(f"--gap_test needs {flag} to be the lm-eval output of one checkpoint (with sample logs)")
        if not side.board.rows[0].paired:
            raise ValueError(f"--gap_test: {side.board.rows[0].name} has no per-item scores; run lm_eval with --log_samples")
        rows.append(side.board.rows[0])
    level = f"{round(confidence * 100)}%"
    columns = ["statistic", "baseline", "candidate", "baseline value", "candidate value", "difference", f"{level} low",
               f"{level} high", "SE", "p-value", "items"]
    tests = [("GAP", rows[0].paired, rows[1].paired, rows[0].gap, rows[1].gap)]
    for name, (title, _, kind) in DERIVED.items():  # the other differences both checkpoints have (forgetting...)
        if name != "gap" and kind == "difference" and name in rows[0].paired_by and name in rows[1].paired_by:
            tests.append((title, rows[0].paired_by[name], rows[1].paired_by[name], rows[0].derived[name].estimate,
                          rows[1].derived[name].estimate))
    table, notes = [], []
    for title, before, after, value_before, value_after in tests:
        result = compare_gaps(after, before, n_resamples=n_resamples, confidence=confidence, seed=seed)
        table.append([title, rows[0].name, rows[1].name, value_before, value_after, result.difference, result.low,
                      result.high, result.se, result.p_value, sum(result.n_items.values())])
        unshared = sum(result.n_unshared.values())
        if unshared:
            notes.append(f"{title}: {unshared} items scored for only one checkpoint are left out of the difference.")
    note = "".join(f"\n{n}\n" for n in notes)
    return ("\n**Paired GAP test: candidate - baseline** (stratified paired bootstrap; p from a sign-flip test; "
            "forgetting, base gap, cascade gap alike where both have the arms)\n\n"
            + markdown_table(columns, table, decimals=TEST_DECIMALS) + note)


def paired_statistics_table(baseline: GateSide, candidate: GateSide) -> str:
    """Each side's derived statistics (GAP, forgetting, base gap, cascade gap, recovery) with their stratified
    paired bootstrap intervals, for the sides built from lm-eval output; "" when neither is."""
    from lslm_eval.report.leaderboard import DERIVED
    from lslm_eval.report.render import markdown_table

    table = []
    for label, side in (("baseline", baseline), ("candidate", candidate)):
        for row in side.board.rows if side.board is not None else []:
            for name, (title, _, _) in DERIVED.items():
                d = row.derived.get(name)
                if d is not None:
                    table.append([label, row.name, title, d.estimate, d.low, d.high, d.se])
    if not table:
        return ""
    level = f"{round(next(s.board for s in (baseline, candidate) if s.board is not None).confidence * 100)}%"
    return ("\n**Paired statistics** (stratified paired bootstrap over the items both arms were scored on)\n\n"
            + markdown_table(["side", "run", "statistic", "estimate", f"{level} low", f"{level} high", "SE"], table,
                             decimals=TEST_DECIMALS))
