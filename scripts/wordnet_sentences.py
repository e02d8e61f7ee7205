"""Readable broad-vocabulary training sentences from WordNet 3.0 (trainers/data/wordnet_sentences.txt.gz).

    apt-get download wordnet-base && dpkg-deb -x wordnet-base_*.deb wn
    python scripts/wordnet_sentences.py wn/usr/share/wordnet

Every synset line of data.{noun,verb,adj,adv} ends in "| gloss; "example"; ...". Each gloss and each quoted example
becomes one candidate sentence; a candidate is kept when it has 4-16 words and no characters beyond letters, digits,
spaces and , . ' - (no quotes within, no brackets, no slashes). Kept sentences get a capital first letter and a final
full stop; the file holds them deduplicated and sorted, one per line, and the script prints its sha256, which
lslm_eval.trainers.ctc_corpus checks on every load. WordNet's licence travels with the file
(trainers/data/WORDNET_LICENSE).
"""

from __future__ import annotations

import gzip
import hashlib
import re
import sys
from pathlib import Path

PARTS = ("noun", "verb", "adj", "adv")
KEEP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ,.'-]*$")
OUT = Path(__file__).resolve().parents[1] / "trainers" / "data" / "wordnet_sentences.txt.gz"


def candidates(line: str) -> list[str]:
    """The gloss and the quoted examples of one data-file line (none for the licence header lines)."""
    if line.startswith("  ") or "|" not in line:
        return []
    return [part.strip().strip('"').strip() for part in line.split("|", 1)[1].split(";")]


def sentence(text: str) -> str | None:
    text = text.rstrip(" .,")
    if not KEEP.match(text) or not 4 <= len(text.split()) <= 16:
        return None
    return text[0].upper() + text[1:] + "."


def main(wordnet_dir: str) -> None:
    found = set()
    for part in PARTS:
        for line in (Path(wordnet_dir) / f"data.{part}").read_text(encoding="latin-1").splitlines():
            found.update(s for s in map(sentence, candidates(line)) if s)
    data = ("\n".join(sorted(found)) + "\n").encode()
    OUT.write_bytes(gzip.compress(data, mtime=0))
    print(f"{len(found)} sentences -> {OUT}; sha256 of the text {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/usr/share/wordnet")
