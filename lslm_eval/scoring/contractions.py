"""Contraction and slang expansion as `contractions.fix` (contractions 0.1.73) performs it.

PEDANT (qa-metrics 0.2.17) expands contractions in the question and before its token overlap, always
on lower-cased text. `contractions.fix` finds every table key that sits between word boundaries
(a boundary is any character outside [A-Za-z0-9_], or the text's edge) with an Aho-Corasick
automaton, which reports matches by end position, longest first, and resolves overlaps greedily:

- a match that starts at or after the end of the last kept match is kept;
- an overlapping match that is longer than the last kept match replaces it (the text before its
  start is kept as is, even where the replaced match began earlier);
- any other overlapping match is dropped.

Each kept match is replaced by its expansion. The table comes from `scripts/convert_pedant.py`.
"""

from __future__ import annotations

import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

BOUNDARY_CHARS = frozenset(string.ascii_letters + string.digits + "_")  # textsearch's ALPHANUM


@dataclass(frozen=True)
class ContractionExpander:
    """`expansions` maps lower-case keys (e.g. "dont", "y’all") to their expansions ("do not")."""

    expansions: Mapping[str, str]
    key_lengths: tuple[int, ...] = field(init=False)  # distinct key lengths, longest first

    def __post_init__(self):
        if not self.expansions or any(not key for key in self.expansions):
            raise ValueError("ContractionExpander needs a non-empty table of non-empty keys")
        object.__setattr__(self, "key_lengths", tuple(sorted({len(key) for key in self.expansions}, reverse=True)))

    def _bounded_matches(self, text: str) -> Iterator[tuple[int, int, str]]:
        """(start, stop, expansion) of every key between boundaries, by stop, then longest first."""
        for stop in range(1, len(text) + 1):
            if stop < len(text) and text[stop] in BOUNDARY_CHARS:
                continue
            for length in self.key_lengths:
                start = stop - length
                if start < 0 or (start > 0 and text[start - 1] in BOUNDARY_CHARS):
                    continue
                expansion = self.expansions.get(text[start:stop])
                if expansion is not None:
                    yield start, stop, expansion

    def expand(self, text: str) -> str:
        """`contractions.fix(text)` for lower-case `text`; expansions come out lower-cased.

        (`contractions.fix` re-cases an expansion like its match: for lower-case text that is lower case.)
        """
        kept: list[tuple[int, int, str]] = []
        for start, stop, expansion in self._bounded_matches(text):
            if not kept or start >= kept[-1][1]:
                kept.append((start, stop, expansion))
            elif stop - start > kept[-1][1] - kept[-1][0]:
                kept[-1] = (start, stop, expansion)
        pieces, previous_stop = [], 0
        for start, stop, expansion in kept:
            pieces += [text[previous_stop:start], expansion.lower()]
            previous_stop = stop
        pieces.append(text[previous_stop:])
        return "".join(pieces)
