"""Audio input: decode, validate and resample to the 16 kHz mono float32 that Whisper expects."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

SAMPLE_RATE = 16_000  # Hz, Whisper's input rate
MAX_ABS_AMPLITUDE = 1.0 + 1e-3  # float PCM beyond this is treated as unnormalised integer PCM


class AudioError(ValueError):
    """An audio input that cannot be used: unreadable, empty, non-finite or of an unknown form."""


def to_mono_16k(samples: np.ndarray, sampling_rate: int) -> np.ndarray:
    """Mix down to mono and resample to 16 kHz.

    samples: (n,) or (n, channels) in any numeric dtype; returns (m,) float32 in [-1, 1].
    """
    if sampling_rate <= 0:
        raise AudioError(f"sampling rate must be positive, got {sampling_rate}")
    wav = np.asarray(samples)
    if wav.ndim == 2:
        wav = wav.mean(axis=1)
    if wav.ndim != 1:
        raise AudioError(f"audio must be (samples,) or (samples, channels), got shape {wav.shape}")
    if wav.size == 0:
        raise AudioError("audio is empty (0 samples)")
    if np.issubdtype(wav.dtype, np.integer):
        wav = wav.astype(np.float32) / np.iinfo(wav.dtype).max
    wav = wav.astype(np.float32, copy=False)
    if not np.isfinite(wav).all():
        raise AudioError("audio contains NaN or infinite samples")
    if np.abs(wav).max() > MAX_ABS_AMPLITUDE:
        raise AudioError("float audio must lie in [-1, 1]; scale integer PCM before passing it as float")
    if sampling_rate != SAMPLE_RATE:
        import soxr

        wav = soxr.resample(wav, sampling_rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
    return wav


def read_audio_file(source: str | Path | bytes) -> np.ndarray:
    """Read any file libsndfile knows (wav, flac, ogg, mp3...) from a path or raw bytes -> (m,) float32 16 kHz."""
    import soundfile

    handle = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    if not isinstance(source, bytes) and not Path(source).is_file():
        raise AudioError(f"audio file not found: {source}")
    try:
        wav, sr = soundfile.read(handle, dtype="float32", always_2d=False)
    except Exception as err:  # soundfile raises its own LibsndfileError / RuntimeError
        name = "<bytes>" if isinstance(source, bytes) else str(source)
        raise AudioError(f"cannot decode audio {name}: {err}") from err
    return to_mono_16k(wav, sr)


def load_audio(audio: Any) -> np.ndarray:
    """Accept every form lm-eval and `datasets` hand over and return (m,) float32 16 kHz mono.

    Forms: a path; raw bytes; a numpy array (assumed 16 kHz); a `datasets` Audio dict
    (`{"array", "sampling_rate"}` decoded, or `{"bytes", "path"}` undecoded).
    """
    if isinstance(audio, (str, Path, bytes)):
        return read_audio_file(audio)
    if isinstance(audio, np.ndarray):
        return to_mono_16k(audio, SAMPLE_RATE)
    if isinstance(audio, dict):
        if audio.get("array") is not None:
            return to_mono_16k(np.asarray(audio["array"]), int(audio.get("sampling_rate", SAMPLE_RATE)))
        if audio.get("bytes"):
            return read_audio_file(audio["bytes"])
        if audio.get("path"):
            return read_audio_file(audio["path"])
        raise AudioError(f"audio dict has none of 'array', 'bytes', 'path': keys {sorted(audio)}")
    if hasattr(audio, "get_all_samples"):  # a torchcodec AudioDecoder, as datasets>=4 returns
        samples = audio.get_all_samples()
        return to_mono_16k(samples.data.numpy().T, int(samples.sample_rate))
    raise AudioError(f"unsupported audio input of type {type(audio).__name__}")
