"""Apply an intervention to the speech span while the prompt is processed (SPEC §6).

    with intervention(model, batch, setting, speech_rows, turns, transcripts) as edited:
        texts = model.generate(edited)

Layer 0 edits the batch's `inputs_embeds` (a copy: the caller's batch is untouched). Layer l >= 1
registers a forward hook on decoder layer l that rewrites the span rows of its output h_l once, at
the prefill; decoding continues from the edited cache. The hook is removed when the block exits,
also when it raises. Only the speech span rows of `speech_rows` change; every other position and
row is bit-identical.

Angle and length need the paired text pass at the same layer: the transcript is put in the same
prompt (`LSLM.build_items(turns, None, transcripts)`), h_0 is its token embeddings and h_l comes from
a forward pass with `probe.hooks.capture_layers`. Targets come from `probe.paths` via `edits`.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace
from typing import Iterator, Sequence

import torch
from torch import Tensor

from ..probe.hooks import capture_layers, decoder_layers
from ..prompt import PromptBatch
from .edits import calibrate, edit_tokens
from .settings import CALIBRATE_MEAN, Intervention


def check_layer(model, setting: Intervention) -> None:
    """Refuse a layer the model does not have."""
    n_layers = len(decoder_layers(model.llm))
    if setting.layer > n_layers:
        raise ValueError(f"layer={setting.layer} but the LLM has {n_layers} decoder layers (use 0..{n_layers})")


def edit_span(hs_l: Tensor, ht_l: Tensor | None, setting: Intervention) -> Tensor:
    """One row's speech span (T_s, d) -> the edited span (T_s, d); ht_l (T_t, d) is the text twin at the same layer."""
    if setting.is_calibration:
        return calibrate(hs_l, setting.stats, mean_only=setting.edit == CALIBRATE_MEAN)
    return edit_tokens(hs_l, ht_l, setting.edit, setting.selection, setting.k)


@torch.no_grad()
def text_states(model, turns: Sequence[str], transcripts: Sequence[str], layer: int) -> list[Tensor]:
    """The text twins' span states at `layer`: one (T_t, d) per transcript, same prompt as the speech."""
    twins = model.collate(model.build_items(list(turns), None, list(transcripts)))
    if layer == 0:
        return [twins.inputs_embeds[row, twins.span(row)] for row in range(len(turns))]
    with capture_layers(model.llm) as captured:
        model(twins)
    return [captured[layer - 1][row, twins.span(row)] for row in range(len(turns))]


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
    done = False

    def rewrite(module, args, output):
        nonlocal done
        if done:  # decoding steps: the edited prefill is already in the cache
            return None
        hidden = output[0] if isinstance(output, tuple) else output
        if hidden.shape[1] != width:
            raise RuntimeError(f"the first pass through layer {setting.layer} saw {hidden.shape[1]} positions, "
                               f"not the prompt's {width}: the prefill must process the whole prompt at once")
        done = True
        edited = _edit_rows(hidden, batch, rows, text, setting)
        return (edited, *output[1:]) if isinstance(output, tuple) else edited

    handle = decoder_layers(model.llm)[setting.layer - 1].register_forward_hook(rewrite)
    try:
        yield batch
    finally:
        handle.remove()
