"""The cascade arm's docs (lslm_eval.cascade): ASR transcript, word errors against the dataset's transcript, cache."""

from __future__ import annotations

import pytest

from lslm_eval import cascade
from lslm_eval.benchmarks import ASR_ERRORS, ASR_TRANSCRIPT, ASR_WORDS
from lslm_eval.data.voicebench import voicebench_dataset


@pytest.fixture()
def fake_asr(monkeypatch, tmp_path):
    """An ASR that drops each transcript's last word (one deletion per item); counts its calls."""
    monkeypatch.setenv("LSLM_EVAL_CACHE", str(tmp_path / "cache"))
    calls = []
    monkeypatch.setattr(cascade, "load_asr", lambda name: name)
    references = {}

    def transcribe(wavs, model):
        calls.append(len(wavs))
        return [references[len(w)].rsplit(" ", 1)[0] for w in wavs]

    monkeypatch.setattr(cascade, "transcribe", transcribe)
    return calls, references


def test_cascade_docs_carry_the_transcript_and_its_word_errors(fake_asr):
    from lslm_eval.audio import load_audio

    calls, references = fake_asr
    dataset = voicebench_dataset("sd-qa", "usa", voicebench_source="sample")["usa"].select(range(5))
    for audio, prompt in zip(dataset["audio"], dataset["prompt"]):
        references[len(load_audio(audio))] = prompt
    assert len(references) == 5  # clip lengths tell the items apart
    docs = cascade.cascade_docs(dataset, "audio", "prompt")
    assert "audio" not in docs.column_names and sum(calls) == 5
    for doc in docs:
        assert doc[ASR_TRANSCRIPT] == doc["prompt"].rsplit(" ", 1)[0]
        assert doc[ASR_ERRORS] == 1 and doc[ASR_WORDS] == len(doc["prompt"].split())
    again = cascade.cascade_docs(dataset, "audio", "prompt")  # cached per ASR model and audio hash
    assert sum(calls) == 5 and again[ASR_TRANSCRIPT] == docs[ASR_TRANSCRIPT]


def test_word_errors_normalise_like_the_wer_filter():
    from lslm_eval.trainers.synth import english_normalizer

    normalize = english_normalizer()
    assert cascade.word_errors("How many legs does a spider have?", "how many legs does spider have", normalize) == (1, 7)
    assert cascade.word_errors("It has five legs.", "it has 5 legs", normalize) == (0, 4)
    assert cascade.word_errors("", "noise", normalize) == (1, 0)


def test_the_default_asr_loads_and_transcribes_a_shipped_clip():
    from lslm_eval.audio import load_audio
    from lslm_eval.trainers.synth import english_normalizer

    doc = voicebench_dataset("sd-qa", "usa", voicebench_source="sample")["usa"][0]
    model = cascade.load_asr(cascade.DEFAULT_ASR)
    (hypothesis,) = cascade.transcribe([load_audio(doc["audio"])], model)
    errors, words = cascade.word_errors(doc["prompt"], hypothesis, english_normalizer())
    assert words and errors / words < 0.5, (hypothesis, doc["prompt"])
