"""Probing an LSLM on paired items: speech and transcript through the same prompt, both recorded.

`Prober` streams every pair into the statistics (stats.ProbeStatistics, cka.CrossLayerCKA) and
writes one JSON of aggregates (plus optional per-item JSONL). `paired_states` runs one forward pass
per modality, for `lslm-eval probe`; the lm-eval model captures the speech pass during generation
instead and runs only the text pass (plugins/lslm.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from torch import Tensor

from ..prompt import AUDIO_PLACEHOLDER
from .cka import ALIGNED, POOLED, CrossLayerCKA
from .hooks import capture_layers, span_states
from .stats import ProbeStatistics
from .twin import text_twin_states

AGGREGATES_FILE = "probe.json"
ITEMS_FILE = "probe_items.jsonl"


@dataclass
class PairedItem:
    key: str  # the item's stable identity
    wav: np.ndarray  # (n,) 16 kHz
    transcript: str
    user_turn: str = AUDIO_PLACEHOLDER


class Prober:
    """Accumulates paired span states; memory stays constant in the number of items."""

    def __init__(self, out_dir: str | Path, info: dict, cka_pooled_pairs: str = "all", cka_aligned_pairs: str = "diagonal",
                 debiased: bool = False, keep_items: bool = False):
        self.out_dir = Path(out_dir)
        self.info = dict(info)
        self.stats = ProbeStatistics(keep_items=keep_items)
        self.cka = {POOLED: CrossLayerCKA(POOLED, cka_pooled_pairs, debiased), ALIGNED: CrossLayerCKA(ALIGNED, cka_aligned_pairs, debiased)}

    def add(self, hs: Tensor, ht: Tensor, key: str | None = None) -> None:
        """hs (L+1, T_s, d), ht (L+1, T_t, d): one item's speech and text span states."""
        self.stats.update(hs, ht, key)
        for cka in self.cka.values():
            cka.update(hs, ht)

    def merge(self, other: "Prober") -> "Prober":
        """Fold another shard's Prober (another process's items, same model and options) into this one."""
        self.stats.merge(other.stats)
        for view, cka in self.cka.items():
            cka.merge(other.cka[view])
        for task in other.info.get("tasks", []):
            if task not in self.info.setdefault("tasks", []):
                self.info["tasks"].append(task)
        return self

    def result(self) -> dict:
        return {"info": self.info, **self.stats.result(), "cka": {view: cka.result() for view, cka in self.cka.items()}}

    def write(self) -> Path:
        """Write (or rewrite) the aggregates JSON and, when items are kept, the per-item JSONL."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        result = self.result()
        items = result.pop("items", None)
        path = self.out_dir / AGGREGATES_FILE
        path.write_text(json.dumps(result, indent=1))
        if items is not None:
            (self.out_dir / ITEMS_FILE).write_text("".join(json.dumps(item) + "\n" for item in items))
        return path


@torch.no_grad()
def paired_states(model, items: Sequence[PairedItem], batch_size: int = 8) -> Iterator[tuple[str, Tensor, Tensor]]:
    """(key, hs, ht) per item: one forward pass per modality, batched; spans only, no padding."""
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        turns, transcripts = [i.user_turn for i in chunk], [i.transcript for i in chunk]
        batch = model.collate(model.build_items(turns, [i.wav for i in chunk], transcripts))
        with capture_layers(model) as captured:
            model(batch)
        speech = [span_states(batch, captured, row) for row in range(len(chunk))]
        for item, hs, ht in zip(chunk, speech, text_twin_states(model, turns, transcripts)):
            yield item.key, hs, ht
