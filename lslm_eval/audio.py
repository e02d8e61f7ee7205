"""Audio input: decode, validate and resample to the 16 kHz mono float32 that Whisper expects.

Rules (each breach is an `AudioError` saying what is wrong; callers add which item it is):
- empty, NaN/inf, null or undecodable audio is refused;
- a WAV whose header declares more audio data than the file holds (a truncated download or copy)
  is refused, not read short; the streaming sizes 0 and 0xFFFFFFFF ("unknown") are accepted;
- clips shorter than MIN_CLIP_SECONDS (100 ms: 5 Whisper frames, one speech embedding of the
  default adaptor) are refused, never padded: no question fits in less, so such a clip is a data error.
A task hands recordings to the model `undecoded`, so a bad one reaches the model, which stops or skips
the item (`bad_audio=`) naming it, and lm-eval's request cache is keyed by the recording's bytes.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

SAMPLE_RATE = 16_000  # Hz, Whisper's input rate
MAX_ABS_AMPLITUDE = 1.0 + 1e-3  # float PCM beyond this is treated as unnormalised integer PCM
MIN_CLIP_SECONDS = 0.1
WAV_UNKNOWN_SIZES = (0, 0xFFFFFFFF)  # what streaming writers put in a data chunk's size


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
    if wav.shape[0] < MIN_CLIP_SECONDS * sampling_rate:
        raise AudioError(f"audio is {1000 * wav.shape[0] / sampling_rate:.1f} ms long, shorter than the "
                         f"{1000 * MIN_CLIP_SECONDS:.0f} ms minimum (MIN_CLIP_SECONDS)")
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


def check_wav_complete(data: bytes, name: str) -> None:
    """Refuse a RIFF/WAVE file whose `data` chunk declares more bytes than follow it (truncated)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return
    offset = 12
    while offset + 8 <= len(data):
        chunk, size = data[offset : offset + 4], int.from_bytes(data[offset + 4 : offset + 8], "little")
        if chunk == b"data":
            available = len(data) - offset - 8
            if size not in WAV_UNKNOWN_SIZES and size > available:
                raise AudioError(f"truncated WAV {name}: its header declares {size} bytes of audio, the file holds {available}")
            return
        offset += 8 + size + (size & 1)
    raise AudioError(f"truncated WAV {name}: no data chunk")


def read_audio_file(source: str | Path | bytes) -> np.ndarray:
    """Read any file libsndfile knows (wav, flac, ogg, mp3...) from a path or raw bytes -> (m,) float32 16 kHz."""
    import soundfile

    handle = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    if not isinstance(source, bytes) and not Path(source).is_file():
        raise AudioError(f"audio file not found: {source}")
    name = "<bytes>" if isinstance(source, bytes) else str(source)
    check_wav_complete(source if isinstance(source, bytes) else Path(source).read_bytes(), name)
    try:
        wav, sr = soundfile.read(handle, dtype="float32", always_2d=False)
    except Exception as err:  # soundfile raises its own LibsndfileError / RuntimeError
        raise AudioError(f"cannot decode audio {name}: {err}") from err
    return to_mono_16k(wav, sr)


def load_audio(audio: Any) -> np.ndarray:
    """Accept every form lm-eval and `datasets` hand over and return (m,) float32 16 kHz mono.

    Forms: a path; raw bytes; a numpy array (assumed 16 kHz); a `datasets` Audio dict
    (`{"array", "sampling_rate"}` decoded, or `{"bytes", "path"}` undecoded); an entry of
    `undecoded` that holds an error raises it.
    """
    if audio is None:
        raise AudioError("audio is missing (null)")
    if isinstance(audio, dict) and audio.get("error"):
        raise AudioError(audio["error"])
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
        if any(key in audio for key in ("array", "bytes", "path")):
            raise AudioError("audio is missing (null): its array, bytes and path are all empty")
        raise AudioError(f"audio dict has none of 'array', 'bytes', 'path': keys {sorted(audio)}")
    if hasattr(audio, "get_all_samples"):  # a torchcodec AudioDecoder, as datasets>=4 returns
        samples = audio.get_all_samples()
        return to_mono_16k(samples.data.numpy().T, int(samples.sample_rate))
    raise AudioError(f"unsupported audio input of type {type(audio).__name__}")



def undecoded(audio: Any) -> dict[str, Any]:
    """A recording as a task hands it to the model: its encoded bytes (and path), left undecoded.

    lm-eval's request cache (`--use_cache`) hashes request arguments, bytes by their sha256, so a cache
    entry is keyed by the recording's content; the model decodes and checks it (`bad_audio=`), so a bad
    recording costs its item, not the run. A path-only recording is read into bytes for the same reason;
    an already decoded one (an array) is decoded here, an error in it kept as `{"error": ...}`."""
    if audio is None:
        return {"bytes": None, "path": None}
    if isinstance(audio, (bytes, bytearray)):
        return {"bytes": bytes(audio), "path": None}
    if isinstance(audio, dict) and audio.get("array") is None:
        data, path = audio.get("bytes"), audio.get("path")
        if not data and path and Path(path).is_file():
            data = Path(path).read_bytes()
        return {"bytes": data, "path": path}
    try:
        return {"array": load_audio(audio), "sampling_rate": SAMPLE_RATE}
    except AudioError as err:
        return {"bytes": None, "path": None, "error": str(err)}
