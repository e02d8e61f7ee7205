"""Qwen2.5-Omni (thinker only) through the native backend: tiny random thinker, processor from local parts.

torchvision is not installed, so transformers cannot resolve the video processor's class: the
fixture passes the base video processor and skips that one class check (audio never uses video)."""

import pytest
import torch

from native_checks import FamilyChecks
from native_parts import chatml, make_tokenizer, tiny_text

NAMES = dict(audio_token="<|AUDIO|>", audio_bos_token="<|audio_bos|>", audio_eos_token="<|audio_eos|>", image_token="<|IMAGE|>",
             video_token="<|VIDEO|>", vision_bos_token="<|vision_bos|>", vision_eos_token="<|vision_eos|>")


@pytest.fixture(scope="module")
def parts():
    from transformers import (Qwen2_5OmniProcessor, Qwen2_5OmniThinkerConfig, Qwen2_5OmniThinkerForConditionalGeneration,
                              Qwen2VLImageProcessorPil, WhisperFeatureExtractor)
    from transformers.video_processing_utils import BaseVideoProcessor

    template = chatml("<|audio_bos|><|AUDIO|><|audio_eos|>")
    tokenizer = make_tokenizer(["<|endoftext|>", "<|im_start|>", "<|im_end|>", *NAMES.values()], "<|im_end|>", "<|endoftext|>",
                               template, extra_special_tokens=NAMES)
    check = Qwen2_5OmniProcessor.check_argument_for_proper_class
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Qwen2_5OmniProcessor, "check_argument_for_proper_class",
                      lambda self, name, arg: None if name == "video_processor" else check(self, name, arg))
        processor = Qwen2_5OmniProcessor(Qwen2VLImageProcessorPil(), BaseVideoProcessor(), WhisperFeatureExtractor(feature_size=128),
                                         tokenizer, chat_template=template)
    ids = {name: tokenizer.convert_tokens_to_ids(token) for name, token in NAMES.items()}
    config = Qwen2_5OmniThinkerConfig(
        audio_config=dict(d_model=16, encoder_layers=1, encoder_attention_heads=2, encoder_ffn_dim=32, num_mel_bins=128,
                          output_dim=32, n_window=50),
        vision_config=dict(depth=1, hidden_size=16, intermediate_size=32, num_heads=2, out_hidden_size=32, fullatt_block_indexes=[0]),
        text_config=tiny_text(len(tokenizer), rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 1, 1]}),
        audio_token_index=ids["audio_token"], image_token_index=ids["image_token"], video_token_index=ids["video_token"],
        audio_start_token_id=ids["audio_bos_token"], audio_end_token_id=ids["audio_eos_token"],
        vision_start_token_id=ids["vision_bos_token"], vision_end_token_id=ids["vision_eos_token"])
    torch.manual_seed(0)
    return Qwen2_5OmniThinkerForConditionalGeneration(config).eval(), processor


class TestQwen25Omni(FamilyChecks):
    model_type = "qwen2_5_omni"
    reload_from_disk = False  # the saved processor would need torchvision to load back

    def test_the_thinkers_own_positions_are_sequential_for_audio(self, backend):
        """The 3-section rotary index the thinker computes for audio without images/video is 0..S-1."""
        inputs = backend.processor_inputs("<audio>", __import__("native_parts").wavs()[0])
        positions, _ = backend.model.model.get_rope_index(inputs["input_ids"], attention_mask=inputs["attention_mask"],
                                                          audio_seqlens=inputs["feature_attention_mask"].sum(-1))
        assert torch.equal(positions, torch.arange(inputs["input_ids"].shape[1]).expand(3, 1, -1))
