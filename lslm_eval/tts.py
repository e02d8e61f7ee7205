"""Text to speech with espeak-ng, for building sample and training audio offline.

The libespeak-ng shipped by the PyPI package `espeakng-loader` (with its voice data) is driven in
process through ctypes: no subprocess per call. espeak-ng keeps global state (voice, rate, the
synthesis callback), so every call sets its own voice and rate under one process-wide lock.
"""

from __future__ import annotations

import ctypes
import os
import threading

import numpy as np

from .audio import SAMPLE_RATE, to_mono_16k

DEFAULT_VOICE = "en-us"
DEFAULT_RATE = 175  # words per minute, espeak-ng's espeakRATE_NORMAL
MIN_RATE, MAX_RATE = 80, 450  # espeakRATE_MINIMUM, espeakRATE_MAXIMUM

# constants of espeak-ng's speak_lib.h
AUDIO_OUTPUT_SYNCHRONOUS = 2  # espeak_Synth returns once all audio went through the callback
ESPEAK_RATE_PARAMETER = 1  # espeakRATE
ESPEAK_CHARS_UTF8 = 1  # espeakCHARS_UTF8
ESPEAK_POS_CHARACTER = 1  # POS_CHARACTER
EE_OK, EE_NOT_FOUND = 0, 2

_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class EspeakUnavailable(RuntimeError):
    """libespeak-ng could not be loaded or initialised."""


class _Espeak:
    """The process's one libespeak-ng instance; use only while holding `_LOCK`."""

    def __init__(self):
        try:
            import espeakng_loader
        except ImportError as err:
            raise EspeakUnavailable("text to speech needs espeak-ng: `pip install espeakng-loader`") from err
        library_path = espeakng_loader.get_library_path()
        try:
            lib = ctypes.CDLL(library_path)
        except OSError as err:
            raise EspeakUnavailable(f"cannot load libespeak-ng from {library_path}: {err}") from err
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        data_path = espeakng_loader.get_data_path().encode()
        self.sample_rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, 0)
        if self.sample_rate <= 0:
            raise EspeakUnavailable(f"espeak_Initialize failed ({self.sample_rate}) with data at {data_path.decode()}")
        self._chunks: list[np.ndarray] = []
        self._callback = _SynthCallback(self._collect)  # kept referenced: libespeak-ng holds the pointer
        lib.espeak_SetSynthCallback(self._callback)
        self.lib = lib

    def _collect(self, wav, n_samples: int, events) -> int:
        if n_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n_samples,)).copy())
        return 0  # 0 = continue synthesis

    def synthesize(self, text: bytes, voice: str, rate: int) -> np.ndarray:
        """UTF-8 text -> (n,) int16 at `self.sample_rate`."""
        if self.lib.espeak_SetVoiceByName(voice.encode()) != EE_OK:
            raise ValueError(
                f"unknown espeak-ng voice {voice!r}; examples: 'en-us', 'en' (British), 'en-gb-scotland', "
                "'en-029', and a voice with a variant such as 'en-us+f3' or 'en+m3'"
            )
        self.lib.espeak_SetParameter(ESPEAK_RATE_PARAMETER, rate, 0)
        self._chunks = []
        status = self.lib.espeak_Synth(text, len(text) + 1, 0, ESPEAK_POS_CHARACTER, 0, ESPEAK_CHARS_UTF8, None, None)
        chunks, self._chunks = self._chunks, []
        if status != EE_OK:
            raise RuntimeError(f"espeak_Synth failed with status {status}")
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)


_LOCK = threading.Lock()
_ENGINE: _Espeak | None = None


def _reset_lock_in_child() -> None:
    """A fork taken while another thread synthesizes must not inherit a held lock."""
    global _LOCK
    _LOCK = threading.Lock()


os.register_at_fork(after_in_child=_reset_lock_in_child)


def synthesize(text: str, voice: str = DEFAULT_VOICE, rate: int | None = None) -> np.ndarray:
    """Speak `text` with espeak-ng -> (n,) float32 mono at 16 kHz, in [-1, 1].

    voice: an espeak-ng voice, optionally with a variant ("en-us", "en", "en-us+f3", ...);
    rate: words per minute in [MIN_RATE, MAX_RATE], default DEFAULT_RATE. Thread safe; calls are
    serialized. espeak-ng's generator keeps state between calls (noise and pitch-flutter phase), so
    the same text gives slightly different samples each call; a fresh process making the same calls
    in the same order reproduces them exactly.
    """
    global _ENGINE
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"text to synthesize must be a non-empty string, got {text!r}")
    if "\0" in text:
        raise ValueError("text to synthesize contains a NUL character")
    rate = DEFAULT_RATE if rate is None else int(rate)
    if not MIN_RATE <= rate <= MAX_RATE:
        raise ValueError(f"rate must be in [{MIN_RATE}, {MAX_RATE}] words per minute, got {rate}")
    with _LOCK:
        if _ENGINE is None:
            _ENGINE = _Espeak()
        pcm = _ENGINE.synthesize(text.encode("utf-8"), voice, rate)
        sample_rate = _ENGINE.sample_rate
    if pcm.size == 0:
        raise ValueError(f"espeak-ng produced no audio for {text!r}")
    return to_mono_16k(pcm.astype(np.float32) / 32768.0, sample_rate)
