"""Estimating calibration statistics on paired items, and keeping them apart from the evaluated items (SPEC §6).

An item is identified by a fingerprint of its speech: the sha256 of its 16 kHz float32 samples. The
same recording has the same fingerprint whichever task name, split or position it is loaded under,
so an overlap is caught even when a split is renamed or re-ordered; two different recordings of the
same sentence (another speaker or accent) are different items.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from typing import Iterable, Sequence

import numpy as np

from ..probe.runner import PairedItem, paired_states
from .edits import CalibrationStats

log = logging.getLogger(__name__)
FINGERPRINT_PREFIX = "wav-sha256:"


def speech_fingerprint(wav) -> str:
    """A waveform (n,) 16 kHz -> its identity "wav-sha256:<16 hex digits>" (float32 samples hashed)."""
    samples = np.ascontiguousarray(np.asarray(wav, dtype=np.float32))
    return FINGERPRINT_PREFIX + hashlib.sha256(samples.tobytes()).hexdigest()[:16]


def estimate_calibration(model, items: Sequence[PairedItem], layer: int = 0, batch_size: int = 8,
                         info: dict | None = None) -> CalibrationStats:
    """Per-dimension speech and text moments at `layer` over the items' spans (paired forward passes).

    The statistics remember every item by `speech_fingerprint`."""
    stats = CalibrationStats(layer)
    stats.info = dict(info or {})
    keyed = [replace(item, key=speech_fingerprint(item.wav)) for item in items]
    for key, hs, ht in paired_states(model, keyed, batch_size):
        if not 0 <= layer < hs.shape[0]:
            raise ValueError(f"layer {layer} out of range: the model has layers 0..{hs.shape[0] - 1}")
        stats.update(hs[layer], ht[layer], key)
    return stats


def check_overlap(stats: CalibrationStats, wavs: Iterable, allow: bool = False) -> int:
    """Refuse evaluation items whose speech was used for the estimate; with `allow`, warn loudly instead.

    Returns the number of overlapping items."""
    evaluated = {speech_fingerprint(wav) for wav in wavs}
    shared = stats.keys & evaluated
    if not shared:
        return 0
    if not allow:
        try:
            stats.check_disjoint(evaluated)
        except ValueError as err:
            raise ValueError(f"{err} (or pass allow_overlap=true to evaluate anyway, with a loud warning)") from None
    log.warning("!" * 72)
    log.warning("CALIBRATION OVERLAP: %d of %d evaluated items were used to estimate the calibration "
                "statistics (allow_overlap=true). Scores are optimistic; do not report them as held-out.",
                len(shared), len(evaluated))
    log.warning("!" * 72)
    return len(shared)
