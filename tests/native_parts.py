"""Tiny transformers-native audio LMs for the backend tests: random weights from config classes,
processors assembled from local parts (a BPE tokenizer with the family's special tokens, the
family's feature-extractor settings). Nothing is downloaded."""

from __future__ import annotations

import numpy as np
import torch

CORPUS = ["what is the capital of france", "paris is the capital of france", "answer with one word",
          "how many legs does a spider have", "the quick brown fox jumps over the lazy dog"] * 20
TRANSCRIPTS = ["what is the capital of france", "how many legs does a spider have"]
TURNS = ["<audio>", "Answer the spoken question.\n<audio>"]


def make_tokenizer(specials: list[str], eos: str, pad: str, chat_template: str, vocab_size: int = 400, **extra):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    core.train_from_iterator(CORPUS, trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=core, eos_token=eos, pad_token=pad, **extra)
    tok.chat_template = chat_template
    return tok


def tiny_text(vocab_size: int, **extra) -> dict:
    """A 2-layer Qwen2/Llama-style text config."""
    return dict(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, max_position_embeddings=4096, **extra)


def wavs(seconds=(1.0, 1.6), seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(-0.3, 0.3, int(s * 16000)).astype(np.float32) for s in seconds]


def seeded(factory, seed: int = 0):
    torch.manual_seed(seed)
    return factory().eval()


def chatml(audio: str) -> str:
    """A ChatML template whose audio content part renders as `audio` (string or list content)."""
    return (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
        "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
        "{% if c['type'] == 'audio' %}" + audio + "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
        "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
