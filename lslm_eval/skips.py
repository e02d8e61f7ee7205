"""Skipped items: a bad recording costs its own item, in both modalities, and is never scored.

Invariant: an item the model skipped (`bad_audio=skip`) has no score in the speech task nor in its
text twin, and is listed with its reason; it is never scored 0 and never dropped unseen.

How it travels through lm-eval: the `lslm` model answers a skipped request (the speech one and the
text twin with the same item id) with `skipped_response(reason)`, a marker string no model writes.
Every task's `process_results` is wrapped in `skippable`, which returns no metrics for such a
response, so lm-eval's aggregation leaves the item out of every metric. The model lists the items in
its `get_model_info()` (results file: `config.model_info.skipped_items`).
`screen` decides, before anything is generated, which requests are bad: every speech request's
audio is checked (lslm_eval.audio), and with bad_audio=stop one error lists every bad item by task,
doc id and item id. Torch-free: the tasks import it.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import Any, Callable

BAD_AUDIO_MODES = ("stop", "skip")
LISTED_IN_ERROR = 20  # bad items named in a stop error (the count is always given)
SKIP_MARK = "\x00lslm-eval skipped item\x00 "  # NUL bytes: no tokenizer decodes to this


@dataclass(frozen=True)
class Skipped:
    """One skipped request: which task, which doc, which item, and why."""

    task: str
    doc_id: int
    item_id: str | None
    reason: str

    def record(self) -> dict[str, Any]:
        return asdict(self)


def skipped_response(reason: str) -> str:
    """The response that stands for a skipped item."""
    return SKIP_MARK + reason


def is_skipped(response: Any) -> bool:
    return isinstance(response, str) and response.startswith(SKIP_MARK)


def skippable(process_results: Callable[[dict, list], dict]) -> Callable[[dict, list], dict]:
    """A task's process_results that gives no metrics (the item is excluded) when the response marks a skip."""

    @functools.wraps(process_results)
    def wrapped(doc: dict, results: list) -> dict:
        if any(is_skipped(r) for r in results):
            return {}
        return process_results(doc, results)

    return wrapped


def _speech_audio(request) -> Any | None:
    media = request.args[2] if len(request.args) > 2 and isinstance(request.args[2], dict) else {}
    audios = media.get("audio") or []
    return audios[0] if audios else None


def _item_id(request, audio: Any | None) -> str | None:
    from lslm_eval.data.ids import ITEM_ID_COLUMN

    if isinstance(audio, dict) and audio.get("id"):
        return str(audio["id"])
    doc = request.doc if isinstance(getattr(request, "doc", None), dict) else {}
    return str(doc[ITEM_ID_COLUMN]) if doc.get(ITEM_ID_COLUMN) else None


def label(task: str, doc_id: int, item_id: str | None) -> str:
    return f"task {task}, doc {doc_id}, item {item_id or '?'}"


def screen(requests: list, mode: str, share: Callable[[list[dict]], list[dict]] | None = None) -> dict[int, Skipped]:
    """{request index: Skipped} of the requests not to generate.

    Every speech request's audio is checked. mode "stop": any bad one raises one AudioError listing them
    all. mode "skip": the bad ones are skipped, and so is every text request of the same item id (its twin).
    `share` (data-parallel runs; every rank calls it once) turns this rank's bad speech records into every
    rank's, so a twin on another rank is skipped too and every rank stops together."""
    from lslm_eval.audio import AudioError, load_audio

    if mode not in BAD_AUDIO_MODES:
        raise ValueError(f"bad_audio must be one of {', '.join(BAD_AUDIO_MODES)}, got {mode!r}")
    bad: dict[int, Skipped] = {}
    for index, request in enumerate(requests):
        audio = _speech_audio(request)
        if audio is None:  # a text request
            continue
        try:
            load_audio(audio)
        except AudioError as err:
            bad[index] = Skipped(request.task_name, request.doc_id, _item_id(request, audio), str(err))
    everywhere = [Skipped(**r) for r in share([s.record() for s in bad.values()])] if share else list(bad.values())
    if not everywhere:
        return {}
    if mode == "stop":
        lines = [f"  {label(s.task, s.doc_id, s.item_id)}: {s.reason}" for s in everywhere[:LISTED_IN_ERROR]]
        more = len(everywhere) - len(lines)
        raise AudioError(f"{len(everywhere)} unusable recording(s); --model_args bad_audio=skip leaves them out of both "
                         "modalities instead:\n" + "\n".join(lines) + (f"\n  ... and {more} more" if more > 0 else ""))
    by_item = {s.item_id: s for s in everywhere if s.item_id}
    for index, request in enumerate(requests):
        if index not in bad and _speech_audio(request) is None:
            twin = by_item.get(_item_id(request, None))
            if twin is not None:
                bad[index] = Skipped(request.task_name, request.doc_id, twin.item_id,
                                     f"its recording in {twin.task} (doc {twin.doc_id}) was skipped: {twin.reason}")
    return bad
