"""Overall scores and the modality gap (SPEC section 7; paper 1, section 4.3).

A subset score is in that subset's own unit: percent for most subsets, the 1-5 judge scale for
the open-ended ones. `SUBSET_SCALE` turns a score into Overall points (VoiceBench's leaderboard
multiplies judge scores by 20). Overall = unweighted mean of the subsets' points of one modality;
GAP = Overall_text - Overall_speech, in points.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

# Subset names follow the project's task names `voicebench_<subset>` / `voicebench_<subset>_text`.
PAPER_SUBSETS = ("advbench", "ifeval", "openbookqa", "mmsu", "sdqa")  # paper 1, table 2 order
OFFICIAL_SUBSETS = (  # VoiceBench leaderboard Overall (SPEC section 8)
    "alpacaeval_full", "commoneval", "wildvoice", "sdqa", "mmsu", "openbookqa", "bbh", "ifeval", "advbench",
)
SUBSET_SETS = {"paper": PAPER_SUBSETS, "official": OFFICIAL_SUBSETS}

JUDGE_SCALE = 20.0  # a 1-5 GPT judge score times 20 is on the 0-100 scale of the other subsets
SUBSET_SCALE = {"alpacaeval_full": JUDGE_SCALE, "commoneval": JUDGE_SCALE, "wildvoice": JUDGE_SCALE}


class MissingSubsetError(ValueError):
    """An Overall was asked over subsets that have no score."""


def subset_scale(subset: str) -> float:
    """Multiplier from a subset's native unit to Overall points (1 for percent-scored subsets)."""
    return SUBSET_SCALE.get(subset, 1.0)


def resolve_subsets(subsets: str | Sequence[str]) -> tuple[str, ...]:
    """`"paper"`, `"official"` or an explicit list -> a tuple of subset names."""
    if isinstance(subsets, str):
        if subsets not in SUBSET_SETS:
            raise ValueError(f"unknown subset set {subsets!r}: use one of {sorted(SUBSET_SETS)} or a list of subsets")
        return SUBSET_SETS[subsets]
    names = tuple(subsets)
    if not names:
        raise ValueError("an Overall needs at least one subset")
    if len(set(names)) != len(names):
        raise ValueError(f"subsets listed twice: {sorted({s for s in names if names.count(s) > 1})}")
    return names


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
