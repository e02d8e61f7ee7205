"""Task docs whose audio stays out of lm-eval's sample logs.

With `--log_samples`, lm-eval writes every doc into `samples_<task>_<date>.jsonl`. A VoiceBench or SpeechMMLU
doc holds its recording as encoded bytes ({"bytes", "path"}, `datasets` Audio(decode=False)), which lm-eval
writes out as the text of a Python bytes literal: hundreds of megabytes for the whole benchmark (the official
VoiceBench runner, main.py, also drops `audio` from the items it saves).

- A speech task's `process_docs` is `with_unlogged_audio`: rows are read unchanged from disk, and each row's
  audio arrives wrapped in `UnloggedAudio`, which lm-eval logs (through `str`, its fallback for objects JSON
  cannot hold) as one line naming its size and hash. `doc_to_audio` unwraps it with `revealed`.
- A text task's `process_docs` is `without_audio`: its prompt is the transcript, so the column is dropped.

`PairedDocs` bundles the hooks a speech task, its text twin and its cascade name in their YAML.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from typing import Any, Callable

import datasets

AUDIO_HASH_CHARS = 16  # hex digits of sha256 shown in the log line


@dataclass(frozen=True, eq=False, repr=False)
class UnloggedAudio:
    """One doc's undecoded audio; `str` (what lm-eval logs) gives its size and hash instead of its bytes."""

    data: bytes | None
    path: str | None

    def as_dict(self) -> dict[str, Any]:
        """The `datasets` Audio(decode=False) form again: {"bytes", "path"}."""
        return {"bytes": self.data, "path": self.path}

    def __str__(self) -> str:
        size = len(self.data) if self.data else 0
        digest = hashlib.sha256(self.data).hexdigest()[:AUDIO_HASH_CHARS] if self.data else "none"
        return f"<audio not logged: {size} bytes, sha256 {digest}, path {self.path!r}>"

    __repr__ = __str__


def _wrap_audio(batch: dict[str, list], column: str) -> dict[str, list]:
    """`datasets` transform: the audio column of a batch of rows, each value wrapped in UnloggedAudio."""
    batch[column] = [None if audio is None else UnloggedAudio(audio.get("bytes"), audio.get("path"))
                     for audio in batch[column]]
    return batch


def _require_column(dataset: datasets.Dataset, column: str) -> None:
    if column not in dataset.column_names:
        raise ValueError(f"expected an audio column {column!r} in the task's docs, found {dataset.column_names}")


def with_unlogged_audio(dataset: datasets.Dataset, column: str) -> datasets.Dataset:
    """`dataset` whose rows give `column` as UnloggedAudio (applied on access; nothing is copied)."""
    _require_column(dataset, column)
    return dataset.with_transform(functools.partial(_wrap_audio, column=column))


def without_audio(dataset: datasets.Dataset, column: str) -> datasets.Dataset:
    """`dataset` without its audio column (for text-input tasks)."""
    _require_column(dataset, column)
    return dataset.remove_columns(column)


def revealed(doc: dict[str, Any], column: str) -> dict[str, Any]:
    """A copy of `doc` whose `column` is the {"bytes", "path"} dict again (docs not from
    with_unlogged_audio come back as they are)."""
    audio = doc[column]
    return {**doc, column: audio.as_dict()} if isinstance(audio, UnloggedAudio) else doc


@dataclass(frozen=True)
class PairedDocs:
    """The doc hooks of a benchmark's speech tasks and text twins, for its audio column.

    load: a doc with {"bytes", "path"} audio -> lm-eval's audio list [{"array", "sampling_rate", ...}];
    transcript: the column holding the item's transcript (what the text twin reads, the cascade's WER reference)."""

    column: str
    load: Callable[[dict[str, Any]], list[dict[str, Any]]]
    transcript: str = "prompt"

    def speech_docs(self, dataset: datasets.Dataset) -> datasets.Dataset:
        """Speech tasks' `process_docs`: the audio stays out of the sample logs."""
        return with_unlogged_audio(dataset, self.column)

    def text_docs(self, dataset: datasets.Dataset) -> datasets.Dataset:
        """Text tasks' `process_docs`: the transcript is the input; the audio is dropped."""
        return without_audio(dataset, self.column)

    def cascade_docs(self, dataset: datasets.Dataset) -> datasets.Dataset:
        """Cascade tasks' `process_docs`: the audio transcribed by Whisper (lslm_eval.cascade), then dropped."""
        from lslm_eval.cascade import cascade_docs

        _require_column(dataset, self.column)
        return cascade_docs(dataset, self.column, self.transcript)

    def doc_to_audio(self, doc: dict[str, Any]) -> list[dict[str, Any]]:
        """`load` for docs from speech_docs."""
        return self.load(revealed(doc, self.column))
