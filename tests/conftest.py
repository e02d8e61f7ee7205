"""Tiny, randomly initialised parts built from configs: a whisper encoder, a Llama, a BPE tokenizer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CORPUS = [
    "what is the capital of france", "the quick brown fox jumps over the lazy dog",
    "how many legs does a spider have", "paris is the capital of france", "answer with one word",
] * 20

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def isolated_judge_cache(tmp_path, monkeypatch):
    """Each test's judge answers come from its own server: no disk or memory cache shared between tests."""
    from lslm_eval.scoring import judge

    monkeypatch.setenv(judge.CACHE_ENV, str(tmp_path / "judge-cache"))
    judge._memory.clear()
    yield
    judge._memory.clear()


@pytest.fixture(scope="session")
def tiny_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    core.train_from_iterator(CORPUS, trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tok.chat_template = CHATML
    return tok


def make_tiny_llm(vocab_size: int, seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, eos_token_id=2, pad_token_id=0)
    return LlamaForCausalLM(config).eval()


def make_tiny_encoder(seed: int = 0):
    from whisper.model import AudioEncoder

    from lslm_eval.encoder import SpeechEncoder

    torch.manual_seed(seed)
    return SpeechEncoder(AudioEncoder(n_mels=80, n_ctx=1500, n_state=16, n_head=2, n_layer=1).eval(), n_mels=80)


@pytest.fixture()
def tiny_lslm(tiny_tokenizer):
    from lslm_eval.model import LSLM, LSLMConfig

    config = LSLMConfig(encoder="tiny-random", llm="tiny-random", stack=2, adaptor_hidden=24)
    return LSLM.from_components(config, make_tiny_encoder(), make_tiny_llm(len(tiny_tokenizer)), tiny_tokenizer).eval()


@pytest.fixture()
def noise_wavs():
    rng = np.random.default_rng(0)
    return [rng.uniform(-0.3, 0.3, n).astype(np.float32) for n in (8000, 12800, 5120)]


@pytest.fixture(scope="session")
def llm_factory():
    """make_tiny_llm, for tests that need more than one LLM."""
    return make_tiny_llm


@pytest.fixture()
def tiny_checkpoint(tmp_path, save_tiny_parts):
    """A saved lslm-eval checkpoint of tiny random parts (a whisper .pt and an HF LLM directory beside it)."""
    from lslm_eval.model import LSLM, LSLMConfig

    whisper_file, llm_dir = save_tiny_parts(tmp_path)
    config = LSLMConfig(encoder=str(whisper_file), llm=str(llm_dir), stack=2, adaptor_hidden=24)
    return LSLM.build(config, dtype="float32").save_pretrained(tmp_path / "ckpt")


@pytest.fixture(scope="session")
def save_tiny_parts(tiny_tokenizer):
    """save(folder, whisper_name, llm_name) -> (whisper .pt, HF LLM directory): tiny random parts on disk,
    as a user would have them (the same weights every call)."""
    from dataclasses import asdict
    from pathlib import Path

    from whisper.model import ModelDimensions, Whisper

    def save(folder, whisper_name: str = "whisper.pt", llm_name: str = "llm") -> tuple[Path, Path]:
        folder = Path(folder)
        torch.manual_seed(0)
        dims = ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=16, n_audio_head=2, n_audio_layer=1,
                               n_vocab=100, n_text_ctx=8, n_text_state=16, n_text_head=2, n_text_layer=1)
        torch.save({"dims": asdict(dims), "model_state_dict": Whisper(dims).state_dict()}, folder / whisper_name)
        make_tiny_llm(len(tiny_tokenizer)).save_pretrained(folder / llm_name)
        tiny_tokenizer.save_pretrained(folder / llm_name)
        return folder / whisper_name, folder / llm_name

    return save


@pytest.fixture()
def ctc_clip_cache(tmp_path, tiny_tokenizer):
    """A cached-frame stage's clip cache (trainers/clips.py) for 12 CTC-corpus texts, frames long enough for CTC:
    -> (cache dir, texts)."""
    import json

    from safetensors.torch import save_file

    from lslm_eval.trainers.clips import FRAMES_FILE, TEXTS_FILE, VOICES
    from lslm_eval.trainers.ctc_corpus import ctc_texts

    texts = ctc_texts(12, tiny_tokenizer, seed=0)
    cache = tmp_path / "cache"
    cache.mkdir()
    rows = [{"text": t, "voice": VOICES[i % len(VOICES)][0], "rate": VOICES[i % len(VOICES)][1]} for i, t in enumerate(texts)]
    (cache / TEXTS_FILE).write_text("".join(json.dumps(r) + "\n" for r in rows))
    generator = torch.Generator().manual_seed(0)
    save_file({str(i): torch.randn(80 + 4 * i, 16, generator=generator).half() for i in range(len(texts))}, str(cache / FRAMES_FILE))
    return cache, texts
