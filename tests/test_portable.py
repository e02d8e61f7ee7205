"""Portable checkpoints: parts stored as names or paths relative to the checkpoint; missing parts
and width mismatches named before any model loading."""

import json
import shutil
from dataclasses import asdict

import pytest
import torch

from lslm_eval.model import LSLM, CheckpointError, LSLMConfig
from lslm_eval.portable import MissingPartError
from lslm_eval.widths import WidthMismatch


def write_whisper(path, width: int):
    from whisper.model import ModelDimensions, Whisper

    torch.manual_seed(0)
    dims = ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=width, n_audio_head=2, n_audio_layer=1,
                           n_vocab=100, n_text_ctx=8, n_text_state=16, n_text_head=2, n_text_layer=1)
    torch.save({"dims": asdict(dims), "model_state_dict": Whisper(dims).state_dict()}, path)
    return str(path)


@pytest.fixture()
def machine_a(tmp_path, tiny_tokenizer, llm_factory):
    """A checkpoint written with absolute paths to its encoder and LLM, both beside it."""
    root = tmp_path / "machine-a"
    (root / "parts").mkdir(parents=True)
    encoder = write_whisper(root / "parts" / "whisper.pt", 16)
    llm_factory(len(tiny_tokenizer)).save_pretrained(root / "parts" / "llm")
    tiny_tokenizer.save_pretrained(root / "parts" / "llm")
    model = LSLM.build(LSLMConfig(encoder=encoder, llm=str(root / "parts" / "llm"), stack=2, adaptor_hidden=24), dtype="float32")
    model.save_pretrained(root / "runs" / "checkpoint-1")
    return root, model


def logits(model, wav):
    with torch.no_grad():
        return model(model.collate(model.build_items(["<audio>"], [wav]))).logits


def test_a_checkpoint_stores_relative_paths_and_loads_after_a_move(machine_a, tmp_path, noise_wavs):
    root, model = machine_a
    stored = json.loads((root / "runs" / "checkpoint-1" / "config.json").read_text())
    assert stored["encoder"] == "../../parts/whisper.pt" and stored["llm"] == "../../parts/llm"
    assert str(tmp_path) not in json.dumps(stored)  # no absolute path of the writing machine
    moved = shutil.move(str(root), str(tmp_path / "machine-b"))  # the same tree elsewhere (a CI runner)
    loaded = LSLM.from_pretrained(f"{moved}/runs/checkpoint-1", dtype="float32")
    torch.testing.assert_close(logits(loaded, noise_wavs[0]), logits(model, noise_wavs[0]))


def test_a_missing_part_is_named_before_loading(machine_a, tmp_path, monkeypatch):
    root, _ = machine_a
    alone = shutil.copytree(root / "runs" / "checkpoint-1", tmp_path / "alone" / "checkpoint-1")  # parts not copied
    monkeypatch.setattr(LSLM, "build", classmethod(lambda *a, **k: pytest.fail("loading started")))
    with pytest.raises(MissingPartError, match=r"encoder \(the Whisper encoder\): '../../parts/whisper.pt'.*llm \(the LLM\)") as err:
        LSLM.from_pretrained(alone, dtype="float32")
    assert "encoder=PATH,llm=PATH" in str(err.value) and isinstance(err.value, CheckpointError)
    monkeypatch.undo()
    # pointing at the parts makes it load
    LSLM.from_pretrained(alone, dtype="float32", encoder=str(root / "parts" / "whisper.pt"), llm=str(root / "parts" / "llm"))


def test_names_are_stored_as_names():
    from lslm_eval.portable import from_stored, to_stored

    for name in ("tiny.en-offline", "offline:SmolLM2-135M-Instruct", "large-v3", "Qwen/Qwen2.5-7B-Instruct"):
        assert to_stored(name, "/somewhere/ckpt") == name and from_stored(name, "/somewhere/ckpt") == name


def test_a_wider_encoder_is_refused_before_loading_with_the_command_to_train_one(machine_a, monkeypatch):
    root, _ = machine_a
    wide = write_whisper(root / "parts" / "whisper-wide.pt", 32)
    monkeypatch.setattr(LSLM, "build", classmethod(lambda *a, **k: pytest.fail("loading started")))
    with pytest.raises(WidthMismatch, match="encoder width 16, but encoder .*whisper-wide.pt' has width 32") as err:
        LSLM.from_pretrained(root / "runs" / "checkpoint-1", dtype="float32", encoder=wide)
    assert f"lslm-eval train --data MANIFEST.jsonl --encoder {wide} --llm" in str(err.value)


def test_the_verbs_turn_a_checkpoint_error_into_a_message(machine_a, capsys):
    from lslm_eval.cli import main

    root, _ = machine_a
    wide = write_whisper(root / "parts" / "whisper-wide2.pt", 32)
    with pytest.raises(SystemExit, match="lslm-eval probe: .*encoder width 16, but encoder .* has width 32.*lslm-eval train"):
        main(["probe", "--tasks", "voicebench_sdqa", "--model_args", f"checkpoint={root / 'runs' / 'checkpoint-1'},encoder={wide}"])
