"""Overall scores and the modality gap (SPEC section 7; paper 1, section 4.3).

A subset score is in that subset's own unit: percent for most subsets, the 1-5 judge scale for
the open-ended ones. `subset_scale` (lslm_eval.benchmarks) turns a score into Overall points
(VoiceBench's leaderboard multiplies judge scores by 20). Overall = unweighted mean of the subsets' points of one modality;
GAP = Overall_text - Overall_speech, in points.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from lslm_eval.benchmarks import GROUPS, OFFICIAL, PAPER
from lslm_eval.benchmarks import resolve_subsets
from lslm_eval.benchmarks import scale as subset_scale

PAPER_SUBSETS = GROUPS[PAPER]  # paper 1, table 2 order
OFFICIAL_SUBSETS = GROUPS[OFFICIAL]  # VoiceBench leaderboard Overall (SPEC section 8)
SUBSET_SETS = GROUPS


class MissingSubsetError(ValueError):
    """An Overall was asked over subsets that have no score."""


def overall(scores: Mapping[str, float], subsets: str | Sequence[str] = PAPER_SUBSETS, *, modality: str = "") -> float:
    """Unweighted mean of the subsets' points; every listed subset must have a finite score."""
    names = resolve_subsets(subsets)
    label = f"{modality} " if modality else ""
    missing = [s for s in names if s not in scores]
    if missing:
        raise MissingSubsetError(
            f"{label}Overall over {list(names)} lacks scores for {missing}; evaluate those subsets "
            f"or choose the subsets the Overall is taken over (never averaged over fewer)"
        )
    bad = [s for s in names if not math.isfinite(float(scores[s]))]
    if bad:
        raise MissingSubsetError(f"{label}scores of {bad} are not finite: {[scores[s] for s in bad]}")
    return sum(subset_scale(s) * float(scores[s]) for s in names) / len(names)


def modality_gap(speech: Mapping[str, float], text: Mapping[str, float], subsets: str | Sequence[str] = PAPER_SUBSETS) -> float:
    """GAP = Overall_text - Overall_speech in points (positive: speech input scores lower)."""
    return overall(text, subsets, modality="text") - overall(speech, subsets, modality="speech")
