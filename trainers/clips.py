"""The spoken training clips of the cached-frame stages (trainers/ctc.py, trainers/repeat.py), made once.

Each training text is spoken by espeak-ng in `voices_per_text` voices of a rotation of (voice, words per minute)
settings and encoded by the frozen Whisper encoder; the frames are cached in cache_dir (frames.safetensors, float16,
key = clip index; texts.jsonl, one {"text", "voice", "rate"} row per clip). Clip c speaks text c % n_texts, so the
first n_texts clips are the one-voice corpus and a cache is extended, never redone, when voices are added. Both
files are written through a temporary file and renamed, so an interrupted build leaves the old cache whole.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from torch import Tensor
from tqdm import tqdm

log = logging.getLogger(__name__)

FRAMES_FILE = "frames.safetensors"  # every clip's encoder frames, float16, key = its index
TEXTS_FILE = "texts.jsonl"  # the spoken sentences, in index order, with voice and rate
VOICES = [("en-us", 175), ("en-gb-x-rp", 160), ("en-us+m7", 195), ("en+m5", 150), ("en-us+m3", 185)]


def check_voices(voices: list, voices_per_text: int) -> None:
    """The clip options both stages take: a list of [espeak-ng voice, words per minute], and how many a text gets."""
    if not voices or any(len(v) != 2 for v in voices):
        raise ValueError(f"voices is a list of [espeak-ng voice, words per minute]; got {voices!r}")
    if not 1 <= voices_per_text <= len(voices):
        raise ValueError(f"voices_per_text must be between 1 and the {len(voices)} voices; got {voices_per_text}")


def spoken_clips(n_texts: int, voices: list, voices_per_text: int) -> list[tuple[int, str, int]]:
    """(text index, voice, rate) of every clip: each text in `voices_per_text` voices of the rotation, text i's r-th
    in voice i + r. Clip c speaks text c % n_texts; the first n_texts clips are the one-voice corpus."""
    return [(i, *voices[(i + r) % len(voices)]) for r in range(voices_per_text) for i in range(n_texts)]


def build_cache(config, lslm) -> tuple[list[str], list[Tensor]]:
    """Speak and encode the training clips once: cache_dir/{texts.jsonl, frames.safetensors}; -> (text of each clip,
    frames of each clip). A clip already in the cache (same text, voice, rate) is reused, so adding voices encodes
    only the new ones."""
    from safetensors.torch import load_file, save_file

    from lslm_eval.trainers.ctc_corpus import ctc_texts
    from lslm_eval.tts import synthesize

    cache = Path(config.cache_dir)
    texts_file, frames_file = cache / TEXTS_FILE, cache / FRAMES_FILE
    texts = ctc_texts(config.texts, lslm.tokenizer, seed=config.seed, corpus=config.corpus)
    rows = [{"text": texts[i], "voice": voice, "rate": rate} for i, voice, rate in spoken_clips(len(texts), config.voices, config.voices_per_text)]
    key = lambda row: (row["text"], row["voice"], int(row["rate"]))  # noqa: E731
    stored: dict = {}
    if texts_file.is_file() and frames_file.is_file():
        cached_rows = [json.loads(line) for line in texts_file.read_text().splitlines()]
        tensors = load_file(str(frames_file))
        stored = {key(row): tensors[str(j)] for j, row in enumerate(cached_rows) if str(j) in tensors}
        if [key(r) for r in cached_rows] == [key(r) for r in rows] and len(stored) == len(rows):
            return [r["text"] for r in rows], [tensors[str(j)] for j in range(len(rows))]
    missing = [j for j, row in enumerate(rows) if key(row) not in stored]
    if stored:
        log.info("%s: %d of %d clips cached, speaking and encoding %d", cache, len(rows) - len(missing), len(rows), len(missing))
    cache.mkdir(parents=True, exist_ok=True)
    for j in tqdm(missing, desc="speak + encode"):
        row = rows[j]
        with torch.no_grad():
            stored[key(row)] = lslm.encoder(synthesize(row["text"], voice=row["voice"], rate=int(row["rate"]))).to(torch.float16).cpu()
    frames = [stored[key(row)] for row in rows]
    save_file({str(j): f.contiguous() for j, f in enumerate(frames)}, str(frames_file) + ".partial")
    Path(str(frames_file) + ".partial").replace(frames_file)
    Path(str(texts_file) + ".partial").write_text("".join(json.dumps(r) + "\n" for r in rows))
    Path(str(texts_file) + ".partial").replace(texts_file)
    return [r["text"] for r in rows], frames
