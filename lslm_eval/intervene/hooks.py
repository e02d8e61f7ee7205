"""Apply an intervention to the speech span while the prompt is processed (SPEC §6).

    with intervention(model, batch, setting, speech_rows, turns, transcripts) as edited:
        texts = model.generate(edited)

Layer 0 edits the batch's `inputs_embeds` (a copy: the caller's batch is untouched). Layer l >= 1
rewrites the span rows of decoder layer l's output once, at the prefill, through the one hook
primitive (`probe.hooks.on_layer_outputs`); decoding continues from the edited cache. The hook is
removed when the block exits, also when it raises. Only the speech span rows of `speech_rows`
change; every other position and row is bit-identical.

Angle and length need the paired text pass at the same layer: it is the one text-twin pass
(`probe.twin.text_twin_states`). Targets come from `probe.paths` via `edits`.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace
from typing import Iterator, Sequence

import torch
from torch import Tensor

from ..probe.hooks import n_layers, on_layer_outputs
from ..probe.twin import text_twin_states
from ..prompt import PromptBatch
from .edits import calibrate, edit_tokens
from .settings import CALIBRATE_MEAN, Intervention


def check_layer(model, setting: Intervention) -> None:
    """Refuse a layer the model does not have."""
    count = n_layers(model)
    if setting.layer > count:
        raise ValueError(f"layer={setting.layer} but the LLM has {count} decoder layers (use 0..{count})")


def edit_span(hs_l: Tensor, ht_l: Tensor | None, setting: Intervention) -> Tensor:
    """One row's speech span (T_s, d) -> the edited span (T_s, d); ht_l (T_t, d) is the text twin at the same layer."""
    if setting.is_calibration:
        return calibrate(hs_l, setting.stats, mean_only=setting.edit == CALIBRATE_MEAN)
    return edit_tokens(hs_l, ht_l.to(device=hs_l.device, dtype=hs_l.dtype), setting.edit, setting.selection, setting.k)


def text_states(model, turns: Sequence[str], transcripts: Sequence[str], layer: int) -> list[Tensor]:
    """The text twins' span states at `layer`: one (T_t, d) per transcript, same prompt as the speech."""
    return [states[layer] for states in text_twin_states(model, turns, transcripts)]


def _edit_rows(states: Tensor, batch: PromptBatch, rows: Sequence[int], text: Sequence[Tensor | None],
               setting: Intervention) -> Tensor:
    """states (B, S, d) -> a copy whose span rows of `rows` are edited."""
    out = states.clone()
    for row, ht_l in zip(rows, text):
        span = batch.span(row)
        out[row, span] = edit_span(states[row, span], ht_l, setting).to(out.dtype)
    return out


@contextmanager
def intervention(model, batch: PromptBatch, setting: Intervention, speech_rows: Sequence[int],
                 turns: Sequence[str] | None = None, transcripts: Sequence[str | None] | None = None) -> Iterator[PromptBatch]:
    """Yield the batch to run; inside the block the speech spans of `speech_rows` are edited at the prefill.

    turns, transcripts: per batch row, the user turn and the transcript (needed by angle and length).
    """
    check_layer(model, setting)
    rows = list(speech_rows)
    text: list[Tensor | None] = [None] * len(rows)
    if setting.needs_text and rows:
        missing = [row for row in rows if transcripts is None or not transcripts[row]]
        if missing:
            raise ValueError(f"intervene={setting.edit} needs each speech item's transcript (the paired text pass); "
                             f"batch rows {missing} have none. The task's doc_to_audio must give 'transcript'.")
        text = text_states(model, [turns[row] for row in rows], [transcripts[row] for row in rows], setting.layer)
    if setting.layer == 0 or not rows:
        yield replace(batch, inputs_embeds=_edit_rows(batch.inputs_embeds, batch, rows, text, setting)) if rows else batch
        return
    width = batch.inputs_embeds.shape[1]

    def rewrite(layer: int, hidden: Tensor) -> Tensor:
        if hidden.shape[1] != width:
            raise RuntimeError(f"the first pass through layer {layer} saw {hidden.shape[1]} positions, "
                               f"not the prompt's {width}: the prefill must process the whole prompt at once")
        return _edit_rows(hidden, batch, rows, text, setting)

    with on_layer_outputs(model, [setting.layer], rewrite, first_call_only=True):
        yield batch
