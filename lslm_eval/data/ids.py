"""Stable item identities: the same item gets the same id in every run, on every machine.

An id is `<benchmark part>/<local id>`, the local id being the dataset's own id where it has one, else a hash of
the transcript. Ids repeated inside one split (the same prompt twice) get `#2`, `#3`... in row order.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable

ITEM_ID_COLUMN = "lslm_item_id"  # added by the lm-eval dataset entries, read by doc_to_audio
TEXT_HASH_CHARS = 16  # hex digits of sha256: 64 bits, collisions negligible at benchmark sizes
REPEAT_MARK = "#"


def text_hash(text: str) -> str:
    """First TEXT_HASH_CHARS hex digits of sha256(utf-8 text)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:TEXT_HASH_CHARS]


def disambiguate(ids: Iterable[str]) -> list[str]:
    """Make repeated ids unique in order: the second "x" becomes "x#2", the third "x#3"."""
    seen: Counter[str] = Counter()
    unique = []
    for item in ids:
        seen[item] += 1
        unique.append(item if seen[item] == 1 else f"{item}{REPEAT_MARK}{seen[item]}")
    return unique


TRANSCRIPT_COLUMNS = ("prompt", "question_text")  # where a doc without ITEM_ID_COLUMN keeps its transcript


def doc_item_id(doc) -> str:
    """The identity of a task doc (as logged by lm-eval): its ITEM_ID_COLUMN, else (docs of runs made before the
    column existed) a hash of its transcript."""
    if doc.get(ITEM_ID_COLUMN) not in (None, ""):
        return str(doc[ITEM_ID_COLUMN])
    for column in TRANSCRIPT_COLUMNS:
        if doc.get(column) not in (None, ""):
            return f"{column}:{text_hash(str(doc[column]))}"
    raise ValueError(f"a doc has neither {ITEM_ID_COLUMN!r} nor a transcript {TRANSCRIPT_COLUMNS} (keys {sorted(doc)}); "
                     f"its item cannot be matched across runs")


def doc_item_ids(docs) -> list[str]:
    """doc_item_id of docs given in doc_id order, repeats made unique with `#2`, `#3`..."""
    return disambiguate(doc_item_id(doc) for doc in docs)
