"""The seeded stand-in for VoiceBench's random guess when no answer can be read from a response.

VoiceBench's MCQ and BBH evaluators call `random.choice` without a seed when extraction fails, so
two evaluations of the same responses can differ. Here the guess is a pure function of the item's
identity: the same item always gets the same guess, in any process, and different items get
different guesses (roughly uniformly), so the expected accuracy of the fallback is unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def seeded_choice(options: Sequence[T], item_key: str) -> T:
    """One of `options`, chosen by the SHA-256 of `item_key` (a stable, unique id of the item)."""
    if not options:
        raise ValueError("seeded_choice needs at least one option")
    if not isinstance(item_key, str) or not item_key:
        raise ValueError(
            f"item_key must be a non-empty string that identifies the item (e.g. its id), got {item_key!r}"
        )
    digest = hashlib.sha256(item_key.encode("utf-8")).digest()
    return options[int.from_bytes(digest[:8], "big") % len(options)]
