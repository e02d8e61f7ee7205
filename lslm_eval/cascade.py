"""The cascade arm: a speech task's audio transcribed by a Whisper model, the transcript read as text.

    voicebench_sdqa_cascade   the docs of voicebench_sdqa, each with `asr_transcript` (what the model reads),
                              `asr_word_errors` and `asr_reference_words` (the transcript against the dataset's
                              own transcript, after Whisper's English normalizer); the audio is dropped.

Any model then answers the transcript in text mode (the `lslm` model: the same backbone as its speech
run), so cascade - speech measures what hearing end to end loses against reading one's own ASR. The
ASR model is `LSLM_EVAL_CASCADE_ASR` (an openai-whisper name, a local checkpoint, or the default
offline `tiny.en-offline`), decoded greedily (temperature 0, English, no timestamps) with openai-whisper's
decoding API; clips longer than 30 s go through `whisper.transcribe`. Transcripts are cached per ASR model
and audio hash in the lslm-eval cache (`asr/`), so a rerun does not transcribe again.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from lslm_eval.benchmarks import ASR_ERRORS, ASR_TRANSCRIPT, ASR_WORDS

ASR_ENV = "LSLM_EVAL_CASCADE_ASR"
DEFAULT_ASR = "tiny.en-offline"  # lslm_eval.offline.WHISPER_OFFLINE_NAME
WINDOW_SECONDS = 30  # Whisper's input window: longer clips are transcribed window by window
BATCH = 16  # clips decoded at once


def asr_name() -> str:
    return os.environ.get(ASR_ENV) or DEFAULT_ASR


def word_errors(reference: str, hypothesis: str, normalize: Callable[[str], str]) -> tuple[int, int]:
    """(word edits, reference words) of `hypothesis` against `reference` after `normalize`."""
    from lslm_eval.trainers.synth import word_error_rate

    words = len(normalize(reference).split())
    return (round(word_error_rate(reference, hypothesis, normalize) * words) if words
            else len(normalize(hypothesis).split())), words


@functools.cache
def load_asr(name: str):
    import torch

    from lslm_eval.whisper_loader import load_whisper

    return load_whisper(name, device="cuda" if torch.cuda.is_available() else "cpu")


def transcribe(wavs: Sequence[np.ndarray], model) -> list[str]:
    """Greedy English transcripts of 16 kHz clips (n_i,), batched through whisper.decode."""
    import torch
    import whisper

    fp16 = next(model.parameters()).device.type == "cuda"
    options = whisper.DecodingOptions(language="en", temperature=0.0, without_timestamps=True, fp16=fp16)
    texts: list[str | None] = [None] * len(wavs)
    short = [i for i, wav in enumerate(wavs) if len(wav) <= WINDOW_SECONDS * whisper.audio.SAMPLE_RATE]
    for i in set(range(len(wavs))) - set(short):
        texts[i] = whisper.transcribe(model, wavs[i], language="en", temperature=0.0, fp16=fp16,
                                      condition_on_previous_text=False)["text"].strip()
    for start in range(0, len(short), BATCH):
        rows = short[start : start + BATCH]
        mels = torch.stack([whisper.log_mel_spectrogram(whisper.pad_or_trim(torch.as_tensor(wavs[i], dtype=torch.float32)),
                                                        model.dims.n_mels) for i in rows]).to(next(model.parameters()).device)
        for i, result in zip(rows, whisper.decode(model, mels, options)):
            texts[i] = result.text.strip()
    return texts


class TranscriptCache:
    """{sha256 of the audio: transcript} of one ASR model, appended to one JSONL file."""

    def __init__(self, name: str):
        from lslm_eval.offline import cache_root

        slug = hashlib.sha256(name.encode("utf-8")).hexdigest()[:16]
        self.path = cache_root() / "asr" / f"{Path(name).name}-{slug}.jsonl"
        self.known: dict[str, str] = {}
        if self.path.is_file():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    row = json.loads(line)
                    self.known[row["audio"]] = row["text"]

    def add(self, entries: dict[str, str]) -> None:
        self.known.update(entries)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.writelines(json.dumps({"audio": k, "text": v}) + "\n" for k, v in entries.items())


def cascade_columns(audios: Sequence[dict], references: Sequence[str], name: str | None = None) -> dict[str, list]:
    """The cascade columns for undecoded audios ({"bytes", "path"}) and their reference transcripts."""
    from tqdm import tqdm

    from lslm_eval.audio import load_audio
    from lslm_eval.trainers.synth import english_normalizer

    name = name or asr_name()
    cache = TranscriptCache(name)
    keys = [hashlib.sha256(audio["bytes"] if audio.get("bytes") else Path(audio["path"]).read_bytes()).hexdigest()
            for audio in audios]
    todo = sorted({k: i for i, k in enumerate(keys) if k not in cache.known}.items(), key=lambda kv: kv[1])
    if todo:
        model = load_asr(name)
        for start in tqdm(range(0, len(todo), BATCH), desc=f"cascade ASR ({name})"):
            chunk = todo[start : start + BATCH]
            texts = transcribe([load_audio(audios[i]) for _, i in chunk], model)
            cache.add({k: text for (k, _), text in zip(chunk, texts)})
    normalize = english_normalizer()
    transcripts = [cache.known[k] for k in keys]
    counts = [word_errors(ref, hyp, normalize) for ref, hyp in zip(references, transcripts)]
    return {ASR_TRANSCRIPT: transcripts, ASR_ERRORS: [c[0] for c in counts], ASR_WORDS: [c[1] for c in counts]}


def cascade_docs(dataset, audio_column: str, transcript_column: str):
    """A speech task's docs -> the cascade's: ASR columns added, the audio dropped."""
    columns = cascade_columns(dataset[audio_column], dataset[transcript_column])
    dataset = dataset.remove_columns(audio_column)
    for name, values in columns.items():
        dataset = dataset.add_column(name, values)
    return dataset
