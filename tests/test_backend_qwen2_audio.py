"""Qwen2-Audio through the native backend: tiny random model, processor from local parts."""

import pytest
import torch

from native_checks import FamilyChecks
from native_parts import make_tokenizer, tiny_text, wavs


@pytest.fixture(scope="module")
def parts():
    from transformers import Qwen2AudioConfig, Qwen2AudioForConditionalGeneration, Qwen2AudioProcessor, WhisperFeatureExtractor

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>"]
    template = Qwen2AudioProcessor.default_chat_template.fget(None)  # the processor's own (hub-less) template
    tokenizer = make_tokenizer(specials, "<|im_end|>", "<|endoftext|>", template)
    processor = Qwen2AudioProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=80), tokenizer=tokenizer, chat_template=template)
    config = Qwen2AudioConfig(
        audio_config=dict(d_model=16, encoder_layers=1, encoder_attention_heads=2, encoder_ffn_dim=32, num_mel_bins=80),
        text_config=tiny_text(len(tokenizer)), audio_token_id=processor.audio_token_id)
    torch.manual_seed(0)
    return Qwen2AudioForConditionalGeneration(config).eval(), processor


class TestQwen2Audio(FamilyChecks):
    model_type = "qwen2_audio"

    def test_clips_longer_than_the_30_s_window_are_refused(self, backend):
        with pytest.raises(ValueError, match="30 s"):
            backend.build_items(["<audio>"], wavs(seconds=(31.0,)))
