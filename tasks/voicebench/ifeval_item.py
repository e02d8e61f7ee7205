"""An IFEval item's score as lm-eval logs it and as VoiceBench aggregates it.

lm-eval keeps one value per item and metric, logs it in the sample file and hands the list to the metric's
aggregation. VoiceBench's `final` pools its instruction-level parts over all instructions, so the aggregation
needs each item's verdict; the leaderboard (lslm_eval.report.runs) reads one finite number per item from the
sample log. `IFEvalItemScore` is both: a float (the item's own mean of the four parts, in percent: what the log
shows) that carries the verdict (what `final_of_items` pools).
"""

from __future__ import annotations

from collections.abc import Sequence

from lslm_eval.scoring.ifeval import IFEvalVerdict, ifeval_scores


def item_final(verdict: IFEvalVerdict) -> float:
    """One item's mean of prompt/instruction x strict/loose, in percent (instruction parts: its share passed)."""
    parts = (float(verdict.prompt_strict), sum(verdict.instruction_strict) / len(verdict.instruction_strict),
             float(verdict.prompt_loose), sum(verdict.instruction_loose) / len(verdict.instruction_loose))
    return 100.0 * sum(parts) / len(parts)


class IFEvalItemScore(float):
    """item_final(verdict) as a float, with `verdict` kept for the pooled aggregation."""

    verdict: IFEvalVerdict

    def __new__(cls, verdict: IFEvalVerdict) -> IFEvalItemScore:
        score = super().__new__(cls, item_final(verdict))
        score.verdict = verdict
        return score

    def __reduce__(self):
        return type(self), (self.verdict,)


def final_of_items(items: Sequence[IFEvalItemScore]) -> float:
    """VoiceBench's IFEval `final` over items: the mean of the four parts, instruction parts pooled (percent)."""
    missing = [type(item).__name__ for item in items if not isinstance(item, IFEvalItemScore)]
    if missing:
        raise TypeError(f"final_of_items needs IFEvalItemScore values (from process_results), got {missing[0]}")
    return ifeval_scores([item.verdict for item in items])["final"]
