"""The shipped held-out spoken set (`voicebench_source: heldout`): schema, size, voices, and no overlap with training."""

import collections
import io

import numpy as np
import pytest
import soundfile

from lslm_eval.data import voicebench
from lslm_eval.data.sources import HELDOUT, DataSourceError, SourceSwitch
from lslm_eval.trainers.ctc_corpus import ctc_texts, evaluation_texts, normalize
from lslm_eval.trainers.instructions import make_instructions

RECIPE_QUESTIONS = 3200  # the most template questions a recipe speaks (trainers/recipes/offline_ctc.yaml: 40% of 8,000)


def test_schema_and_size():
    sdqa = voicebench.load_voicebench("sd-qa", "usa", HELDOUT)
    assert set(voicebench.VOICEBENCH_CONFIGS["sd-qa"].columns) <= set(sdqa.column_names)
    assert len(sdqa) >= 300 and len(set(sdqa["prompt"])) == len(sdqa)
    assert all(r.strip() for r in sdqa["reference"])
    mcq = 0
    for config in ("openbookqa", "mmsu"):
        for split in voicebench.VOICEBENCH_CONFIGS[config].splits:
            rows = voicebench.load_voicebench(config, split, HELDOUT)
            assert set(rows["reference"]) <= set(voicebench.MCQ_CHOICES)
            for prompt in rows["prompt"]:
                lines = prompt.split("\n")
                assert len(lines) == 5 and [line[:3] for line in lines[1:]] == ["A. ", "B. ", "C. ", "D. "], prompt
            mcq += len(rows)
    assert mcq >= 200
    for split in voicebench.SDQA_SPLITS:  # every accent task can run
        assert len(voicebench.load_voicebench("sd-qa", split, HELDOUT)) > 0


def test_audio_is_flac_at_16k_from_several_voices_and_rates():
    rows = voicebench.load_voicebench("sd-qa", "usa", HELDOUT).select(range(8))
    durations = collections.defaultdict(list)
    for n, row in enumerate(rows):
        audio = row["audio"]["bytes"]
        assert audio[:4] == b"fLaC"
        wav, rate = soundfile.read(io.BytesIO(audio), dtype="float32")
        assert rate == 16000 and wav.ndim == 1 and np.abs(wav).max() > 0.05
        durations[n % 4].append(len(wav) / len(row["prompt"]))  # seconds of audio per character, per voice slot
    per_slot = [np.mean(v) for v in durations.values()]
    assert max(per_slot) / min(per_slot) > 1.15  # the rotation's rates differ (150 to 200 words per minute)


def test_no_heldout_question_is_in_any_training_text_the_project_builds():
    heldout = {normalize(p) for p in voicebench.heldout_prompts()}
    heldout |= {normalize(line) for p in voicebench.heldout_prompts() for line in p.splitlines()}
    assert heldout <= evaluation_texts()
    templates = {normalize(q) for q in make_instructions(RECIPE_QUESTIONS, seed=0, exclude=set(voicebench.evaluation_prompts()))}
    assert not heldout & templates

    class Words:  # the corpus needs only a tokenizer's whole-word vocabulary
        words = ["apple", "river", "capital", "France", "Paris", "gold", "symbol", "young", "puppy"]

        def __len__(self):
            return len(self.words)

        def convert_ids_to_tokens(self, ids):
            return [f"Ġ{self.words[i]}" for i in ids]

        def convert_tokens_to_string(self, tokens):
            return " " + tokens[0][1:]

    corpus = {normalize(t) for t in ctc_texts(4000, Words(), seed=0)}
    assert len(corpus) == 4000 and not heldout & corpus
    wordnet = {normalize(t) for t in ctc_texts(8000, None, seed=0, corpus="wordnet")}
    assert len(wordnet) == 8000 and not heldout & wordnet


def test_a_wordnet_sentence_that_equals_an_evaluation_item_is_never_drawn(monkeypatch):
    from lslm_eval.trainers import ctc_corpus

    item = sorted(evaluation_texts())[0]
    pool = ("One ordinary sentence here.", item.capitalize() + "?")
    monkeypatch.setattr(ctc_corpus, "wordnet_sentences", lambda: pool)
    assert ctc_texts(2, None, seed=0, mix=(0.0, 0.0, 1.0), corpus="wordnet") == [pool[0]]


def test_the_wordnet_file_is_the_documented_one_and_a_changed_file_is_refused(tmp_path, monkeypatch):
    import gzip
    import re

    from lslm_eval.trainers import ctc_corpus

    sentences = ctc_corpus.wordnet_sentences()
    assert len(sentences) > 100_000 and list(sentences) == sorted(set(sentences))
    assert all(re.fullmatch(r"[A-Z0-9][A-Za-z0-9 ,.'-]*\.", s) and 4 <= len(s.split()) <= 16 for s in sentences)
    changed = tmp_path / "wordnet_sentences.txt.gz"
    changed.write_bytes(gzip.compress(gzip.decompress(ctc_corpus.WORDNET_FILE.read_bytes()) + b"One more line here.\n"))
    monkeypatch.setattr(ctc_corpus, "WORDNET_FILE", changed)
    ctc_corpus.wordnet_sentences.cache_clear()
    try:
        with pytest.raises(ValueError, match="wordnet_sentences.txt.gz: sha256 .* expected"):
            ctc_corpus.wordnet_sentences()
    finally:
        ctc_corpus.wordnet_sentences.cache_clear()
    with pytest.raises(ValueError, match="unknown corpus 'books'"):
        ctc_texts(10, None, corpus="books")


def test_template_questions_that_equal_heldout_items_are_excluded():
    """The guard is real: without it the templates produce evaluation items (the shipped sample's, at least)."""
    everything = {normalize(q) for q in make_instructions(RECIPE_QUESTIONS, seed=0)}
    assert everything & evaluation_texts()


def test_heldout_switch_names_what_it_covers():
    from lslm_eval.data.speechmmlu import SWITCH as SPEECHMMLU

    assert voicebench.SWITCH.resolve(HELDOUT).is_dir()
    with pytest.raises(DataSourceError, match="no held-out set"):
        SPEECHMMLU.resolve(HELDOUT)
    assert isinstance(SPEECHMMLU, SourceSwitch)
