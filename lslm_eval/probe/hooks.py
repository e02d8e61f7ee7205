"""The one hook primitive: run a function on decoder-layer outputs, addressed by layer number.

Layer l >= 1 is the output of decoder block l of `model.decoder_layers()` (every backend names its
blocks, `backends.base`); layer 0, the input embeddings, is the batch's `inputs_embeds` and needs no
hook. Both uses go through `on_layer_outputs`:

    with capture_layers(model, first_call_only=True) as captured:    # probe: read
        model.generate(batch)            # captured[l-1] = output of layer l at the prefill, (B, S, d)

    with on_layer_outputs(model, [l], edit, first_call_only=True):   # intervene: edit
        model.generate(batch)            # edit(l, h) returns the replacement of h, once, at the prefill

The hooks are removed when the block exits, also when it raises. `span_states` stacks layer 0 and
the captured layers and cuts one row's query span: (L+1, T, d), float32, never a padded position.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterable, Iterator

import torch
from torch import Tensor, nn

from ..prompt import PromptBatch

LayerFn = Callable[[int, Tensor], "Tensor | None"]  # (layer, hidden (B, S, d)) -> replacement or None (read only)


def find_decoder_layers(module: nn.Module) -> nn.ModuleList:
    """A causal LM's decoder blocks: the longest ModuleList with `config.num_hidden_layers` entries.

    For backends whose language model is a plain transformers causal LM; a backend whose layers live
    elsewhere names them in its own `decoder_layers()`."""
    n_layers = getattr(getattr(module, "config", None), "num_hidden_layers", None)
    lists = [m for m in module.modules() if isinstance(m, nn.ModuleList) and (n_layers is None or len(m) == n_layers)]
    if not lists:
        raise ValueError(f"cannot find the decoder layers of {type(module).__name__} (expected a ModuleList of {n_layers} blocks)")
    return max(lists, key=len)


def n_layers(model) -> int:
    """L, the number of decoder layers of a backend (layers 0..L exist)."""
    return len(model.decoder_layers())


def check_layers(model, layers: Iterable[int]) -> list[int]:
    """The layers as a list; refuses any outside 1..L, naming the model's range."""
    layers, count = list(layers), n_layers(model)
    bad = [layer for layer in layers if not 1 <= int(layer) <= count]
    if bad:
        raise ValueError(f"layer(s) {bad} do not exist: the model has decoder layers 1..{count} (layer 0 is the input embeddings)")
    return [int(layer) for layer in layers]


@contextmanager
def on_layer_outputs(model, layers: Iterable[int], fn: LayerFn, first_call_only: bool = False) -> Iterator[None]:
    """Call fn(l, hidden) on the output hidden state of each decoder layer l in `layers` (1-based).

    fn returns None to leave the output as it is, or a tensor of the same shape to replace it.
    `first_call_only`: only the first forward pass through each layer (a generation's prefill), not
    the decoding steps that follow it."""
    blocks = model.decoder_layers()
    seen: set[int] = set()

    def make(layer: int):
        def hook(module, args, output):
            if first_call_only and layer in seen:
                return None
            seen.add(layer)
            hidden = output[0] if isinstance(output, tuple) else output
            replacement = fn(layer, hidden)
            if replacement is None:
                return None
            return (replacement, *output[1:]) if isinstance(output, tuple) else replacement

        return hook

    handles = [blocks[layer - 1].register_forward_hook(make(layer)) for layer in check_layers(model, layers)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def capture_layers(model, first_call_only: bool = False) -> Iterator[list[Tensor | None]]:
    """Yield a list that fills with each decoder layer's output hidden state (B, S, d): entry l-1 is layer l.

    `first_call_only`: keep the first forward pass (a generation's prefill), not the decoding steps."""
    captured: list[Tensor | None] = [None] * n_layers(model)

    def record(layer: int, hidden: Tensor) -> None:
        captured[layer - 1] = hidden.detach()

    with on_layer_outputs(model, range(1, len(captured) + 1), record, first_call_only):
        yield captured


def span_states(batch: PromptBatch, captured: list[Tensor | None], row: int) -> Tensor:
    """Row `row`'s query span at layers 0..L: (L+1, T, d) in float32."""
    if any(c is None for c in captured):
        raise RuntimeError("a decoder layer produced no output inside the capture block")
    span = batch.span(row)
    layers = [batch.inputs_embeds[row, span]] + [c[row, span] for c in captured]
    return torch.stack(layers).float()
