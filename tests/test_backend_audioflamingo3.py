"""Audio Flamingo 3 through the native backend: tiny random model, processor from local parts."""

import pytest
import torch

from native_checks import FamilyChecks
from native_parts import chatml, make_tokenizer, tiny_text


@pytest.fixture(scope="module")
def parts():
    from transformers import (AudioFlamingo3Config, AudioFlamingo3ForConditionalGeneration, AudioFlamingo3Processor,
                              WhisperFeatureExtractor)

    template = chatml("<sound>")
    tokenizer = make_tokenizer(["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<sound>"], "<|im_end|>", "<|endoftext|>", template)
    processor = AudioFlamingo3Processor(WhisperFeatureExtractor(feature_size=128), tokenizer, chat_template=template)
    config = AudioFlamingo3Config(
        audio_config=dict(num_mel_bins=128, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, hidden_size=16),
        text_config=tiny_text(len(tokenizer)), audio_token_id=processor.audio_token_id)
    torch.manual_seed(0)
    return AudioFlamingo3ForConditionalGeneration(config).eval(), processor


class TestAudioFlamingo3(FamilyChecks):
    model_type = "audioflamingo3"
