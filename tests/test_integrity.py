"""Weight integrity: damaged checkpoints and caches are refused by name, damaged numbers stop the run."""

import json
import logging

import numpy as np
import pytest
import torch

from lslm_eval import integrity, offline
from lslm_eval.integrity import IntegrityError
from lslm_eval.model import ADAPTOR_FILE, CONFIG_FILE, DEFAULT_CHECKPOINT, LSLM, verify_checkpoint
from lslm_eval.prompt import AUDIO_PLACEHOLDER
from lslm_eval.whisper_loader import WHISPER_WEIGHTS_FILE


@pytest.fixture()
def checkpoint(tiny_checkpoint):
    return tiny_checkpoint


def garble_data_region(file, n_bytes=4096, seed=0):
    """Overwrite bytes after the safetensors header with random bytes (the size stays the same)."""
    data = bytearray(file.read_bytes())
    header = 8 + int.from_bytes(data[:8], "little")
    n_bytes = min(n_bytes, len(data) - header)
    data[header : header + n_bytes] = np.random.default_rng(seed).integers(0, 256, n_bytes, dtype=np.uint8).tobytes()
    file.write_bytes(bytes(data))


def drop_hashes(checkpoint):
    config = json.loads((checkpoint / CONFIG_FILE).read_text())
    del config["weights_sha256"]
    (checkpoint / CONFIG_FILE).write_text(json.dumps(config))


def test_save_records_the_sha256_of_each_weight_file_and_load_verifies_it(checkpoint):
    recorded = json.loads((checkpoint / CONFIG_FILE).read_text())["weights_sha256"]
    assert recorded == {ADAPTOR_FILE: integrity.sha256_file(checkpoint / ADAPTOR_FILE)}
    assert LSLM.from_pretrained(checkpoint, dtype="float32").source == str(checkpoint)
    garble_data_region(checkpoint / ADAPTOR_FILE)
    with pytest.raises(IntegrityError, match=rf"checkpoint .*ckpt: weight file .*{ADAPTOR_FILE} has sha256 .* was recorded"):
        LSLM.from_pretrained(checkpoint, dtype="float32")


def test_a_checkpoint_without_hashes_must_hold_finite_tensors(checkpoint):
    drop_hashes(checkpoint)
    verify_checkpoint(checkpoint)  # an older, intact checkpoint still loads
    from safetensors.torch import load_file, save_file

    state = load_file(str(checkpoint / ADAPTOR_FILE))
    state["proj_in.weight"][0, 0] = float("nan")
    save_file(state, str(checkpoint / ADAPTOR_FILE))
    with pytest.raises(IntegrityError, match=r"adaptor.safetensors: tensor 'proj_in.weight' holds 1 non-finite"):
        LSLM.from_pretrained(checkpoint, dtype="float32")


@pytest.mark.parametrize("damage", ["truncated", "garbled header"])
def test_an_unreadable_safetensors_file_is_named(checkpoint, damage):
    drop_hashes(checkpoint)
    file = checkpoint / ADAPTOR_FILE
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"\xff" * 16 + data[16:])
    with pytest.raises(IntegrityError, match=rf"{file} is not a readable safetensors file"):
        LSLM.from_pretrained(checkpoint, dtype="float32")


def test_the_shipped_checkpoint_passes_verification():
    config = verify_checkpoint(DEFAULT_CHECKPOINT)  # by its recorded hashes, or (older) by finite tensors
    assert ADAPTOR_FILE in integrity.record(DEFAULT_CHECKPOINT)
    assert set(config.weights_sha256) <= set(integrity.record(DEFAULT_CHECKPOINT))


def test_non_finite_speech_embeddings_stop_the_run_naming_the_checkpoint(checkpoint, noise_wavs):
    model = LSLM.from_pretrained(checkpoint, dtype="float32")
    with torch.no_grad():
        model.adaptor.proj_out.weight.fill_(float("nan"))  # as random bytes in the adaptor's data would do
    with pytest.raises(IntegrityError, match=rf"speech embeddings of checkpoint {checkpoint}"):
        model.build_items([AUDIO_PLACEHOLDER], [noise_wavs[0]])


def test_non_finite_logits_stop_generation_naming_the_checkpoint(checkpoint):
    model = LSLM.from_pretrained(checkpoint, dtype="float32")
    batch = model.collate(model.build_items(["what is the capital of france"]))
    assert len(model.generate(batch, max_new_tokens=2)) == 1
    with torch.no_grad():
        model.llm.get_output_embeddings().weight[5].fill_(float("inf"))
        model.llm.get_output_embeddings().weight[6].fill_(-float("inf"))  # -inf * x + inf * x = NaN somewhere
    with pytest.raises(IntegrityError, match=rf"non-finite logits .* from checkpoint {checkpoint}"):
        model.generate(batch, max_new_tokens=2)


def make_cache_entry(root, name="entry"):
    from safetensors.torch import save_file

    target = root / name
    with offline.staged_directory(target) as staging:
        save_file({"w": torch.ones(4)}, str(staging / "model.safetensors"))
    return target


def test_a_conversion_records_its_hashes_and_a_damaged_cache_is_moved_aside(tmp_path, caplog):
    target = make_cache_entry(tmp_path)
    assert integrity.read_manifest(target) == {"model.safetensors": integrity.sha256_file(target / "model.safetensors")}
    assert offline.cached(target)
    garble_data_region(target / "model.safetensors", n_bytes=4)
    with caplog.at_level(logging.WARNING, logger="lslm_eval.offline"):
        assert not offline.cached(target)  # the caller converts again
    assert not target.exists() and len(list(tmp_path.glob(".entry.damaged-*"))) == 1
    assert "model.safetensors has sha256" in caplog.text and "converting it again" in caplog.text


def test_an_older_cache_without_a_record_is_checked_then_recorded(tmp_path):
    from safetensors.torch import save_file

    target = make_cache_entry(tmp_path)
    (target / integrity.MANIFEST_FILE).unlink()
    assert offline.cached(target) and integrity.read_manifest(target) is not None
    (target / integrity.MANIFEST_FILE).unlink()
    save_file({"w": torch.tensor([1.0, float("nan")])}, str(target / "model.safetensors"))
    assert not offline.cached(target)


def test_a_damaged_converted_whisper_is_converted_again(tmp_path, monkeypatch):
    monkeypatch.setenv(offline.CACHE_ENV, str(tmp_path))
    first = offline.whisper_tiny_en_checkpoint()
    weights = first / WHISPER_WEIGHTS_FILE
    good = integrity.sha256_file(weights)
    garble_data_region(weights)
    again = offline.whisper_tiny_en_checkpoint()
    assert again == first and integrity.sha256_file(again / WHISPER_WEIGHTS_FILE) == good
