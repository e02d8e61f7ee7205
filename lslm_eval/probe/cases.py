"""One item's alignment case on disk: `stats.alignment_case` as JSON, found again by item key.

    <probe folder>/cases/case_<key>_L<layer>.json    {"key", "layer", "cos", "dist", "path_cos", "path_dist",
                                                      "tokens" (the T_t text tokens' text, when known), "checkpoint"}

The matrices need the item's span states, which probe.json does not keep; `lslm-eval probe --case KEY`
writes them while the states are at hand, and `lslm-eval figures --item KEY` draws them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from torch import Tensor

from .stats import alignment_case

CASES_DIR = "cases"


def case_file_name(key: str, layer: int) -> str:
    """A file name for (key, layer): characters outside [A-Za-z0-9_.-] become '_'."""
    return f"case_{re.sub(r'[^A-Za-z0-9_.-]+', '_', key)}_L{layer}.json"


def save_case(folder: str | Path, hs: Tensor, ht: Tensor, key: str, layer: int | None = None,
              tokens: list[str] | None = None, checkpoint: str | None = None) -> Path:
    """hs (L+1, T_s, d), ht (L+1, T_t, d) -> folder/cases/case_<key>_L<layer>.json; layer None = the last layer.

    `tokens`, the text of the T_t query tokens, label the figure's axis (kept only when there are T_t);
    `checkpoint` names the model in its title."""
    layer = hs.shape[0] - 1 if layer is None else layer
    path = Path(folder) / CASES_DIR / case_file_name(key, layer)
    path.parent.mkdir(parents=True, exist_ok=True)
    case = alignment_case(hs, ht, layer, key)
    if tokens is not None and len(tokens) == ht.shape[1]:
        case["tokens"] = list(tokens)
    if checkpoint:
        case["checkpoint"] = str(checkpoint)
    path.write_text(json.dumps(case))
    return path


def query_tokens(tokenizer, transcript: str) -> list[str]:
    """The text of each token of a transcript as the prompt builder tokenizes the query."""
    ids = tokenizer(transcript, add_special_tokens=False)["input_ids"]
    return [tokenizer.decode([token_id]) for token_id in ids]


def find_cases(folder: str | Path, key: str) -> list[Path]:
    """The case files of item `key` under folder (its cases/ subfolder included), by layer."""
    folder = Path(folder)
    pattern = case_file_name(key, 0).removesuffix("0.json") + "*.json"
    found = []
    for path in sorted(folder.glob(pattern)) + sorted((folder / CASES_DIR).glob(pattern)):
        case = json.loads(path.read_text())
        if case.get("key") == key:
            found.append((case.get("layer", 0), path))
    return [path for _, path in sorted(found)]
