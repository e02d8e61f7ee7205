"""The one text-twin pass: the same prompts with the transcript in the query, every layer recorded.

    states = text_twin_states(model, turns, transcripts)    # one (L+1, T_t, d) float32 per row

The twin of a speech request is built by the backend itself (`build_items(turns, None,
transcripts)`): the same conversation with the transcript's tokens where the speech was, so every
position outside the query span is the same as in the speech prompt. Probing (runner, plugin) and
the interventions that need text targets (angle, length) all take their text states from here.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from .hooks import capture_layers, span_states


@torch.no_grad()
def text_twin_states(model, turns: Sequence[str], transcripts: Sequence[str]) -> list[Tensor]:
    """One forward pass over the text twins; each row's query span at layers 0..L, (L+1, T_t, d)."""
    missing = [row for row, text in enumerate(transcripts) if not text]
    if missing:
        raise ValueError(f"the text twin needs a transcript; rows {missing} have none")
    twins = model.collate(model.build_items(list(turns), None, list(transcripts)))
    with capture_layers(model) as captured:
        model(twins)
    return [span_states(twins, captured, row) for row in range(len(turns))]
