"""espeak-ng text to speech through the library shipped by espeakng-loader."""

import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from lslm_eval import tts
from lslm_eval.audio import SAMPLE_RATE

SENTENCE = "The quick brown fox jumps over the lazy dog."


def seconds(wav: np.ndarray) -> float:
    return len(wav) / SAMPLE_RATE


def test_synthesize_gives_16k_mono_float32_speech():
    wav = tts.synthesize(SENTENCE)
    assert wav.dtype == np.float32 and wav.ndim == 1
    assert 1.5 < seconds(wav) < 5.0  # nine words at 175 words per minute, plus pauses
    assert 0.1 < np.abs(wav).max() <= 1.0
    assert np.sqrt(np.mean(wav**2)) > 0.01  # not silence


def test_rate_and_voice_change_the_audio():
    slow, fast = tts.synthesize(SENTENCE, rate=100), tts.synthesize(SENTENCE, rate=300)
    assert seconds(slow) > 1.8 * seconds(fast)
    american, female = tts.synthesize(SENTENCE, voice="en-us"), tts.synthesize(SENTENCE, voice="en-us+f3")
    spectrum = [np.abs(np.fft.rfft(wav[: SAMPLE_RATE])) for wav in (american, female)]
    centroids = [np.sum(s * np.arange(len(s))) / np.sum(s) for s in spectrum]
    assert centroids[1] > 1.1 * centroids[0]  # the female variant is higher pitched


def test_concurrent_calls_do_not_mix_their_audio():
    texts = ["Yes.", SENTENCE] * 4
    expected = {text: seconds(tts.synthesize(text)) for text in set(texts)}
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(tts.synthesize, texts))
    for text, wav in zip(texts, results):
        assert seconds(wav) == pytest.approx(expected[text], abs=0.05), text


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"text": "   "}, "non-empty string"),
        ({"text": "hello", "voice": "no-such-voice"}, "unknown espeak-ng voice"),
        ({"text": "hello", "rate": 20}, "rate must be in"),
        ({"text": "a\0b"}, "NUL"),
    ],
)
def test_bad_input_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tts.synthesize(**kwargs)


def test_missing_espeak_gives_an_install_hint(monkeypatch):
    monkeypatch.setattr(tts, "_ENGINE", None)
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)  # makes the import fail
    with pytest.raises(tts.EspeakUnavailable, match="pip install espeakng-loader"):
        tts.synthesize("hello")
