"""The one prompt builder for both modalities (SPEC §1).

A prompt is `prefix | query | suffix`. The prefix and suffix come from the chat template rendered
once around a sentinel, so they are the same token ids whether the query is speech frames or the
transcript's tokens. The query span is carried with the batch as (start, length) and never
recovered from token ids; padding never falls inside a span.

The user turn a task sends may hold the placeholder `<audio>`: the query goes there (speech frames,
or the transcript's tokens for the paired text pass) and the text around it is template. A user
turn without the placeholder is a text task: the whole turn is the query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import Tensor

AUDIO_PLACEHOLDER = "<audio>"
_SENTINEL = "\uE000QUERY\uE000"  # a private-use code point no tokenizer template emits
IGNORE_INDEX = -100  # label of positions that carry no loss



def predicts_response(labels: Tensor) -> Tensor:
    """(B, S) bool: position t's logits predict a response token (labels[:, t + 1]); the last position never does."""
    mask = torch.zeros_like(labels, dtype=torch.bool)
    mask[:, :-1] = labels[:, 1:] != IGNORE_INDEX
    return mask

@dataclass
class PromptItem:
    """One request: token ids around the query; the query is token ids (text) or embeddings (T_s, d)."""

    prefix_ids: list[int]
    query: list[int] | Tensor
    suffix_ids: list[int]
    response_ids: list[int] | None = None  # training only: the target after the suffix

    @property
    def is_speech(self) -> bool:
        return isinstance(self.query, Tensor)

    @property
    def query_len(self) -> int:
        return self.query.shape[0] if self.is_speech else len(self.query)

    def __len__(self) -> int:
        return len(self.prefix_ids) + self.query_len + len(self.suffix_ids) + len(self.response_ids or [])


@dataclass
class PromptBatch:
    """Padded model input. inputs_embeds (B, S, d); attention_mask, position_ids (B, S);
    span_start, span_len (B,): the query span of row b is [span_start[b], span_start[b] + span_len[b]).
    labels (B, S) when responses were given (IGNORE_INDEX outside the response).
    speech_rows[b]: whether row b's query is speech (None when unknown)."""

    inputs_embeds: Tensor
    attention_mask: Tensor
    position_ids: Tensor
    span_start: Tensor
    span_len: Tensor
    labels: Tensor | None = None
    speech_rows: list[bool] | None = None

    def span(self, row: int) -> slice:
        start = int(self.span_start[row])
        return slice(start, start + int(self.span_len[row]))


class PromptBuilder:
    """Renders a user turn into a `PromptItem` with the tokenizer's (or a given) chat template."""

    def __init__(self, tokenizer, system_prompt: str | None = None, chat_template: str | None = None, apply_chat_template: bool = True):
        self.tokenizer = tokenizer
        self.system_prompt = system_prompt
        self.chat_template = chat_template
        self.apply_chat_template = apply_chat_template
        self._template_prefix, self._template_suffix = self._split_template() if apply_chat_template else ("", "")

    def with_system_prompt(self, system_prompt: str | None) -> "PromptBuilder":
        """The same builder with another system prompt."""
        return PromptBuilder(self.tokenizer, system_prompt, self.chat_template, self.apply_chat_template)

    def _split_template(self) -> tuple[str, str]:
        messages = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        messages.append({"role": "user", "content": _SENTINEL})
        rendered = self.tokenizer.apply_chat_template(messages, chat_template=self.chat_template, tokenize=False, add_generation_prompt=True)
        if rendered.count(_SENTINEL) != 1:
            raise ValueError("the chat template must place the user message exactly once")
        prefix, suffix = rendered.split(_SENTINEL)
        return prefix, suffix

    def _encode(self, text: str, special: bool = False) -> list[int]:
        return self.tokenizer(text, add_special_tokens=special)["input_ids"] if text else []

    def build(self, user_turn: str, speech: Tensor | None = None, transcript: str | None = None) -> PromptItem:
        """user_turn: the task's text. With `<audio>` in it, the query is `speech` (T_s, d) if given,
        else `transcript` (the paired text pass). Without it, the whole turn is a text query."""
        if AUDIO_PLACEHOLDER in user_turn:
            before, after = user_turn.split(AUDIO_PLACEHOLDER, 1)
            if AUDIO_PLACEHOLDER in after:
                raise ValueError("one speech query per request: the user turn holds more than one <audio>")
            if speech is not None:
                query: list[int] | Tensor = speech
            elif transcript is not None:
                query = self._encode(transcript)
            else:
                raise ValueError("the user turn holds <audio> but neither speech nor a transcript was given")
        else:
            if speech is not None:
                raise ValueError("speech was given but the user turn has no <audio> placeholder to put it in")
            before, after, query = "", "", self._encode(user_turn)
        if len(query) == 0:
            raise ValueError("the query is empty")
        prefix_ids = self._encode(self._template_prefix + before, special=not self.apply_chat_template)
        return PromptItem(prefix_ids, query, self._encode(after + self._template_suffix))


def collate(items: Sequence[PromptItem], embed_tokens: Callable[[Tensor], Tensor], padding_side: str = "left") -> PromptBatch:
    """Embed and pad items into one batch. `embed_tokens`: LongTensor (n,) -> (n, d).

    Left padding for generation (every row ends at the same position), right padding for training.
    """
    if padding_side not in ("left", "right"):
        raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
    rows, starts, labels = [], [], []
    for item in items:
        ids = lambda xs: torch.tensor(xs, dtype=torch.long)
        pieces = [embed_tokens(ids(item.prefix_ids)) if item.prefix_ids else None]
        pieces.append(item.query if item.is_speech else embed_tokens(ids(item.query)))
        tail = item.suffix_ids + (item.response_ids or [])
        pieces.append(embed_tokens(ids(tail)) if tail else None)
        row = torch.cat([p for p in pieces if p is not None], dim=0)
        rows.append(row)
        starts.append(len(item.prefix_ids))
        label = torch.full((row.shape[0],), IGNORE_INDEX, dtype=torch.long)
        if item.response_ids:
            label[row.shape[0] - len(item.response_ids) :] = ids(item.response_ids)
        labels.append(label)
    width = max(r.shape[0] for r in rows)
    dim, dtype, device = rows[0].shape[1], rows[0].dtype, rows[0].device
    embeds = torch.zeros(len(rows), width, dim, dtype=dtype, device=device)
    mask = torch.zeros(len(rows), width, dtype=torch.long, device=device)
    label_batch = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long, device=device)
    span_start = torch.zeros(len(rows), dtype=torch.long)
    for b, (row, start, label) in enumerate(zip(rows, starts, labels)):
        offset = width - row.shape[0] if padding_side == "left" else 0
        embeds[b, offset : offset + row.shape[0]] = row.to(dtype)
        mask[b, offset : offset + row.shape[0]] = 1
        label_batch[b, offset : offset + row.shape[0]] = label
        span_start[b] = offset + start
    position_ids = (mask.cumsum(dim=1) - 1).clamp(min=0)
    has_labels = any(item.response_ids for item in items)
    span_len = torch.tensor([item.query_len for item in items], dtype=torch.long)
    return PromptBatch(embeds, mask, position_ids, span_start, span_len, label_batch if has_labels else None,
                       [item.is_speech for item in items])
