"""The backend interface: what every speech LM family offers to tasks, probes, interventions, trainer.

A backend is an object with

    tokenizer, prompt, config, device, dtype
    build_items(user_turns, wavs=None, transcripts=None) -> list[PromptItem]
        one item per request; wavs[i] None is a text request. A user turn holds `<audio>` where
        the query goes: the speech (the backend's own speech embeddings) or, for the text twin,
        the transcript's tokens. Everything outside the query span is the same token ids in both,
        so a speech item and its twin differ only inside the span.
    collate(items, padding_side="left") -> PromptBatch
        inputs_embeds (B, S, d) of the language model, attention mask, positions, spans carried.
    forward(batch, **kw) -> the language model's output (logits, loss with labels), from inputs_embeds
    response_logits(batch) -> (logits (n, V), targets (n,))
        a labelled batch's n response tokens, row-major: what a training loss reads (the LSLM projects
        only those positions onto the vocabulary)
    generate(batch, max_new_tokens, do_sample, temperature, top_p, stop) -> list[str]
    decoder_layers() -> nn.ModuleList
        the blocks hooks attach to: layer l (1-based) is the output of block l, layer 0 the inputs_embeds.
    language_model
        the module PEFT wraps and `save_pretrained` writes the trained parts of (read-only: to
        replace it, set the attribute behind it, since nn.Module files a Module value past a setter).

Invariants every backend keeps (tests/test_backend_*.py check them per family):
    - a speech item's span is exactly its speech embeddings, never padding, never template;
    - a speech request whose prompt holds no speech positions is an error, not a text answer;
    - batched greedy generation equals generating each item alone.

`LSLM` (lslm_eval/model.py) is the Whisper + adaptor backend; `native.NativeSpeechLM` serves the
audio LMs that transformers implements.
"""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

from torch import nn

from ..prompt import PromptBatch, PromptItem

INTERFACE = ("tokenizer", "prompt", "config", "device", "dtype", "build_items", "collate", "forward", "response_logits",
             "generate", "decoder_layers", "language_model")


@runtime_checkable
class SpeechLM(Protocol):
    """Structural type of a backend (see the module docstring for each member's contract)."""

    tokenizer: object
    prompt: object
    config: object

    def build_items(self, user_turns: Sequence[str], wavs: Sequence | None = None,
                    transcripts: Sequence[str | None] | None = None) -> list[PromptItem]: ...

    def collate(self, items: Sequence[PromptItem], padding_side: str = "left") -> PromptBatch: ...

    def forward(self, batch: PromptBatch, **kwargs): ...

    def response_logits(self, batch: PromptBatch) -> tuple: ...

    def generate(self, batch: PromptBatch, max_new_tokens: int = 256, do_sample: bool = False,
                 temperature: float = 1.0, top_p: float = 1.0, stop: Sequence[str] = (), max_rows: int | None = None,
                 stats=None) -> list[str]: ...  # via lslm_eval.generation.generate

    def decoder_layers(self) -> nn.ModuleList: ...


def missing_members(model) -> list[str]:
    """The interface members `model` lacks (empty for a complete backend)."""
    return [name for name in INTERFACE if not hasattr(model, name)]
