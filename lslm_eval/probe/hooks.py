"""Forward hooks that read decoder-layer outputs, as context managers that always remove themselves.

    with capture_layers(model.llm, first_call_only=True) as captured:
        model.generate(batch)            # captured[l] = output of decoder layer l+1 at the prefill, (B, S, d)

Layer 0 (the input embeddings) is the batch's `inputs_embeds`; `span_states` stacks both and cuts
one row's query span: (L+1, T, d), float32, never a padded position.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import Tensor, nn

from ..prompt import PromptBatch


def decoder_layers(llm: nn.Module) -> nn.ModuleList:
    """The LLM's decoder blocks: the longest ModuleList with `num_hidden_layers` entries."""
    n_layers = getattr(getattr(llm, "config", None), "num_hidden_layers", None)
    lists = [m for m in llm.modules() if isinstance(m, nn.ModuleList) and (n_layers is None or len(m) == n_layers)]
    if not lists:
        raise ValueError(f"cannot find the decoder layers of {type(llm).__name__} (expected a ModuleList of {n_layers} blocks)")
    return max(lists, key=len)


@contextmanager
def capture_layers(llm: nn.Module, first_call_only: bool = False) -> Iterator[list[Tensor | None]]:
    """Yield a list that fills with each decoder layer's output hidden state (B, S, d).

    `first_call_only`: keep the first forward pass (a generation's prefill), not the decoding steps.
    The hooks are removed when the block exits, also when it raises.
    """
    layers = decoder_layers(llm)
    captured: list[Tensor | None] = [None] * len(layers)

    def recorder(index: int):
        def hook(module, args, output):
            if first_call_only and captured[index] is not None:
                return
            captured[index] = (output[0] if isinstance(output, tuple) else output).detach()

        return hook

    handles = [layer.register_forward_hook(recorder(i)) for i, layer in enumerate(layers)]
    try:
        yield captured
    finally:
        for handle in handles:
            handle.remove()


def span_states(batch: PromptBatch, captured: list[Tensor | None], row: int) -> Tensor:
    """Row `row`'s query span at layers 0..L: (L+1, T, d) in float32."""
    if any(c is None for c in captured):
        raise RuntimeError("a decoder layer produced no output inside the capture block")
    span = batch.span(row)
    layers = [batch.inputs_embeds[row, span]] + [c[row, span] for c in captured]
    return torch.stack(layers).float()
