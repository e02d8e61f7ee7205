"""End to end on the real offline default: Whisper tiny.en + SmolLM2-135M + the shipped adaptor."""

import pytest
import torch

from lslm_eval.model import DEFAULT_CHECKPOINT, LSLM
from lslm_eval.prompt import AUDIO_PLACEHOLDER
from lslm_eval.trainers.heldout import held_out_questions, heldout_spoken_questions, spoken_answer_nll
from lslm_eval.tts import synthesize

TRAINING_INSTRUCTIONS = 3200  # the CTC corpus's questions (trainers/ctc_corpus.py, 40% of 8,000), which stage 2 reuses


@pytest.fixture(scope="module")
def default_model():
    return LSLM.from_pretrained(DEFAULT_CHECKPOINT, dtype="float32")


def with_random_adaptor(model, measure):
    """measure() with the shipped adaptor swapped for a freshly initialised one (seed 0), then put back; a CTC
    compressor (a trained head over the LLM's own embeddings) is kept: only the frames are random."""
    from lslm_eval.adaptor import Adaptor

    cfg = model.config
    torch.manual_seed(0)
    model.adaptor, shipped = Adaptor.from_config(cfg), model.adaptor
    model.adaptor.compressor = shipped.compressor
    try:
        return measure()
    finally:
        model.adaptor = shipped


def test_the_shipped_adaptor_hears_questions_far_better_than_a_random_one(default_model):
    questions = held_out_questions(8, TRAINING_INSTRUCTIONS)
    text_items = default_model.build_items(questions)
    answers = [a.strip() for a in default_model.generate(default_model.collate(text_items), max_new_tokens=24)]
    wavs = [synthesize(q) for q in questions]
    trained = spoken_answer_nll(default_model, wavs, answers)
    random = with_random_adaptor(default_model, lambda: spoken_answer_nll(default_model, wavs, answers))
    assert trained < 0.6 * random, (trained, random)


def test_the_shipped_adaptor_beats_a_random_one_on_the_shipped_held_out_set(default_model):
    """The first 12 sd-qa questions of `voicebench_source: heldout` (never in training data: tests/test_heldout_data.py),
    as stored (four voices and rates): NLL of the backbone's own text-mode answers given the spoken question."""
    wavs, questions, _ = heldout_spoken_questions(12)
    answers = [a.strip() for a in default_model.generate(default_model.collate(default_model.build_items(questions)), max_new_tokens=24)]
    trained = spoken_answer_nll(default_model, wavs, answers)
    random = with_random_adaptor(default_model, lambda: spoken_answer_nll(default_model, wavs, answers))
    assert trained < 0.85 * random, (trained, random)  # measured 1.43 against 7.83 (the continuous-row adaptor: 1.50 against 2.18)


def test_the_shipped_adaptor_carries_the_words_of_held_out_questions(default_model):
    """Content, not only form: asked to repeat the first 16 held-out spoken questions (four voices and rates, never
    trained on), the shipped adaptor returns close to half of their words, over twice as many as a random adaptor's
    replies share with them (common words only)."""
    from lslm_eval.trainers.ctc_corpus import normalize
    from lslm_eval.trainers.repeat import REPEAT_TURN

    wavs, questions, _ = heldout_spoken_questions(16)

    def recall():
        replies = default_model.generate(default_model.collate(default_model.build_items([REPEAT_TURN] * len(wavs), wavs)),
                                         max_new_tokens=24)
        said = [set(normalize(q).split()) for q in questions]
        return sum(len(w & set(normalize(r).split())) for w, r in zip(said, replies)) / sum(len(w) for w in said)

    trained = recall()
    random = with_random_adaptor(default_model, recall)
    assert trained > 0.35 and trained > 1.8 * random, (trained, random)  # measured 0.45 against 0.06 (the continuous-row adaptor: 0.53 against 0.21)


def test_spoken_questions_it_never_heard_get_answers_of_their_kind(default_model):
    """Held-out spoken questions (both are VoiceBench sample items, kept out of training) are answered in kind."""
    questions = {"What is the capital of France?": "capital", "What is the opposite of hot?": "opposite"}
    wavs = [synthesize(q) for q in questions]
    replies = default_model.generate(default_model.collate(default_model.build_items([AUDIO_PLACEHOLDER] * 2, wavs)),
                                     max_new_tokens=16)
    for keyword, reply in zip(questions.values(), replies):
        assert keyword in reply.lower(), replies


def test_lm_eval_scores_the_sdqa_pair_end_to_end(tmp_path):
    """`lm_eval --model lslm` in a subprocess: real model, shipped sample, real PEDANT scores."""
    import json
    import subprocess
    import sys

    out = tmp_path / "out"
    command = [sys.executable, "-m", "lm_eval", "run", "--model", "lslm", "--gen_kwargs", "max_gen_toks=32",
               "--tasks", "voicebench_sdqa,voicebench_sdqa_text", "--limit", "4",
               "--metadata", '{"voicebench_source": "sample"}', "--output_path", str(out), "--log_samples"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "voicebench_sdqa_text" in done.stdout and "pedant" in done.stdout
    (results_file,) = out.rglob("results_*.json")
    results = json.loads(results_file.read_text())["results"]
    for task in ("voicebench_sdqa", "voicebench_sdqa_text"):
        score = results[task]["pedant,none"]
        assert 0.0 <= score <= 100.0
    assert results["voicebench_sdqa_text"]["pedant,none"] > 0.0
    samples = [json.loads(line) for f in out.rglob("samples_voicebench_sdqa_2*.jsonl") for line in f.read_text().splitlines()]
    assert len(samples) == 4 and all(s["resps"][0][0] for s in samples)
