"""The transcript stage (trainers/repeat.py) on tiny random parts: targets, loss, cached answers, exact resume."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from lslm_eval.prompt import IGNORE_INDEX
from lslm_eval.trainers.repeat import RepeatConfig, RepeatObjective, first_sentence, teacher_answers, train

TEXTS = ["where is the red house", "the cat sat on a mat", "how many legs has a dog", "green trees grow tall"]


def frames_for(n, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(10 + 3 * i, 16, generator=generator) for i in range(n)]


def decoded_responses(lslm, batch):
    rows = []
    for labels in batch.labels:
        rows.append(lslm.tokenizer.decode([t for t in labels.tolist() if t != IGNORE_INDEX], skip_special_tokens=True))
    return rows


def test_repeat_rows_target_the_transcript_and_answer_rows_the_answer(tiny_lslm):
    config = RepeatConfig(bf16=False, distill_weight=0.5)
    objective = RepeatObjective(tiny_lslm, config)
    frames, answers = frames_for(2), ["It is red.", "A mat."]
    items = objective.items([f for f in frames], [config.repeat_turn, "<audio>"], TEXTS[:2], [TEXTS[0], answers[1]])
    batch = tiny_lslm.collate(items, padding_side="right")
    assert decoded_responses(tiny_lslm, batch) == [TEXTS[0], answers[1]]
    suffix = tiny_lslm.tokenizer.decode(items[0].suffix_ids)
    assert "Repeat exactly what was said." in suffix and "Repeat" not in tiny_lslm.tokenizer.decode(items[1].suffix_ids)
    loss, ce, kl = objective(frames, TEXTS[:2], answers, [True, False])
    assert kl > 0 and torch.allclose(loss, ce + 0.5 * kl)
    only_repeat = objective(frames, TEXTS[:2], answers, [True, True])
    assert only_repeat[2] == 0  # no answer row: no twin pass, no KL


def test_the_kl_vanishes_when_the_speech_embeddings_are_the_transcripts_own(tiny_lslm, monkeypatch):
    """The twin is the same prompt with the transcript's tokens where the speech was: speech embeddings equal to
    those tokens' embeddings give the teacher's distribution exactly, so the KL is zero; other embeddings do not."""
    config = RepeatConfig(bf16=False, distill_weight=1.0)
    objective = RepeatObjective(tiny_lslm, config)
    as_tokens = [tiny_lslm.embed_tokens(torch.tensor(tiny_lslm.tokenizer(t, add_special_tokens=False)["input_ids"])).detach()
                 for t in TEXTS]
    monkeypatch.setattr(tiny_lslm, "embed_speech", lambda frames: list(frames))  # the "frames" are embeddings already
    answers, repeat = ["Red.", "Yes.", "Four.", "Tall."], [True, False, True, False]
    loss, ce, kl = objective(as_tokens, TEXTS, answers, repeat)
    assert abs(kl.item()) < 1e-7
    _, _, kl_noise = objective([e + 0.5 * torch.randn_like(e) for e in as_tokens], TEXTS, answers, repeat)
    assert kl_noise > 1e-5  # (the tiny random LLM is nearly indifferent to its input: the scale is small)


def test_teacher_answers_are_first_sentences_generated_once(tiny_lslm, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(tiny_lslm, "generate", lambda batch, **kw: calls.append(kw) or ["Yes. And more."] * batch.inputs_embeds.shape[0])
    answers = teacher_answers(tiny_lslm, TEXTS, tmp_path, max_tokens=8, batch_size=3)
    assert answers == ["Yes."] * 4 and len(calls) == 2 and calls[0]["max_new_tokens"] == 8
    assert teacher_answers(tiny_lslm, TEXTS, tmp_path, max_tokens=8) == answers and len(calls) == 2  # from the cache
    teacher_answers(tiny_lslm, TEXTS, tmp_path, max_tokens=9)  # other settings: generated again
    assert len(calls) == 3
    assert first_sentence("Paris is the capital. It is big.") == "Paris is the capital." and first_sentence("no end") == "no end"


def test_config_names_bad_options():
    with pytest.raises(ValueError, match="unknown repeat-stage options"):
        RepeatConfig.from_dict({"max_step": 3})
    with pytest.raises(ValueError, match="answer_fraction"):
        RepeatConfig(answer_fraction=1.5)
    with pytest.raises(ValueError, match="repeat_turn"):
        RepeatConfig(repeat_turn="Say it again.")


@pytest.fixture()
def stage_inputs(tmp_path, tiny_tokenizer, save_tiny_parts):
    return make_stage_inputs(tmp_path, tiny_tokenizer, save_tiny_parts)


def make_stage_inputs(tmp_path, tiny_tokenizer, save_tiny_parts):
    """A stage-1 checkpoint of tiny parts and a frame cache holding the texts the stage will ask for."""
    from lslm_eval.model import LSLM, LSLMConfig
    from lslm_eval.trainers.clips import FRAMES_FILE, TEXTS_FILE
    from lslm_eval.trainers.ctc_corpus import ctc_texts

    whisper_file, llm_dir = save_tiny_parts(tmp_path)
    init = LSLM.build(LSLMConfig(encoder=str(whisper_file), llm=str(llm_dir), stack=2, adaptor_hidden=24), dtype="float32")
    init = init.save_pretrained(tmp_path / "stage1")
    texts = ctc_texts(12, tiny_tokenizer, seed=0)
    cache = tmp_path / "cache"
    cache.mkdir()
    voices = RepeatConfig().voices
    rows = [{"text": t, "voice": voices[i % len(voices)][0], "rate": voices[i % len(voices)][1]} for i, t in enumerate(texts)]
    (cache / TEXTS_FILE).write_text("".join(json.dumps(r) + "\n" for r in rows))
    save_file({str(i): f.half() for i, f in enumerate(frames_for(len(texts)))}, str(cache / FRAMES_FILE))
    return {"init_checkpoint": str(init), "cache_dir": str(cache), "texts": 12, "answer_texts": 5, "answer_tokens": 4,
            "batch_size": 4, "max_steps": 4, "save_every": 2, "log_every": 1, "warmup_steps": 1, "lr": 1e-2}


def test_a_resumed_run_repeats_the_uninterrupted_one(tmp_path, stage_inputs):
    whole = train(RepeatConfig.from_dict({**stage_inputs, "output_dir": str(tmp_path / "whole")}))
    assert whole.name == "checkpoint-4"
    options = {**stage_inputs, "output_dir": str(tmp_path / "split")}
    train(RepeatConfig.from_dict({**options, "max_steps": 4, "save_every": 2}))  # the same run...
    import shutil

    shutil.rmtree(tmp_path / "split" / "checkpoint-4")  # ...killed after its step-2 checkpoint
    with pytest.raises(ValueError, match="--resume"):
        train(RepeatConfig.from_dict(options))
    resumed = train(RepeatConfig.from_dict(options), resume=True)
    a, b = load_file(str(whole / "adaptor.safetensors")), load_file(str(resumed / "adaptor.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    start = load_file(str(tmp_path / "stage1" / "adaptor.safetensors"))
    assert not all(torch.equal(a[k], start[k]) for k in a)  # it trained
    log = [json.loads(line) for line in (tmp_path / "split" / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4] and all(r["kl"] >= 0 for r in log)


def test_every_shipped_recipe_is_valid_for_its_stage():
    """The recipes of trainers/recipes parse into their stage's options (a renamed or removed option fails here)."""
    from pathlib import Path

    import yaml

    import lslm_eval
    from lslm_eval.trainers.config import TrainConfig
    from lslm_eval.trainers.ctc import CTCConfig

    stages = {"offline_ctc.yaml": CTCConfig, "offline_repeat.yaml": RepeatConfig, "offline_instructions.yaml": TrainConfig}
    folder = Path(lslm_eval.__file__).parent / "trainers" / "recipes"
    assert sorted(p.name for p in folder.glob("*.yaml")) == sorted(stages)
    for name, stage in stages.items():
        config = stage.from_dict(yaml.safe_load((folder / name).read_text()))
        assert config.output_dir.startswith("runs/")
    chain = RepeatConfig.from_dict(yaml.safe_load((folder / "offline_repeat.yaml").read_text()))
    ctc = CTCConfig.from_dict(yaml.safe_load((folder / "offline_ctc.yaml").read_text()))
    assert chain.init_checkpoint == f"{ctc.output_dir}/checkpoint-{ctc.max_steps}" and chain.cache_dir == ctc.cache_dir
    assert (chain.texts, chain.seed, chain.voices, chain.voices_per_text) == (ctc.texts, ctc.seed, ctc.voices, ctc.voices_per_text)  # stage 1's clips, none new


def test_the_stage_command_names_a_bad_option_without_a_traceback(tmp_path, capsys):
    from lslm_eval.trainers.repeat import main

    recipe = tmp_path / "r.yaml"
    recipe.write_text("max_steps: 3\n")
    with pytest.raises(SystemExit):
        main([str(recipe), "--max_step", "4"])
    assert "r.yaml: unknown repeat-stage options ['max_step']" in capsys.readouterr().err


def test_the_ctc_term_keeps_the_ctc_geometry_and_needs_the_ctc_head(tmp_path, save_tiny_parts, ctc_clip_cache):
    """ctc_weight > 0 adds the CTC stage's loss, its head read from the stage-1 checkpoint: after the same steps the
    adaptor's CTC loss is lower with the term than without; a checkpoint with no CTC head is refused by name."""
    from lslm_eval.model import LSLM
    from lslm_eval.trainers.clips import FRAMES_FILE
    from lslm_eval.trainers.ctc import CTCConfig, train as train_ctc
    from lslm_eval.trainers.repeat import CTCTerm

    whisper_file, llm_dir = save_tiny_parts(tmp_path)
    cache, texts = ctc_clip_cache
    stage1 = train_ctc(CTCConfig.from_dict({"encoder": str(whisper_file), "llm": str(llm_dir), "cache_dir": str(cache),
                                            "texts": 12, "stack": 2, "adaptor_hidden": 24, "batch_size": 4, "max_steps": 6,
                                            "save_every": 6, "warmup_steps": 1, "negatives": 0, "output_dir": str(tmp_path / "ctc")}))
    options = {"init_checkpoint": str(stage1), "cache_dir": str(cache), "texts": 12, "answer_texts": 5, "answer_tokens": 4,
               "batch_size": 4, "max_steps": 6, "save_every": 6, "log_every": 1, "warmup_steps": 1, "lr": 3e-2,
               "bf16": False, "ctc_negatives": 0}

    stored = load_file(str(cache / FRAMES_FILE))
    frames = [stored[str(i)] for i in range(12)]

    def ctc_after(weight):
        last = train(RepeatConfig.from_dict({**options, "ctc_weight": weight, "output_dir": str(tmp_path / f"w{weight}")}))
        lslm = LSLM.from_pretrained(last, dtype="float32")
        term = CTCTerm(lslm, RepeatConfig.from_dict({**options, "ctc_weight": 1.0}), texts, frames)
        with torch.no_grad():
            return term(list(range(12)), 0).item(), last.parent / "train_log.jsonl"

    without, _ = ctc_after(0.0)
    kept, log_file = ctc_after(5.0)
    assert kept < without
    log = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert all(r["ctc"] > 0 for r in log)
    with pytest.raises(ValueError, match="ctc_state.pt not found"):
        train(RepeatConfig.from_dict({**options, "init_checkpoint": str(tmp_path / "w0.0" / "checkpoint-6"), "ctc_weight": 1.0,
                                      "output_dir": str(tmp_path / "bad")}))


@pytest.mark.parametrize("native", [True, False])
def test_bf16_auto_follows_the_cpu_and_an_explicit_true_on_emulated_bf16_warns(native, monkeypatch, caplog):
    from lslm_eval.trainers import stage
    from lslm_eval.trainers.ctc import CTCConfig

    monkeypatch.setattr(stage, "native_bf16", lambda: native)
    assert RepeatConfig(bf16="auto").bf16 is native and CTCConfig(bf16="auto").bf16 is native
    assert RepeatConfig().bf16 is native  # the stage's default is auto
    caplog.clear()
    assert RepeatConfig(bf16=True).bf16 is True and RepeatConfig(bf16=False).bf16 is False
    assert ("no native bfloat16" in caplog.text) is (not native)
    with pytest.raises(ValueError, match="true, false or auto"):
        RepeatConfig(bf16="fast")
